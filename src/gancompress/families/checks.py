"""Checks on what the Python API is handed, run before any copy or training step (bring-your-own GANs above all).

``gc.compress`` accepts arbitrary user objects. Without these checks a wrong type, uint8 images, float64 weights, a
TorchScript generator or a generator that fails on its own loss's inputs surfaced as an ``AttributeError`` or a raw
torch error deep inside training, or — worse — trained silently (images in [0, 255], a generator that drops part of
the batch). Each check raises a :class:`UserError` naming the object and the fix. The CLI (``families/user.py``) shares
:func:`probe_generator` and :func:`check_batch` with the Python API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from gancompress.data import ImageDataset
from gancompress.errors import UserError, describe
from gancompress.families.contract import GanLoss, batch_at

#: images farther than this outside [-1, 1] are taken to be in another range ([0, 255], unnormalised)
RANGE_SLACK = 1.5

_SAVE_ADVICE = (
    "build it with gancompress.models.create_model or, for your own architecture, set module.arch_spec = "
    "{'arch': 'user', 'model': 'path/to/file.py:factory'} naming the --model factory that rebuilds it"
)


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (CPU for a module without any)."""
    return next((p.device for p in module.parameters()), torch.device("cpu"))


def refuse_torchscript(module: Any, who: str = "the generator") -> None:
    """TorchScript modules hide their layers behind ``RecursiveScriptModule``, so nothing in them is prunable."""
    if isinstance(module, torch.jit.ScriptModule):
        raise UserError(
            f"{who} is a TorchScript module: TorchScript modules cannot be pruned (their layers are not nn.Conv2d / "
            "nn.ConvTranspose2d / nn.Linear); pass the original nn.Module"
        )


def check_api_types(g: Any, d: Any, loss: Any) -> None:
    """``gc.compress``'s generator, discriminator and ``loss=`` are the types it uses (else an AttributeError later)."""
    if not isinstance(g, nn.Module):
        raise UserError(f"the generator must be a torch.nn.Module, got {type(g).__name__}")
    if d is not None and not isinstance(d, nn.Module):
        raise UserError(f"the discriminator must be a torch.nn.Module or None, got {type(d).__name__}")
    refuse_torchscript(g)
    if loss is None or isinstance(loss, GanLoss):
        return
    if isinstance(loss, type) and issubclass(loss, GanLoss):
        raise UserError(f"loss= got the class {loss.__name__}; pass an instance of it: loss={loss.__name__}()")
    raise UserError(
        f"loss= must be an instance of a gancompress.GanLoss subclass (generator_input, sample_input, generator_terms, "
        f"discriminator_terms), got {type(loss).__name__}"
    )


def check_images(data: Any) -> None:
    """``data`` is an :class:`ImageDataset` whose images are float32 in [-1, 1] (what G's tanh output is compared to).

    Only the dtype and the extreme values are checked (one pass over the tensor): images in [0, 255] train silently
    against a generator that can only reach [-1, 1], and uint8 images fail inside D with a raw dtype error.
    """
    if not isinstance(data, ImageDataset):
        raise UserError(
            f"data must be a gancompress.ImageDataset, got {type(data).__name__}; build one from an (N, C, H, W) "
            'float32 tensor in [-1, 1] with gc.ImageDataset(images, labels=None, name="mine", split="train") or load '
            "one with gc.load_dataset"
        )
    images = data.images
    dtype = str(images.dtype).removeprefix("torch.")
    if not images.is_floating_point():
        raise UserError(f"images are {dtype}; convert to float32 in [-1, 1]: x.float() / 127.5 - 1")
    if images.dtype != torch.float32:
        raise UserError(f"images are {dtype}; gancompress trains in float32: convert them with x.float()")
    if images.numel() == 0:
        return  # the loader names an empty dataset
    lo, hi = (float(v) for v in torch.aminmax(images))
    if not (lo >= -RANGE_SLACK and hi <= RANGE_SLACK):  # written so NaN fails too
        raise UserError(
            f"the {data.name!r} images range over [{lo:g}, {hi:g}] but gancompress expects [-1, 1] (the generator's "
            "tanh range); rescale them, e.g. x / 127.5 - 1 for [0, 255]"
        )


def check_float32(g: nn.Module, d: nn.Module | None) -> None:
    """Floating parameters and buffers of G and D are float32 (inputs, data and masks are: else a raw dtype error)."""
    for role, module in (("generator", g), ("discriminator", d)):
        if module is None:
            continue
        for kind, tensors in (("parameters", module.parameters()), ("buffers", module.buffers())):
            dtypes = {str(t.dtype).removeprefix("torch.") for t in tensors if t.is_floating_point()}
            other = sorted(dtypes - {"float32"})
            if other:
                raise UserError(
                    f"{role} has {' and '.join(other)} {kind}; gancompress trains in float32: call .float() on it"
                )


