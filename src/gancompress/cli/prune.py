"""``gancompress prune``: one-shot magnitude pruning without training; prints per-layer sparsity."""

from __future__ import annotations

import argparse

from gancompress.cli.flags import common_flags, model_flags


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prune", help="one-shot magnitude pruning without training; prints per-layer sparsity")
    p.set_defaults(func=run)
    common_flags(p)
    p.add_argument("--teacher", help="teacher run directory (from `gancompress train`)")
    model_flags(p)
    p.add_argument("--sparsity", type=float)
    p.add_argument("--granularity", help="element, filter, …")


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    import torch

    from gancompress.api import prune_oneshot, save
    from gancompress.cli.flags import emit, layer_table
    from gancompress.cli.runs import open_run, start_run
    from gancompress.cli.teacher import family_name, load_teacher_from_args, select
    from gancompress.experiments.options import resolve_config

    g, d, base, _, teacher_dir = load_teacher_from_args(args)
    cfg = resolve_config(args, base)
    g, _, loss = select(cfg, g, d, args.model)  # CycleGAN: the direction's generator
    with open_run(args, "runs/pruned") as (run, _):
        start_run(run, cfg, None, args)
        example = loss.sample_input(2, torch.Generator().manual_seed(0), "cpu")
        res = prune_oneshot(g, cfg.prune, example_inputs=example)
        save(res, run.path, family=family_name(cfg, args))
    payload = {"run": str(run.path), "teacher": teacher_dir, **res.summary(), "per_layer": res.sparsity}
    text = layer_table(res.sparsity) + f"\n\noverall sparsity {res.masks.overall_sparsity():.2%} → {run.path}"
    emit(args, payload, text)
    return 0
