"""What the previous StarGAN protocol gave a generator that copies its input (docs/results.md "Translation FID").

The previous protocol sent held-out images (drawn from the whole test split) to other domains and scored the pooled
outputs of all targets against the whole test split — the inputs included. This script scores, with today's
evaluator, the teacher and an input copy both ways: pooled against the whole split (the old protocol) and per target
domain against the reference half disjoint from the inputs (``Evaluator.evaluate``, the protocol now).

Usage: ``python studies/old_protocol_identity.py runs/headlines/table1-stargan-val/teacher [--num-samples 1000]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _teacher import open_teacher

from gancompress.experiments.known_bad import InputCopy
from gancompress.families.contract import draw_batch
from gancompress.families.sampling import run_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("teacher")
    ap.add_argument("--num-samples", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t = open_teacher(args.teacher, args.num_samples, split="test")
    ev, loss, test = t.evaluator, t.loss, t.evaluator.test
    loss.bind_eval_data(test)
    # the previous eval_inputs: any held-out image, sent to another domain; outputs pooled against all of test
    gen = torch.Generator().manual_seed(0)
    batch = draw_batch(test, args.num_samples, gen)
    source = loss.domain_index(batch["label"])
    target = (source + torch.randint(1, loss.num_domains, (args.num_samples,), generator=gen)) % loss.num_domains
    inputs = (batch["real"], loss.one_hot(target))
    out = {"run": args.teacher, "num_samples": args.num_samples, "num_real": len(test)}
    for name, g in (("teacher", t.g), ("input_copy", InputCopy())):
        pooled = ev.score_images(run_generator(g, inputs), ("fid",))["fid"]
        now = ev.evaluate(g, loss, metrics=("fid",))
        out[name] = {"fid_pooled_old_protocol": pooled, "fid_per_target_now": now["fid"],
                     "target_accuracy": now.get("target_accuracy")}  # fmt: skip
        print(name, out[name], file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