def probe_generator(g: nn.Module, make_inputs: Callable[[], Any], what: str, who: str = "the generator") -> Any:
    """One eval-mode, no-grad forward ``g(*make_inputs())``; the output, or a ``UserError`` naming the failure.

    Every module's train/eval flag is restored (a user may keep some submodules in eval mode on purpose).
    """
    try:
        inputs = make_inputs()
    except UserError:
        raise
    except Exception as exc:  # the user's loss code: one line, not a traceback
        raise UserError(f"the loss's {what} failed: {describe(exc)}") from None
    if not isinstance(inputs, (tuple, list)):
        raise UserError(
            f"the loss's {what} must return a tuple of generator arguments (g(*x)), got {type(inputs).__name__}"
        )
    modes = {m: m.training for m in g.modules()}
    g.eval()  # no BatchNorm statistics change
    try:
        with torch.no_grad():
            return g(*inputs)
    except Exception as exc:  # the user's generator: a wrong arity or a bug would otherwise surface in training
        raise UserError(f"{who} failed on the loss's {what}: {describe(exc)}") from None
    finally:
        for m, training in modes.items():
            m.training = training


def check_batch(out: torch.Tensor, n: int, what: str, who: str = "the generator") -> None:
    """One float32 image per input: a generator dropping part of the batch would train on the remainder silently."""
    if out.shape[0] != n:
        raise UserError(
            f"{who} returned {out.shape[0]} images for {n} inputs of the loss's {what}; it must return one image per "
            "input (batch dimension first)"
        )
    if out.dtype != torch.float32:
        dtype = str(out.dtype).removeprefix("torch.")
        raise UserError(f"{who} returns {dtype} images; gancompress trains in float32: return float32 images")


def first_batch(data: ImageDataset, n: int, device: torch.device) -> dict[str, torch.Tensor]:
    """The first ``n`` items as the training loader batches them (``real``, ``index``, ``label``, extras)."""
    return batch_at(data, torch.arange(min(n, len(data))), device)


def check_output_shape(g: nn.Module, data: ImageDataset, loss: GanLoss) -> None:
    """The generator runs on both of its loss's inputs and makes one image per input, of the data's size.

    ``generator_input`` on a real batch is what training feeds it; ``sample_input`` is what sample grids, pruning
    traces and evaluation feed it. Bind conditional families' eval data first (their sample inputs come from it).

    Raises:
        UserError: the forward failed, or the output is not an (N, C, H, W) float32 batch of the data's C×H×W.
    """
    device = module_device(g)
    batch = first_batch(data, 2, device)
    n = len(batch["real"])
    probes = (
        ("generator_input(batch)", n, lambda: loss.generator_input(batch)),
        ("sample_input(2, …)", 2, lambda: loss.sample_input(2, torch.Generator().manual_seed(0), device)),
    )
    # the probe draws noise (generator_input) from the global RNG: forked, so a run's random stream — and its
    # results — are the same with and without this check
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    for what, count, make_inputs in probes:
        with torch.random.fork_rng(devices=cuda):
            out = probe_generator(g, make_inputs, what)
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
            raise UserError(f"the generator must return one (N, C, H, W) image tensor; it returned {got}")
        made, real = tuple(out.shape[1:]), tuple(data.images.shape[1:])
        if made != real:
            raise UserError(
                f"the generator makes {made[0]}×{made[1]}×{made[2]} images but the {data.name!r} images are "
                f"{real[0]}×{real[1]}×{real[2]} (C×H×W); set data.image_size={made[1]} and data.channels={made[0]} "
                "(--set) to match the generator"
            )
        check_batch(out, count, what)


def check_savable(g: nn.Module, d: nn.Module | None) -> None:
    """Both modules to save record how to rebuild them (``arch_spec``); checked before the run directory is made."""
    for role, module in (("generator", g), ("discriminator", d)):
        if module is not None and getattr(module, "arch_spec", None) is None:
            raise UserError(f"cannot save the {role} ({type(module).__name__}): it has no arch_spec; {_SAVE_ADVICE}")


__all__ = [
    "check_api_types",
    "check_batch",
    "check_float32",
    "check_images",
    "check_output_shape",
    "check_savable",
    "first_batch",
    "module_device",
    "probe_generator",
    "refuse_torchscript",
]
