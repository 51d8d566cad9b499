"""Fashion-MNIST (Zalando's 28x28 clothing images), loaded like ``keras.datasets.fashion_mnist``.

    from scratchae.datasets import fashion_mnist
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()

Same IDX layout as MNIST (60,000 / 10,000 uint8 images, labels 0-9).  Sources, in order:
``path=`` (a folder of the four IDX files, checked by structure); the cache folder
``<cache root>/fashion-mnist`` (re-hashed on every load); the folder Debian's
``dataset-fashion-mnist`` package installs (``SYSTEM_FOLDERS``; its files are recompressed, so
they are checked by structure, not by these hashes); else download from the mirrors:
``mirrors=`` if given, else ``$SCRATCHAE_FASHION_MNIST_MIRRORS`` (base URLs separated by spaces
or commas), else ``MIRRORS``; each file must have ``SIZES`` bytes and its ``SHA256`` (the same
limits as MNIST's, see ``mnist``).

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
8 Bag, 9 Ankle boot.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence

from ._download import DEFAULT_TIMEOUT, DownloadError, check_mirrors, mirrors_from
from ._source import Arrays, Source, load_idx_dataset

__all__ = ["MIRRORS", "MIRRORS_VARIABLE", "SHA256", "SIZES", "SYSTEM_FOLDERS", "CLASS_NAMES",
           "load_data", "DownloadError"]

#: The environment variable that replaces ``MIRRORS``.
MIRRORS_VARIABLE = "SCRATCHAE_FASHION_MNIST_MIRRORS"

MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando Research's copy
)

# SHA-256 of the gzip files, from TensorFlow Datasets' url_checksums/fashion_mnist.txt.
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

# Sizes in bytes of the same files.
SIZES: dict[str, int] = {
    "train-images-idx3-ubyte.gz": 26421880,
    "train-labels-idx1-ubyte.gz": 29515,
    "t10k-images-idx3-ubyte.gz": 4422102,
    "t10k-labels-idx1-ubyte.gz": 5148,
}

# Where distribution packages put the files (Debian/Ubuntu: `apt install dataset-fashion-mnist`).
SYSTEM_FOLDERS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

OFFLINE_HINT = (
    "Offline alternatives: fashion_mnist.load_data(path='folder') for a folder holding the four "
    "Fashion-MNIST IDX files (on Debian/Ubuntu, `apt install dataset-fashion-mnist` puts them in "
    "/usr/share/datasets/fashion-mnist); or use MNIST's bundled subset with "
    "mnist.load_data(subset=True) / `scratchae --dataset mnist-5k`."
)


def _load_full(
    path: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    hashes: Mapping[str, str] | None = None,
    sizes: Mapping[str, int] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    system_folders: Sequence[str | os.PathLike] | None = None,
) -> tuple[Arrays, Source]:
    """Fashion-MNIST plus where it came from.

    ``mirrors`` defaults to ``$SCRATCHAE_FASHION_MNIST_MIRRORS``, then ``MIRRORS``;
    ``hashes``, ``sizes`` and ``system_folders`` to the module constants (read at call time;
    give hashes and sizes together or neither).
    """
    if (hashes is None) != (sizes is None):
        raise ValueError("give hashes= and sizes= together (the files they describe), or neither")
    return load_idx_dataset(
        "fashion-mnist",
        path=path,
        hashes=SHA256 if hashes is None else hashes,
        sizes=SIZES if sizes is None else sizes,
        mirrors=(mirrors_from(MIRRORS_VARIABLE, MIRRORS) if mirrors is None
                 else check_mirrors(mirrors, "mirrors")),
        timeout=timeout,
        deadline=deadline,
        clock=clock,
        offline_hint=OFFLINE_HINT,
        system_folders=SYSTEM_FOLDERS if system_folders is None else system_folders,
    )


def load_data(
    path: str | os.PathLike | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    mirrors: Sequence[str] | None = None,
    deadline: float | None = None,
) -> Arrays:
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, uint8 arrays.

    ``path`` is a folder of the four IDX files (gzipped or not).  ``timeout``, ``mirrors``
    and ``deadline`` as for ``mnist.load_data`` (the mirrors' variable is
    ``$SCRATCHAE_FASHION_MNIST_MIRRORS``).  Shapes (60000, 28, 28), (60000,), (10000, 28, 28),
    (10000,).  Raises ``DownloadError`` (an ``OSError``) naming each mirror's failure when
    nothing local is found and the download fails, ``ValueError`` for a malformed local folder.
    """
    arrays, _ = _load_full(path, timeout=timeout, mirrors=mirrors, deadline=deadline)
    return arrays
