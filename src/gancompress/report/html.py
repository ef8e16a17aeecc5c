"""HTML building blocks shared by the report renderers (report/render.py, experiments/table1/report.py,
experiments/sweeps/report.py): the style
sheet, scrolling tables, readable column headers and embedded images.

Example:
    >>> html_table(["model", "FID ↓"], [["a", "1.0"]]).startswith('<div class="scroll">')
    True
"""

from __future__ import annotations

import base64
import html
import logging
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Tables sit in a ``.scroll`` container (:func:`html_table`): a wide table scrolls sideways instead of being cut off,
#: its first column stays in view (sticky), numbers (right-aligned) never break inside "12.34 ± 4.5", free-text
#: columns (``.text``) are left-aligned and wrap. Rows carry an opaque background so the sticky column hides what
#: scrolls beneath it. A table of :data:`WIDE_COLUMNS` or more columns gets a smaller font: Table 1's 20 columns then
#: fit a 1,200 px window.
TABLE_CSS = """.scroll{overflow-x:auto;margin:1em 0;max-width:100%}table{border-collapse:collapse;font-size:.9em}
table.wide{font-size:.78em}
th,td{border:1px solid #ccc;padding:3px 3px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;white-space:normal;vertical-align:bottom}
td:first-child,th:first-child,.text{text-align:left}td.text{white-space:normal;min-width:4.5em}
td:first-child,th:first-child{position:sticky;left:0;z-index:1}td:first-child{background:inherit}
tr{background:#fff}tr:nth-child(even){background:#fafafa}"""
WIDE_COLUMNS = 10
CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 .75em;color:#222}\n"
    + TABLE_CSS  # first: the reference-row and best-cell rules below must win over the zebra stripes
    + """
tr.ref{font-style:italic;background:#eef3fb}td.best{font-weight:bold;background:#d9f2d9}
.figs{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figure img{image-rendering:pixelated;max-width:520px}
figure svg{max-width:100%;height:auto}figcaption{font-size:.9em;color:#555}
pre{background:#f6f6f6;padding:.6em;overflow:auto}"""
)
#: header words spelled out for readers: acronyms in capitals, PSNR with its unit
_WORDS = {
    "fid": "FID", "kid": "KID", "lpips": "LPIPS", "psnr": "PSNR (dB)", "ssim": "SSIM", "kl": "KL", "l1": "L1",
    "mse": "MSE", "nonzero": "non-zero", "params": "parameters", "acc": "accuracy", "ci95": "95 % CI",
}  # fmt: skip
_LABELS = {
    "min_class_share": "rarest class share", "sparsity": "measured sparsity", "mac_fraction": "MACs (× teacher)",
    "cpu_speedup": "CPU speed-up (batch 16, 1 thread)",
}  # fmt: skip


def metric_label(key: str) -> str:
    """A metric key as a column header: ``fidelity_psnr`` → ``fidelity PSNR (dB)``, ``class_coverage`` → ``class
    coverage`` (unknown words kept, underscores become spaces).

    Example:
        >>> metric_label("fidelity_psnr"), metric_label("class_kl"), metric_label("fid")
        ('fidelity PSNR (dB)', 'class KL', 'FID')
    """
    return _LABELS.get(key) or " ".join(_WORDS.get(w, w) for w in key.split("_") if w)


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    best: Sequence[Sequence[bool]] | None = None,
    row_classes: Sequence[str] = (),
    text_cols: Sequence[int] = (),
) -> str:
    """An escaped HTML table inside a horizontally scrolling ``div.scroll`` (styled by :data:`TABLE_CSS`).

    Args:
        headers: Header labels.
        rows: Cell values, shown as text.
        best: Per-cell flags; a flagged cell gets ``class="best"``.
        row_classes: Per-row CSS class ("" for none), e.g. ``"ref"`` for a reference row.
        text_cols: Column indices of free text (names, flags), left-aligned and allowed to wrap — also after "_"
            and before "@" in identifiers like ``small_dense_scratch@10%``; every other cell stays on one line.
    """
    e = html.escape

    def wrappable(text: str) -> str:  # <wbr>: a line-break opportunity that adds no character to copied text
        return e(text).replace("_", "_<wbr>").replace("@", "<wbr>@")

    head = "".join(
        ("<th class='text'>" if j in text_cols else "<th>") + f"{e(str(h))}</th>" for j, h in enumerate(headers)
    )
    body = []
    for i, r in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) else ""
        tds = []
        for j, c in enumerate(r):
            names = " ".join(n for n, on in (("best", best and best[i][j]), ("text", j in text_cols)) if on)
            text = wrappable(str(c)) if j in text_cols else e(str(c))
            tds.append((f"<td class='{names}'>" if names else "<td>") + f"{text}</td>")
        body.append((f"<tr class='{cls}'>" if cls else "<tr>") + "".join(tds) + "</tr>")
    wide = " class='wide'" if len(headers) >= WIDE_COLUMNS else ""
    return (
        f'<div class="scroll"><table{wide}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def img_src(rel: str, base_dir: Path) -> str:
    """A data URI of the image at ``rel`` (relative to ``base_dir``) so the page is self-contained; ``rel`` itself
    (a link) when the file cannot be read."""
    p = Path(rel) if Path(rel).is_absolute() else base_dir / rel
    mime = mimetypes.guess_type(p.name)[0] or "image/png"
    try:
        return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"
    except OSError as err:
        log.warning("sample image %s not readable (%s); HTML links it by path instead of embedding", p, err)
        return rel


__all__ = ["CSS", "TABLE_CSS", "html_table", "img_src", "metric_label"]
