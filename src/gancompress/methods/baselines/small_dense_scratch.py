"""Table 1 row c — ``small_dense_scratch``: a narrower dense generator trained from scratch (paper FID 72.821).

The paper's row c trains "a smaller dense network with the same number of non-zero parameters as the pruned one"
from random initialisation with a random D and the standard GAN loss. We compute the width: the family's width knob
(``ngf`` for DCGAN) is searched so that the dense parameter count is closest to the non-zeros of row b's generator
at the target sparsity.
"""

from __future__ import annotations

import copy
import inspect
import logging
from typing import Any

import torch
from torch import nn

from gancompress.config import PruneCfg
from gancompress.errors import UserError
from gancompress.methods.base import METHODS, Method
from gancompress.models.build import MODELS, create_model
from gancompress.pruning import count_parameters
from gancompress.pruning.pruner import Pruner

log = logging.getLogger(__name__)

# DECISION: the width knob is the first of these constructor arguments the generator's architecture has (DCGAN,
# pix2pix and CycleGAN call it ngf, StarGAN conv_dim, SRGAN-style nets n_feats / num_features).
WIDTH_KEYS = ("ngf", "conv_dim", "n_feats", "num_features", "base_channels", "width", "nf")


def target_params(g_orig: nn.Module, prune: PruneCfg) -> int:
    """Non-zeros of row b's generator at ``prune.sparsity``: kept prunable weights + every other parameter.

    # DECISION: counted with the masks themselves (same granularity, exclusions and per-layer rounding as the pruned
    # model), on a copy of g_orig; norm layers and biases count as dense (filter pruning would also kill the coupled
    # norm channels — a difference of a few per cent of the parameters at most).
    """
    g = copy.deepcopy(g_orig).cpu()
    pruner = Pruner.attach(g, prune)
    pruner.prune()
    rows = pruner.masks.sparsity_report()
    return count_parameters(g) - sum(r["numel"] for r in rows) + sum(r["nonzero"] for r in rows)


def _width_knob(g_orig: nn.Module) -> tuple[str, dict[str, Any], str, int]:
    spec = getattr(g_orig, "arch_spec", None)
    if not spec:
        raise UserError(
            "small_dense_scratch needs a generator built with create_model (it rebuilds it narrower from its "
            "arch_spec); this generator has none"
        )
    arch, kwargs = spec["arch"], dict(spec.get("kwargs", {}))
    params = inspect.signature(MODELS.get(arch)).parameters
    for key in WIDTH_KEYS:
        if key in kwargs:
            return arch, kwargs, key, int(kwargs[key])
        if key in params and isinstance(params[key].default, int):
            return arch, kwargs, key, int(params[key].default)
    raise UserError(
        f"small_dense_scratch: architecture {arch!r} has none of the width arguments {', '.join(WIDTH_KEYS)}"
    )


def _count(arch: str, kwargs: dict[str, Any]) -> int | None:
    try:
        with torch.device("meta"):  # no memory, no init cost: only shapes matter
            return count_parameters(create_model(arch, **kwargs))
    except Exception:  # a width the architecture rejects is simply not a candidate
        return None


def matched_width(g_orig: nn.Module, prune: PruneCfg) -> tuple[str, int, int, int]:
    """The width whose dense generator's parameter count is closest to :func:`target_params`.

    Returns:
        ``(knob, width, params at that width, target)``.

    Example:
        >>> from gancompress.models import create_model
        >>> g = create_model("dcgan_generator", nz=64, ngf=32, channels=1, image_size=32)
        >>> matched_width(g, PruneCfg(sparsity=0.5))[:2]
        ('ngf', 20)
    """
    arch, kwargs, key, full = _width_knob(g_orig)
    target = target_params(g_orig, prune)
    best: tuple[int, int, int] | None = None  # (|params − target|, width, params)
    for width in range(1, full + 1):  # params grow with width: stop once past the target
        n = _count(arch, {**kwargs, key: width})
        if n is None:
            continue
        if best is None or abs(n - target) < best[0]:
            best = (abs(n - target), width, n)
        if n >= target:
            break
    if best is None:
        raise UserError(f"small_dense_scratch: no width in 1..{full} builds architecture {arch!r}")
    return key, best[1], best[2], target


def small_generator(g_orig: nn.Module, prune: PruneCfg) -> nn.Module:
    """A dense generator of g_orig's architecture, narrowed so #params ≈ non-zeros of row b (fresh, unloaded)."""
    key, width, n, target = matched_width(g_orig, prune)
    arch, kwargs = g_orig.arch_spec["arch"], dict(g_orig.arch_spec.get("kwargs", {}))
    log.info("small dense generator: %s=%d → %d params (target %d non-zeros)", key, width, n, target)
    device = next(g_orig.parameters()).device
    return create_model(arch, **{**kwargs, key: width}).to(device)


@METHODS.register("small_dense_scratch")
class SmallDenseScratch(Method):
    """Row c: narrower dense G (random init), random D, standard GAN loss, full teacher budget, no pruning."""

    name = "small_dense_scratch"
    g_init = "random"  # the pipeline re-initialises the fresh narrow net as at teacher training
    d_init = "random"
    prunes = False  # compressed by width, not by masks
    budget = "full"  # docs/method.md §4: rows from random init get the teacher's full budget

    def build_generator(
        self, g_orig: nn.Module, prune: PruneCfg, example_inputs: tuple[Any, ...] | None = None
    ) -> nn.Module:
        return small_generator(g_orig, prune)
