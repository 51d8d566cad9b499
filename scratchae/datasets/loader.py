"""From raw uint8 images to what the models train on, and one entry point for the CLI.

``to_vectors`` is the article's preprocessing: ``x.astype('float32') / 255.`` flattened to
784 columns.  ``add_gaussian_noise`` is its denoising recipe, ``clip(x + 0.4 * N(0, 1), 0, 1)``.
``load(name)`` returns a ready-to-train ``Dataset`` together with a sentence saying what was
loaded and why, so a run never silently trains on less data than the user thinks.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils import as_rng
from . import fashion_mnist, mnist
from ._download import CacheError
from ._source import Arrays, Source

__all__ = ["Dataset", "DATASET_NAMES", "AUTO_TIMEOUT", "AUTO_DEADLINE", "to_vectors", "add_gaussian_noise", "load"]

DATASET_NAMES: tuple[str, ...] = ("auto", "mnist", "mnist-5k", "fashion-mnist")
AUTO_TIMEOUT = 3.0  # seconds for each connect and read when "auto" probes the network
#: Seconds "auto" gives the whole download (every file, every mirror) before it falls back to
#: the bundled subset: it returns within AUTO_DEADLINE + AUTO_TIMEOUT (a read in progress ends
#: within its timeout) however slowly the mirrors answer.
AUTO_DEADLINE = 30.0


def to_vectors(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images to float32 row vectors in [0, 1]: shape (N, 784).

    Accepts (N, 28, 28) or (N, 784) uint8 arrays with N >= 1.  Computes ``x / 255`` in
    float32 (never float64).  Float input raises ``TypeError``: it may already be scaled, and
    dividing again would silently darken every image.
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"to_vectors expects a NumPy uint8 array; got {type(images).__name__}")
    if images.dtype != np.uint8:
        hint = (
            " (floats may already be scaled to [0, 1]; use them as they are)"
            if images.dtype.kind == "f"
            else " (convert with .astype(np.uint8) if the values are 0-255)"
        )
        raise TypeError(f"to_vectors expects uint8 pixel values 0-255; got {images.dtype}{hint}")
    if images.ndim == 3 and images.shape[1:] == (28, 28):
        pass
    elif images.ndim == 2 and images.shape[1] == 784:
        pass
    else:
        raise ValueError(
            f"to_vectors expects images of shape (N, 28, 28) or (N, 784); got {images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError("to_vectors got an empty array (N = 0); expected at least one image")
    return images.reshape(images.shape[0], 784).astype(np.float32) / np.float32(255.0)


def add_gaussian_noise(
    x: np.ndarray,
    noise_factor: float = 0.4,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Return ``clip(x + noise_factor * N(0, 1), 0, 1)`` as a new float32 array.

    ``x`` must be a non-empty float array with finite values in [0, 1] (scale uint8 images
    with ``to_vectors`` first); it is not modified.  ``seed`` is an int, a
    ``numpy.random.Generator`` (advanced in place) or ``None`` (the library generator of
    ``scratchae.utils``, so ``set_random_seed`` makes the noise reproducible too).  The noise is
    drawn in float32: the same seed and shape always give the same bits.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"add_gaussian_noise expects a NumPy float array; got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"add_gaussian_noise expects float values in [0, 1]; got dtype {x.dtype} "
            "(scale uint8 images with to_vectors first)"
        )
    if x.size == 0:
        raise ValueError(f"add_gaussian_noise got an empty array of shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("add_gaussian_noise expects finite values; found NaN or inf in x")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"add_gaussian_noise expects values in [0, 1]; found range [{lo}, {hi}]")
    if isinstance(noise_factor, bool) or not isinstance(noise_factor, numbers.Real):
        raise TypeError(f"noise_factor must be a real number; got {type(noise_factor).__name__}")
    if not np.isfinite(noise_factor) or noise_factor < 0:
        raise ValueError(f"noise_factor must be finite and >= 0; got {noise_factor}")
    noise = as_rng(seed).standard_normal(size=x.shape, dtype=np.float32)
    noise *= np.float32(noise_factor)
    noise += x.astype(np.float32, copy=False)
    return np.clip(noise, np.float32(0.0), np.float32(1.0), out=noise)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training-ready data: float32 (N, 784) images in [0, 1] and uint8 labels 0-9."""

    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    name: str
    description: str


