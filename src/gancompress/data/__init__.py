"""Datasets (``digits``, ``fashion_mnist``, ``image_folder``, ``fake``) and the endless training loader.

Example:
    >>> from gancompress.config import DataCfg
    >>> from gancompress.data import InfiniteLoader, load_dataset
    >>> loader = InfiniteLoader(load_dataset(DataCfg(name="fake", image_size=16)), batch_size=8)
    >>> next(loader)["real"].shape
    torch.Size([8, 1, 16, 16])
"""

from gancompress.data import fake as _fake  # noqa: F401  (registers the "fake" dataset)
from gancompress.data import image_folder as _image_folder  # noqa: F401  (registers "image_folder")
from gancompress.data import paired as _paired  # noqa: F401  (registers the "<base>_edges" datasets)
from gancompress.data import photo_tiles as _photo_tiles  # noqa: F401  (registers "photo_tiles")
from gancompress.data import unpaired as _unpaired  # noqa: F401  (registers the "<base>_unpaired" datasets)
from gancompress.data.datasets import DATASETS, ImageDataset, fashion_mnist_available, load_dataset, read_idx
from gancompress.data.loader import InfiniteLoader

__all__ = ["DATASETS", "ImageDataset", "InfiniteLoader", "fashion_mnist_available", "load_dataset", "read_idx"]
