"""Deployment: what a generator costs and how it ships.

- :mod:`~gancompress.export.stats` — parameters, non-zeros, MACs, effective MACs, file size.
- :mod:`~gancompress.export.onnx` — ONNX export with a numerical parity check.
- packed sparse weights (bitmask + kept values) are :mod:`gancompress.pruning.packed`: the same codec stores the
  masks of every saved module (:mod:`gancompress.checkpoint`), so it sits below both.
- :mod:`~gancompress.export.latency` — the interleaved latency harness (eager / native / ``torch.compile`` / ONNX RT).
- :mod:`~gancompress.export.layer_latency` — a per-layer latency table measured on this machine, and predictions
  for any channel widths.
- :mod:`~gancompress.export.module_timer` — one module's seconds per call in isolation (eager or ONNX Runtime).
- :mod:`~gancompress.export.speed_target` — the pruning ratio for a measured speed-up or a MAC fraction.
- :mod:`~gancompress.export.threads` — PyTorch's thread count set for a block and restored (the timers, and the
  domain extractor's one-thread training).
"""