def _counts(arrays: Arrays) -> str:
    (x_train, _), (x_test, _) = arrays
    return f"{len(x_train):,} train / {len(x_test):,} test"


def _where(source: Source) -> str:
    if source.kind == "download":
        return f"downloaded to cache {source.location}"
    return f"from {source.kind} {source.location}"


def _make(arrays: Arrays, name: str, description: str) -> Dataset:
    (x_train, y_train), (x_test, y_test) = arrays
    return Dataset(
        x_train=to_vectors(x_train), y_train=y_train,
        x_test=to_vectors(x_test), y_test=y_test,
        name=name, description=description,
    )


def _short(exc: BaseException) -> str:
    """A one-line reason for a failed load."""
    summary = getattr(exc, "summary", None)
    if isinstance(summary, str):
        return summary
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _subset(reason: str = "") -> Dataset:
    arrays = mnist.load_subset()
    text = f"bundled MNIST subset ({_counts(arrays)})"
    return _make(arrays, "mnist-5k", text + (f": {reason}" if reason else ""))


def load(name: str = "auto", *, timeout: float | None = None, deadline: float | None = None,
         clock: Callable[[], float] = time.monotonic) -> Dataset:
    """Load a dataset by name for training: ``"auto"``, ``"mnist"``, ``"mnist-5k"``,
    ``"fashion-mnist"``, or a path to a folder of the four IDX files.

    ``"auto"`` uses full MNIST when it is cached (or in ``$SCRATCHAE_DATA``) or can be
    downloaded within ``AUTO_DEADLINE`` seconds in all (``AUTO_TIMEOUT`` for each connect and
    read), and otherwise the bundled subset, saying why in ``description``: it returns within
    ``AUTO_DEADLINE + AUTO_TIMEOUT`` seconds whatever the mirrors do.  The other names fail
    loudly instead of falling back.  ``timeout`` and ``deadline`` replace those limits
    (``deadline`` defaults to none but each mirror's own for the other names); ``clock`` is
    the time source of the deadlines (tests give their own).  Mirrors: see
    ``mnist.MIRRORS_VARIABLE`` and ``fashion_mnist.MIRRORS_VARIABLE``.
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"dataset name must be a string; got {type(name).__name__}")
    key = os.fspath(name)
    lowered = key.strip().lower()
    kwargs: dict = {"deadline": deadline, "clock": clock}
    if timeout is not None:
        kwargs["timeout"] = timeout

    if lowered == "mnist-5k":
        return _subset("shipped inside scratchae, no download needed")
    if lowered == "mnist":
        arrays, source = mnist._load_full(**kwargs)
        return _make(arrays, "mnist", f"full MNIST {_where(source)} ({_counts(arrays)})")
    if lowered == "fashion-mnist":
        arrays, source = fashion_mnist._load_full(**kwargs)
        return _make(
            arrays, "fashion-mnist", f"Fashion-MNIST {_where(source)} ({_counts(arrays)})"
        )
    if lowered == "auto":
        try:
            arrays, source = mnist._load_full(
                timeout=AUTO_TIMEOUT if timeout is None else timeout,
                deadline=AUTO_DEADLINE if deadline is None else deadline, clock=clock)
        except OSError as exc:  # DownloadError, or CacheError: a cache folder it cannot use
            why = ("could not be cached" if isinstance(exc, CacheError)
                   else "is not cached and could not be downloaded")
            return _subset(f"full MNIST {why}: {_short(exc)}")
        return _make(arrays, "mnist", f"full MNIST {_where(source)} ({_counts(arrays)})")

    folder = Path(key).expanduser()
    if folder.is_dir():
        arrays, source = mnist._load_full(folder)
        return _make(arrays, str(folder), f"IDX files from folder {folder} ({_counts(arrays)})")
    accepted = ", ".join(repr(n) for n in DATASET_NAMES)
    raise ValueError(
        f"unknown dataset {key!r}: expected one of {accepted} or a path to a folder of IDX files "
        "(no such folder)"
    )
