"""Datasets: MNIST (full or a bundled 5,000-digit subset), Fashion-MNIST, and the IDX format.

    from scratchae.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()       # Keras-style uint8 arrays

    from scratchae.datasets import load, to_vectors, add_gaussian_noise
    data = load("auto")          # full MNIST if available, else the bundled subset
    print(data.description)      # says which, how many, and why

Modules: ``idx`` (the file format), ``mnist``, ``fashion_mnist``, ``loader`` (scaling, noise,
``load``).  Downloads are cached under ``$SCRATCHAE_HOME`` or the user cache folder and
verified by SHA-256.
"""

from . import fashion_mnist, idx, mnist
from ._download import CacheError, DownloadError, cache_root
from .idx import read_idx, write_idx
from .loader import DATASET_NAMES, Dataset, add_gaussian_noise, load, to_vectors

__all__ = [
    "mnist",
    "fashion_mnist",
    "idx",
    "read_idx",
    "write_idx",
    "to_vectors",
    "add_gaussian_noise",
    "load",
    "Dataset",
    "DATASET_NAMES",
    "DownloadError",
    "CacheError",
    "cache_root",
]
