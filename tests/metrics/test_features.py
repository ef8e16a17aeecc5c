"""gancompress.metrics.features: the domain feature extractor learns, caches and trains deterministically."""

from __future__ import annotations

import time

import pytest
import torch

from gancompress.errors import UserError
from gancompress.metrics import (
    ARCH_VERSION,
    get_domain_extractor,
    train_domain_classifier,
)

# -------------------------------------------------------------------------------------- domain feature extractor


def test_domain_classifier_learns(trained, gratings) -> None:
    ext = trained["ext"]
    assert ext.accuracy > 0.9, ext.accuracy
    assert trained["seconds"] < 60  # ~3 s on an idle 2-core CPU
    feats = ext.extract(gratings["tx"], batch_size=77)
    assert feats.shape == (200, 128) and feats.dtype == torch.float64
    assert ext.classify(gratings["tx"][:5]).shape == (5, 10)
    assert ext.name == "domain" and ext.feat_dim == 128 and ext.num_classes == 10
    assert len(ext.weight_hash) == 16
    with pytest.raises(UserError, match="channels"):
        ext.extract(torch.zeros(2, 3, 16, 16))


def test_domain_cache_round_trip(trained, gratings) -> None:
    ext, cache = trained["ext"], trained["cache"]
    files = sorted(p.name for p in cache.iterdir())
    stem = f"domain_{'f' * 16}_{ARCH_VERSION}_0"
    assert files == [f"{stem}.json", f"{stem}.safetensors"]
    t0 = time.perf_counter()
    again = get_domain_extractor(gratings["x"][:0], gratings["y"][:0], 10, fingerprint="f" * 16, cache_dir=cache)
    assert time.perf_counter() - t0 < 2  # loaded, not retrained (no data to train on anyway)
    assert again.weight_hash == ext.weight_hash
    assert again.accuracy == ext.accuracy
    assert torch.equal(again.extract(gratings["tx"]), ext.extract(gratings["tx"]))


def test_domain_training_is_deterministic(trained, gratings) -> None:
    again = train_domain_classifier(
        gratings["x"], gratings["y"], 10, test_images=gratings["tx"], test_labels=gratings["ty"], seed=0
    )
    assert again.weight_hash == trained["ext"].weight_hash


def test_domain_training_does_not_depend_on_the_callers_threads(gratings) -> None:
    """oneDNN splits reductions by thread: training pins one thread so the cached evaluator is the same whoever
    filled the cache (at 1 and 2 threads the weights used to differ), and the caller's setting is restored."""
    before = torch.get_num_threads()
    hashes = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            net = train_domain_classifier(gratings["x"], gratings["y"], 10, seed=0, epochs=2)
            assert torch.get_num_threads() == threads
            hashes.append(net.weight_hash)
    finally:
        torch.set_num_threads(before)
    assert hashes[0] == hashes[1]


def test_domain_accuracy_counts_only_held_out_classes_training_saw(gratings, caplog) -> None:
    """photo_tiles holds out whole photos (classes training never saw): those images cannot be classified right, so
    the recorded accuracy is taken over the held-out images of seen classes, and over the training images if none."""
    x, y, tx, ty = gratings["x"], gratings["y"], gratings["tx"], gratings["ty"]
    keep = y < 5
    kwargs = {"num_classes": 10, "seed": 0, "epochs": 4}
    caplog.set_level("INFO", logger="gancompress.metrics.domain_extractor")
    unseen = train_domain_classifier(x[keep], y[keep], test_images=tx[ty >= 5], test_labels=ty[ty >= 5], **kwargs)
    assert "unseen in training" in caplog.text
    train_acc = float((unseen.classify(x[keep]).argmax(1) == y[keep]).double().mean())
    assert unseen.accuracy == pytest.approx(train_acc) and unseen.accuracy > 0.5
    mixed = train_domain_classifier(x[keep], y[keep], test_images=tx, test_labels=ty, **kwargs)
    seen_acc = float((mixed.classify(tx[ty < 5]).argmax(1) == ty[ty < 5]).double().mean())
    assert mixed.accuracy == pytest.approx(seen_acc) and mixed.accuracy > 0.5
    assert f"the {int((ty < 5).sum())} of {len(ty)} images" in caplog.text


def test_torch_threads_restores_the_count_even_on_error() -> None:
    from gancompress.export.threads import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1) as prev:
        assert torch.get_num_threads() == 1 and prev == before
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
