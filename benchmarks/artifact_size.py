"""Bytes on disk of a pruned generator: the dense file, the default saved artifact and the packed export.

``io.save_module`` (every run's ``generator.safetensors``) stores each masked weight packed (bitmask + kept values) or
dense with its mask derived from its non-zeros, whichever is smaller; ``export --format packed`` always packs. Before,
the masks were float32 tensors and a pruned model was ≈ 2× the dense file (``masks_stored_bytes`` below).

Builds the demo's DCGAN generator (``tasks.TASKS["dcgan"]``: nz 64, ngf 32, 32 px, 1 channel, DCGAN init — or the
trained generator of ``--teacher RUN``), prunes a copy per setting (element at ``--sparsities``, N:M 2:4) by weight
magnitude, and writes it the three ways plus the old way. Dense bytes: the same weights without masks, written by
the same ``save_module``. ``round_trip_exact``: ``load_module`` and ``load_packed`` give back every tensor, masks
included, with the same dtype and float bits.

Prints one JSON object.

Usage: ``python benchmarks/artifact_size.py [--sparsities 0.25,0.5,0.75,0.9] [--teacher runs/demo/teacher]``
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
from pathlib import Path

import torch
from torch import nn

from gancompress.checkpoint import load_module, load_saved_tensors, save_module
from gancompress.config import DataCfg, ModelCfg
from gancompress.experiments.tasks import TASKS
from gancompress.families import get_family
from gancompress.files import FORMAT, save_tensors
from gancompress.models import create_model
from gancompress.pruning import MaskSet
from gancompress.pruning.packed import load_packed, save_packed


def demo_generator(teacher: str | None, seed: int) -> nn.Module:
    if teacher:
        return load_module(teacher, "generator")
    config = TASKS["dcgan"].config
    torch.manual_seed(seed)
    g, _ = get_family("dcgan").build(ModelCfg(**config["model"]), DataCfg(**config["data"]))
    return g


def bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return sorted(a) == sorted(b) and all(
        a[k].dtype == b[k].dtype
        and a[k].shape == b[k].shape
        and torch.equal(a[k].reshape(-1).view(torch.uint8), b[k].reshape(-1).view(torch.uint8))
        for k in a
    )


def measure(g: nn.Module, granularity: str, sparsity: float, tmp: Path) -> dict:
    masked = copy.deepcopy(g)
    masks = MaskSet.attach(masked, granularity=granularity)
    masks.update(sparsity)
    state = masked.state_dict()
    dense = create_model(masked.arch_spec["arch"], **masked.arch_spec["kwargs"])
    dense.load_state_dict({k: v for k, v in state.items() if not k.endswith("_mask")})
    dense_path = save_module(dense, tmp / "dense", "generator")
    artifact = save_module(masked, tmp / "masked", "generator")
    packed = save_packed(masked, tmp / "generator.packed.safetensors")
    old = save_tensors(state, tmp / "v1.safetensors", metadata={"format": FORMAT})  # float masks, as before
    derived = json.loads((tmp / "masked" / "generator.json").read_text()).get("derived_masks", [])
    exact = bit_identical(load_module(tmp / "masked", "generator").state_dict(), state)
    exact = exact and bit_identical(load_packed(packed), state)
    exact = exact and bit_identical(load_saved_tensors(artifact), state)  # --generator path: JSON found next to it
    size = {name: p.stat().st_size for name, p in {"dense": dense_path, "default": artifact, "packed": packed}.items()}
    return {
        "granularity": granularity,
        "sparsity": round(masks.overall_sparsity(), 4),
        "dense_bytes": size["dense"],
        "default_artifact_bytes": size["default"],
        "packed_export_bytes": size["packed"],
        "masks_stored_bytes": old.stat().st_size,
        "default_over_dense": round(size["default"] / size["dense"], 4),
        "packed_over_dense": round(size["packed"] / size["dense"], 4),
        "layers_packed": len(masks.names) - len(derived),
        "layers_derived": len(derived),
        "round_trip_exact": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparsities", default="0.25,0.5,0.75,0.9", help="element sparsities, comma-separated")
    parser.add_argument("--nm", default="2:4", help="N:M pattern measured too ('' to skip)")
    parser.add_argument("--teacher", default=None, help="run directory whose trained generator to prune instead")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    g = demo_generator(args.teacher, args.seed)
    settings = [("element", float(s)) for s in args.sparsities.split(",") if s.strip()]
    if args.nm:
        n, m = (int(x) for x in args.nm.split(":"))
        settings.append((f"nm:{n}:{m}", 1 - n / m))
    rows = []
    for granularity, sparsity in settings:
        with tempfile.TemporaryDirectory(prefix="artifact-size-") as tmp:
            rows.append(measure(g, granularity, sparsity, Path(tmp)))
    payload = {
        "generator": {"source": args.teacher or "demo dcgan (tasks.TASKS['dcgan'], DCGAN init)", **g.arch_spec},
        "params": sum(p.numel() for p in g.parameters()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "rows": rows,
        "all_no_larger_than_dense": all(r["default_artifact_bytes"] <= r["dense_bytes"] for r in rows),
        "all_exact": all(r["round_trip_exact"] for r in rows),
    }
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
