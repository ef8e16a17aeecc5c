"""``image_folder``: any directory of images (PNG / JPEG / BMP / WebP), sub-directories as labels.

Images are center-cropped to a square and resized to ``data.image_size`` with ``data.channels`` channels; a run says
what it converted (colour dropped or added, resizing) and how to keep the images as they are.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gancompress.config import DataCfg
from gancompress.data.datasets import DATASETS, ImageDataset, check_split, seeded_split
from gancompress.errors import UserError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
#: image_folder refuses larger files before decoding them: everything is resized to ``image_size`` (a few hundred px
#: at most), and a small compressed file can claim a huge canvas (a decompression bomb: 12000×12000 px = 432 MB RGB)
MAX_IMAGE_PIXELS = 50_000_000


def _list_images(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


@functools.lru_cache(maxsize=4)
def _decode_folder(files: tuple[tuple[str, int, int], ...], size: int, channels: int) -> torch.Tensor:
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(files), size, size, channels), dtype=np.uint8)
    with warnings.catch_warnings():  # PIL only warns between its own pixel limit and twice it: an error here too
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for i, (path, _, _) in enumerate(files):
            try:
                with Image.open(path) as im:
                    w, h = im.size  # read from the header: nothing is decoded yet
                    if w * h > MAX_IMAGE_PIXELS:
                        raise UserError(
                            f"image {path} is {w}×{h} px ({w * h / 1e6:.0f} Mpx), above the image_folder limit of "
                            f"{MAX_IMAGE_PIXELS / 1e6:.0f} Mpx; downscale it first"
                        )
                    im = ImageOps.exif_transpose(im)
                    im = im.convert(mode)
                    w, h = im.size
                    s = min(w, h)  # center-crop to square, then resize
                    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
                    im = im.crop(box).resize((size, size), Image.Resampling.BICUBIC)
                    out[i] = np.asarray(im, dtype=np.uint8).reshape(size, size, channels)
            except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
                raise UserError(
                    f"image {path} is above the image_folder limit of {MAX_IMAGE_PIXELS / 1e6:.0f} Mpx "
                    f"({str(e).rstrip('.')}); downscale it first"
                ) from None
            except (OSError, UnidentifiedImageError, ValueError) as e:
                raise UserError(f"unreadable or corrupt image file {path}: {e}") from None
    x = torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return x.contiguous()


def _say_conversions(files: Sequence[Path], cfg: DataCfg) -> None:
    """Warn when the folder's images are converted: colour dropped or added, or resized — with the settings that
    keep them as they are (``data.channels``, ``data.image_size``). Reads image headers only."""
    colour, sizes = 0, []
    with warnings.catch_warnings():  # a decompression bomb is refused when the folder is decoded, not here
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for path in files:
            try:
                with Image.open(path) as im:
                    colour += im.mode not in ("L", "1", "I", "I;16", "F", "LA", "P") or (
                        im.mode == "P" and "RGB" in str(im.palette.mode if im.palette else "")
                    )
                    sizes.append(min(im.size))
            except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
                continue  # reported when the folder is decoded
    if not sizes:
        return
    size = sorted(sizes)[len(sizes) // 2]
    changes = []
    if colour and cfg.channels == 1:
        changes.append(f"{colour} colour image(s) converted to grayscale (data.channels=3 keeps colour)")
    if not colour and cfg.channels == 3:
        changes.append("grayscale images repeated into 3 channels (data.channels=1 keeps them single-channel)")
    if size != cfg.image_size:
        changes.append(
            f"images of {size} px (median short side) center-cropped and resized to {cfg.image_size} px "
            f"(data.image_size={size} keeps their size)"
        )
    if changes:
        logger.warning("image_folder %s: %s", cfg.data_dir, "; ".join(changes))


@DATASETS.register("image_folder")
def load_image_folder(cfg: DataCfg, split: str) -> ImageDataset:
    """Every PNG/JPEG/BMP/WebP under ``cfg.data_dir`` (recursive), center-cropped and resized to a square.

    A file larger than :data:`MAX_IMAGE_PIXELS` (50 Mpx) is refused before it is decoded (UserError naming it).

    Labels are the sorted names of the top-level sub-directories when every image lies in one; otherwise the data is
    unlabeled. Split: a fixed seed-0 permutation, 90 % train / 10 % test (fewer than 10 images: test = train).
    """
    check_split(split)
    if cfg.data_dir is None:
        raise UserError("dataset 'image_folder' needs a directory: pass --data-dir (data.data_dir)")
    root = Path(cfg.data_dir)
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist or is not a directory")
    if cfg.channels not in (1, 3):
        raise UserError(f"channels must be 1 or 3, got {cfg.channels}")
    files = _list_images(root)
    if not files:
        raise UserError(f"no images found under {root} (searched recursively for {', '.join(IMAGE_EXTENSIONS)})")

    tops = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else None for p in files]
    labels: torch.Tensor | None = None
    class_names: tuple[str, ...] = ()
    if all(t is not None for t in tops):
        class_names = tuple(sorted(set(tops)))  # type: ignore[arg-type]
        lookup = {c: i for i, c in enumerate(class_names)}
        labels = torch.tensor([lookup[t] for t in tops], dtype=torch.int64)
    elif any(t is not None for t in tops):
        logger.warning("%s mixes images in sub-directories and at the top level; treating it as unlabeled", root)

    keys = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    if split == "train":  # said once per run, for the split it trains on
        _say_conversions(files, cfg)
    images = _decode_folder(keys, cfg.image_size, cfg.channels)
    n = len(files)
    if n < 10:
        logger.warning("image folder %s has only %d images; using all of them for both train and test", root, n)
        sel = np.arange(n)
    else:
        sel = seeded_split(n, split, 0.9)
    idx = torch.as_tensor(sel)
    return ImageDataset(
        images[idx], None if labels is None else labels[idx], "image_folder", split, len(class_names), class_names
    )
