"""Deployment: what a generator costs and how it ships.

- :mod:`~gancompress.export.stats` — parameters, non-zeros, MACs, effective MACs, file size.
- :mod:`~gancompress.export.onnx` — ONNX export with a numerical parity check.
- packed sparse weights (bitmask + kept values) are :mod:`gancompress.pruning.packed`: the same codec stores the
  masks of every saved module (:mod:`gancompress.checkpoint`), so it sits below both.
- :mod:`~gancompress.export.latency` — the interleaved latency harness (eager / native / ``torch.compile`` / ONNX RT).
"""
