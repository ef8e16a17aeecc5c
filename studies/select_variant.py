"""The pre-registered choice of a self_supervised variant from a validation-split Table 1 run (docs/method.md §7).

Rule, fixed before any test-split number is seen: among the rows ``self_supervised`` (the paper's settings) and its
variants at the largest compression budget of the run, keep those whose verdict is ``ok`` on every seed; choose the
variant with the lowest mean validation FID only if its 95 % interval lies entirely below the paper row's (it must
beat the paper's settings clearly); otherwise choose ``paper``. Prints the chosen variant's name (``paper`` = no
variant) and, on stderr, the rows it compared.

Usage: ``python studies/select_variant.py runs/table1-val/results.json``
"""

from __future__ import annotations

import json
import sys


def choose(results: dict) -> tuple[str, list[str]]:
    rows = [r for r in results["models"] if r["method"] == "self_supervised"]
    top = max((r.get("budget_fraction") or 0.0) for r in rows)
    rows = [r for r in rows if (r.get("budget_fraction") or 0.0) == top and r.get("flag") == "ok"]
    paper = next((r for r in rows if not r.get("variant")), None)
    notes = []
    for r in rows:
        m = r["metrics"]
        notes.append(f"{r['name']}: val FID {m['fid']:.3f} ± {m.get('fid_ci95') or float('nan'):.3f}, flag {r['flag']}")
    if paper is None:
        return "paper", [*notes, "the paper row is flagged or missing: nothing to compare against, keep the paper's"]
    p_lo = paper["metrics"]["fid"] - (paper["metrics"].get("fid_ci95") or 0.0)
    clear = [
        r for r in rows
        if r.get("variant") and r["metrics"].get("fid_ci95") is not None
        and r["metrics"]["fid"] + r["metrics"]["fid_ci95"] < p_lo
    ]  # fmt: skip
    if not clear:
        return "paper", [*notes, "no variant's interval lies below the paper row's: keep the paper's settings"]
    best = min(clear, key=lambda r: r["metrics"]["fid"])
    return best["variant"], [*notes, f"chosen: {best['variant']} (interval below the paper row's)"]


def main() -> None:
    with open(sys.argv[1]) as fh:
        results = json.load(fh)
    name, notes = choose(results)
    print("\n".join(notes), file=sys.stderr)
    print(name)


if __name__ == "__main__":
    main()
