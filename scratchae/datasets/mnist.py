"""MNIST handwritten digits, loaded the way ``keras.datasets.mnist.load_data`` does.

    from scratchae.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()              # full, 60k / 10k
    (x_train, y_train), (x_test, y_test) = mnist.load_data(subset=True)   # bundled, 4k / 1k

Where the full dataset comes from, in order:

1. ``path=`` or ``$SCRATCHAE_DATA``: a folder holding the four IDX files (gzipped or not);
   checked by structure, not by hash.
2. The cache folder ``<cache root>/mnist`` (``$SCRATCHAE_HOME``, else the platform's user
   cache, e.g. ``~/.cache/scratchae``); every file is re-hashed on each load, and one that
   does not match is moved aside (``<name>.mismatch-<hash>``, never deleted) and fetched again.
3. The mirrors, tried in turn: ``mirrors=`` if given, else ``$SCRATCHAE_MNIST_MIRRORS`` (base
   URLs separated by spaces or commas, e.g. ``https://example.org/mnist/`` or a
   ``file:///srv/mnist/`` folder; each serves the four ``.gz`` files under their usual
   names), else ``MIRRORS``.  A file is kept only if it has ``SIZES`` bytes and the SHA-256
   in ``SHA256``; a mirror is given up when it sends more, when a connect or read takes
   ``timeout`` seconds, or when it takes more than ``timeout + size / 50 kB/s`` for a file
   (a mirror that drips).

The bundled subset is 5,000 real MNIST digits shipped inside the package (see
``data/NOTICE``), split 4,000 / 1,000 with 400 / 100 per class.  It needs no network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources

import numpy as np

from ._download import DEFAULT_TIMEOUT, DownloadError, check_mirrors, mirrors_from
from ._source import Arrays, Source, load_idx_dataset

__all__ = ["MIRRORS", "MIRRORS_VARIABLE", "SHA256", "SIZES", "load_data", "load_subset",
           "DownloadError"]

#: The environment variable that replaces ``MIRRORS``.
MIRRORS_VARIABLE = "SCRATCHAE_MNIST_MIRRORS"

# Base URLs serving the four gzip files under their usual names.  The original site is last
# because it often refuses automated downloads (403/503).
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's copy
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow Datasets' copy
    "http://yann.lecun.com/exdb/mnist/",  # the original
)

# SHA-256 of the gzip files, from TensorFlow Datasets' url_checksums/mnist.txt (the same bytes
# whose MD5 sums torchvision's datasets/mnist.py lists).
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# Sizes in bytes of the same files (as TensorFlow Datasets' checksums list them).
SIZES: dict[str, int] = {
    "train-images-idx3-ubyte.gz": 9912422,
    "train-labels-idx1-ubyte.gz": 28881,
    "t10k-images-idx3-ubyte.gz": 1648877,
    "t10k-labels-idx1-ubyte.gz": 4542,
}

OFFLINE_HINT = (
    "Offline alternatives: mnist.load_data(subset=True) (or `scratchae --dataset mnist-5k`) "
    "for the bundled 4,000/1,000-digit subset; mnist.load_data(path='folder') or "
    "$SCRATCHAE_DATA=folder for a folder holding the four MNIST IDX files; or copy the four "
    "original .gz files into the cache folder yourself (they must match their SHA-256; any "
    "other copy works with path=)."
)

_SUBSET_FILE = "mnist_5k.npz"
_SUBSET_SHAPES = {
    "x_train": (4000, 28, 28),
    "y_train": (4000,),
    "x_test": (1000, 28, 28),
    "y_test": (1000,),
}


def load_subset() -> Arrays:
    """The bundled 5,000-digit subset: ``(x_train, y_train), (x_test, y_test)``, all uint8.

    Shapes (4000, 28, 28), (4000,), (1000, 28, 28), (1000,); 400 training and 100 test
    images per digit, classes interleaved, the same order on every machine.
    """
    ref = resources.files(__package__).joinpath("data").joinpath(_SUBSET_FILE)
    with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in _SUBSET_SHAPES if key in npz.files}
    for key, shape in _SUBSET_SHAPES.items():
        arr = arrays.get(key)
        if arr is None or arr.shape != shape or arr.dtype != np.uint8:
            found = "missing" if arr is None else f"{arr.dtype} {arr.shape}"
            raise ValueError(
                f"bundled {_SUBSET_FILE} is damaged: expected {key} uint8 {shape}; found {found}"
            )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _load_full(
    path: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    hashes: Mapping[str, str] | None = None,
    sizes: Mapping[str, int] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Arrays, Source]:
    """Full MNIST plus where it came from.

    ``mirrors`` defaults to ``$SCRATCHAE_MNIST_MIRRORS``, then ``MIRRORS``; ``hashes`` and
    ``sizes`` to ``SHA256`` and ``SIZES`` (read at call time; give both or neither).
    ``clock`` is the time source of the deadlines (tests give their own).
    """
    if path is None and os.environ.get("SCRATCHAE_DATA"):
        path = os.environ["SCRATCHAE_DATA"]
    if (hashes is None) != (sizes is None):
        raise ValueError("give hashes= and sizes= together (the files they describe), or neither")
    return load_idx_dataset(
        "mnist",
        path=path,
        hashes=SHA256 if hashes is None else hashes,
        sizes=SIZES if sizes is None else sizes,
        mirrors=(mirrors_from(MIRRORS_VARIABLE, MIRRORS) if mirrors is None
                 else check_mirrors(mirrors, "mirrors")),
        timeout=timeout,
        deadline=deadline,
        clock=clock,
        offline_hint=OFFLINE_HINT,
    )


def load_data(
    path: str | os.PathLike | None = None,
    subset: bool = False,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    mirrors: Sequence[str] | None = None,
    deadline: float | None = None,
) -> Arrays:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, uint8 arrays like Keras.

    Parameters
    ----------
    path:
        A folder holding ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
        ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]`` (a dot before
        ``idx`` is also accepted).  Defaults to ``$SCRATCHAE_DATA``, then the cache/download.
    subset:
        ``True`` returns the bundled 4,000/1,000 subset instead (no files, no network).
    timeout:
        Seconds to wait for a mirror to connect or send the next chunk.
    mirrors:
        Base URLs to download from, in order (default: ``$SCRATCHAE_MNIST_MIRRORS``, then
        ``MIRRORS``).
    deadline:
        Seconds the whole download may take (default: no limit but each mirror's own,
        ``timeout + size / 50 kB/s`` per file).

    Returns
    -------
    Images uint8 (60000, 28, 28) and (10000, 28, 28) with values 0-255, labels uint8 (60000,)
    and (10000,) with values 0-9 (for ``subset=True``: 4000 and 1000).

    Raises
    ------
    DownloadError
        (an ``OSError``) when the files are neither cached nor downloadable; the message names
        each mirror's failure and the offline alternatives.
    ValueError
        When a local folder's files are missing or malformed.
    """
    if subset:
        if path is not None:
            raise ValueError("give either subset=True or path=, not both")
        return load_subset()
    arrays, _ = _load_full(path, timeout=timeout, mirrors=mirrors, deadline=deadline)
    return arrays
