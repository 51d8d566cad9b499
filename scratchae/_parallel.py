"""One elementwise update split over two threads: Adam's, on large models.

NumPy runs an elementwise operation on one core, but lets go of Python's lock while it runs,
so two Python threads can each run the same operations on one half of the arrays at once.
Elementwise, each element's result does not depend on how the arrays are cut: the halves
give the same bits as the whole.

Training decides how many threads may work (`workers`), from the BLAS policy's current choice
(`scratchae._blas`): timed on the steps, so a busy machine gets one and nothing is split.
Below MIN_SIZE elements handing half to the other thread costs more than it saves. Measured
on these 2-core machines, Adam's ten passes with the caches emptied by the matrix products
before them, as in training: 836,000 float32 parameters (hidden 512) 1.72 ms whole, 1.24-1.34 ms
in halves; 210,000 (hidden 128): no gain.
"""
from __future__ import annotations

import concurrent.futures
from typing import Callable

import numpy as np

MIN_SIZE = 400_000
workers = 1                       # set by training (scratchae._blas.Threads); 1 outside it
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def run(step: Callable[..., None], *arrays: np.ndarray) -> None:
    """step(*arrays), where `step` updates its arrays elementwise in place; with two workers
    and at least MIN_SIZE elements, step on the first halves here and on the second halves
    in the other thread at the same time. The caller's np.errstate holds in both."""
    size = arrays[0].size
    if workers < 2 or size < MIN_SIZE or not all(a.flags.c_contiguous for a in arrays):
        step(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]             # views: the arrays are contiguous
    half = size // 2
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scratchae-elementwise")
    other = _pool.submit(_with_errstate, np.geterr(), step, *(a[half:] for a in flat))
    try:
        step(*(a[:half] for a in flat))
    finally:
        concurrent.futures.wait([other])              # never leave it writing (Ctrl-C here)
    other.result()                                    # its exception, if it raised one


def _with_errstate(errstate: dict, step: Callable[..., None], *arrays: np.ndarray) -> None:
    with np.errstate(**errstate):
        step(*arrays)
