"""THE training loop: teacher training and every compression method run through :func:`train`.

Order per step (docs/architecture.md "Loop order"): ``pruner.step(i)`` (new masks when the schedule says so; then the
method's ``recalibrate``, e.g. BatchNorm re-estimation) → D step → G step with masked grads → optimizer step → method
hook (``after_optimizer_step``) → re-apply masks → EMA update (``train.ema``) → log → maybe sample / eval /
checkpoint. With ``train.ema`` the average replaces G's trained weights at the end (training/ema.py). A pruned D
(``d_pruner``, Table 1 rows m and n) follows the same schedule; its grads are masked and its masks re-applied around
D's own optimizer step.

Under torchrun (``training/distributed.py``) every rank runs this same loop on its shard of the data: gradients are
averaged over ranks after each backward, buffers follow rank 0 after each step, masks are checked to be identical on
every rank after each update, and rank 0 alone runs the hooks and writes metrics and checkpoints.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gancompress.config import TrainCfg
from gancompress.errors import NonFiniteLossError, TrainingInterrupted, UserError
from gancompress.methods.base import Method
from gancompress.methods.frozen import frozen_buffers, side_effect_free
from gancompress.pruning import MaskSet
from gancompress.pruning.pruner import Pruner
from gancompress.rundir import RunDir
from gancompress.training import distributed
from gancompress.training.diagnostics import CollapseMonitor, d_health, grad_norm
from gancompress.training.ema import ParameterEma
from gancompress.training.state import restore_state, save_state
from gancompress.training.stop_signal import StopSignal

log = logging.getLogger(__name__)

Hook = Callable[[int], "dict[str, float] | None"]


@dataclass
class TrainResult:
    """What a finished loop hands back: final step and the logged rows (also in ``metrics.jsonl``)."""

    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    alarms: list[dict[str, Any]] = field(default_factory=list)


def _make_optimizers(method: Method, cfg: TrainCfg) -> dict[str, torch.optim.Optimizer]:
    lrs = {"g": cfg.lr_g, "d": cfg.lr_d}
    return {
        name: torch.optim.Adam(params, lr=lrs[name], betas=(cfg.beta1, cfg.beta2))
        for name, params in method.trainable().items()
        if params
    }


def _check_finite(step: int, out: dict[str, Any], prefix: str) -> None:
    finite = bool(torch.isfinite(out["loss"]).all())
    if distributed.all_true(finite):  # every rank stops together, not just the one that saw the NaN
        return
    for key, value in out.items():  # name the first offending term, not just the total
        if key != "loss" and isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
            raise NonFiniteLossError(step, key, float(value.detach().float().mean()))
    if not finite:
        raise NonFiniteLossError(step, f"{prefix}/loss", float(out["loss"].detach()))
    raise NonFiniteLossError(step, f"{prefix}/loss on another rank", math.nan)


def _check_masks(method: Method, masks: MaskSet | None, d_masks: MaskSet | None, step: int) -> None:
    """Multi-process runs: the masks (recomputed on every rank) must agree with rank 0's, or we stop."""
    if distributed.is_distributed():
        for mask_set, module, what in ((masks, method.g_comp, "g_comp"), (d_masks, method.d, "d")):
            if mask_set is not None:
                distributed.check_identical_masks(module, step=step, what=what)


