"""Small argument checks shared by every public entry point (one place, one wording)."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np



def positive_int(name: str, value: object) -> int:
    """`value` as an int >= 1, else a TypeError/ValueError naming `name`."""
    return int_at_least(name, value, 1, "a positive integer")


def int_at_least(name: str, value: object, minimum: int, expected: str) -> int:
    """`value` as an int >= minimum: TypeError if it is no integer (bools are not), ValueError
    if smaller; the message reads "{name} must be {expected}, got ..."."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def finite_float(name: str, value: object, *, minimum: float | None = None,
                 strictly_positive: bool = False, maximum: float | None = None) -> float:
    """`value` as a finite Python float within bounds, else a clear error naming `name`.

    Returning a Python float (not a NumPy float64 scalar) matters: under NumPy 2's rules a
    float64 scalar times a float32 array is float64, a Python float is not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if strictly_positive and v <= 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def as_matrix(a: Any, name: str, width: int | None, dtype: np.dtype) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        if isinstance(a, (list, tuple)):
            a = array_from_list(a, name)
        else:
            raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        raise TypeError(
            f"{name} has integer dtype {a.dtype}: scale images to floats in [0, 1] first, "
            f"e.g. {name} = {name}.astype('float32') / 255.0"
        )
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must hold floats, got dtype {a.dtype}")
    if a.ndim != 2:
        hint = f" (flatten images: {name}.reshape(len({name}), -1))" if a.ndim == 3 else ""
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {a.shape}{hint}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if width is not None and a.shape[1] != width:
        raise ValueError(f"{name} must have {width} features per sample, got shape {a.shape}")
    if not all_finite(a):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s)")
    return a if a.dtype == dtype else a.astype(dtype)


def array_from_list(a: list | tuple, name: str) -> np.ndarray:
    """A nested list as an array; rows of different lengths are a ValueError naming `name`."""
    try:
        return np.asarray(a)
    except ValueError:
        raise ValueError(f"{name} must be a rectangular array (every row the same length); got a "
                         f"ragged {type(a).__name__} whose rows differ in length, e.g. "
                         f"{_lengths(a)}") from None


def _lengths(a: list | tuple) -> str:
    lengths = [len(r) if isinstance(r, (list, tuple, np.ndarray)) else "a number" for r in a[:4]]
    return ", ".join(str(k) for k in lengths) + (", ..." if len(a) > 4 else "")


def all_finite(a: np.ndarray, rows: int = 4096) -> bool:
    """np.isfinite(a).all(), a block of rows at a time: no temporary the size of the dataset."""
    return all(np.isfinite(a[i:i + rows]).all() for i in range(0, len(a), rows))
