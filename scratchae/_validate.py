"""Small argument checks shared by every public entry point (one place, one wording)."""
from __future__ import annotations

import math
import numbers



def positive_int(name: str, value: object) -> int:
    """`value` as an int >= 1, else a TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
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
