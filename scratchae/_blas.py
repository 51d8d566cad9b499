"""One BLAS thread while training on small batches.

A training step at batch 32 is a dozen small matrix products (32 x 784 by 784 x 128, ...).
Splitting each over several threads costs more than it saves, and on a busy machine
OpenBLAS's waiting threads make it far worse: on these 2-core machines, 1,000 such products
took 9.4 s with the default threads against 0.18 s with one while other work ran. `fit`
therefore runs with one BLAS thread and puts the previous setting back afterwards.

NumPy has no public call for this, so we look for the OpenBLAS that NumPy's wheels bundle and
call its own `set_num_threads` through ctypes. If the user chose a count themselves
(OPENBLAS_NUM_THREADS or OMP_NUM_THREADS in the environment), or NumPy uses another BLAS,
nothing is changed.

SCRATCHAE_BLAS_THREADS overrides the policy for machines we could not measure: a number N
trains with N BLAS threads, "default" leaves NumPy's own setting alone. It is read each time
training starts, so a script may set it in `os.environ`.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from typing import Iterator

_SYMBOLS = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
            ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
            ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
            ("openblas_set_num_threads", "openblas_get_num_threads"))
_controls: tuple | None = None
_searched = False


def _find_controls() -> tuple | None:
    """(set, get) functions of NumPy's bundled OpenBLAS, or None."""
    global _controls, _searched
    if _searched:
        return _controls
    _searched = True
    import numpy as np

    site = os.path.dirname(os.path.dirname(np.__file__))
    for path in glob.glob(os.path.join(site, "numpy.libs", "*openblas*")) + \
            glob.glob(os.path.join(site, "numpy", ".dylibs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                getter.restype = ctypes.c_int
                _controls = (setter, getter)
                return _controls
    return None


def training_threads() -> int | None:
    """The BLAS threads training uses: 1, or SCRATCHAE_BLAS_THREADS's number; None for "default"
    (NumPy's own setting, untouched). ValueError for anything else in that variable."""
    value = os.environ.get("SCRATCHAE_BLAS_THREADS", "").strip()
    if not value:
        return 1
    if value.lower() == "default":
        return None
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise ValueError(f"SCRATCHAE_BLAS_THREADS must be a number of threads >= 1 or 'default', "
                     f"got {value!r}")


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the block with training's BLAS threads (one, unless SCRATCHAE_BLAS_THREADS says
    otherwise), then restore the previous count."""
    threads = training_threads()
    if threads is None or any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
        yield
        return
    controls = _find_controls()
    if controls is None:
        yield
        return
    setter, getter = controls
    before = int(getter())
    setter(threads)
    try:
        yield
    finally:
        setter(before)
