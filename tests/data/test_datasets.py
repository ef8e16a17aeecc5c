"""gancompress.data: datasets, IDX parsing, image folders, the infinite loader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gancompress.config import DataCfg
from gancompress.data import DATASETS, ImageDataset, InfiniteLoader, fashion_mnist_available, load_dataset, read_idx
from gancompress.errors import UserError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# ------------------------------------------------------------------------------------------------------- helpers


def write_idx(path: Path, arr: np.ndarray, *, compress: bool) -> Path:
    """Write ``arr`` (uint8) as an IDX file, gzip-compressed if ``compress``."""
    header = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    raw = header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def write_fake_mnist(directory: Path, *, compress: bool, n_train: int = 30, n_test: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(directory / (name + (".gz" if compress else "")), arr, compress=compress)
    return arrays


def save_image(path: Path, size: tuple[int, int] = (20, 14), value: int = 128, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = value if mode == "L" else (value, 255 - value, 0)
    Image.new(mode, size, fill).save(path)


def toy_dataset(n: int, labeled: bool = True) -> ImageDataset:
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous() / n
    labels = torch.arange(n) % 3 if labeled else None
    return ImageDataset(images, labels, "toy", "train", 3 if labeled else 0, ("a", "b", "c") if labeled else ())


# --------------------------------------------------------------------------------------- registry / ImageDataset


def test_registry_has_all_datasets():
    assert {"digits", "fashion_mnist", "image_folder", "fake"} <= set(DATASETS.names())
    with pytest.raises(UserError, match="valid values"):
        load_dataset(DataCfg(name="digitz"))


def test_unknown_split_rejected():
    with pytest.raises(UserError, match="split"):
        load_dataset(DataCfg(name="digits"), "validation")


def test_image_dataset_subset_and_fingerprint():
    ds = toy_dataset(6)
    sub = ds.subset([4, 1])
    assert len(sub) == 2 and sub.labels.tolist() == [1, 1] and sub.class_names == ds.class_names
    assert torch.equal(sub.images[0], ds.images[4])
    fp = ds.fingerprint
    assert len(fp) == 16 and all(c in "0123456789abcdef" for c in fp)
    assert toy_dataset(6).fingerprint == fp
    assert sub.fingerprint != fp
    other_split = ImageDataset(ds.images, ds.labels, "toy", "test", 3, ds.class_names)
    assert other_split.fingerprint != fp


# -------------------------------------------------------------------------------------------------------- digits


def test_digits_shapes_range_labels():
    train = load_dataset(DataCfg(name="digits"), "train")
    test = load_dataset(DataCfg(name="digits"), "test")
    assert train.images.shape[1:] == (1, 32, 32) and train.images.dtype == torch.float32
    assert len(train) + len(test) == 1797
    assert abs(len(train) / 1797 - 0.8) < 0.01
    for ds in (train, test):
        assert ds.images.min() >= -1 and ds.images.max() <= 1
        assert ds.labels.dtype == torch.int64 and set(ds.labels.tolist()) == set(range(10))
        assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    raw = load_dataset(DataCfg(name="digits", image_size=8), "train")
    assert raw.images.min() == -1 and raw.images.max() == 1


def test_digits_deterministic_and_disjoint():
    from sklearn.datasets import load_digits

    a = load_dataset(DataCfg(name="digits", image_size=8), "train")
    b = load_dataset(DataCfg(name="digits", image_size=8), "train")
    test = load_dataset(DataCfg(name="digits", image_size=8), "test")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and a.fingerprint == b.fingerprint
    assert a.fingerprint != test.fingerprint

    # train and test together are exactly the original 1797 images, each once: a partition
    def rows(x: torch.Tensor) -> list[tuple[float, ...]]:
        return sorted(tuple(r) for r in x.flatten(1).tolist())

    original = torch.from_numpy(load_digits().images / 8.0 - 1.0).float()
    assert rows(torch.cat([a.images, test.images])) == rows(original)


def test_resize_channels_classes_limit():
    ds = load_dataset(DataCfg(name="digits", image_size=16, channels=3, classes=(2, 7), limit=50), "train")
    assert ds.images.shape == (50, 3, 16, 16)
    assert set(ds.labels.tolist()) <= {2, 7} and ds.num_classes == 10
    assert torch.equal(ds.images[:, 0], ds.images[:, 1])
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    again = load_dataset(DataCfg(name="digits", image_size=16, channels=3, classes=(2, 7), limit=50), "train")
    assert torch.equal(ds.images, again.images)
    full = load_dataset(DataCfg(name="digits", image_size=16, channels=3, classes=(2, 7)), "train")
    assert len(full) > 50


def test_rgb_to_gray_is_luminance_mean(monkeypatch):
    from gancompress.data.fake import make_blobs

    x, y = make_blobs(6, 8, 3, seed=0)

    def rgb_toy(cfg: DataCfg, split: str) -> ImageDataset:
        return ImageDataset(x, y, "rgb_toy", split, 10, tuple("0123456789"))

    monkeypatch.setitem(DATASETS._items, "rgb_toy", rgb_toy)
    gray = load_dataset(DataCfg(name="rgb_toy", image_size=8, channels=1), "test")
    assert gray.images.shape == (6, 1, 8, 8)
    assert torch.allclose(gray.images, x.mean(1, keepdim=True))
    rgb = load_dataset(DataCfg(name="rgb_toy", image_size=8, channels=3), "test")
    assert torch.equal(rgb.images, x)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classes": (11,)}, "valid labels"),
        ({"channels": 2}, "channels"),
        ({"limit": 0}, "limit"),
        ({"image_size": 0}, "image_size"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(UserError, match=match):
        load_dataset(DataCfg(name="digits", **kwargs))


# ------------------------------------------------------------------------------------------- IDX / fashion_mnist


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip_and_fashion_load(tmp_path, compress):
    arrays = write_fake_mnist(tmp_path, compress=compress)
    suffix = ".gz" if compress else ""
    got = read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}")
    assert got.dtype == np.uint8 and np.array_equal(got, arrays["train-images-idx3-ubyte"])
    assert np.array_equal(read_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}"), arrays["t10k-labels-idx1-ubyte"])
    assert fashion_mnist_available(tmp_path)

    train = load_dataset(DataCfg(name="fashion_mnist", data_dir=str(tmp_path), image_size=28), "train")
    assert train.images.shape == (30, 1, 28, 28) and train.num_classes == 10
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    assert torch.allclose(train.images, expected, atol=1e-6)
    assert train.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    test = load_dataset(DataCfg(name="fashion_mnist", data_dir=str(tmp_path)), "test")
    assert test.images.shape == (12, 1, 32, 32)


def _idx_bytes(arr: np.ndarray, dtype_byte: int = 0x08, magic_ndim: int | None = None) -> bytes:
    ndim = arr.ndim if magic_ndim is None else magic_ndim
    return bytes([0, 0, dtype_byte, ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes() + arr.tobytes()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-5],  # truncated payload
        lambda b: b + b"\x00",  # trailing garbage
        lambda b: b"\x01\x02" + b[2:],  # bad magic
        lambda b: b[:2] + b"\x07" + b[3:],  # unknown dtype
        lambda b: b[:6],  # truncated header
        lambda b: b"\x00\x00",  # too short
        lambda b: gzip.compress(b)[:-10],  # truncated gzip
    ],
)
def test_corrupt_idx(tmp_path, mutate):
    good = _idx_bytes(np.zeros((3, 4, 4), dtype=np.uint8))
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(mutate(good))
    with pytest.raises(UserError, match="corrupt IDX file"):
        read_idx(path)


def test_corrupt_idx_in_dataset(tmp_path):
    write_fake_mnist(tmp_path, compress=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    with pytest.raises(UserError, match="corrupt"):
        load_dataset(DataCfg(name="fashion_mnist", data_dir=str(tmp_path)), "train")


def test_idx_images_labels_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path, compress=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(7, dtype=np.uint8), compress=False)
    with pytest.raises(UserError, match="labels"):
        load_dataset(DataCfg(name="fashion_mnist", data_dir=str(tmp_path)), "train")


def test_idx_rewritten_file_is_reread(tmp_path):
    path = write_idx(tmp_path / "a-idx1-ubyte", np.arange(5, dtype=np.uint8), compress=False)
    assert read_idx(path).tolist() == [0, 1, 2, 3, 4]
    write_idx(path, np.arange(3, dtype=np.uint8), compress=False)
    assert read_idx(path).tolist() == [0, 1, 2]


def test_fashion_missing_dir(tmp_path):
    missing = tmp_path / "nope"
    assert not fashion_mnist_available(missing)
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist") as e:
        load_dataset(DataCfg(name="fashion_mnist", data_dir=str(missing)))
    assert str(missing) in str(e.value) and "train-images-idx3-ubyte" in str(e.value) and "--data-dir" in str(e.value)


@pytest.mark.needs_fashion_mnist
def test_real_fashion_mnist():
    if not fashion_mnist_available(FASHION_DIR):
        pytest.skip(f"Fashion-MNIST not installed at {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
    test = load_dataset(DataCfg(name="fashion_mnist"), "test")
    assert test.images.shape == (10000, 1, 32, 32)
    assert torch.equal(test.labels.bincount(), torch.full((10,), 1000))
    assert test.images.min() >= -1 and test.images.max() <= 1 and test.images.std() > 0.3
    assert load_dataset(DataCfg(name="fashion_mnist"), "test").fingerprint == test.fingerprint
    train = load_dataset(DataCfg(name="fashion_mnist", image_size=28, classes=(0, 9), limit=100), "train")
    assert train.images.shape == (100, 1, 28, 28) and set(train.labels.tolist()) <= {0, 9}


# -------------------------------------------------------------------------------------------------- image_folder


def test_image_folder_with_subdirs(tmp_path):
    for cls, value in (("cats", 10), ("dogs", 200)):
        for i in range(6):
            save_image(tmp_path / cls / f"{i}.png", value=value)
    save_image(tmp_path / "dogs" / "deeper" / "x.jpg", value=200)
    cfg = DataCfg(name="image_folder", data_dir=str(tmp_path), image_size=8, channels=3)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert train.class_names == ("cats", "dogs") and train.num_classes == 2
    assert len(train) + len(test) == 13 and len(test) == 1
    assert train.images.shape[1:] == (3, 8, 8)
    for ds in (train, test):
        for x, y in zip(ds.images, ds.labels, strict=True):
            assert abs(float(x[0].mean()) - ({0: 10, 1: 200}[int(y)] / 127.5 - 1)) < 0.02
    gray = load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path), image_size=8, channels=1), "train")
    assert gray.images.shape[1] == 1


def test_image_folder_flat_unlabeled_center_crop(tmp_path):
    img = Image.new("L", (30, 10), 0)
    img.paste(255, (10, 0, 20, 10))  # bright centre square, dark sides that the crop removes
    img.save(tmp_path / "a.png")
    save_image(tmp_path / "b.bmp", mode="L", value=50)
    ds = load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path), image_size=4), "train")
    assert ds.labels is None and ds.num_classes == 0 and len(ds) == 2  # < 10 images: test = train
    assert ds.images[0].min() > 0.9
    loader = InfiniteLoader(ds, batch_size=2)
    assert "label" not in next(loader)


def test_image_folder_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path / "missing")))
    with pytest.raises(UserError, match=r"no images found.*\.png"):
        load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path)))
    with pytest.raises(UserError, match="data-dir"):
        load_dataset(DataCfg(name="image_folder"))
    save_image(tmp_path / "ok.png")
    (tmp_path / "x.png").write_bytes(b"this is not a png at all")
    with pytest.raises(UserError, match=r"x\.png"):
        load_dataset(DataCfg(name="image_folder", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------------------- fake


def test_fake_deterministic_and_class_dependent():
    a = load_dataset(DataCfg(name="fake", image_size=16), "train")
    b = load_dataset(DataCfg(name="fake", image_size=16), "train")
    test = load_dataset(DataCfg(name="fake", image_size=16), "test")
    assert len(a) == 512 and len(test) == 256 and a.num_classes == 10
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images[:256], test.images)
    assert a.images.min() >= -1 and a.images.max() <= 1
    # class means differ clearly: a nearest-class-mean classifier separates the test split
    means = torch.stack([a.images[a.labels == c].mean(0) for c in range(10)]).flatten(1)
    pred = torch.cdist(test.images.flatten(1), means).argmin(1)
    assert (pred == test.labels).float().mean() > 0.9


# -------------------------------------------------------------------------------------------------------- loader


def _take(loader: InfiniteLoader, n: int) -> list[torch.Tensor]:
    return [loader.next_batch()["index"] for _ in range(n)]


def test_loader_batches_and_reproducible():
    ds = toy_dataset(10)
    loader = InfiniteLoader(ds, batch_size=4, seed=5)
    batch = next(iter(loader))
    assert batch["real"].shape == (4, 1, 2, 2) and batch["label"].shape == (4,)
    assert torch.equal(batch["real"], ds.images[batch["index"]])
    assert torch.equal(batch["label"], ds.labels[batch["index"]])
    a = _take(InfiniteLoader(ds, batch_size=4, seed=5), 7)
    b = _take(InfiniteLoader(ds, batch_size=4, seed=5), 7)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(
        not torch.equal(x, y) for x, y in zip(a, _take(InfiniteLoader(ds, batch_size=4, seed=6), 7), strict=True)
    )
    # drop_last: 2 batches per epoch of 10, each epoch without repeats
    assert len(set(torch.cat(a[:2]).tolist())) == 8 and loader.batches_per_epoch == 2


def test_loader_no_drop_last_covers_epoch():
    loader = InfiniteLoader(toy_dataset(10), batch_size=4, drop_last=False)
    sizes = [len(b) for b in _take(loader, 6)]
    assert sizes == [4, 4, 2, 4, 4, 2]
    loader = InfiniteLoader(toy_dataset(10), batch_size=4, drop_last=False)
    assert sorted(torch.cat(_take(loader, 3)).tolist()) == list(range(10))


def test_loader_resume_identical():
    ds = toy_dataset(10)
    ref = InfiniteLoader(ds, batch_size=3, seed=1)
    _take(ref, 5)
    state = ref.state_dict()
    assert set(state) == {"epoch", "position"}
    expected = _take(ref, 6)
    resumed = InfiniteLoader(ds, batch_size=3, seed=1)
    resumed.load_state_dict(dict(state))
    assert all(torch.equal(x, y) for x, y in zip(expected, _take(resumed, 6), strict=True))
    with pytest.raises(UserError):
        resumed.load_state_dict({"epoch": 0})


@pytest.mark.parametrize("n", [12, 11])
def test_loader_shards_disjoint_and_cover(n):
    ds = toy_dataset(n)
    shards = [InfiniteLoader(ds, batch_size=2, rank=r, world_size=2, seed=3).epoch_indices(0) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == -(-n // 2)
    assert set(shards[0].tolist()) | set(shards[1].tolist()) == set(range(n))
    if n % 2 == 0:
        assert not set(shards[0].tolist()) & set(shards[1].tolist())
    loaders = [InfiniteLoader(ds, batch_size=3, rank=r, world_size=2, seed=3) for r in range(2)]
    epoch = [torch.cat(_take(ld, 2)).tolist() for ld in loaders]
    if n % 2 == 0:
        assert sorted(epoch[0] + epoch[1]) == list(range(n))


def test_loader_too_small_and_bad_args():
    with pytest.raises(UserError, match="too small for batch size"):
        InfiniteLoader(toy_dataset(5), batch_size=8)
    with pytest.raises(UserError, match="too small"):
        InfiniteLoader(toy_dataset(10), batch_size=6, world_size=2, rank=1)
    with pytest.raises(UserError, match="rank"):
        InfiniteLoader(toy_dataset(10), batch_size=2, world_size=2, rank=2)
