"""High-level jobs over the one loop: train a teacher, compress a GAN, prune one-shot; load / save GAN pairs.

Example:
    >>> import gancompress as gc
    >>> g, d = gc.load_gan("runs/teacher")                                     # doctest: +SKIP
    >>> res = gc.compress(g, d, data, family="dcgan", method="self_supervised",
    ...                   prune=gc.PruneCfg(sparsity=0.5), train=gc.TrainCfg(steps=200))  # doctest: +SKIP
    >>> gc.save(res, "runs/comp")                                              # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress.checkpoint import save_module
from gancompress.config import MethodCfg, PruneCfg, RunCfg, TrainCfg, to_dict
from gancompress.data import ImageDataset, InfiniteLoader
from gancompress.errors import UserError
from gancompress.export.speed_target import RatioSearch, measured_speedup, speed_search
from gancompress.families import Family, GanLoss, get_family
from gancompress.families.checks import (
    check_api_types,
    check_float32,
    check_images,
    check_output_shape,
    check_savable,
    module_device,
    refuse_torchscript,
)
from gancompress.families.user import load_saved
from gancompress.files import read_json
from gancompress.methods import Method, create_method
from gancompress.methods.frozen import side_effect_free
from gancompress.pruning import MaskSet, count_nonzero, count_parameters
from gancompress.pruning.channel_masks import ChannelMaskSet
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.pruning.pruner import Pruner
from gancompress.pruning.targets import keep_output_dense
from gancompress.report.imagegrid import save_image_grid
from gancompress.rundir import RunDir
from gancompress.training import distributed
from gancompress.training.diagnostics import health_baseline
from gancompress.training.loop import TrainResult
from gancompress.training.loop import train as train_loop

log = logging.getLogger(__name__)

#: where a compress run records its ``prune.target_speedup`` search (``--resume`` reuses the ratio)
SPEED_SEARCH = "speed_search.json"


@dataclass
class CompressResult:
    """A compressed generator and how it was made."""

    generator: nn.Module
    discriminator: nn.Module | None
    masks: MaskSet | None
    method: str
    config: dict[str, Any]
    train: TrainResult | None = None
    sparsity: list[dict[str, Any]] = field(default_factory=list)
    d_masks: MaskSet | None = None  # masks on the discriminator (Table 1 rows m, n)
    speed: dict[str, Any] | None = None  # prune.target_speedup: the ratio search and the final measured speed-up

    def summary(self) -> dict[str, Any]:
        out = {
            "method": self.method,
            "sparsity": self.masks.overall_sparsity() if self.masks is not None else 0.0,
            "params": count_parameters(self.generator),
            "nonzero": count_nonzero(self.generator),
            "steps": self.train.steps if self.train else 0,
            "seconds": round(self.train.seconds, 2) if self.train else 0.0,
        }
        if isinstance(self.masks, ChannelMaskSet):  # what channel removal will make of it (export --format physical)
            out["channel_ratio"] = round(self.masks.channel_ratio(), 4)
            out["macs_fraction"] = round(self.masks.macs_fraction(), 4)
        if self.speed:
            out["target_speedup"] = self.speed["target"]
            out["measured_speedup"] = self.speed["final"]["speedup"]
        if self.d_masks is not None:
            out["d_sparsity"] = self.d_masks.overall_sparsity()
        return out


def _family(family: str | Family | None) -> Family | None:
    if family is None or isinstance(family, Family):
        return family
    return get_family(family)


def sample_hook(g: nn.Module, loss: GanLoss, run: RunDir, *, n: int = 64, seed: int = 1234, name: str = "step") -> Any:
    """A hook writing ``samples/<name>_<step>.png`` from fixed inputs (same noise every time)."""
    device = module_device(g)
    inputs = loss.sample_input(n, torch.Generator().manual_seed(seed), device)

    def hook(step: int) -> None:
        was_training = g.training
        g.eval()
        with torch.no_grad():
            images = g(*inputs)
        g.train(was_training)
        save_image_grid(images.cpu(), run.samples / f"{name}_{step:06d}.png", nrow=8, scale=2)

    return hook


def train_teacher(
    cfg: RunCfg,
    data: ImageDataset,
    *,
    run: RunDir | None = None,
    resume_from: Path | None = None,
    evaluator: Any | None = None,
) -> tuple[nn.Module, nn.Module, TrainResult]:
    """Train a dense teacher (Table 1 row a) of ``cfg.model.family`` on ``data`` for ``cfg.train.steps`` steps.

    With an ``evaluator`` (:class:`gancompress.evaluate.Evaluator`) and ``train.eval_every > 0`` the class coverage
    of samples is logged periodically and watched by the collapse monitor.
    """
    check_images(data)
    family = get_family(cfg.model.family)
    steps = cfg.train.steps or 2000
    torch.manual_seed(cfg.seed)
    g, d = family.build(cfg.model, cfg.data)
    g, d = g.to(cfg.device), d.to(cfg.device)
    loss = family.make_loss(g, d)
    # conditional families draw sample-grid inputs (source images, domains) from data: held-out when available
    loss.bind_eval_data(evaluator.test if evaluator is not None else data)
    method = create_method(MethodCfg(name="dense"))
    method.setup(g, None, d, loss)
    loader = InfiniteLoader(data, cfg.train.batch_size, seed=cfg.seed, device=cfg.device, **distributed.shard())
    hooks = {"sample": sample_hook(g, loss, run, name="teacher")} if run is not None else {}
    if evaluator is not None and evaluator.domain is not None:
        hooks["eval"] = evaluator.class_coverage_hook(g, loss)
    result = train_loop(
        method,
        loader,
        steps=steps,
        cfg=replace(cfg.train, steps=steps),
        run=run,
        hooks=hooks,
        resume_from=resume_from,
        desc="teacher",
    )
    g.eval()
    if run is not None:
        extra = {"family": cfg.model.family, "steps": steps, "role": "generator"}
        save_module(g, run.path, "generator", extra)
        save_module(d, run.path, "discriminator", {**extra, "role": "discriminator"})
    return g, d, result


def compression_budget(method: Method, train_cfg: TrainCfg, teacher_steps: int | None) -> int:
    if train_cfg.steps:
        return int(train_cfg.steps)
    if teacher_steps is None:
        raise UserError("train.steps is not set and the teacher's step count is unknown; pass train.steps")
    if method.budget == "full":  # rows from random init get the teacher's full budget (docs/method.md §4)
        return int(teacher_steps)
    # docs/method.md §3: 10 % of the teacher's steps
    return max(1, math.ceil(train_cfg.budget_fraction * teacher_steps))


def compress(
    g_orig: nn.Module,
    d_orig: nn.Module | None,
    data: ImageDataset,
    *,
    family: str | Family | None = "dcgan",
    loss: GanLoss | None = None,
    method: str | MethodCfg = "self_supervised",
    prune: PruneCfg | None = None,
    train: TrainCfg | None = None,
    teacher_steps: int | None = None,
    run: RunDir | None = None,
    seed: int = 0,
    device: str = "cpu",
    resume_from: Path | None = None,
    hooks: dict[str, Callable[[int], Any]] | None = None,
    evaluator: Any | None = None,
    name: str | None = None,
) -> CompressResult:
    """Compress ``g_orig`` with a Table 1 method; ``g_orig`` and ``d_orig`` are never modified (copies are trained).

    Args:
        g_orig, d_orig: the trained generator and discriminator (any ``nn.Module`` pair).
        data: real training images (D's real data and the batch size of generator inputs).
        family: built-in family name (supplies the loss); ignored when ``loss`` is given (bring-your-own GAN).
        loss: a :class:`GanLoss` naming the G and D terms.
        method: a registered method name or a full :class:`MethodCfg` (λ, reduction, distance, anchor).
        prune: granularity / sparsity / schedule (default element 50 % AGP).
        train: optimisation settings; ``steps=None`` ⇒ ``budget_fraction`` × ``teacher_steps``.
        evaluator: optional :class:`gancompress.evaluate.Evaluator`; with ``train.eval_every > 0`` the class coverage
            of g_comp's samples is logged periodically (mode-collapse alarm).
        name: what progress lines and sample grids call this run (default: the method's name; a control row
            trained by row d's strategy is logged as the control, not as row d).
    """
    check_api_types(g_orig, d_orig, loss)  # families/checks.py: user objects refused here, not deep inside training
    check_images(data)
    check_float32(g_orig, d_orig)
    prune = prune or PruneCfg()
    train_cfg = train or TrainCfg()
    method_cfg = method if isinstance(method, MethodCfg) else MethodCfg(name=method)
    fam = _family(family)
    strategy = create_method(method_cfg)
    if loss is None:
        if fam is None:
            raise UserError("pass either family= (a built-in GAN family) or loss= (your GanLoss object)")
        loss = fam.make_loss(g_orig, d_orig)
    if loss.eval_data is None:  # conditional families: sample grids / tracing from real source images and domains
        loss.bind_eval_data(evaluator.test if evaluator is not None else data)
    check_output_shape(g_orig, data, loss)  # after binding: conditional sample inputs come from the data
    steps = compression_budget(strategy, train_cfg, teacher_steps)
    g_device = module_device(g_orig)
    example_orig = loss.sample_input(2, torch.Generator().manual_seed(0), g_device)  # g_orig's inputs, for tracing
    prune = keep_output_dense(g_orig, prune, example_orig)
    if strategy.schedule is not None:
        prune = replace(prune, schedule=strategy.schedule)
    search = None
    if prune.target_speedup is not None and strategy.prunes:  # docs/deploy.md "Latency table and speed targets"
        saved = run.path / SPEED_SEARCH if run is not None else None
        if resume_from is not None and saved is not None and saved.is_file():
            # a resumed run keeps the ratio its masks were trained at (a new timing could pick another)
            search = RatioSearch(**read_json(saved))
        else:
            search = speed_search(g_orig, prune, tuple(t[:1] for t in example_orig))
            if run is not None:
                run.write_json(SPEED_SEARCH, dataclasses.asdict(search))
        prune = replace(prune, sparsity=search.ratio)
    torch.manual_seed(seed)

    teacher = copy.deepcopy(g_orig).to(device)
    g_comp = strategy.build_generator(g_orig, prune, example_orig).to(device)  # a copy of g_orig unless the row says
    if strategy.g_init == "random":
        _reinit(g_comp, fam)
    d = None
    if strategy.d_init != "none":
        if d_orig is None:
            raise UserError(f"method {strategy.name!r} needs a discriminator; none was given")
        d = copy.deepcopy(d_orig).to(device)
        if strategy.d_init == "random":
            _reinit(d, fam)
    loss.generator = g_comp  # terms that re-apply G (StarGAN "rec") follow the trained generator; see GanLoss
    pruner = None
    if strategy.prunes:
        example = loss.sample_input(2, torch.Generator().manual_seed(0), device)  # traces filter→norm coupling
        pruner = Pruner.attach(g_comp, prune, total_steps=steps, example_inputs=example)
    strategy.setup(g_comp, teacher, d, loss)
    d_pruner = None
    if strategy.prunes_d:  # rows m, n: D pruned to the same sparsity, granularity and schedule as g_comp
        with side_effect_free(teacher):  # the teacher is frozen: no statistics update (docs/method.md §1)
            d_example = (teacher(*loss.sample_input(2, torch.Generator().manual_seed(0), device)),)
        d_prune = keep_output_dense(d, replace(prune, exclude=()), d_example)  # prune.exclude names G's layers
        # prune.exclude and the per-layer overrides name G's layers: D keeps its own exclusions and no overrides
        d_prune = replace(prune, exclude=d_prune.exclude, layer_sparsity={})
        d_pruner = Pruner.attach(d, d_prune, total_steps=steps, example_inputs=d_example)
    baseline = None
    if d is not None and strategy.d_init == "orig":  # D_O judging G_O: where teacher training ended
        baseline = health_baseline(loss, teacher, d, data, batch_size=train_cfg.batch_size, seed=seed)
    loader = InfiniteLoader(data, train_cfg.batch_size, seed=seed, device=device, **distributed.shard())
    all_hooks = dict(hooks or {})
    if run is not None and "sample" not in all_hooks:
        all_hooks["sample"] = sample_hook(g_comp, loss, run, name=name or strategy.name)
    if evaluator is not None and evaluator.domain is not None and "eval" not in all_hooks:
        all_hooks["eval"] = evaluator.class_coverage_hook(g_comp, loss)
    result = train_loop(
        strategy,
        loader,
        steps=steps,
        cfg=replace(train_cfg, steps=steps),
        pruner=pruner,
        d_pruner=d_pruner,
        run=run,
        hooks=all_hooks,
        resume_from=resume_from,
        desc=name or strategy.name,
        health_baseline=baseline,
    )
    g_comp.eval()
    speed = None
    if search is not None:  # the trained model itself, shrunk, timed against the teacher as the search timed
        example = loss.sample_input(2, torch.Generator().manual_seed(0), device)
        small, _ = remove_pruned_channels(g_comp, example)
        final = measured_speedup(
            g_orig, small, example, backend=prune.speed_backend, threads=prune.speed_threads, batch=prune.speed_batch
        )
        speed = {"target": prune.target_speedup, "search": dataclasses.asdict(search), "final": final}
        log.info("measured speed-up of the compressed generator: %.2f× (target %.2f×)", final["speedup"],
                 prune.target_speedup)  # fmt: skip
    config = {
        "method": to_dict(method_cfg),
        "prune": to_dict(prune),
        "train": to_dict(replace(train_cfg, steps=steps)),
        "seed": seed,
        "teacher_steps": teacher_steps,
    }
    return CompressResult(
        generator=g_comp,
        discriminator=d,
        masks=pruner.masks if pruner is not None else None,
        method=strategy.name,
        config=config,
        train=result,
        sparsity=pruner.masks.sparsity_report() if pruner is not None else [],
        d_masks=d_pruner.masks if d_pruner is not None else None,
        speed=speed,
    )


def prune_oneshot(g_orig: nn.Module, prune: PruneCfg, example_inputs: tuple | None = None) -> CompressResult:
    """One-shot magnitude pruning with no recovery training (the demo's lower bound).

    ``example_inputs`` (generator inputs) let filter pruning trace which norm layer follows each pruned layer.
    """
    refuse_torchscript(g_orig)
    prune = keep_output_dense(g_orig, prune, example_inputs)
    g = copy.deepcopy(g_orig).eval()
    pruner = Pruner.attach(g, prune, example_inputs=example_inputs)
    pruner.prune()
    return CompressResult(
        generator=g,
        discriminator=None,
        masks=pruner.masks,
        method="oneshot_prune",
        config={"prune": to_dict(replace(prune, schedule="one_shot"))},
        sparsity=pruner.masks.sparsity_report(),
    )


def _reinit(module: nn.Module, fam: Family | None) -> None:
    if fam is not None:
        fam.init_weights(module)
        return
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


# --------------------------------------------------------------------------------------------------- load / save


def load_gan(path: str | Path, device: str = "cpu", *, model: str | None = None) -> tuple[nn.Module, nn.Module | None]:
    """Load (generator, discriminator) from a run directory written by ``train``/``compress``.

    ``model``: ``"path/to/module.py:factory"`` for runs of a bring-your-own GAN (``generator.json`` records
    ``{"arch": "user", "model": ...}``); the file is imported and executed, so it is never taken from the run itself.
    """
    path = Path(path)
    if not (path / "generator.json").is_file():
        raise UserError(f"{path} is not a gancompress run directory (no generator.json / generator.safetensors)")
    g = load_saved(path, "generator", model, device).eval()
    d = load_saved(path, "discriminator", model, device) if (path / "discriminator.json").is_file() else None
    return g, d


def gan_info(path: str | Path) -> dict[str, Any]:
    """The JSON next to a saved generator (family, steps, …)."""
    return read_json(Path(path) / "generator.json")


def save(result: CompressResult, path: str | Path, *, family: str | None = None, overwrite: bool = False) -> Path:
    """Write a compressed generator (safetensors + arch JSON + masks) and its summary into ``path``."""
    # Saving into the run directory that compress() trained in is the normal case (resume=True keeps its logs);
    # overwrite=True starts from an empty directory. An unsavable module is refused before the directory is made
    # (or emptied): a directory left behind without generator.json is not a run load_gan can read.
    check_savable(result.generator, result.discriminator)
    run = RunDir(path, overwrite=True) if overwrite else RunDir(path, resume=True)
    extra = {"family": family, "method": result.method, **result.summary(), "role": "generator"}
    save_module(result.generator, run.path, "generator", extra)
    if result.discriminator is not None:
        save_module(result.discriminator, run.path, "discriminator", {"family": family, "role": "discriminator"})
    run.write_json("compress.json", {**result.summary(), "config": result.config, "per_layer": result.sparsity})
    return run.path
