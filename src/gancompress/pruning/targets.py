"""Which layers a prune touches: the output layer and the convs feeding ``PixelShuffle`` stay dense under filter
pruning.

Example:
    >>> from torch import nn
    >>> from gancompress.config import PruneCfg
    >>> g = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3))
    >>> keep_output_dense(g, PruneCfg(granularity="filter")).exclude
    ('2',)
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from gancompress.config import PruneCfg
from gancompress.pruning.granularity import PRUNABLE_TYPES

log = logging.getLogger(__name__)


def keep_output_dense(g: nn.Module, prune: PruneCfg, example_inputs: tuple[Any, ...] | None = None) -> PruneCfg:
    """For structured granularities, exclude the generator's output layer unless the user named exclusions.

    DECISION: filter pruning of the layer that produces the image would delete image channels (an RGB generator
    must output 3), so ``filter`` keeps it dense by default; any explicit ``prune.exclude`` is used as given. The
    output layer is the prunable layer that runs last on ``example_inputs`` (data flow: a label embedding defined
    after the decoder is not it); without inputs, or if the forward fails, the last one defined.
    """
    if prune.granularity not in ("filter", "channel") or prune.exclude:
        return prune
    names = [n for n, m in g.named_modules() if isinstance(m, PRUNABLE_TYPES)]
    if not names:
        return prune
    output = (last_run_layer(g, example_inputs) if example_inputs is not None else None) or names[-1]
    log.info(
        "%s pruning keeps the output layer %r dense (set prune.exclude to choose otherwise)", prune.granularity, output
    )
    # channel granularity removes a PixelShuffle's r² input channels together (pruning/channel_groups.py)
    shuffled = pixel_shuffle_inputs(g) if prune.granularity == "filter" else []
    if shuffled:  # SRGAN's sub-pixel convs: see pixel_shuffle_inputs
        log.info("filter pruning keeps the convs feeding PixelShuffle dense: %s", ", ".join(shuffled))
    return replace(prune, exclude=tuple(dict.fromkeys([*shuffled, output])))


def last_run_layer(g: nn.Module, example_inputs: tuple[Any, ...]) -> str | None:
    """The Conv / ConvTranspose / Linear layer that runs last in one eval-mode forward of ``g`` (``None`` if the
    forward fails or runs none)."""
    order: list[str] = []
    hooks = [
        m.register_forward_hook(lambda *_, name=n: order.append(name))
        for n, m in g.named_modules()
        if isinstance(m, PRUNABLE_TYPES)
    ]
    modes = {m: m.training for m in g.modules()}
    g.eval()  # no BatchNorm statistics change
    try:
        with torch.no_grad():
            g(*example_inputs)
    except (RuntimeError, TypeError, ValueError, IndexError):
        return None
    finally:
        for h in hooks:
            h.remove()
        for m, training in modes.items():
            m.training = training
    return order[-1] if order else None


def pixel_shuffle_inputs(g: nn.Module) -> list[str]:
    """Convs whose output goes straight into an ``nn.PixelShuffle`` (adjacent in an ``nn.Sequential``).

    DECISION: PixelShuffle(r) regroups every r² consecutive channels into one channel at r× resolution, so removing
    single output filters of the conv in front of it would shift every group after it (and channel removal cannot
    follow the regrouping); filter pruning keeps those convs dense. Element / N:M pruning is unaffected.
    """
    out = []
    for parent_name, parent in g.named_modules():
        if isinstance(parent, nn.Sequential):
            children = list(parent.named_children())
            for (name, mod), (_, nxt) in itertools.pairwise(children):
                if isinstance(mod, nn.Conv2d) and isinstance(nxt, nn.PixelShuffle):
                    out.append(f"{parent_name}.{name}" if parent_name else name)
    return out
