"""``gancompress evaluate``: score generators (FID, KID, class coverage, teacher fidelity), each beside its teacher
with the same evaluator and sampling seeds ("is it the same quality?").
"""

from __future__ import annotations

import argparse
from typing import Any

from gancompress.cli.flags import MODEL_HELP, common_flags, data_flags
from gancompress.config import RunCfg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score generators (FID, KID, class coverage, teacher fidelity)")
    p.set_defaults(func=run)
    common_flags(p, out=False)
    p.add_argument("runs", nargs="+", help="run directories holding generator.safetensors + generator.json")
    p.add_argument("--teacher", help="teacher run directory for fidelity (default: the run's recorded teacher)")
    p.add_argument("--num-samples", type=int, help="generated samples per score (default 2000)")
    p.add_argument("--extractor", help="features for FID/KID/precision-recall: domain (default) or inception")
    p.add_argument("--seeds", type=int, default=1, help="evaluate with N sampling seeds: mean, std and 95%% interval")
    p.add_argument("--model", metavar="FILE.py:FACTORY", help="rebuild runs of a bring-your-own GAN; " + MODEL_HELP)
    data_flags(p)
    p.add_argument("--output", help="write all results to this JSON file (default: <run>/eval.json per run)")


def make_evaluator(cfg: RunCfg) -> Any:
    """One :class:`gancompress.evaluate.Evaluator` for ``cfg``'s data, extractor and sample count."""
    from gancompress.data import load_dataset
    from gancompress.evaluate import Evaluator

    return Evaluator(
        load_dataset(cfg.data, "train"),
        load_dataset(cfg.data, cfg.eval.split),  # test; val where options are being chosen (docs/method.md §7)
        extractor=cfg.eval.extractor,
        num_samples=cfg.eval.num_samples,
        device=cfg.device,
    )


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    import json
    from dataclasses import replace
    from pathlib import Path

    from gancompress.cli.flags import emit
    from gancompress.cli.teacher import recorded_direction, select
    from gancompress.config import to_dict
    from gancompress.errors import UserError
    from gancompress.experiments.options import resolve_config
    from gancompress.experiments.same_quality import ratios_to_teacher, score_generator, scores_table
    from gancompress.families.user import load_saved
    from gancompress.files import read_json
    from gancompress.rundir import run_config

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
        cfg = recorded_direction(cfg, g)
        g, _, loss = select(cfg, g, None, args.model)  # a CycleGAN teacher: data.direction's generator
        teacher_dir = args.teacher
        if teacher_dir is None and (Path(run_path) / "compress.json").is_file():
            teacher_dir = read_json(Path(run_path) / "compress.json").get("teacher")
        teacher = load_saved(teacher_dir, "generator", args.model, cfg.device) if teacher_dir else None
        if teacher is not None:  # fidelity compares the same translation
            teacher = select(cfg, teacher, None, args.model)[0]
        key = json.dumps([to_dict(cfg.data), cfg.eval.num_samples, cfg.eval.extractor])
        if key not in evaluators:
            evaluators[key] = make_evaluator(cfg)
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
    emit(args, results, scores_table(results))
    return 0
