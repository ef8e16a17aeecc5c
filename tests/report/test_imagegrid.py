"""gancompress.report.imagegrid: make_grid / save_image_grid shapes, padding, values and PNG modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gancompress.report.imagegrid import make_grid, save_image_grid

# --------------------------------------------------------------------------------------------------- image grids


def test_grid_gray_shape_padding_and_values() -> None:
    imgs = torch.stack([torch.full((1, 4, 5), v) for v in (-1.0, 0.0, 1.0, 0.5)])
    grid = make_grid(imgs, nrow=2, padding=1, pad_value=-1.0)
    assert grid.shape == (2 * (4 + 1) + 1, 2 * (5 + 1) + 1) and grid.dtype == np.uint8
    assert (grid[0] == 0).all() and (grid[:, 0] == 0).all() and (grid[5] == 0).all()  # borders + separator
    assert (grid[1:5, 1:6] == 0).all()  # -1 → 0
    assert (grid[1:5, 7:12] == 128).all()  # 0 → 128
    assert (grid[6:10, 1:6] == 255).all()  # 1 → 255
    assert (grid[6:10, 7:12] == 191).all()  # 0.5 → round(191.25)


def test_grid_rgb_partial_last_row_and_clamping() -> None:
    imgs = torch.zeros(5, 3, 2, 2)
    imgs[0, 0] = 5.0  # out of range → clamped to 255 in red only
    imgs[1] = float("nan")  # NaN → mid-grey, not a crash
    grid = make_grid(imgs, nrow=3, padding=2)  # pad_value=1.0 → white
    assert grid.shape == (2 * (2 + 2) + 2, 3 * (2 + 2) + 2, 3)
    assert grid[2:4, 2:4].tolist() == [[[255, 128, 128]] * 2] * 2
    assert (grid[2:4, 6:8] == 128).all()
    assert (grid[6:8, 10:12] == 255).all()  # the empty 6th cell is pad-filled
    assert (grid[0] == 255).all()


def test_grid_single_image_fewer_than_nrow_and_bad_input() -> None:
    assert make_grid(torch.zeros(3, 8, 8), nrow=8, padding=0).shape == (8, 8, 3)
    assert make_grid(torch.zeros(2, 1, 8, 8), nrow=8, padding=2).shape == (12, 22)  # cols = min(nrow, N)
    with pytest.raises(ValueError, match="channels"):
        make_grid(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="empty"):
        make_grid(torch.zeros(0, 3, 8, 8))
    with pytest.raises(ValueError):
        make_grid(torch.zeros(8, 8))


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB")])
def test_save_image_grid_png(tmp_path: Path, channels: int, mode: str) -> None:
    imgs = torch.rand(10, channels, 32, 32) * 2 - 1
    path = save_image_grid(imgs, tmp_path / "deep" / "dir" / "grid.png", nrow=4, scale=3)
    assert path.exists()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == mode
        assert im.size == (3 * (4 * 34 + 2), 3 * (3 * 34 + 2))
        arr = np.asarray(im)
    small = make_grid(imgs, nrow=4)
    assert np.array_equal(arr[::3, ::3], small)  # nearest-neighbour upscaling is exact
    with pytest.raises(ValueError, match="scale"):
        save_image_grid(imgs, tmp_path / "x.png", scale=0)
