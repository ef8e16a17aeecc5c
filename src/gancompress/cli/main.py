"""``gancompress`` command line: thin subcommands over the Python API, one module per subcommand.

Each subcommand module (``cli/train.py``, ``cli/compress.py``, …) has ``add_parser(subparsers)``, which sets
``func=run`` on its parser, and ``run(args) -> exit code``. Exit codes: 0 ok, 1 failure (e.g. a
non-finite loss), 2 usage / bad input. Logs go to stderr, results to stdout (``--json`` for machine-readable output).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gancompress.cli import benchmark, compress, demo, evaluate, export, prune, report, reproduce, train
from gancompress.cli.flags import DEFAULT_THREADS
from gancompress.cli.outguard import check_outputs
from gancompress.errors import NonFiniteLossError, UserError
from gancompress.version import __version__

log = logging.getLogger("gancompress")

# subcommands that run data-parallel under torchrun (training/distributed.py); the others refuse WORLD_SIZE > 1
MULTI_PROCESS = ("train", "compress")

#: the subcommands, in the order ``gancompress --help`` lists them
SUBCOMMANDS = (train, prune, compress, evaluate, report, demo, benchmark, export, reproduce)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gancompress",
        description="Compress a trained GAN into a smaller, faster generator (self-supervised GAN compression).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser | None:
    """The parser of ``command`` (``gancompress compress --bogus`` shows compress's usage)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return None


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
        print(__version__)
        return 0
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(getattr(args, "quiet", False))
    try:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.command not in MULTI_PROCESS:
            raise UserError(f"'{args.command}' runs in one process; under torchrun use train or compress")
        _check_model_file(getattr(args, "model", None))
        check_outputs(args)  # before any data is loaded or any work runs
        apply_threads(args)
        return int(args.func(args) or 0)
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
        from gancompress.export.latency import thread_contention  # torch: only when it runs

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


__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
