"""Flags shared by the subcommands, and how a result is printed (stdout; ``--json`` for machine-readable output).

Light imports only: every subcommand module imports this to build its parser, and ``gancompress --help`` must not
import torch.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from typing import Any, TypeVar

from gancompress.report.render import format_table

#: CPU threads when --threads is not given: chosen by benchmarks/threads.py (docs/decisions.md "Threads")
DEFAULT_THREADS = 1


def common_flags(p: argparse.ArgumentParser, *, out: bool = True) -> None:
    p.add_argument("--config", help="TOML, YAML or JSON config file (keys as in gancompress.config.RunCfg)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set prune.sparsity=0.75 (repeatable)",
    )
    if out:
        p.add_argument("--out", help="output run directory")
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
        p.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cpu)")
    p.add_argument(
        "--threads", type=int, default=None,
        help=f"CPU threads for PyTorch (default {DEFAULT_THREADS}: on a 2-core machine, 2 threads train 1.7x faster "
        "when idle but 6-8x slower when one other job runs; docs/decisions.md 'Threads'). On an idle machine, use "
        "the number of cores",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--dry-run", action="store_true", help="2 steps on fake data, tiny evaluation: checks the wiring")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")


def data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="dataset: digits, fashion_mnist, image_folder, fake")
    p.add_argument("--data-dir", help="directory of IDX files / images for the dataset")


MODEL_HELP = (
    "bring your own GAN: path/to/module.py:factory — the file is imported and EXECUTED (your own code); factory() "
    "returns (generator, discriminator or None, gancompress.GanLoss); weights come from --generator/--discriminator"
)


def model_flags(p: argparse.ArgumentParser) -> None:
    """Where the teacher's weights come from besides --teacher: weight files + arch JSON, or --model."""
    p.add_argument(
        "--generator",
        help="generator weights (.safetensors, or a .pt/.pth state_dict) with its arch "
        "JSON next to it (same name, .json) unless --generator-arch or --model is given",
    )
    p.add_argument("--discriminator", help="discriminator weights, as --generator")
    p.add_argument("--generator-arch", help="arch JSON for --generator")
    p.add_argument("--discriminator-arch", help="arch JSON for --discriminator")
    p.add_argument("--model", metavar="FILE.py:FACTORY", help=MODEL_HELP)


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    """Results on stdout: ``payload`` as JSON with ``--json``, else ``text``."""
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


S = TypeVar("S")


def settings(cls: type[S], args: argparse.Namespace) -> S:
    """The typed, frozen settings an experiment's entry point takes (``experiments/settings.py``), from the parsed
    flags: every field of ``cls`` the flags set, and ``run`` (:class:`gancompress.experiments.options.RunOptions`)."""
    from gancompress.experiments.options import RunOptions  # here: building the parser must not import torch

    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name != "run" and hasattr(args, f.name)}
    return cls(run=RunOptions.of(args), **values)


def layer_table(report: list[dict[str, Any]]) -> str:
    """The per-layer sparsity table ``prune`` and ``compress`` print."""
    rows = [
        [r["name"], r["kind"], "×".join(map(str, r["shape"])), r["numel"], r["nonzero"], f"{r['sparsity']:.2%}"]
        for r in report
    ]
    return format_table(rows, ["layer", "type", "shape", "weights", "non-zero", "sparsity"])
