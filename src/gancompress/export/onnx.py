"""ONNX export with a numerical parity check against the PyTorch model (TorchScript exporter, dynamic batch axis).

Example:
    >>> low, high = onnx_opsets()
    >>> low <= 17 <= high
    True
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gancompress.errors import UserError
from gancompress.pruning.counting import eval_mode

log = logging.getLogger(__name__)


class ParityError(RuntimeError):
    """An exported model's outputs differ from PyTorch's by more than the tolerance."""


def to_numpy(inputs: Sequence[Tensor]) -> list[np.ndarray]:
    return [t.detach().cpu().contiguous().numpy() for t in inputs]


def _without_parametrizations(module: nn.Module) -> nn.Module:
    """``module``, or an eval-mode copy with its weight parametrizations baked in: spectral norm's power iteration
    needs ``aten::vdot``, which the ONNX exporter lacks, and in eval mode its weight is a fixed tensor anyway."""
    if not any(parametrize.is_parametrized(m) for m in module.modules()):
        return module
    was_training = module.training
    plain = copy.deepcopy(module.eval())
    module.train(was_training)
    for m in plain.modules():
        if parametrize.is_parametrized(m):
            # the copy shares its parametrized class with the original, and removal edits that class: give the copy
            # its own first, or the original would lose its ``weight``
            cls = type(m)
            m.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    return plain


def onnx_opsets() -> tuple[int, int]:
    """(lowest, highest) ONNX opset ``torch.onnx.export`` accepts in this torch (7 is also ONNX Runtime's floor)."""
    try:  # private module: guarded, with the range of torch 2.5–2.13 as the fallback
        from torch.onnx import _constants

        return int(_constants.ONNX_MIN_OPSET), int(_constants.ONNX_MAX_OPSET)
    except (ImportError, AttributeError, TypeError, ValueError):
        return 7, 20


def check_opset(opset: Any) -> None:
    """UserError listing the valid range unless torch can export ``opset`` (it fails with a RuntimeError otherwise)."""
    low, high = onnx_opsets()
    if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
        raise UserError(f"ONNX opset {opset} is not supported by this torch; choose --opset {low}..{high}")


def write_onnx(module: nn.Module, example_inputs: Sequence[Tensor], path: Path, opset: int) -> list[str]:
    """TorchScript exporter (``dynamo=False``: onnxscript is not a dependency) with a dynamic batch axis."""
    names = [f"input{i}" for i in range(len(example_inputs))] if len(example_inputs) > 1 else ["input"]
    with eval_mode(module), torch.no_grad():
        out = module(*example_inputs)
    outs = ["output"] if isinstance(out, Tensor) else [f"output{i}" for i in range(len(out))]
    module = _without_parametrizations(module)
    with eval_mode(module), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy-exporter deprecation notice; the exporter is pinned on purpose
        try:
            torch.onnx.export(
                module,
                tuple(example_inputs),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=names,
                output_names=outs,
                dynamic_axes={n: {0: "batch"} for n in names + outs},
                do_constant_folding=True,
            )
        except torch.onnx.errors.UnsupportedOperatorError as e:  # e.g. aten::vdot inside spectral norm
            raise UserError(
                f"the ONNX exporter cannot export this model at opset {opset}: {str(e).splitlines()[0]} "
                "(try another --opset)"
            ) from None
    return names


def ort_session(path: Path | bytes, threads: int) -> Any:
    """An ONNX Runtime CPU session on ``threads`` intra-op threads, sequential; ``path`` may be the model's bytes."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("onnxruntime is not installed; pip install 'gancompress[export]'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # DECISION: no busy-waiting pool threads after a run: in interleaved rounds they would steal the next model's CPU.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def export_onnx(
    module: nn.Module, example_inputs: Sequence[Tensor], path: str | Path, *, opset: int = 17, atol: float = 1e-4
) -> dict[str, Any]:
    """Export to ONNX (dynamic batch axis) and check ONNX Runtime's outputs against PyTorch's.

    Parity is checked at the example batch and at twice that batch (the dynamic axis must work).

    Args:
        module: The model (exported in eval mode; its mode is restored).
        example_inputs: Inputs for ``module(*example_inputs)``.
        path: Output ``.onnx`` file.
        opset: ONNX opset version.
        atol: Largest allowed max-abs difference.

    Returns:
        ``{"path", "opset", "size_bytes", "max_abs_diff", "inputs"}``.

    Raises:
        ParityError: The max abs difference exceeds ``atol`` (the message gives it).
        UserError: ``opset`` outside :func:`onnx_opsets`, or onnx / onnxruntime missing.

    Example:
        >>> from gancompress.models import create_model
        >>> g = create_model("dcgan_generator", nz=16, ngf=8)
        >>> export_onnx(g, (torch.randn(2, 16),), "g.onnx")["max_abs_diff"] < 1e-4  # doctest: +SKIP
        True
    """
    try:
        import onnx
    except ImportError:
        raise UserError("onnx is not installed; pip install 'gancompress[export]'") from None

    check_opset(opset)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = write_onnx(module, example_inputs, path, opset)
    onnx.checker.check_model(str(path))
    session = ort_session(path, threads=max(1, torch.get_num_threads()))
    diff = 0.0
    for inputs in (tuple(example_inputs), tuple(torch.cat([t, t]) for t in example_inputs)):
        with eval_mode(module), torch.no_grad():
            ref = module(*inputs)
        refs = [ref] if isinstance(ref, Tensor) else list(ref)
        got = session.run(None, dict(zip(names, to_numpy(inputs), strict=True)))
        for r, o in zip(refs, got, strict=True):
            diff = max(diff, float(np.abs(r.detach().cpu().numpy() - o).max()))
    if not diff <= atol:
        raise ParityError(f"ONNX export {path}: max abs difference vs PyTorch {diff:.3g} > tolerance {atol:g}")
    log.info("exported %s (opset %d), max abs diff vs PyTorch %.3g", path, opset, diff)
    return {"path": str(path), "opset": opset, "size_bytes": path.stat().st_size, "max_abs_diff": diff, "inputs": names}


def describe_inputs(names: Sequence[str], inputs: Sequence[Tensor]) -> list[dict[str, Any]]:
    """Per graph input: name, per-sample shape and kind — ``image`` (4-d), ``label`` (one-hot rows) or ``latent`` —
    so a consumer without PyTorch (examples/infer_onnx.py) can synthesise inputs."""
    out = []
    for name, t in zip(names, inputs, strict=True):
        if t.dim() == 4:
            kind = "image"
        elif t.dim() == 2 and bool(((t == 0) | (t == 1)).all()) and bool((t.sum(1) == 1).all()):
            kind = "label"
        else:
            kind = "latent"
        dtype = str(t.dtype).replace("torch.", "")
        out.append({"name": name, "shape": list(t.shape[1:]), "kind": kind, "dtype": dtype})
    return out


def annotate_for_deploy(path: str | Path, samples: Sequence[Tensor], info: dict[str, Any]) -> Path:
    """What a consumer without PyTorch (examples/infer_onnx.py) reads beside an exported model: ``info`` plus the
    graph inputs' names / per-sample shapes / kinds as JSON in ``metadata_props["gancompress"]`` (ONNX Runtime:
    ``get_modelmeta().custom_metadata_map``), and ``samples`` (real generator inputs) as ``MODEL.inputs.npz``.
    The input names are read from the model itself. Returns the ``.npz`` path."""
    import json

    import onnx

    model = onnx.load(str(path))
    names = [i.name for i in model.graph.input]
    keep = [p for p in model.metadata_props if p.key != "gancompress"]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    meta = {**info, "inputs": describe_inputs(names, samples), "output_range": [-1, 1]}
    entry.key, entry.value = "gancompress", json.dumps(meta, sort_keys=True)
    onnx.save(model, str(path))
    return save_sample_inputs(path, names, samples)


def save_sample_inputs(path: str | Path, names: Sequence[str], inputs: Sequence[Tensor]) -> Path:
    """``MODEL.inputs.npz`` next to the model: real generator inputs (latents, or source images of a translation
    family) that examples/infer_onnx.py feeds without PyTorch."""
    target = Path(path).with_suffix(".inputs.npz")
    np.savez(target, **dict(zip(names, to_numpy(inputs), strict=True)))
    return target
