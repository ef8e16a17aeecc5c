"""Does the metric separate a healthy generator from a mode-collapsed one — and by how much? Also seed spread.

Scores, with one evaluator (same extractor, held-out real set, number of samples), side by side:

- ``real_replay``: held-out-like real images (the training split replayed) — the metric's floor for this sample size;
- ``teacher``: a trained generator (``--teacher RUN_DIR``, e.g. ``runs/demo/teacher``);
- ``one_class``: the teacher's samples restricted to the single most frequent predicted class (mode collapse);
- ``single_image``: one real image repeated (total collapse).

Each is scored with ``--seeds`` sampling seeds (mean, std, 95 % interval), and the same seed twice to check
reproducibility. Prints JSON. Usage:
``python benchmarks/metric_separation.py --teacher runs/demo/teacher [--seeds 3] [--num-samples 2000]``
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

import gancompress as gc
from gancompress.evaluate import Evaluator
from gancompress.families.sampling import generate
from gancompress.rundir import run_config


class Replay(nn.Module):
    """Plays back a fixed image bank; the input noise picks which image (so seeds give different draws)."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        idx = (z[:, 0].abs() * 1e6).long() % self.images.shape[0]
        return self.images[idx]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--num-samples", type=int, default=2000)
    ap.add_argument("--extractor", default="domain")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg = run_config(args.teacher)
    train, test = gc.load_dataset(cfg.data, "train"), gc.load_dataset(cfg.data, "test")
    ev = Evaluator(train, test, extractor=args.extractor, num_samples=args.num_samples)
    g, _ = gc.load_gan(args.teacher)
    loss = gc.get_family(cfg.model.family).make_loss(g, None)

    bank = generate(g, loss, 4 * args.num_samples, seed=999)
    pred = ev.domain.extract_logits(bank).argmax(1)
    top = int(torch.bincount(pred).argmax())
    generators = {
        "real_replay": Replay(train.images),
        "teacher": g,
        "one_class": Replay(bank[pred == top]),
        "single_image": Replay(train.images[:1]),
    }
    seeds = list(range(args.seeds))
    metrics = ("fid", "kid", "prdc", "class_coverage")
    out: dict[str, object] = {"data": cfg.data.name, "num_samples": args.num_samples, "seeds": seeds, **ev.info}
    scores = {}
    for name, gen in generators.items():
        r = ev.evaluate_seeds(gen, loss, seeds=seeds, metrics=metrics)
        keys = ("fid", "kid", "precision", "recall", "coverage", "class_coverage", "class_kl")
        scores[name] = {k: round(r[k], 5) for k in keys}
        scores[name].update({f"{k}_ci95": round(r[f"{k}_ci95"], 5) for k in ("fid", "kid")})
        scores[name]["fid_values"] = [round(v, 4) for v in r["fid_values"]]
    out["scores"] = scores
    again = [ev.evaluate(g, loss, seed=0, metrics=metrics)["fid"] for _ in range(2)]
    out["same_seed_twice_identical"] = again[0] == again[1]
    t = scores["teacher"]["fid"]
    out["ratio_fid_one_class_vs_teacher"] = round(scores["one_class"]["fid"] / t, 2)
    out["ratio_fid_single_image_vs_teacher"] = round(scores["single_image"]["fid"] / t, 2)
    out["ratio_fid_teacher_vs_real_replay"] = round(t / scores["real_replay"]["fid"], 2)
    out["one_class"] = {"class": top, "name": train.class_names[top] if train.class_names else str(top)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
