"""Feature-extraction throughput (images/s) of the domain CNN and the FID Inception network on 32×32 inputs.

The domain extractor is trained on sklearn digits (resized to 32×32) in a temporary cache directory, so the run
never reads or writes the user's cache. The Inception extractor is timed when its weights file is installed
(``make fid-weights``). Fixed threads, one warm-up call each, then ``--repeats`` interleaved timed calls
(domain, inception, domain, …); the median is reported.

Prints one JSON object. Usage: ``python benchmarks/extractor_throughput.py [--threads 2] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable

import torch

import gancompress as gc
from gancompress.errors import UserError
from gancompress.metrics import get_domain_extractor, get_inception_extractor, inception_available, inception_path
from gancompress.metrics.inception import MAX_BATCH

logger = logging.getLogger("extractor_throughput")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=32, help="input image side (both extractors)")
    ap.add_argument("--domain-images", type=int, default=1000, help="images per timed domain call")
    ap.add_argument("--inception-images", type=int, default=32, help="images per timed Inception call")
    ap.add_argument("--batch-size", type=int, default=50, help="Inception batch size (domain uses its 500 default)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    data = gc.load_dataset(gc.DataCfg(name="digits", image_size=args.size), "train")
    test = gc.load_dataset(gc.DataCfg(name="digits", image_size=args.size), "test")
    gen = torch.Generator().manual_seed(0)
    pick = torch.randint(0, len(data), (max(args.domain_images, args.inception_images),), generator=gen)
    images = data.images[pick]
    out: dict[str, object] = {"threads": args.threads, "input_size": args.size, "repeats": args.repeats}

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        domain = get_domain_extractor(
            data.images,
            data.labels,
            data.num_classes,
            fingerprint=data.fingerprint,
            test_images=test.images,
            test_labels=test.labels,
            cache_dir=cache,
        )
        train_s = time.perf_counter() - t0
    dom_x = images[: args.domain_images]
    runs: dict[str, Callable[[], object]] = {"domain": lambda: domain.extract(dom_x)}
    counts = {"domain": dom_x.shape[0]}

    inc_x = images[: args.inception_images]
    if inception_available():
        inception = get_inception_extractor("cpu")
        runs["inception"] = lambda: inception.extract(inc_x, batch_size=args.batch_size)
        counts["inception"] = inc_x.shape[0]
        out["inception_file"] = str(inception_path())
        out["inception_hash"] = inception.weight_hash
    else:
        try:
            get_inception_extractor("cpu")
        except UserError as err:
            out["inception"] = {"available": False, "message": str(err)}

    domain.extract(dom_x[:64])  # warm-up (oneDNN primitive creation, allocator)
    if "inception" in runs:
        inception.extract(inc_x[:4])
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    for name, ts in times.items():
        med = statistics.median(ts)
        entry: dict[str, object] = {
            "images_per_s": round(counts[name] / med, 2),
            "median_s": round(med, 4),
            "images_per_call": counts[name],
            "all_s": [round(t, 4) for t in ts],
        }
        if name == "domain":
            entry.update(train_s=round(train_s, 1), accuracy=round(domain.accuracy, 4), feat_dim=domain.feat_dim)
        else:
            entry.update(batch_size=min(args.batch_size, MAX_BATCH), feat_dim=2048, resized_to=299)
        out[name] = entry
    if "inception" in times:
        per_image = {name: statistics.median(ts) / counts[name] for name, ts in times.items()}
        out["domain_vs_inception_speedup"] = round(per_image["inception"] / per_image["domain"], 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
