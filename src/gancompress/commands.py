"""Bodies of the CLI subcommands (``cli.py`` parses; these call the API and format the output)."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancompress import distributed
from gancompress.cli import _emit, resolve_config, run_config
from gancompress.config import RunCfg, TrainCfg, to_dict
from gancompress.data import load_dataset
from gancompress.errors import UserError
from gancompress.io import import_state_dict, load_state_dict_checked, read_json
from gancompress.report import format_table
from gancompress.resume import check_unchanged, recorded_inputs, restore_inputs
from gancompress.rundir import RunDir, env_info
from gancompress.same_quality import ratios_to_teacher, score_generator, scores_table

log = logging.getLogger("gancompress")


@contextmanager
def _open_run(args: argparse.Namespace, default: str) -> Iterator[tuple[RunDir, Path | None]]:
    """``with _open_run(args, default) as (run, resume_from):`` — the run directory and the checkpoint to resume.

    Rank 0 creates (or refuses) the directory; under torchrun the other ranks get a view of the same path. Bad input
    found inside the block (a ``UserError``), or any error before training wrote output, leaves no run behind: a new
    run without checkpoints is removed again.
    """

    def create() -> tuple[str, bool]:
        out = args.out or (tempfile.mkdtemp(prefix="gancompress-dry-") if args.dry_run else default)
        existed = Path(out).exists()
        return str(RunDir(out, resume=args.resume, overwrite=args.overwrite).path), existed

    if args.resume:
        _check_resumable(args.out or default)
    path, existed = distributed.on_main(create)
    run = RunDir(path, create=False)
    args.run_path = str(run.path)  # for the "resume with:" line of an interrupted run (cli.main)
    resume_from = run.latest_checkpoint() if args.resume else None
    try:
        yield run, resume_from
    except (Exception, KeyboardInterrupt) as exc:
        # a crash before training wrote anything but config.json/env.json goes too: left behind, those make a re-run
        # fail with "already exists"; a run with training output or a checkpoint stays, to inspect or resume
        fresh = isinstance(exc, UserError) or {p.name for p in run.path.glob("*")} <= {"config.json", "env.json"}
        if fresh and resume_from is None and distributed.is_main() and run.latest_checkpoint() is None:
            run.close()
            shutil.rmtree(run.path, ignore_errors=True)
            if existed:  # an empty directory the user made stays, empty
                run.path.mkdir(parents=True, exist_ok=True)
        raise


def _check_resumable(out: str | None) -> None:
    """``--resume`` needs a run that reached a checkpoint; each refusal names the command that helps instead."""
    from gancompress.rundir import latest_checkpoint

    if not out or not Path(out).is_dir():
        raise UserError(f"--resume: there is no run {out} to continue; start it without --resume")
    if latest_checkpoint(out) is None:
        raise UserError(
            f"--resume: {out} never reached a checkpoint, so there is nothing to continue; start it again with "
            "--overwrite"
        )


def _start(run: RunDir, cfg: RunCfg, resume_from: Path | None, args: argparse.Namespace | None = None) -> RunCfg:
    """Write config.json (with the command's inputs, resume.py) / env.json, or on resume keep the run's own."""
    if resume_from is not None:
        return cfg
    if distributed.is_main():
        inputs = recorded_inputs(args) if args is not None else {}
        run.write_json("config.json", {**to_dict(cfg), **({"inputs": inputs} if inputs else {})})
        run.write_json("env.json", env_info(cfg.seed, cfg.device))
    return cfg


def _resume_config(args: argparse.Namespace) -> RunCfg | None:
    """``--resume`` of an existing run: its saved config, its recorded inputs put back into ``args`` (so ``--out
    RUN --resume`` is enough), and a refusal of any flag that would change either (resume.py)."""
    if not args.resume:
        return None
    _check_resumable(args.out)  # before anything is loaded
    if not (Path(args.out) / "config.json").is_file():
        return None
    saved = run_config(args.out)
    raw = read_json(Path(args.out) / "config.json")
    restore_inputs(args, raw.get("inputs") or {} if isinstance(raw, dict) else {})
    check_unchanged(saved, resolve_config(args, saved))
    return replace(saved, device=args.device or saved.device)


def _writer(run: RunDir) -> RunDir | None:
    """The run directory on rank 0, ``None`` on the other ranks of a torchrun job (they write nothing)."""
    return run if distributed.is_main() else None


def _layer_table(report: list[dict[str, Any]]) -> str:
    rows = [
        [r["name"], r["kind"], "×".join(map(str, r["shape"])), r["numel"], r["nonzero"], f"{r['sparsity']:.2%}"]
        for r in report
    ]
    return format_table(rows, ["layer", "type", "shape", "weights", "non-zero", "sparsity"])


# ------------------------------------------------------------------------------------------------------ train
def cmd_train(args: argparse.Namespace) -> int:
    from gancompress.pipeline import train_teacher

    cfg = _resume_config(args) or resolve_config(args)  # a resumed run keeps its own config
    with distributed.session(cfg.device) as device:  # torchrun: one process group for the job
        data = load_dataset(cfg.data, "train")  # bad data fails before the run directory is created
        with _open_run(args, "runs/teacher") as (run, resume_from):
            cfg = _start(run, cfg, resume_from, args)
            _, _, result = train_teacher(replace(cfg, device=device), data, run=_writer(run), resume_from=resume_from)
        if not distributed.is_main():
            return 0
    run.close()
    summary = {
        "run": str(run.path),
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "last": result.history[-1] if result.history else {},
    }
    _emit(args, summary, f"teacher trained for {result.steps} steps in {result.seconds:.1f} s → {run.path}")
    return 0


# ----------------------------------------------------------------------------------------------------- teacher
def _load_teacher(args: argparse.Namespace) -> tuple[nn.Module, nn.Module | None, RunCfg, int | None, str | None]:
    """(g, d, base config, teacher steps, teacher dir) from --teacher, --generator/--discriminator or --dry-run.

    With ``--model file.py:factory`` the user's factory builds G and D and ``--generator`` holds bare weights.
    """
    g, d, base, steps, teacher_dir = _load_teacher_any(args)
    if getattr(args, "model", None):  # config.json must say the run is a user GAN, not the default family
        from gancompress.user_model import USER_FAMILY

        base = replace(base, model=replace(base.model, family=USER_FAMILY))
    return g, d, base, steps, teacher_dir


def _load_teacher_any(args: argparse.Namespace) -> tuple[nn.Module, nn.Module | None, RunCfg, int | None, str | None]:
    from gancompress.pipeline import gan_info, load_gan, train_teacher

    model = getattr(args, "model", None)
    if getattr(args, "teacher", None):
        if not Path(args.teacher).is_dir():
            what = "is a file, not a run directory" if Path(args.teacher).exists() else "does not exist"
            raise UserError(f"--teacher {args.teacher} {what}; give the directory `gancompress train` wrote")
        has_config = (Path(args.teacher) / "config.json").exists()  # run_config explains a directory there
        if not has_config and hasattr(args, "data") and not (args.data or args.config or args.dry_run):
            raise UserError(  # as in evaluate: the default dataset would silently replace the teacher's own
                f"{args.teacher} has no config.json, so its dataset and family are unknown; "
                "pass --data (and --data-dir, --family) or --config"
            )
        tcfg = run_config(args.teacher) if has_config else RunCfg()
        g, d = load_gan(args.teacher, "cpu", model=model)
        base = RunCfg(
            data=tcfg.data, model=tcfg.model, seed=tcfg.seed, train=TrainCfg(batch_size=tcfg.train.batch_size)
        )
        steps = gan_info(args.teacher).get("steps")
        return g, d, base, steps, str(Path(args.teacher).resolve())
    if model:
        from gancompress.user_model import load_teacher

        user = load_teacher(model, args.generator, getattr(args, "discriminator", None), allow_random=args.dry_run)
        return user.generator, user.discriminator, RunCfg(), getattr(args, "teacher_steps", None), None
    if getattr(args, "generator", None):
        g = _load_weights_file(args.generator, args.generator_arch)
        d = _load_weights_file(args.discriminator, args.discriminator_arch) if args.discriminator else None
        family = (read_json(_arch_path(args.generator, args.generator_arch)).get("family")) or "dcgan"
        base = RunCfg()
        base = replace(base, model=replace(base.model, family=family))
        return g, d, base, getattr(args, "teacher_steps", None), None
    if args.dry_run:
        cfg = resolve_config(args)
        g, d, _ = train_teacher(replace(cfg, train=replace(cfg.train, steps=2)), load_dataset(cfg.data, "train"))
        return g, d, cfg, 2, None
    raise UserError(
        "give a teacher: --teacher RUN_DIR, --generator FILE [--discriminator FILE] with arch JSON, "
        "or --model FILE.py:FACTORY with --generator FILE"
    )


def _save_imported_teacher(g: nn.Module, d: nn.Module | None, run: RunDir, family: str) -> Path:
    """``<run>/teacher/``: the user's G (and D) as safetensors + arch JSON, what ``evaluate`` uses for fidelity."""
    from gancompress.io import save_module

    path = run.path / "teacher"
    save_module(g, path, "generator", {"family": family, "role": "generator"})
    if d is not None:
        save_module(d, path, "discriminator", {"family": family, "role": "discriminator"})
    return path


def _arch_path(weights: str, arch: str | None) -> Path:
    return Path(arch) if arch else Path(weights).with_suffix(".json")


def _load_weights_file(weights: str, arch: str | None) -> nn.Module:
    """Build the architecture from its JSON spec and load user weights (safetensors or a weights-only .pt)."""
    from gancompress.models import create_model_from_spec

    spec_path = _arch_path(weights, arch)
    if not spec_path.is_file():
        raise UserError(
            f"no architecture JSON for {weights}: expected {spec_path} (or pass --generator-arch/"
            '--discriminator-arch) with {"arch": name, "kwargs": {...}}'
        )
    module = create_model_from_spec(read_json(spec_path), spec_path)  # checks the spec's shape, then builds
    load_state_dict_checked(module, import_state_dict(weights), weights)
    return module


# ----------------------------------------------------------------------------------------------------- prune
def cmd_prune(args: argparse.Namespace) -> int:
    from gancompress.pipeline import prune_oneshot, save

    g, d, base, _, teacher_dir = _load_teacher(args)
    cfg = resolve_config(args, base)
    g, _, loss = _select(cfg, g, d, args.model)  # CycleGAN: the direction's generator
    with _open_run(args, "runs/pruned") as (run, _):
        _start(run, cfg, None, args)
        example = loss.sample_input(2, torch.Generator().manual_seed(0), "cpu")
        res = prune_oneshot(g, cfg.prune, example_inputs=example)
        save(res, run.path, family=_family_name(cfg, args))
    payload = {"run": str(run.path), "teacher": teacher_dir, **res.summary(), "per_layer": res.sparsity}
    text = _layer_table(res.sparsity) + f"\n\noverall sparsity {res.masks.overall_sparsity():.2%} → {run.path}"
    _emit(args, payload, text)
    return 0


# -------------------------------------------------------------------------------------------------- compress
def cmd_compress(args: argparse.Namespace) -> int:
    from gancompress.pipeline import compress, save

    saved = _resume_config(args)  # --resume: the run's config and inputs (--teacher …) come from the run itself
    g, d, base, teacher_steps, teacher_dir = _load_teacher(args)
    cfg = saved or resolve_config(args, base)
    teacher_steps = args.teacher_steps or teacher_steps
    # what this run compresses: the pair as it is, or (CycleGAN) one direction's G, its D and a loss whose cycle term
    # uses the teacher's reverse G; bring-your-own GAN: the factory's GanLoss
    g, d, loss = _select(cfg, g, d, args.model)
    with distributed.session(cfg.device) as device:  # torchrun: one process group for the job
        data = load_dataset(cfg.data, "train")  # bad data fails before the run directory is created
        if args.evaluate:  # a split too small to score is refused now, not after the training it would waste
            from gancompress.evaluate import check_evaluable

            check_evaluable(load_dataset(cfg.data, cfg.eval.split))
        if args.model:
            from gancompress.user_model import UserModel, check_image_output, warn_untrained_d

            check_image_output(UserModel(args.model, g, d, loss), *data.images.shape[1:3])
            warn_untrained_d(args, cfg.method, d)
        with _open_run(args, "runs/compressed") as (run, resume_from):
            cfg = _start(run, cfg, resume_from, args)
            res = compress(
                g,
                d,
                data,
                family=None if args.model else cfg.model.family,
                loss=loss,
                method=cfg.method,
                prune=cfg.prune,
                train=cfg.train,
                teacher_steps=teacher_steps,
                run=_writer(run),
                seed=cfg.seed,
                device=device,
                resume_from=resume_from,
            )
        if not distributed.is_main():
            return 0
    save(res, run.path, family=_family_name(cfg, args))
    if teacher_dir is None:  # imported weights (--generator): re-saved as safetensors, so the run is self-contained
        teacher_dir = str(_save_imported_teacher(g, d, run, _family_name(cfg, args)).resolve())
    run.write_json("compress.json", {**read_json(run.path / "compress.json"), "teacher": teacher_dir})
    run.close()
    payload: dict[str, Any] = {"run": str(run.path), **res.summary()}
    text = _layer_table(res.sparsity) + "\n\n" + format_table([res.summary()], list(res.summary()))
    if args.evaluate:  # the student and the teacher, same evaluator and inputs: "is it the same quality?"
        ev, student_loss = _evaluator(cfg), _loss(cfg, res.generator, args.model)
        scores = ev.evaluate(res.generator, student_loss, teacher=g, seed=cfg.seed, metrics=cfg.eval.metrics)
        scores["teacher"] = ev.evaluate(g, student_loss, seed=cfg.seed, metrics=cfg.eval.metrics)
        scores["ratios"] = ratios_to_teacher(scores, scores["teacher"])
        run.write_json("eval.json", scores)
        payload["eval"] = scores
        text += "\n\n" + scores_table({str(run.path): scores})
    _emit(args, payload, text + f"\n\n→ {run.path}")
    return 0


# -------------------------------------------------------------------------------------------------- evaluate
def _loss(cfg: RunCfg, g: nn.Module, model: str | None = None):
    """The family's loss for ``g``, or with ``--model`` the GanLoss the user's factory returns."""
    from gancompress.families import get_family

    if model:
        from gancompress.user_model import build_user_model

        return build_user_model(model).loss
    _check_not_user(cfg)
    return get_family(cfg.model.family).make_loss(g, None)


def _check_not_user(cfg: RunCfg) -> None:
    """A run made with ``--model`` has no registered family to rebuild its loss: ask for the factory again."""
    from gancompress.user_model import USER_FAMILY

    if cfg.model.family == USER_FAMILY:
        raise UserError("this run's GAN was built by a user factory (model.family=user): pass --model FILE.py:FACTORY")


def _select(cfg: RunCfg, g: nn.Module, d: nn.Module | None, model: str | None = None):
    """(generator, discriminator, loss) one run works on: ``Family.select`` (CycleGAN picks ``data.direction``'s G
    and the target domain's D; other families keep the pair), or with ``--model`` the pair and the user's GanLoss."""
    from gancompress.families import get_family

    if model:
        return g, d, _loss(cfg, g, model)
    _check_not_user(cfg)
    return get_family(cfg.model.family).select(g, d, cfg)


def _recorded_direction(cfg: RunCfg, g: nn.Module) -> RunCfg:
    """``cfg`` with ``data.direction`` set to the direction a single generator recorded (CycleGAN), so a compressed
    run is scored on the translation it performs (its test split's targets and sources depend on it)."""
    spec = getattr(g, "arch_spec", None)
    recorded = spec.get("kwargs", {}).get("direction") if isinstance(spec, dict) else None
    if recorded in ("a2b", "b2a") and recorded != cfg.data.direction:
        log.info(
            "%s translates %s: scoring that direction (not data.direction=%s)",
            spec["arch"],
            recorded,
            cfg.data.direction,
        )
        return replace(cfg, data=replace(cfg.data, direction=recorded))
    return cfg


def _family_name(cfg: RunCfg, args: argparse.Namespace) -> str:
    return "user" if getattr(args, "model", None) else cfg.model.family


def _evaluator(cfg: RunCfg):
    from gancompress.evaluate import Evaluator

    return Evaluator(
        load_dataset(cfg.data, "train"),
        load_dataset(cfg.data, cfg.eval.split),  # test; val where options are being chosen (docs/method.md §7)
        extractor=cfg.eval.extractor,
        num_samples=cfg.eval.num_samples,
        device=cfg.device,
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gancompress.user_model import load_saved

    results: dict[str, Any] = {}
    evaluators: dict[str, Any] = {}
    teacher_scores: dict[str, dict[str, Any]] = {}
    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    for run_path in args.runs:
        if not Path(run_path).is_dir():
            raise UserError(f"{run_path} is not a run directory (one holding generator.safetensors + generator.json)")
        if (Path(run_path) / "config.json").exists():
            base = run_config(run_path)
        elif args.data or args.dry_run or args.config:
            base = RunCfg()
        else:
            raise UserError(f"{run_path} has no config.json, so its dataset is unknown; pass --data (and --data-dir)")
        cfg = resolve_config(args, replace(base, eval=replace(base.eval)))
        g = load_saved(run_path, "generator", args.model, cfg.device)
        cfg = _recorded_direction(cfg, g)
        g, _, loss = _select(cfg, g, None, args.model)  # a CycleGAN teacher: data.direction's generator
        teacher_dir = args.teacher
        if teacher_dir is None and (Path(run_path) / "compress.json").is_file():
            teacher_dir = read_json(Path(run_path) / "compress.json").get("teacher")
        teacher = load_saved(teacher_dir, "generator", args.model, cfg.device) if teacher_dir else None
        if teacher is not None:  # fidelity compares the same translation
            teacher = _select(cfg, teacher, None, args.model)[0]
        key = json.dumps([to_dict(cfg.data), cfg.eval.num_samples, cfg.eval.extractor])
        if key not in evaluators:
            evaluators[key] = _evaluator(cfg)
        seeds = list(range(cfg.seed, cfg.seed + args.seeds))
        scores = score_generator(evaluators[key], g, loss, cfg, seeds, teacher)
        if teacher is not None:  # the teacher's row, same evaluator and inputs: "is it the same quality?"
            tkey = json.dumps([key, str(Path(teacher_dir).resolve()), cfg.data.direction])
            if tkey not in teacher_scores:
                teacher_scores[tkey] = score_generator(evaluators[key], teacher, loss, cfg, seeds, None)
            scores["teacher"] = teacher_scores[tkey]
            scores["ratios"] = ratios_to_teacher(scores, teacher_scores[tkey])
        results[str(run_path)] = scores
        if not args.output:
            (Path(run_path) / "eval.json").write_text(json.dumps(scores, indent=2) + "\n")
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    _emit(args, results, scores_table(results))
    return 0


# ---------------------------------------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from gancompress.report import regenerate

    md, html = regenerate(args.run)
    _emit(args, {"markdown": str(md), "html": str(html)}, f"report: {md}\n        {html}")
    return 0


# ------------------------------------------------------------------------------------------------------ demo
def cmd_demo(args: argparse.Namespace) -> int:
    from gancompress.demo import run_demo

    results, md, html = run_demo(args)
    table = format_table(
        [{"model": m["name"], **m["metrics"]} for m in results["models"]],
        ["model", "fid", "kid", "class_coverage", "fidelity_psnr", "sparsity"],
    )
    _emit(args, results, f"{table}\n\n" + "\n".join(results.get("summary", [])) + f"\n\nreport: {md}\n        {html}")
    return 0
