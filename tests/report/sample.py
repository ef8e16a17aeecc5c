"""Shared by the report tests: a two-model results dict (HTML-hostile name, curves long enough to be downsampled)
and a tag-balance checker for the rendered HTML.
"""

from __future__ import annotations

import math
from html.parser import HTMLParser

import torch


def sample_results(sample_rel: str = "samples/teacher.png") -> dict:
    n = 1200  # > 500 points to exercise downsampling
    return {
        "title": "Demo <run>",
        "created": "2026-01-01T00:00:00",
        "summary": ["student keeps quality"],
        "reference": "teacher",
        "columns": ["fid", "kid", "params"],
        "models": [
            {
                "name": "teacher",
                "method": "dense",
                "sparsity": 0.0,
                "metrics": {"fid": 10.0, "kid": 0.01, "params": 3_500_000},
                "samples": sample_rel,
                "curves": {
                    "g/loss": [[i, math.sin(i / 50)] for i in range(n)] + [[n, None], [n + 1, float("nan")]],
                    "d/loss": [[i, 0.5] for i in range(10)],
                },
            },
            {
                "name": "<script>alert(1)</script>",
                "method": "self_supervised",
                "sparsity": 0.5,
                "metrics": {"fid": 12.0, "fid_ci95": 0.4, "kid": None, "params": 1_750_000},
                "flags": ["collapse"],
                "paper_fid": 11.5,
            },
        ],
        "config": {"lr": 2e-4},
        "env": {"torch": torch.__version__},
        "notes": ["a note"],
    }


class TagChecker(HTMLParser):
    """Collects unbalanced end tags (void elements aside) and the text of an HTML page."""

    VOID = frozenset({"meta", "img", "br", "hr", "wbr", "link", "input", "polyline", "line", "rect", "path", "circle"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
