"""gancompress.data.image_folder: decompression bombs are refused before they are decoded; small odd sizes still
load."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from gancompress.config import DataCfg
from gancompress.data import load_dataset
from gancompress.data.image_folder import MAX_IMAGE_PIXELS
from gancompress.errors import UserError

# --------------------------------------------------------------------------- F13: decompression bombs in folders


def _png_header(path: Path, width: int, height: int) -> None:
    """A tiny PNG that claims ``width``×``height`` grayscale pixels (no pixel data): PIL reads the size from it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((8000, 8000), r"is 8000×8000 px \(64 Mpx\), above the image_folder limit of 50 Mpx"),  # below PIL's own limit
        ((12000, 12000), r"is above the image_folder limit of 50 Mpx \(Image size \(144000000 pixels\)"),  # PIL warns
        ((20000, 20000), r"is above the image_folder limit of 50 Mpx \(Image size \(400000000 pixels\)"),  # PIL errors
    ],
)
def test_image_folder_refuses_huge_images(tmp_path: Path, size: tuple[int, int], message: str) -> None:
    Image.new("RGB", (30, 20), (200, 10, 10)).save(tmp_path / "ok.png")
    _png_header(tmp_path / "bomb.png", *size)
    assert size[0] * size[1] > MAX_IMAGE_PIXELS
    with pytest.raises(UserError, match=rf"image .*bomb\.png {message}"):
        load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path), image_size=16, channels=3))


def test_image_folder_small_odd_sizes_still_resized(tmp_path: Path) -> None:
    Image.new("RGB", (30, 20), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("L", (7, 13), 50).save(tmp_path / "b.png")
    ds = load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path), image_size=16, channels=3))
    assert tuple(ds.images.shape) == (2, 3, 16, 16)
