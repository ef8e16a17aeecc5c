"""Collect ``gancompress compress --evaluate --json`` outputs (``NAME_sSEED.json`` or ``NAME.json``) into one table.

Used for the channel-compression recipe selection and ablation (studies/channel_recipe.sh): per variant, FID and its
ratio to the teacher (same evaluator, same split), recall, MACs kept, per seed and as mean ± 95 % CI.

Usage: ``python studies/collect_compress_evals.py DIR [--out results/x.json]``
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from gancompress.metrics.summary import summarize


def collect(directory: Path) -> dict:
    variants: dict[str, dict] = {}
    for path in sorted(directory.glob("*.json")):
        m = re.fullmatch(r"(.+?)(?:_s(\d+))?", path.stem)
        name, seed = m.group(1), int(m.group(2) or 0)
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # still running
        ev = payload.get("eval") or {}
        if "fid" not in ev:
            continue
        v = variants.setdefault(name, {"seeds": {}})
        v["seeds"][seed] = {
            "fid": ev["fid"], "teacher_fid": ev["teacher"]["fid"], "ratio": ev["fid"] / ev["teacher"]["fid"],
            "recall": ev.get("recall"), "precision": ev.get("precision"),
            "macs_fraction": payload.get("macs_fraction"), "split": ev.get("real_set"),
            # paired tasks (pix2pix, SRGAN): fidelity to the ground truth; None elsewhere
            "target_psnr": ev.get("target_psnr"), "target_ssim": ev.get("target_ssim"),
            "teacher_psnr": ev["teacher"].get("target_psnr"), "teacher_ssim": ev["teacher"].get("target_ssim"),
        }  # fmt: skip
    for v in variants.values():
        ratios = [s["ratio"] for s in v["seeds"].values()]
        v["ratio"] = summarize(ratios)
        v["fid"] = summarize([s["fid"] for s in v["seeds"].values()])
        for key in ("ratio", "fid"):
            if v[key]["n"] < 2:  # no interval from one seed (JSON has no NaN)
                v[key] = {**v[key], "std": None, "ci95": None}
    return variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    table = collect(args.directory)
    for name, v in sorted(table.items(), key=lambda kv: kv[1]["ratio"]["mean"]):
        r = v["ratio"]
        seeds = " / ".join(f"{s['ratio']:.3f}" for _, s in sorted(v["seeds"].items()))
        psnr = [s["target_psnr"] for s in v["seeds"].values() if s.get("target_psnr") is not None]
        extra = f"  PSNR {sum(psnr) / len(psnr):.2f}" if psnr else ""
        print(f"{name:24s} n={r['n']}  FID/G_O {r['mean']:.3f} ± {r.get('ci95', 0) or 0:.3f}  ({seeds}){extra}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
