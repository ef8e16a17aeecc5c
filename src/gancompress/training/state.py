"""A training run's resumable state: everything the next step depends on, saved as a step checkpoint.

Weights and masks of G (and D), the method's own tensors (e.g. feature adapters), the EMA of G (``train.ema``), each
optimizer's moments (flattened into safetensors tensors + JSON, no pickle), every RNG stream (all ranks' under
torchrun), the loader's position and the schedule's last target sparsity. The loop
(:mod:`gancompress.training.loop`) saves it every ``train.ckpt_every`` steps and on SIGINT / SIGTERM; ``--resume``
restores it, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gancompress.checkpoint import load_state_dict_checked
from gancompress.methods.base import Method
from gancompress.pruning import MaskSet
from gancompress.rundir import RunDir, load_checkpoint, save_checkpoint
from gancompress.training import distributed
from gancompress.training.ema import ParameterEma
from gancompress.training.seeding import rng_state, set_rng_state

log = logging.getLogger(__name__)


def optimizer_to_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten an optimizer state_dict into safetensors-able tensors + JSON (no pickle)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(
    opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], meta: dict[str, Any], prefix: str
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_state(
    run: RunDir,
    step: int,
    method: Method,
    optimizers: dict[str, torch.optim.Optimizer],
    loader: Any,
    masks: MaskSet | None = None,
    d_masks: MaskSet | None = None,
    rank_rng: dict[str, torch.Tensor] | None = None,
    ema: ParameterEma | None = None,
) -> Path:
    """Everything the next step depends on: weights + masks, optimizer moments, every RNG, data position, the EMA."""
    tensors: dict[str, torch.Tensor] = {f"g.{k}": v for k, v in method.g_comp.state_dict().items()}
    if method.d is not None:
        tensors.update({f"d.{k}": v for k, v in method.d.state_dict().items()})
    extra = getattr(method, "extra_state", None)  # a method's own tensors (e.g. row m's dense weights)
    if extra is not None:
        tensors.update({f"method.{k}": v for k, v in extra().items()})
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_tensors().items()})
    opt_meta = {}
    for name, opt in optimizers.items():
        t, m = optimizer_to_tensors(opt, f"opt_{name}")
        tensors.update(t)
        opt_meta[name] = m
    rng_t, rng_m = rng_state()
    tensors.update(rng_t)
    tensors.update(rank_rng or {})
    meta = {
        "optimizers": opt_meta,
        "rng": rng_m,
        "world_size": distributed.world_size(),
        "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        "target_sparsity": {
            "g": masks.target_sparsity if masks is not None else None,
            "d": d_masks.target_sparsity if d_masks is not None else None,
        },
    }
    if ema is not None:
        meta["ema"] = {"decay": ema.decay, "num_updates": ema.num_updates}
    return save_checkpoint(run.path, step, tensors, meta)


def restore_state(
    path: Path,
    method: Method,
    optimizers: dict[str, torch.optim.Optimizer],
    loader: Any,
    masks: MaskSet | None = None,
    d_masks: MaskSet | None = None,
    ema: ParameterEma | None = None,
) -> int:
    """Load a checkpoint of :func:`save_state` into the live objects; returns the step it was taken at."""
    tensors, meta = load_checkpoint(path)
    load_state_dict_checked(method.g_comp, {k[2:]: v for k, v in tensors.items() if k.startswith("g.")}, path)
    if method.d is not None:
        load_state_dict_checked(method.d, {k[2:]: v for k, v in tensors.items() if k.startswith("d.")}, path)
    for name, opt in optimizers.items():
        optimizer_from_tensors(opt, tensors, meta["optimizers"][name], f"opt_{name}")
    set_rng_state({k: v for k, v in tensors.items() if k.startswith("rng.")}, meta["rng"])
    distributed.restore_rank_rng(tensors, int(meta.get("world_size", 1)))
    if meta.get("loader") is not None and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(meta["loader"])
    load_extra = getattr(method, "load_extra_state", None)
    if load_extra is not None:
        load_extra({k[len("method.") :]: v for k, v in tensors.items() if k.startswith("method.")})
    if ema is not None:
        saved = {k[len("ema.") :]: v for k, v in tensors.items() if k.startswith("ema.")}
        if saved:
            ema.load_state_tensors(saved, int(meta["ema"]["num_updates"]))
        else:  # a checkpoint of a run without train.ema: the average starts from the restored weights
            log.warning("%s holds no EMA of the generator; train.ema starts averaging from the resumed weights", path)
            ema.reset(method.g_comp)
    targets = meta.get("target_sparsity") or {}
    for mask_set, key in ((masks, "g"), (d_masks, "d")):
        if mask_set is not None and targets.get(key) is not None:
            mask_set.target_sparsity = float(targets[key])  # the schedule's last target (row m re-selects at it)
    return int(meta["step"])
