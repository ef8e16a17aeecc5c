"""``gancompress report RUN``: regenerate report.md / report.html from a run's results.json (or, for a single run,
from what it holds)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="regenerate report.md / report.html from a run's results.json")
    p.set_defaults(func=run)
    p.add_argument("run")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    # the library is imported here, not at the top: building the parser (`gancompress --help`) must not import torch
    import gancompress.experiments  # noqa: F401  (registers every experiment's report renderer)
    from gancompress.cli.flags import emit
    from gancompress.report.render import regenerate

    md, html = regenerate(args.run)
    emit(args, {"markdown": str(md), "html": str(html)}, f"report: {md}\n        {html}")
    return 0
