"""gancompress.metrics (the package): registries and directions of every metric, and image metrics on domain
features."""

from __future__ import annotations

import pytest

import gancompress.metrics
from gancompress.config import METRIC_NAMES, EvalCfg
from gancompress.errors import UserError
from gancompress.metrics import (
    EXTRACTORS,
    HIGHER_IS_BETTER,
    compute_image_metrics,
    coverage,
    density_coverage,
    fid_from_features,
    precision,
    precision_recall,
    real_key,
)
from tests.metrics.refs import sets

# ------------------------------------------------------------------------------------ fidelity and class metrics


def test_registries() -> None:
    assert "domain" in EXTRACTORS.names()
    assert not hasattr(gancompress.metrics, "METRICS")  # nothing looked metrics up by name: the registry is gone
    assert set(METRIC_NAMES) == {"fid", "kid", "prdc", "class_coverage", "diversity", "fidelity"}
    assert EvalCfg().metrics == METRIC_NAMES


# -------------------------------------------------------------------------------------- domain feature extractor


def test_compute_image_metrics_on_domain_features(trained, gratings, tmp_path) -> None:
    ext = trained["ext"]
    real, fake_good = gratings["x"], gratings["tx"]
    collapsed = gratings["tx"][gratings["ty"] == 0]
    metrics = ("fid", "kid", "class_coverage", "class_kl")
    key = real_key("f" * 16, len(real), ext)
    good = compute_image_metrics(fake_good, real, ext, metrics=metrics, real_key=key, cache_dir=tmp_path)
    bad = compute_image_metrics(collapsed, real, ext, metrics=metrics, real_key=key, cache_dir=tmp_path)
    assert set(good) == {"fid", "kid", "kid_std", "class_coverage", "class_kl"}
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"]
    assert good["class_coverage"] >= 0.9 and bad["class_coverage"] <= 0.2
    assert good["class_kl"] < bad["class_kl"]
    assert good["fid"] == pytest.approx(fid_from_features(ext.extract(real), ext.extract(fake_good)), rel=1e-9)
    with pytest.raises(UserError, match="valid values"):
        compute_image_metrics(fake_good, real, ext, metrics=("psnr",))


# -------------------------------------------------------------------- registries and the missing-weights message


def test_registries_list_the_newer_metrics_and_extractors() -> None:
    new = {"precision", "recall", "density", "coverage", "ssim", "diversity"}
    assert all(HIGHER_IS_BETTER[name] for name in new)
    assert "inception" in EXTRACTORS.names() and "domain" in EXTRACTORS.names()
    real, fake = sets(30, 30, 3, 0.2, 1.0, 6)
    assert precision(real, fake) == precision_recall(real, fake)[0]
    assert coverage(real, fake) == density_coverage(real, fake)[1]
