"""Runs the demo (the main job) and prints its quality ratios and wall time as JSON.

Targets (issue "vertical slice"): FID(self_supervised) / FID(teacher) ≤ 1.2 at 50 % element sparsity, and
self_supervised better than one-shot pruning without recovery. All models are scored in the same run by the same
evaluator (same extractor, same held-out real set, same number of samples, same sampling seed).

Usage: ``python benchmarks/demo_quality.py [--profile default|quick] [--out DIR] [--seed S] [extra demo flags…]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args, extra = ap.parse_known_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="gc-demo-")) / "demo"
    t0 = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "gancompress",
        "demo",
        "--profile",
        args.profile,
        "--out",
        str(out),
        "--overwrite",
        "--seed",
        str(args.seed),
        "-q",
        *extra,
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    res = json.loads((out / "results.json").read_text())
    m = {x["name"]: x["metrics"] for x in res["models"]}
    fid = {k: v.get("fid") for k, v in m.items()}
    print(
        json.dumps(
            {
                "profile": args.profile,
                "seed": args.seed,
                "data": res["config"]["data"]["name"],
                "teacher_steps": res["config"]["profile"]["teacher_steps"],
                "wall_seconds": round(wall, 1),
                "fid": {k: round(v, 3) for k, v in fid.items()},
                "kid": {k: round(v["kid"], 5) for k, v in m.items()},
                "class_coverage": {k: v.get("class_coverage") for k, v in m.items()},
                "fidelity_psnr": {k: round(v["fidelity_psnr"], 2) for k, v in m.items() if "fidelity_psnr" in v},
                "ratio_fid_self_supervised_vs_teacher": round(fid["self_supervised"] / fid["teacher"], 3),
                "ratio_fid_self_supervised_vs_teacher_continued": round(
                    fid["self_supervised"] / fid["teacher_continued"], 3
                ),
                "ratio_fid_oneshot_finetune_vs_teacher": round(fid["oneshot_finetune"] / fid["teacher"], 3),
                "ratio_fid_oneshot_prune_vs_teacher": round(fid["oneshot_prune"] / fid["teacher"], 3),
                "self_supervised_beats_oneshot_prune": fid["self_supervised"] < fid["oneshot_prune"],
                "target_ratio": 1.2,
                "report": str(out / "report.html"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
