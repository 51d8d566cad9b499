"""The checker's core, the part to read first: central differences and the relative error.

    numerical_gradient(f, x, h)   dL/dx by central differences, one element at a time, in float64
    rel_error(a, n)               |a - n| / max(|a| + |n|, tiny), elementwise
    check_piece(piece, x, ...)    worst relative error of dL/dx and of every parameter gradient,
                                  for L = sum(piece.forward(x) * dy) with a random upstream dy

Everything else in `scratchae.gradcheck` (reports, kinks, sampling, structure checks, hints)
is built on `central_difference` below.

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> numerical_gradient(lambda: float((x ** 3).sum()), x).round(6)     # 3 x^2
    array([ 3., 12.])
"""
from __future__ import annotations

import math
from typing import Any, Callable

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
    if not (isinstance(h, (int, float)) and math.isfinite(h) and h > 0):
        raise ValueError(f"the step h must be a finite number > 0, got {h!r}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)   # views of x and grad
    for i in range(flat.size):
        f_plus, f_minus, step = central_difference(f, flat, i, h)
        gflat[i] = (f_plus - f_minus) / step
    return grad


def central_difference(f: Callable[[], Any], flat: np.ndarray, i: int, h: float) -> tuple[Any, Any, float]:
    """f() with flat[i] moved to +h and to -h (then put back, even if f raises), and the step
    between the two points as the floats really hold it (about 2h):

        f(x + h e_i),  f(x - h e_i),  (x_i + h) - (x_i - h)

    Dividing by the realised step rather than 2h removes the rounding of x_i + h from the
    difference quotient. `f` may return anything the caller subtracts (a value, or a tuple).
    """
    old = flat[i]
    try:
        flat[i] = old + h
        plus, hi = f(), flat[i]
        flat[i] = old - h
        minus, lo = f(), flat[i]
    finally:
        flat[i] = old
    return plus, minus, float(hi - lo)


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """Elementwise |a - n| / max(|a| + |n|, tiny): 0 when both are 0, at most 1."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), TINY)


def check_piece(piece, x: np.ndarray, *extra: np.ndarray, dy: np.ndarray | None = None,
                seed: int = 0, h: float = 1e-5) -> dict[str, float]:
    """Worst relative error per tensor ('x' and each key of piece.params) of one piece.

    A piece whose forward returns an array (activation, layer) is checked on
    L = sum(forward(x) * dy) + the sum of its `loss_terms()` (a layer's own additions to the
    loss, such as an activity penalty; none for an activation), dy random (seeded) unless
    given; backward(dy) must return dL/dx. A piece whose forward returns a scalar (loss,
    regularizer; `extra` holds a loss's target) is checked on L = forward(x, *extra), with
    backward() returning dL/dx. Backward adds into the gradients, so they are zeroed first.
    """
    out = piece.forward(x, *extra)
    scalar = np.ndim(out) == 0
    if not scalar and dy is None:
        dy = np.random.default_rng(seed).standard_normal(np.shape(out))

    def terms() -> float:
        own = getattr(piece, "loss_terms", None)
        return float(sum(own().values())) if callable(own) else 0.0

    def loss() -> float:
        y = piece.forward(x, *extra)
        # a layer's loss terms are part of L, and its backward adds their gradient: check both
        return float(y) if scalar else float(np.sum(y * dy)) + terms()

    loss()
    for g in getattr(piece, "grads", {}).values():
        g.fill(0)
    dx = piece.backward() if scalar else piece.backward(dy)
    analytic = {"x": np.array(dx, dtype=np.float64)}
    analytic.update({k: g.copy() for k, g in getattr(piece, "grads", {}).items()})
    numeric = {"x": numerical_gradient(loss, x, h)}
    for k, p in getattr(piece, "params", {}).items():
        numeric[k] = numerical_gradient(loss, p, h)
    return {k: float(rel_error(analytic[k], numeric[k]).max(initial=0.0)) for k in analytic}
