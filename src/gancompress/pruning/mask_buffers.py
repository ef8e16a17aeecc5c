"""Mask buffers: their names, how they are created on a module, and how a mask is applied to a tensor.

A pruned layer carries a ``weight_mask`` buffer; with filter granularity a ``bias_mask`` on the layer and a
``channel_mask`` on the normalisation layer consuming its output channels make a pruned channel exactly 0 (see
:mod:`gancompress.pruning.masks`). This module is that per-module buffer layer, free of any pruning policy:

* the buffer names (:data:`MASK_NAME`, :data:`BIAS_MASK_NAME`, :data:`CHANNEL_MASK_NAME`, :data:`MASK_BUFFER_NAMES`)
  and the norm types that can carry a ``channel_mask`` (:data:`NORM_TYPES`);
* helpers creating the buffers and zeroing masked entries;
* :func:`ensure_mask_buffers`, which gives a fresh model the buffers of a pruned checkpoint before loading it;
* :func:`output_channel_keep`, which output channels of a layer a weight mask keeps.

It is kept apart from ``masks.py`` so that ``MaskSet`` holds only the pruning logic (attach, update, apply, report).
Every public name here is re-exported by ``gancompress.pruning.masks``, so existing imports keep working.

Example:
    >>> from torch import nn
    >>> layer = nn.Linear(4, 2)
    >>> ensure_mask_buffers(nn.Sequential(layer), ["0.weight_mask"]), layer.weight_mask.shape
    (['0'], torch.Size([2, 4]))
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gancompress.errors import UserError
from gancompress.pruning.granularity import canonical

MASK_NAME = "weight_mask"
# DECISION: coupled masks get names that do NOT end in "weight_mask", so everything keyed on ``*.weight_mask`` (the
# pruned layers, sparsity reports, "masked_layers" in checkpoints, packed export) keeps counting prunable weights only.
BIAS_MASK_NAME = "bias_mask"  # (out,) on a filter-pruned layer with a bias
CHANNEL_MASK_NAME = "channel_mask"  # (num_features,) on a BatchNorm / InstanceNorm consuming a filter-pruned layer
MASK_BUFFER_NAMES = (MASK_NAME, BIAS_MASK_NAME, CHANNEL_MASK_NAME)
NORM_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


#: parametrizations whose weight is W_stored times a (per-tensor or per-output-channel) scale, so the effective weight
#: is exactly 0 wherever the stored tensor is: spectral norm W = W_orig / σ (SAGAN / BigGAN generators) and weight
#: norm W = g · v / ‖v‖. Masks are applied to the stored tensor; any other parametrization is refused.
_SCALING_PARAMETRIZATIONS = {"_SpectralNorm": "original", "_WeightNorm": "original1"}


def stored_weight(module: nn.Module) -> Tensor:
    """The tensor that holds ``module.weight``: the parameter itself, or the stored original of a spectral / weight
    norm parametrization (``module.weight`` is recomputed from it on every access, so zeroing ``weight`` would do
    nothing). Call :func:`check_weight_storage` first."""
    if parametrize.is_parametrized(module, "weight"):
        plist = module.parametrizations.weight
        stored = _SCALING_PARAMETRIZATIONS.get(type(plist[0]).__name__) if len(plist) == 1 else None
        if stored is not None:
            return getattr(plist, stored)
    return module.weight


def check_weight_storage(module: nn.Module, name: str) -> None:
    """``UserError`` unless masking :func:`stored_weight` zeroes ``module.weight`` exactly.

    Refused: legacy hook-based ``torch.nn.utils.spectral_norm`` / ``weight_norm``, ``torch.nn.utils.prune`` state,
    and parametrizations other than one spectral norm or one weight norm.
    """
    hooks = {type(h).__name__ for h in module._forward_pre_hooks.values()}
    legacy = {"SpectralNorm": "spectral_norm", "WeightNorm": "weight_norm"}
    for hook, fn in legacy.items():
        if hook in hooks:
            raise UserError(
                f"layer {name!r} uses the legacy torch.nn.utils.{fn} hook; use torch.nn.utils.parametrizations.{fn} "
                f"(supported: masks apply to its stored weight) or remove it (torch.nn.utils.remove_{fn})"
            )
    if hasattr(module, "weight_orig"):
        raise UserError(f"layer {name!r} carries torch.nn.utils.prune state; call torch.nn.utils.prune.remove first")
    if parametrize.is_parametrized(module, "weight"):
        kinds = [type(p).__name__ for p in module.parametrizations.weight]
        if len(kinds) != 1 or kinds[0] not in _SCALING_PARAMETRIZATIONS:
            raise UserError(
                f"layer {name!r} has the weight parametrization(s) {', '.join(kinds)}; only one spectral norm or one "
                "weight norm keeps pruned weights at zero — remove the others "
                "(torch.nn.utils.parametrize.remove_parametrizations) or exclude the layer (prune.exclude)"
            )


def new_mask(module: nn.Module) -> Tensor:
    weight = module.weight
    return torch.ones(weight.shape, dtype=weight.dtype, device=weight.device)


def has_channel_state(norm: nn.Module) -> bool:
    """Whether a dead input channel can leave ``norm`` non-zero (affine parameters or running statistics)."""
    return bool(getattr(norm, "affine", False)) or getattr(norm, "running_mean", None) is not None


def norm_width(norm: nn.Module) -> int:
    """Channels of a BatchNorm / InstanceNorm (``num_features``) or GroupNorm (``num_channels``)."""
    return norm.num_channels if isinstance(norm, nn.GroupNorm) else norm.num_features


def norm_tensors(norm: nn.Module) -> list[Tensor]:
    """The per-channel tensors a ``channel_mask`` zeroes: affine weight/bias and the running mean.

    With γ = β = 0 the norm's output of a dead channel is exactly 0 in train and eval mode; zeroing the running mean
    as well makes it 0 for ``affine=False`` norms in eval mode ((0 − 0)/σ).
    """
    return [t for t in (norm.weight, norm.bias, getattr(norm, "running_mean", None)) if isinstance(t, Tensor)]


def register_coupled(module: nn.Module, name: str, size: int, like: Tensor) -> None:
    if name not in module._buffers:
        module.register_buffer(name, torch.ones(size, dtype=like.dtype, device=like.device))


def mask_(tensor: Tensor, mask: Tensor) -> None:
    # DECISION: masked_fill, not ``mul_``: a negative weight × 0 is −0.0; exact +0.0 keeps pruned entries bit-exact
    # zeros (the packed export stores only the bitmask for them).
    tensor.masked_fill_(mask == 0, 0.0)


def ensure_mask_buffers(model: nn.Module, state_dict_keys: Iterable[str]) -> list[str]:
    """Give ``model`` an all-ones mask buffer for every ``<module>.{weight,bias,channel}_mask`` key it lacks.

    Lets a freshly built model ``load_state_dict(sd, strict=True)`` a pruned checkpoint. Keys whose module does
    not exist are skipped (``load_state_dict`` then reports them).

    Args:
        model: Freshly built model.
        state_dict_keys: Keys of the state dict about to be loaded.

    Returns:
        Names of the modules that received a ``weight_mask`` (the pruned layers; coupled ``bias_mask`` /
        ``channel_mask`` buffers are created too but not listed).
    """
    added = []
    for key in state_dict_keys:
        mod_name, _, buf = key.rpartition(".")
        if buf not in MASK_BUFFER_NAMES:
            continue
        try:
            mod = model.get_submodule(mod_name)
        except AttributeError:
            continue
        if buf in mod._buffers:
            continue
        if buf == MASK_NAME and isinstance(getattr(mod, "weight", None), Tensor):
            mod.register_buffer(MASK_NAME, new_mask(mod))
            added.append(mod_name)
        elif buf == BIAS_MASK_NAME and isinstance(getattr(mod, "bias", None), Tensor):
            register_coupled(mod, BIAS_MASK_NAME, mod.bias.shape[0], mod.bias)
        elif buf == CHANNEL_MASK_NAME and isinstance(mod, (*NORM_TYPES, nn.GroupNorm)) and has_channel_state(mod):
            register_coupled(mod, CHANNEL_MASK_NAME, norm_width(mod), norm_tensors(mod)[0])
    return added


def output_channel_keep(layer: nn.Module, mask: Tensor) -> Tensor:
    """``(out,)`` 1.0 where any weight of the output channel is kept, 0.0 where the whole filter is pruned.

    Output channels: Conv2d dim 0, ConvTranspose2d dim 1 within each group, Linear rows (see ``granularity.py``).
    """
    c = canonical(mask, layer)  # (groups, out/g, in/g, kH, kW)
    return (c.reshape(c.shape[0] * c.shape[1], -1) != 0).any(dim=1).to(mask.dtype)
