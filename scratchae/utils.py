"""Randomness in one place: the library-wide `numpy.random.Generator` and Keras's seeding call.

    >>> from scratchae.utils import set_random_seed
    >>> set_random_seed(0)

Everything random (weight initialisation, shuffling, noise) takes a `seed` (an int or a
Generator). Without one it draws from the library generator below, which
`set_random_seed(seed)` resets, so one call at the top of a script makes a whole run
reproducible bit for bit.
"""
from __future__ import annotations

import numbers

import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Reset the library generator (Keras's `keras.utils.set_random_seed`)."""
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _rng = np.random.default_rng(int(seed))


def global_rng() -> np.random.Generator:
    """The library generator used when no seed is given."""
    return _rng


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from an int seed, a Generator (used as is) or None (the library generator)."""
    if seed is None:
        return _rng
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed))