def train(
    method: Method,
    loader: Any,
    *,
    steps: int,
    cfg: TrainCfg,
    pruner: Pruner | None = None,
    run: RunDir | None = None,
    hooks: dict[str, Hook] | None = None,
    resume_from: Path | None = None,
    desc: str = "train",
    d_pruner: Pruner | None = None,
    health_baseline: dict[str, float] | None = None,
) -> TrainResult:
    """Run ``steps`` optimizer steps of ``method`` (already ``setup``) on batches from ``loader``.

    Args:
        method: a set-up strategy (its networks are bound).
        loader: yields batch dicts via ``next_batch()``; must offer ``state_dict``/``load_state_dict`` for resume.
        steps: total steps of this run (the schedule's T is derived from it).
        cfg: optimisation and bookkeeping settings.
        pruner: the masks on ``method.g_comp`` and their policy (``None`` = dense training): ``pruner.step(i)``
            before each step sets the sparsity per docs/method.md §3 (schedule over ``pruner.total_steps`` = ``steps``).
        run: run directory for metrics.jsonl / TensorBoard / checkpoints (``None`` = in-memory only).
        hooks: ``{"sample": fn(step), "eval": fn(step) -> dict}`` called every ``sample_every`` / ``eval_every``.
        resume_from: a checkpoint directory written by this loop.
        d_pruner: masks on ``method.d`` (D pruned with the same schedule as g_comp), or ``None``.
        health_baseline: D's health on G_O's fakes before training (:func:`health_baseline`): the collapse monitor's
            reference for a compression run; ``None`` = the run's own first readings.

    Example:
        >>> result = train(method, loader, steps=100, cfg=TrainCfg(steps=100))  # doctest: +SKIP
    """
    import time

    pruners = [p for p in (pruner, d_pruner) if p is not None]
    if any(p.cfg is not None and p.total_steps != steps for p in pruners):
        raise ValueError(f"a pruner's schedule must span the run: total_steps={steps}")
    masks, d_masks = (p.masks if p is not None else None for p in (pruner, d_pruner))
    prune = pruner.cfg if pruner is not None else None  # what the method hook reads (row m: update_every, importance)
    hooks = hooks or {}
    if not distributed.is_main():  # rank 0 alone samples, evaluates and writes
        hooks, run = {}, None
    g, d = method.g_comp, method.d
    optimizers = _make_optimizers(method, cfg)
    if "g" not in optimizers:  # every parameter frozen: nothing to train (was a KeyError on the first step)
        raise UserError("the generator has no trainable parameter (all requires_grad=False); unfreeze it to compress")
    d_trainable = "d" in optimizers
    # docs/decisions.md "Recovery ingredients": an EMA of G's parameters is what the run returns
    ema = ParameterEma(g, cfg.ema) if cfg.ema > 0 else None
    recalibrate = getattr(method, "recalibrate", None)
    start = 0
    if resume_from is not None:
        start = restore_state(resume_from, method, optimizers, loader, masks, d_masks, ema)
        log.info("resumed from %s at step %d", resume_from, start)
        if run is not None:
            run.truncate_metrics(start)  # rows logged after the checkpoint are logged again below
        _check_masks(method, masks, d_masks, start)
    else:
        distributed.seed_rank()  # each rank its own noise; rank 0 keeps the run's stream
    distributed.broadcast_module(g)  # DDP's start: every rank from rank 0's weights
    distributed.broadcast_module(d)
    g.train()
    if d is not None:
        d.train()  # also a frozen D_O: it judges in the mode it was trained in (docs/decisions.md "Normalisation mode")
    mask_g_grads = getattr(method, "mask_g_grads", True)
    after_step = getattr(method, "after_optimizer_step", None)
    # a method overriding the hook may change masks there (row m's re-selection): check them after it too
    hook_changes_masks = getattr(type(method), "after_optimizer_step", None) is not Method.after_optimizer_step
    history: list[dict[str, float]] = []
    window: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    monitor = CollapseMonitor(baseline=health_baseline, expected_rows=max(1, (steps - start) // cfg.log_every))
    show = None if distributed.is_main() else True  # None: tqdm decides (off without a TTY)
    bar = tqdm(total=steps, initial=start, desc=desc, disable=show, dynamic_ncols=True, leave=False)
    step = start
    saving = bool(cfg.ckpt_every) and (run is not None or distributed.is_distributed())
    # a single process checkpoints on SIGINT / SIGTERM and by wall time; ranks of a torchrun job would disagree on
    # both (each its own clock and signal), so they checkpoint by steps only
    local = saving and not distributed.is_distributed()
    last_ckpt = time.perf_counter()
    stop = StopSignal(enabled=local)
    path: Path | None = None
    try:
        for step in range(start, steps):
            # same draws on every rank for the "random" criterion; G's and D's masks follow one schedule
            updated = [p.step(step, generator=distributed.mask_generator(step)) for p in pruners]
            if any(target is not None for target in updated):
                _check_masks(method, masks, d_masks, step)
            if pruner is not None and updated[0] is not None and recalibrate is not None:
                recalibrate(_peek(loader))  # G's masks changed: e.g. BatchNorm statistics re-estimated
            batch = loader.next_batch()
            done = step + 1
            is_log = done % cfg.log_every == 0 or done == steps
            diag: dict[str, float] = {}

            d_out = method.discriminator_step(batch)
            if d_out is not None and d_trainable:
                _check_finite(step, d_out, "d")
                optimizers["d"].zero_grad(set_to_none=True)
                d_out["loss"].backward()
                distributed.average_gradients(method.trainable()["d"])
                if d_pruner is not None:
                    d_pruner.mask_grads()
                if is_log:
                    diag["diag/grad_d"] = grad_norm(method.trainable()["d"])
                optimizers["d"].step()
                if d_pruner is not None:
                    d_pruner.apply()

            # D's weights get no grads from the G step: saves its weight-gradient compute. A frozen D (rows i, l) runs
            # in train mode like the D it was trained as, so its buffers (BN running statistics) are restored after.
            with _frozen(d if d_trainable else None), frozen_buffers(None if d_trainable else d):
                g_out = method.generator_step(batch)
                _check_finite(step, g_out, "g")
                optimizers["g"].zero_grad(set_to_none=True)
                g_out["loss"].backward()
            distributed.average_gradients(method.trainable()["g"])
            if pruner is not None and mask_g_grads:
                pruner.mask_grads()
            if is_log:
                diag["diag/grad_g"] = grad_norm(method.trainable()["g"])
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(method.trainable()["g"], cfg.grad_clip)
            optimizers["g"].step()
            if after_step is not None:
                after_step(step, masks, prune)  # e.g. row m's mask re-selection (may regrow weights)
                if hook_changes_masks and prune is not None and done % int(prune.update_every) == 0:
                    _check_masks(method, masks, None, step)
            if pruner is not None:
                pruner.apply()  # Adam's momentum would otherwise revive pruned weights
            if ema is not None:
                ema.update(g, masks)  # masked like G: a pruned weight is exactly 0 in the average too
            distributed.broadcast_module(g, parameters=False)  # BN running stats follow rank 0 (DDP semantics)
            if d_trainable:
                distributed.broadcast_module(d, parameters=False)

            _accumulate(window, "g", g_out)
            if d_out is not None:
                _accumulate(window, "d", d_out)
            bar.update(1)
            if is_log:
                row = {k: sum(v) / len(v) for k, v in window.items()}
                if masks is not None:
                    row["sparsity"] = masks.overall_sparsity()
                if d_masks is not None:
                    row["d_sparsity"] = d_masks.overall_sparsity()
                if d is not None:
                    row.update(_d_health(method, batch))
                row.update(diag)
                row = distributed.mean_scalars(row)  # each rank's losses are on its own shard
                monitor.update(done, row)
                window.clear()
                history.append({"step": done, **row})
                if run is not None:
                    run.log_metrics(done, row)
                bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in ("g/loss", "d/loss")})  # + rate, ETA
            if bar.disable and (done % max(1, steps // 10) == 0 or done == steps):  # no TTY: progress in the log
                log.info("%s", progress_line(desc, done, start, steps, time.perf_counter() - t0, history))
            if "sample" in hooks and cfg.sample_every and (done % cfg.sample_every == 0 or done == steps):
                with side_effect_free(g, d):  # a run with hooks trains exactly like one without
                    hooks["sample"](done)
            if "eval" in hooks and cfg.eval_every and done % cfg.eval_every == 0:
                with side_effect_free(g, d):
                    scores = hooks["eval"](done) or {}
                if "class_coverage" in scores:
                    monitor.update(done, {"diag/class_coverage": scores["class_coverage"]})
                if scores and run is not None:
                    run.log_metrics(done, {f"eval/{k}": v for k, v in scores.items()})
            is_ckpt = done % cfg.ckpt_every == 0 or done == steps if cfg.ckpt_every else False
            timed = local and cfg.ckpt_minutes and time.perf_counter() - last_ckpt >= 60 * cfg.ckpt_minutes
            if saving and (is_ckpt or timed or stop.signal):
                rank_rng = distributed.gather_rng_states()  # collective: every rank's noise stream
                path = save_state(run, done, method, optimizers, loader, masks, d_masks, rank_rng, ema) if run else None
                distributed.barrier()  # the checkpoint is complete before any rank moves on
                last_ckpt = time.perf_counter()
            if stop.signal:  # the step in progress finished and is checkpointed: stop here
                raise TrainingInterrupted(done, path if saving else None)
    finally:
        stop.restore()
        bar.close()
    if ema is not None:  # the average is the run's generator (the checkpoints keep both)
        ema.copy_to(g)
        if recalibrate is not None:
            recalibrate(_peek(loader))  # statistics of the averaged weights, not of the last trained ones
        distributed.broadcast_module(g, parameters=False)  # each rank re-estimated on its own shard: rank 0's
    if run is not None and monitor.events:
        run.write_json("alarms.json", monitor.events)
    return TrainResult(
        steps=step + 1 if steps > start else start,
        history=history,
        seconds=time.perf_counter() - t0,
        alarms=list(monitor.events),
    )


def _d_health(method: Method, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """D's scores on this step's real batch and on fresh g_comp fakes (training/diagnostics.py; App. A.1), judged in the
    training mode, with no side effect: buffers restored, the training random stream untouched (methods/frozen.py)."""
    loss = method.loss
    with side_effect_free(method.g_comp, method.d):
        fake = method.g_comp(*loss.generator_input(batch))
        real_scores = loss.discriminator_scores(method.d, loss.real_data(batch), batch)
        fake_scores = loss.discriminator_scores(method.d, fake, batch)
    return d_health(real_scores, fake_scores, kind=loss.score_kind)


def progress_line(desc: str, done: int, start: int, steps: int, seconds: float, history: list[dict[str, float]]) -> str:
    """``"<desc>: step 120/300 (40 %), 3.1 steps/s, ETA 58 s; g/loss 0.41, d/loss 1.22"`` (the last logged row).

    Example:
        >>> progress_line("compress", 150, 0, 300, 50.0, [{"step": 150, "g/loss": 0.4123, "d/loss": 1.2}])
        'compress: step 150/300 (50 %), 3.0 steps/s, ETA 50 s; g/loss 0.412, d/loss 1.2'
    """
    rate = (done - start) / seconds if seconds > 0 else 0.0
    eta = (steps - done) / rate if rate > 0 else 0.0
    eta_text = f"{eta:.0f} s" if eta < 120 else f"{eta / 60:.1f} min"
    text = f"{desc}: step {done}/{steps} ({100 * done / steps:.0f} %), {rate:.1f} steps/s, ETA {eta_text}"
    losses = [f"{k} {v:.3g}" for k, v in (history[-1] if history else {}).items() if k in ("g/loss", "d/loss")]
    return text + ("; " + ", ".join(losses) if losses else "")


@contextmanager
def _frozen(module: torch.nn.Module | None) -> Iterator[None]:
    """Temporarily stop grads for ``module``'s trainable parameters; restores exactly the previous flags."""
    params = [p for p in module.parameters() if p.requires_grad] if module is not None else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _peek(loader: Any) -> Callable[[int], list[dict[str, torch.Tensor]]]:
    """``batches(n)``: the loader's next ``n`` batches, its position restored after (the data stream is unchanged)."""

    def batches(n: int) -> list[dict[str, torch.Tensor]]:
        if not hasattr(loader, "state_dict") or not hasattr(loader, "load_state_dict"):
            raise UserError("method.bn_reestimate needs a loader with state_dict / load_state_dict (to peek batches)")
        state = loader.state_dict()
        try:
            return [loader.next_batch() for _ in range(n)]
        finally:
            loader.load_state_dict(state)

    return batches


def _accumulate(window: dict[str, list[float]], prefix: str, out: dict[str, Any]) -> None:
    for key, value in out.items():
        name = f"{prefix}/loss" if key == "loss" else key
        v = float(value.detach().float().mean()) if isinstance(value, torch.Tensor) else float(value)
        if math.isfinite(v):
            window.setdefault(name, []).append(v)
