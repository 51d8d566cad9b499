"""Gradient checking: compare a hand-written backward with central finite differences.

The core, used by the tests of every piece:

    numerical_gradient(f, x, h)   dL/dx by central differences, one element at a time, in float64
    rel_error(a, n)               |a - n| / max(|a| + |n|, tiny), elementwise
    check_piece(piece, x, ...)    worst relative error of dL/dx and of every parameter gradient,
                                  for L = sum(piece.forward(x) * dy) with a random upstream dy

Why a *random* dy and not ones: with dy = 1 every output counts the same, so a gradient that
sums the wrong axis or uses a transposed kernel can still come out right. Random weights tell
the outputs apart.

How small is small (CS231n's bands, float64, h = 1e-5):
    < 1e-7   good
    < 1e-4   acceptable only near a kink (ReLU at 0, |h| at 0)
    > 1e-2   wrong

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> numerical_gradient(lambda: float((x ** 3).sum()), x).round(6)     # 3 x^2
    array([ 3., 12.])
"""
from __future__ import annotations

from typing import Callable

import numpy as np

TINY = 1e-12


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h for every element i of x.

    `f` takes no argument and reads `x`, which is changed in place and restored after each
    element. `x` must be float64: float32 rounding (about 1e-7 relative) divided by a step of
    1e-5 would swamp the comparison.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays (float32 is too coarse), got {x.dtype}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)   # views of x and grad
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = f()
        flat[i] = old - h
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """Elementwise |a - n| / max(|a| + |n|, tiny): 0 when both are 0, at most 1."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), TINY)


def check_piece(piece, x: np.ndarray, *extra: np.ndarray, dy: np.ndarray | None = None,
                seed: int = 0, h: float = 1e-5) -> dict[str, float]:
    """Worst relative error per tensor ('x' and each key of piece.params) of one piece.

    A piece whose forward returns an array (activation, Dense) is checked on
    L = sum(forward(x) * dy) + piece.penalty (the activity penalty, if it has one), dy random (seeded) unless given; backward(dy) must return dL/dx.
    A piece whose forward returns a scalar (loss, regularizer; `extra` holds a loss's target)
    is checked on L = forward(x, *extra), with backward() returning dL/dx.
    """
    out = piece.forward(x, *extra)
    scalar = np.ndim(out) == 0
    if not scalar and dy is None:
        dy = np.random.default_rng(seed).standard_normal(np.shape(out))

    def loss() -> float:
        y = piece.forward(x, *extra)
        # a layer with an activity regularizer adds its penalty to the loss, and its backward
        # adds the penalty's gradient: check both together
        return float(y) if scalar else float(np.sum(y * dy)) + getattr(piece, "penalty", 0.0)

    loss()
    dx = piece.backward() if scalar else piece.backward(dy)
    analytic = {"x": np.array(dx, dtype=np.float64)}
    analytic.update({k: g.copy() for k, g in getattr(piece, "grads", {}).items()})
    numeric = {"x": numerical_gradient(loss, x, h)}
    for k, p in getattr(piece, "params", {}).items():
        numeric[k] = numerical_gradient(loss, p, h)
    return {k: float(rel_error(analytic[k], numeric[k]).max(initial=0.0)) for k in analytic}
