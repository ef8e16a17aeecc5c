"""``gancompress`` command line: thin subcommands over the Python API.

Exit codes: 0 ok, 1 failure (e.g. a non-finite loss), 2 usage / bad input. Logs go to stderr, results to stdout
(``--json`` for machine-readable output).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gancompress.config import PROFILE_NAMES, RunCfg, from_dict, load_config, override, to_dict
from gancompress.errors import NonFiniteLossError, UserError
from gancompress.outguard import check_outputs

log = logging.getLogger("gancompress")

# convenience flags → config keys (everything else via --set key=value)
FLAG_KEYS = {
    "data": "data.name",
    "data_dir": "data.data_dir",
    "family": "model.family",
    "steps": "train.steps",
    "batch_size": "train.batch_size",
    "sparsity": "prune.sparsity",
    "granularity": "prune.granularity",
    "schedule": "prune.schedule",
    "method": "method.name",
    "num_samples": "eval.num_samples",
    "extractor": "eval.extractor",
}


#: CPU threads when --threads is not given: chosen by benchmarks/threads.py (docs/decisions.md "Threads")
DEFAULT_THREADS = 1

# subcommands that run data-parallel under torchrun (distributed.py); the others refuse WORLD_SIZE > 1
MULTI_PROCESS = ("train", "compress")

# Modules adding subcommands; each has ``register(subparsers)`` and sets ``func="module:function"`` on its parsers.
EXTENSIONS: list[str] = ["gancompress.cli_deploy", "gancompress.cli_reproduce"]


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gancompress",
        description="Compress a trained GAN into a smaller, faster generator (self-supervised GAN compression).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a dense teacher GAN (Table 1 row a)")
    p.set_defaults(func="gancompress.commands:cmd_train")
    common_flags(p)
    data_flags(p)
    p.add_argument("--family", help="GAN family (dcgan)")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--batch-size", type=int)

    p = sub.add_parser("prune", help="one-shot magnitude pruning without training; prints per-layer sparsity")
    p.set_defaults(func="gancompress.commands:cmd_prune")
    common_flags(p)
    p.add_argument("--teacher", help="teacher run directory (from `gancompress train`)")
    model_flags(p)
    p.add_argument("--sparsity", type=float)
    p.add_argument("--granularity", help="element, filter, …")

    p = sub.add_parser("compress", help="compress a trained GAN (default: self_supervised, 50 %% element, AGP)")
    p.set_defaults(func="gancompress.commands:cmd_compress")
    common_flags(p)
    data_flags(p)
    p.add_argument("--teacher", help="teacher run directory (generator.* + discriminator.* + config.json)")
    model_flags(p)
    p.add_argument("--teacher-steps", type=int, help="the teacher's training steps (sets the default budget)")
    p.add_argument("--family", help="GAN family of the teacher (dcgan)")
    p.add_argument("--method", help="compression method (self_supervised, oneshot_finetune, …)")
    p.add_argument("--sparsity", type=float)
    p.add_argument("--granularity")
    p.add_argument("--schedule", help="agp or one_shot")
    p.add_argument("--steps", type=int, help="compression steps (default: 10 %% of the teacher's)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--evaluate", action="store_true", help="evaluate the result against the teacher afterwards")

    p = sub.add_parser("evaluate", help="score generators (FID, KID, class coverage, teacher fidelity)")
    p.set_defaults(func="gancompress.commands:cmd_evaluate")
    common_flags(p, out=False)
    p.add_argument("runs", nargs="+", help="run directories holding generator.safetensors + generator.json")
    p.add_argument("--teacher", help="teacher run directory for fidelity (default: the run's recorded teacher)")
    p.add_argument("--num-samples", type=int, help="generated samples per score (default 2000)")
    p.add_argument("--extractor", help="features for FID/KID/precision-recall: domain (default) or inception")
    p.add_argument("--seeds", type=int, default=1, help="evaluate with N sampling seeds: mean, std and 95%% interval")
    p.add_argument("--model", metavar="FILE.py:FACTORY", help="rebuild runs of a bring-your-own GAN; " + MODEL_HELP)
    data_flags(p)
    p.add_argument("--output", help="write all results to this JSON file (default: <run>/eval.json per run)")

    p = sub.add_parser("report", help="regenerate report.md / report.html from a run's results.json")
    p.set_defaults(func="gancompress.commands:cmd_report")
    p.add_argument("run")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo", help="teacher → prune 50 %% three ways → evaluate → report (what `make demo` runs)")
    p.set_defaults(func="gancompress.commands:cmd_demo")
    common_flags(p)
    data_flags(p)
    p.add_argument("--teacher-steps", type=int, help="teacher training steps (default: profile)")
    p.add_argument(
        "--profile", choices=[*PROFILE_NAMES, "default"], default="full",
        help="full (default, ~10 min: a 3,000-step teacher) or quick (~3 min); 'default' is the old name of full",
    )  # fmt: skip
    for extension in EXTENSIONS:  # subcommands defined next to their feature: register(subparsers)
        importlib.import_module(extension).register(sub)
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser | None:
    """The parser of ``command`` (``gancompress compress --bogus`` shows compress's usage)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return None


def resolve_config(args: argparse.Namespace, base: RunCfg | None = None) -> RunCfg:
    """Defaults ← config file ← convenience flags ← --set ← --seed/--device; --dry-run shrinks everything."""
    cfg = load_config(args.config, base) if getattr(args, "config", None) else (base or RunCfg())
    flags = [f"{key}={getattr(args, name)}" for name, key in FLAG_KEYS.items() if getattr(args, name, None) is not None]
    cfg = override(cfg, flags + list(getattr(args, "overrides", [])))
    if getattr(args, "seed", None) is not None:
        cfg = replace(cfg, seed=args.seed)
    if getattr(args, "device", None):
        cfg = replace(cfg, device=args.device)
    if getattr(args, "dry_run", False):
        cfg = override(
            cfg,
            [
                "data.name=fake",
                "data.data_dir=None",
                "train.steps=2",
                "train.log_every=1",
                "train.batch_size=16",
                "eval.num_samples=64",
                "model.ngf=8",
                "model.ndf=8",
                "model.nz=16",
            ],
        )
    _check_device(cfg.device)
    validate(cfg)
    return cfg


def validate(cfg: RunCfg) -> None:
    """Fail on unknown names before anything is written (each lookup lists the valid values)."""
    from gancompress.data import DATASETS
    from gancompress.families import FAMILIES
    from gancompress.methods import METHODS
    from gancompress.pruning import SCHEDULES, check_importance, make_granularity
    from gancompress.user_model import USER_FAMILY

    DATASETS.get(cfg.data.name)
    if cfg.model.family != USER_FAMILY:  # a --model run: the user's factory, checked when it is built
        FAMILIES.get(cfg.model.family)
    METHODS.get(cfg.method.name)
    granularity = make_granularity(cfg.prune.granularity)
    SCHEDULES.get(cfg.prune.schedule)
    check_importance(cfg.prune.importance, granularity.name)


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N")


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gancompress`` console script."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # name the subcommand's own usage, not the top-level one
        sub = subcommand_parser(parser, getattr(args, "command", None))
        (sub or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.version:
        from gancompress import __version__

        print(__version__)
        return 0
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(getattr(args, "quiet", False))
    module_name, func_name = args.func.split(":")
    try:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.command not in MULTI_PROCESS:
            raise UserError(f"'{args.command}' runs in one process; under torchrun use train or compress")
        _check_model_file(getattr(args, "model", None))
        check_outputs(args)  # before any data is loaded or any work runs
        apply_threads(args)
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NonFiniteLossError as exc:
        print(f"error: {exc}; training stopped, the last good checkpoint is kept", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(interrupted_message(args, exc), file=sys.stderr)
        return 130


def interrupted_message(args: argparse.Namespace, exc: BaseException) -> str:
    """ "interrupted at step N; resume with: <command>" when a checkpoint was saved, else what was lost."""
    step = getattr(exc, "step", None)
    run = getattr(args, "run_path", None)
    if step is None:
        return "interrupted" + (
            f"; {run} keeps its last checkpoint, if any (--resume continues from it)" if run else ""
        )
    if getattr(exc, "checkpoint", None) is None or not run:
        return f"interrupted at step {step}; no checkpoint was written (train.ckpt_every=0)"
    return f"interrupted at step {step}; resume with: gancompress {args.command} --out {run} --resume"


def apply_threads(args: argparse.Namespace) -> None:
    """Set PyTorch's thread count (recorded in env.json); for ``train`` / ``compress`` on several threads, warn when
    other jobs hold the cores so that one thread would be faster (as ``benchmark`` does)."""
    if not hasattr(args, "threads") or args.command == "benchmark":  # benchmark times its own thread counts
        return
    threads = DEFAULT_THREADS if args.threads is None else args.threads
    if threads < 1:
        raise UserError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
    if threads > 1 and args.command in ("train", "compress"):
        from gancompress.latency import thread_contention

        slowdown = thread_contention(threads)
        if slowdown > 1.5:
            log.warning(
                "%d threads run %.1f× slower than 1 on this machine right now (other jobs hold the cores): "
                "--threads 1 would be faster", threads, slowdown,
            )  # fmt: skip


def _check_model_file(spec: str | None) -> None:
    """``--model m/:build`` with ``m`` a directory would otherwise be reported as "file not found"."""
    path = Path(spec.rpartition(":")[0]) if spec and spec.rpartition(":")[0] else None  # "" is not "."
    if path is not None and path.exists() and not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise UserError(f"--model {spec}: {path} is {kind}; give a Python file, e.g. path/to/module.py:factory")


def run_config(path: str | Path) -> RunCfg:
    """The resolved config a run directory was made with."""
    from gancompress.io import read_json

    file = Path(path) / "config.json"
    if file.is_dir():
        raise UserError(f"corrupt run config {file}: a directory, not a JSON file")
    data = read_json(file)
    if not isinstance(data, dict):  # a list or string would fail as an AttributeError on .items()
        raise UserError(f"corrupt run config {file}: expected a JSON object, got {type(data).__name__}")
    try:
        return from_dict(RunCfg, {k: v for k, v in data.items() if k in RunCfg.__dataclass_fields__})
    except UserError as exc:
        raise UserError(f"corrupt run config {file}: {exc}") from None


__all__ = ["build_parser", "main", "resolve_config", "run_config", "to_dict"]

if __name__ == "__main__":
    sys.exit(main())
