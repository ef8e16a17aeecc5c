"""gancompress.metrics.inception: a missing weights file is a one-line UserError; the network's shapes, determinism
and FID separation (slow on CPU: few images).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import gancompress.metrics.inception as inception_mod
from gancompress.errors import UserError
from gancompress.metrics import (
    EXTRACTORS,
    fid_from_features,
    inception_available,
)

# -------------------------------------------------------------------- registries and the missing-weights message


def test_missing_inception_is_one_line_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(inception_mod.ENV_VAR, raising=False)
    monkeypatch.setattr(inception_mod, "PACKAGE", "gancompress_no_such_package")
    assert not inception_mod.inception_available()
    for factory in (inception_mod.get_inception_extractor, EXTRACTORS.get("inception")):
        with pytest.raises(UserError) as err:
            factory()
        assert str(err.value) == inception_mod.MISSING_MESSAGE and "\n" not in str(err.value)
    monkeypatch.setenv(inception_mod.ENV_VAR, str(tmp_path / "absent.pt"))
    with pytest.raises(UserError, match="is not a file"):
        inception_mod.get_inception_extractor()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torchscript archive")
    monkeypatch.setenv(inception_mod.ENV_VAR, str(bad))
    with pytest.raises(UserError, match="corrupt Inception weights file"):
        inception_mod.get_inception_extractor()


# --------------------------------------------------------------- the Inception network (slow on CPU: few images)


@pytest.fixture(scope="module")
def inception() -> inception_mod.InceptionExtractor:
    if not inception_available():
        pytest.skip(inception_mod.MISSING_MESSAGE)
    return inception_mod.get_inception_extractor("cpu")


def digits_32() -> Tensor:
    from sklearn.datasets import load_digits

    x = torch.from_numpy(load_digits().images).float()[:, None] / 8.0 - 1.0  # [0, 16] → [-1, 1]
    return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)


@pytest.mark.needs_inception
def test_inception_shape_determinism_and_channels(inception: inception_mod.InceptionExtractor) -> None:
    assert inception.name == "inception" and inception.feat_dim == 2048 and len(inception.weight_hash) == 16
    x = digits_32()[:2]
    f1 = inception.extract(x)
    assert f1.shape == (2, 2048) and f1.dtype == torch.float64
    assert torch.equal(f1, inception.extract(x))
    assert torch.allclose(f1, inception.extract(x.repeat(1, 3, 1, 1), batch_size=1), atol=1e-4)
    assert (f1 >= 0).all()  # post-ReLU average pool
    assert inception_mod.to_inception_input(x).shape == (2, 3, 299, 299)
    # uint8 255 → 1.0 up to float rounding of the bilinear weights (which vary with the thread split)
    white = inception_mod.to_inception_input(torch.full((1, 1, 8, 8), 255, dtype=torch.uint8))
    assert torch.allclose(white, torch.ones_like(white), atol=1e-6, rtol=0)
    assert inception.extract(torch.zeros(0, 1, 32, 32)).shape == (0, 2048)


@pytest.mark.needs_inception
def test_inception_fid_same_distribution_much_smaller_than_noise(inception: inception_mod.InceptionExtractor) -> None:
    n = 12  # ~36 Inception passes at ~5–7 images/s on 2 CPU cores
    g = torch.Generator().manual_seed(0)
    digits = digits_32()[torch.randperm(1797, generator=g)[: 2 * n]]
    noise = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    fa, fb, fn = inception.extract(digits[:n]), inception.extract(digits[n:]), inception.extract(noise)
    same, different = fid_from_features(fa, fb), fid_from_features(fa, fn)
    assert same < 0.4 * different, (same, different)
