"""A command never destroys its own input: ``--out`` (or ``--output``) that is, contains or lies inside a path the
command reads is refused before any data is loaded or any work runs.

``compress --teacher runs/t --out runs/t --overwrite`` would otherwise replace the teacher with the student,
``prune`` in that form delete the teacher's discriminator, ``export RUN --out RUN --overwrite`` wipe the run's config,
and a run written inside ``--data-dir`` would add its sample grids to the user's image folder.

Example:
    >>> import argparse
    >>> try:
    ...     check_outputs(argparse.Namespace(command="compress", teacher="runs/t", out="runs/t/student"))
    ... except UserError as e:
    ...     print(str(e).split(":")[0])
    --out runs/t/student lies inside the input runs/t (--teacher)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gancompress.errors import UserError

#: argparse destinations that name something a command reads, and how the user wrote the flag
INPUT_FLAGS = {
    "teacher": "--teacher",
    "run": "RUN",
    "runs": "RUN",
    "generator": "--generator",
    "discriminator": "--discriminator",
    "generator_arch": "--generator-arch",
    "discriminator_arch": "--discriminator-arch",
    "data_dir": "--data-dir",
    "config": "--config",
    "model": "--model",
}
#: results files a command may (re)write inside a run it reads (``evaluate`` writes eval.json into each run)
RESULT_FILES = ("eval.json",)
#: where a command writes when ``--out`` is not given (``--dry-run`` writes to a fresh temporary directory instead)
DEFAULT_OUT = {"train": "runs/teacher", "prune": "runs/pruned", "compress": "runs/compressed", "demo": "runs/demo"}


def input_paths(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(flag, path)`` for every input path in ``args``: run directories, weight / arch / config / model files,
    ``--data-dir``; a sweep's ``--teacher task=DIR,...`` pairs and ``--model FILE.py:factory`` are split."""
    out: list[tuple[str, str]] = []
    for dest, flag in INPUT_FLAGS.items():
        value = getattr(args, dest, None)
        if not value:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            text = str(v)
            if dest == "model":
                text = text.rpartition(":")[0] or text
            parts = text.split(",") if dest == "teacher" and "=" in text else [text]
            out += [(flag, p.rpartition("=")[2] if dest == "teacher" else p) for p in parts if p.strip()]
    return out


def _out_dirs(args: argparse.Namespace) -> list[tuple[str, str]]:
    outs = []
    out = getattr(args, "out", None)
    if out is None and not getattr(args, "dry_run", False):
        command = getattr(args, "command", None)
        out = (
            f"runs/{args.table}"
            if command == "reproduce" and getattr(args, "table", None)
            else DEFAULT_OUT.get(command)
        )
    if out:
        outs.append(("--out", str(out)))
    if getattr(args, "output", None):
        outs.append(("--output", str(args.output)))
    return outs


def check_outputs(args: argparse.Namespace) -> None:
    """Raise a one-line ``UserError`` when an output path is an input path, inside one, or above one.

    ``--output`` (a results file) may sit inside a run it scores — ``evaluate`` writes ``eval.json`` there by
    default — but never on an input path, nor over another file of that run.
    """
    inputs = [(flag, text, Path(text).expanduser().resolve()) for flag, text in input_paths(args)]
    for out_flag, out_text in _out_dirs(args):
        out = Path(out_text).expanduser().resolve()
        for flag, text, path in inputs:
            if out == path:
                where = "is"
            elif path in out.parents and (out_flag == "--out" or (out.exists() and out.name not in RESULT_FILES)):
                where = "lies inside"
            elif out in path.parents:
                where = "contains"
            else:
                continue
            raise UserError(
                f"{out_flag} {out_text} {where} the input {text} ({flag}): writing there could destroy it; "
                f"choose an {out_flag} outside it"
            )


__all__ = ["DEFAULT_OUT", "INPUT_FLAGS", "check_outputs", "input_paths"]
