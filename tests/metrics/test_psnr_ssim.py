"""gancompress.metrics.psnr_ssim: SSIM equals skimage's; its properties and errors; PSNR re-exported."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from torch import Tensor

from gancompress.errors import UserError
from gancompress.metrics import (
    psnr,
    ssim,
    ssim_per_image,
)
from gancompress.metrics.psnr_ssim import psnr as psnr_reexport

# --------------------------------------------------------------------------------------------------- SSIM / PSNR


def skimage_mean_ssim(a: Tensor, b: Tensor, **kw: int) -> float:
    return float(
        np.mean(
            [
                structural_similarity(x.numpy(), y.numpy(), data_range=2.0, channel_axis=0, **kw)
                for x, y in zip(a.double(), b.double(), strict=True)
            ]
        )
    )


def structured(n: int, c: int, h: int, w: int, seed: int) -> Tensor:
    """Gradients, gratings and blobs plus a little noise, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    out = []
    for i in range(n):
        f = 2 + i
        img = torch.stack([torch.cos(f * math.pi * (xx * math.cos(j + i) + yy * math.sin(j + i))) for j in range(c)])
        img = 0.6 * img + 0.3 * torch.exp(-(xx**2 + yy**2) * f) + 0.05 * torch.randn(c, h, w, generator=g)
        out.append(img.clamp(-1, 1))
    return torch.stack(out).double()


@pytest.mark.parametrize("win_size", [7, 3])
def test_ssim_matches_skimage(win_size: int) -> None:
    g = torch.Generator().manual_seed(0)
    rnd_a = torch.rand(4, 3, 23, 19, generator=g, dtype=torch.float64) * 2 - 1
    rnd_b = (rnd_a + 0.3 * torch.randn(4, 3, 23, 19, generator=g, dtype=torch.float64)).clamp(-1, 1)
    st_a = structured(3, 1, 32, 32, 1)
    st_b = F.avg_pool2d(st_a, 3, stride=1, padding=1) * 0.9 + 0.05  # blurred, dimmed, shifted
    for a, b in [(rnd_a, rnd_b), (st_a, st_b), (structured(2, 3, 16, 24, 2), structured(2, 3, 16, 24, 3))]:
        ref = skimage_mean_ssim(a, b, win_size=win_size)
        assert ssim(a, b, win_size=win_size) == pytest.approx(ref, abs=1e-6)
    per = ssim_per_image(rnd_a, rnd_b)
    assert per.shape == (4,) and per.dtype == torch.float64
    assert float(per[1]) == pytest.approx(skimage_mean_ssim(rnd_a[1:2], rnd_b[1:2]), abs=1e-6)


def test_ssim_properties_and_errors() -> None:
    a = structured(2, 3, 16, 16, 4)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a.float(), a.flip(-1).float()) < 0.5
    with pytest.raises(UserError, match="at least 7×7"):
        ssim(torch.zeros(1, 1, 6, 6), torch.zeros(1, 1, 6, 6))
    with pytest.raises(UserError, match="same shape"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(UserError, match="odd"):
        ssim(a, a, win_size=4)


def test_psnr_known_values_and_reexport() -> None:
    fidelity_mod = importlib.import_module(
        "gancompress.metrics.fidelity"
    )  # the package re-exports a function of that name
    assert psnr_reexport is psnr is fidelity_mod.psnr  # one implementation
    z = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    assert psnr(z, torch.full_like(z, 0.2)) == pytest.approx(20.0, abs=1e-9)  # 10·log10(4 / 0.04)
    assert psnr(z, torch.full_like(z, 0.1)) == pytest.approx(26.020599913279625, abs=1e-9)  # 10·log10(4 / 0.01)
    assert psnr(z, torch.full_like(z, 0.1), data_range=1.0) == pytest.approx(20.0, abs=1e-9)
