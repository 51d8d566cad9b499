"""Finding the four IDX files of an MNIST-style dataset and reading them as train/test arrays.

MNIST and Fashion-MNIST share one layout: training images and labels, test images and labels,
each an IDX file.  A folder may hold them gzipped or not (``train-images-idx3-ubyte`` or
``train-images-idx3-ubyte.gz``), and some copies use a dot instead of the second hyphen
(``train-images.idx3-ubyte``); all four spellings are accepted.

Files from a user's folder are checked by structure only (magic numbers, 28x28 images, as many
labels as images, labels 0-9), because repackaged copies (Debian's, for one) hold the same
arrays in different gzip bytes.  Downloaded files are checked by SHA-256 first (see
``_download``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _download
from .idx import read_idx

# role -> (prefix, kind, idx dimension digit)
_ROLES = {
    "x_train": ("train", "images", 3),
    "y_train": ("train", "labels", 1),
    "x_test": ("t10k", "images", 3),
    "y_test": ("t10k", "labels", 1),
}
FILENAMES: dict[str, str] = {
    role: f"{prefix}-{kind}-idx{dim}-ubyte.gz" for role, (prefix, kind, dim) in _ROLES.items()
}

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _candidates(role: str) -> list[str]:
    prefix, kind, dim = _ROLES[role]
    names = []
    for sep in ("-", "."):
        base = f"{prefix}-{kind}{sep}idx{dim}-ubyte"
        names += [base + ".gz", base]
    return names


def find_idx_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Locate the four IDX files in ``folder``; ``ValueError`` says which are missing."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{folder}: expected a folder holding the four IDX files; no such folder")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role in _ROLES:
        for name in _candidates(role):
            candidate = folder / name
            if candidate.exists() and not candidate.is_dir():   # a FIFO or device: read_idx says so
                found[role] = folder / name
                break
        else:
            missing.append(" or ".join(_candidates(role)[:2]))
    if missing:
        present = sorted(p.name for p in folder.iterdir())[:12]
        raise ValueError(
            f"{folder}: missing IDX file(s): {'; '.join(missing)} "
            f"(found: {', '.join(present) if present else 'nothing'})"
        )
    return found


def _check_pair(images: np.ndarray, labels: np.ndarray, img_path: Path, lab_path: Path) -> None:
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{img_path}: expected 28x28 images; found shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{img_path} holds {len(images)} images but {lab_path} holds {len(labels)} labels; "
            "expected the same count"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{lab_path}: expected labels 0-9; found {int(labels.max())}")


def read_idx_folder(paths: Mapping[str, Path]) -> Arrays:
    """Read and structure-check the four files named by ``paths`` (role -> file)."""
    arrays = {
        role: read_idx(paths[role], expect=_ROLES[role][1]) for role in _ROLES
    }
    _check_pair(arrays["x_train"], arrays["y_train"], paths["x_train"], paths["y_train"])
    _check_pair(arrays["x_test"], arrays["y_test"], paths["x_test"], paths["y_test"])
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


@dataclass(frozen=True)
class Source:
    """Where a dataset's arrays came from, for messages: ``kind`` is folder/cache/download."""

    kind: str
    location: Path


def _seconds(name: str, value: object) -> float:
    valid = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (valid and 0 < value < float("inf")):
        raise ValueError(f"{name} must be a positive number of seconds; got {value!r}")
    return float(value)


def load_idx_dataset(
    name: str,
    *,
    path: str | os.PathLike | None,
    hashes: Mapping[str, str],
    sizes: Mapping[str, int],
    mirrors: Sequence[str],
    timeout: float,
    offline_hint: str,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    system_folders: Sequence[str | os.PathLike] = (),
    cache_dir: str | os.PathLike | None = None,
) -> tuple[Arrays, Source]:
    """Load an MNIST-style dataset from ``path``, the cache, a system folder, or the mirrors.

    ``hashes`` and ``sizes`` map the four standard ``.gz`` file names to their SHA-256 and
    size in bytes.  Order of search: ``path`` if given (structure checks only); the cache
    ``<cache_dir>/<name>`` if all four files are there (each re-hashed); the first of
    ``system_folders`` that holds all four; else download the missing or corrupt files into
    the cache, within ``deadline`` seconds in all when given (on ``clock``; see
    ``_download.fetch`` for the limits of each mirror).
    """
    _seconds("timeout", timeout)
    if deadline is not None:
        _seconds("deadline", deadline)
    missing = [fn for fn in FILENAMES.values() if fn not in hashes or fn not in sizes]
    if missing:
        raise ValueError(f"hashes and sizes must name every file; missing {missing}")
    if path is not None:
        folder = Path(path).expanduser()
        return read_idx_folder(find_idx_files(folder)), Source("folder", folder)

    def from_system() -> tuple[Arrays, Source] | None:
        for folder in system_folders:
            try:
                files = find_idx_files(folder)
            except ValueError:
                continue
            return read_idx_folder(files), Source("folder", Path(folder))
        return None

    cache = Path(cache_dir) if cache_dir is not None else _download.cache_root() / name
    cached_all = all((cache / fn).is_file() for fn in FILENAMES.values())
    if not cached_all and (found := from_system()) is not None:
        return found

    ordered = {FILENAMES[role]: hashes[FILENAMES[role]] for role in _ROLES}
    overall = None
    if deadline is not None:
        overall = _download.Deadline(deadline, f"the whole load has {deadline:g} s", clock)
    try:
        paths, downloaded = _download.ensure_files(
            ordered, cache, mirrors, sizes=sizes, timeout=timeout, deadline=overall, clock=clock,
            what=name, offline_hint=offline_hint,
        )
    except _download.DownloadError:
        # A corrupt cache with no network: a system copy is still better than failing.
        if cached_all and (found := from_system()) is not None:
            return found
        raise
    arrays = read_idx_folder({role: paths[FILENAMES[role]] for role in _ROLES})
    return arrays, Source("download" if downloaded else "cache", cache)
