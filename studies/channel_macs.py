"""MACs removed by channel pruning at 50 % of every coupling group's channels, every built-in family at the task
configs' small widths and the wide profile's (benchmarks/channel_speed.py CASES), with the masked → shrunk parity.

Deterministic (no timing). Usage: ``python studies/channel_macs.py [--ratio 0.5] [--out results/structured/x.json]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.channel_speed import CASES

from gancompress.config import PruneCfg
from gancompress.families import get_family
from gancompress.pruning.channel_groups import dense_layer_macs
from gancompress.pruning.channel_masks import ChannelMaskSet
from gancompress.pruning.physical import remove_pruned_channels
from gancompress.pruning.targets import keep_output_dense


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    rows = []
    for family, (data, widths) in CASES.items():
        fam = get_family(family)
        for width, model in widths.items():
            torch.manual_seed(0)
            g, d = fam.build(model, data)
            x = fam.make_loss(g, d).sample_input(2, torch.Generator().manual_seed(0), "cpu")
            prune = keep_output_dense(g, PruneCfg(granularity="channel"), x)
            masks = ChannelMaskSet.attach(g, exclude=prune.exclude, example_inputs=x)
            masks.update(args.ratio)
            small, _ = remove_pruned_channels(g.eval(), x)
            one = tuple(t[:1] for t in x)
            kept = sum(dense_layer_macs(small, one).values()) / sum(dense_layer_macs(g, one).values())
            with torch.no_grad():
                diff = float((small(*x) - g(*x)).abs().max())
            predicted = round(1 - masks.macs_fraction(), 4)
            rows.append({"family": family, "width": width, "ngf": model.ngf, "ratio": args.ratio,
                         "macs_removed": round(1 - kept, 4), "predicted_macs_removed": predicted,
                         "groups": len(masks.groups), "left_whole": masks.skipped, "max_abs_diff": diff})  # fmt: skip
            print(json.dumps(rows[-1]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
