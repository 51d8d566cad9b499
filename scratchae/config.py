"""Global settings, with Keras's names: the default float type and the clip epsilon.

    >>> from scratchae import config
    >>> config.floatx()
    'float32'

Training runs in float32 (fast, and what Keras does); gradient checks run in float64
(`scratchae.gradcheck` converts on its own). `set_floatx` changes the default for layers
built afterwards; a layer's own `dtype=` argument always wins.
"""
from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_ALLOWED = ("float32", "float64")

#: Keras's fuzz factor: probabilities are clipped to [EPSILON, 1 - EPSILON] before a log.
EPSILON = 1e-7


def floatx() -> str:
    """The default float type of new layers, as a string ('float32' or 'float64')."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type of layers created from now on ('float32' or 'float64')."""
    global _FLOATX
    _FLOATX = standardize_dtype(value).name


def epsilon() -> float:
    """The clip epsilon used by the losses (1e-7, as in Keras)."""
    return EPSILON


def standardize_dtype(dtype: object) -> np.dtype:
    """Turn 'float32', np.float64, ... into a NumPy float dtype; reject anything else.

    Raises TypeError for a non-float type (int images, say) and for names NumPy does not know.
    """
    if dtype is None:
        return np.dtype(_FLOATX)
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be one of {_ALLOWED}, got {dtype!r}") from exc
    if dt.name not in _ALLOWED:
        raise TypeError(f"dtype must be one of {_ALLOWED}, got {dt.name!r}")
    return dt
