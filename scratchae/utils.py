"""Randomness in one place: the library-wide `numpy.random.Generator` and Keras's seeding call.

    >>> from scratchae.utils import set_random_seed
    >>> set_random_seed(0)

Everything random (weight initialisation, shuffling, noise) takes a `seed` (an int or a
Generator). Without one it draws from the library generator below, which
`set_random_seed(seed)` resets, so one call at the top of a script makes a whole run
reproducible bit for bit. (Large models may train with two BLAS threads when timing shows
they pay, which changes the order of some additions: set SCRATCHAE_BLAS_THREADS=1 for bit
for bit there too; see `scratchae._blas`.)
"""
from __future__ import annotations

import numpy as np

from ._validate import int_at_least

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Reset the library generator (Keras's `keras.utils.set_random_seed`)."""
    global _rng
    _rng = np.random.default_rng(int_at_least("seed", seed, 0, "a non-negative integer"))


def global_rng() -> np.random.Generator:
    """The library generator used when no seed is given."""
    return _rng


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from an int seed, a Generator (used as is) or None (the library generator)."""
    if seed is None:
        return _rng
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(int_at_least("seed", seed, 0,
                                              "a non-negative integer, a numpy Generator or None"))
