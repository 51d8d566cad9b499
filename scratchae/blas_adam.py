"""Adam's update of the packed parameters in eight passes, not twelve: a fast piece of
`scratchae.speed` (its switch: `speed.BLAS_ADAM`).

The readable update (`optimizers.Adam._update`) is twelve NumPy passes over the parameters:
NumPy has no operation that multiplies and adds in one go. BLAS has one, and NumPy's wheels
bundle an OpenBLAS that has it (the library its matrix products run on):

    axpby(alpha, x, beta, y):   y <- alpha x + beta y

So the same update, written with it:

    m     <- axpby(1 - beta_1, g, beta_1, m)           1 pass   (readable: 3)
    a     <- g * g
    v     <- axpby(1 - beta_2, a, beta_2, v)           2 passes (readable: 4)
    a     <- sqrt(v) + epsilon,  a <- m / a
    a     <- a_t a,  param <- param - a                5 passes (readable: 5)

The same operations on the same numbers: each product rounded to the float type, then the
sum rounded, as NumPy does it, wherever the BLAS kernel does the same (OpenBLAS 0.3.31 on
x86-64 does: the same bits as the readable update, on the whole vector and on any slice of
it). A kernel that fused the multiply and the add would agree to float rounding instead.
axpy (param <- param - a_t a) would save one more pass, but its kernel does fuse them here
(1 float32 rounding apart on some elements), so the last step stays NumPy's two passes.
The state is Adam's own (its `momentums` and `velocities` under the packed path,
`iterations`, its scratch array), so saving, loading and checkpoints see no difference.

`update(optimizer, path, param, grad)` returns False, doing nothing, where it does not
apply: no OpenBLAS found, a dtype other than float32/float64, or an array that is not one
contiguous vector; the caller then runs the readable update.
"""
from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from . import _blas

# (name pattern, integer type): NumPy's wheels (scipy-openblas, 64-bit integers), then a
# plain OpenBLAS with 64-bit or 32-bit integers
_NAMES = (("scipy_cblas_{}64_", ctypes.c_int64), ("cblas_{}64_", ctypes.c_int64), ("cblas_{}", ctypes.c_int))
_routines: dict[type, Any] | None = None


def routines() -> dict[type, Any]:
    """{np.float32: saxpby, np.float64: daxpby}, as far as found."""
    global _routines
    if _routines is not None:
        return _routines
    found: dict[type, Any] = {}
    for lib in _blas.openblas_libraries():
        for dtype, scalar, prefix in ((np.float32, ctypes.c_float, "s"), (np.float64, ctypes.c_double, "d")):
            for pattern, integer in _NAMES:
                axpby = getattr(lib, pattern.format(prefix + "axpby"), None)
                if axpby is None or dtype in found:
                    continue
                ptr = ctypes.c_void_p
                axpby.argtypes = [integer, scalar, ptr, integer, scalar, ptr, integer]
                axpby.restype = None
                found[dtype] = axpby
        if found:
            break
    _routines = found
    return found


def applies(param: np.ndarray, grad: np.ndarray) -> bool:
    """Whether `update` can run on these arrays."""
    return (param.dtype.type in routines() and grad.dtype == param.dtype and param.ndim == 1
            and param.shape == grad.shape and param.flags.c_contiguous and grad.flags.c_contiguous)


def update(opt: Any, path: str, param: np.ndarray, grad: np.ndarray) -> bool:
    """One step of `opt` (an `optimizers.Adam`) on the one (path, param, grad) triple, as
    `opt.apply([(path, param, grad)])` computes it; False (nothing done) where it does not
    apply."""
    if not applies(param, grad):
        return False
    opt._a_t = a_t = opt.step_size(opt.iterations + 1)
    opt.iterations += 1
    eight_passes(opt, a_t, param, grad, opt._slot("momentums", path, param),
                 opt._slot("velocities", path, param), opt._buffer(path, param))
    return True


def eight_passes(opt: Any, a_t: float, param: np.ndarray, grad: np.ndarray, m: np.ndarray,
                 v: np.ndarray, a: np.ndarray) -> None:
    """The update itself on contiguous vectors of one float type (`applies`): m, v and
    param in place, a the scratch; a_t the step size (`Adam.step_size`). On any slices of
    them alike (elementwise: a slice's numbers are the whole's)."""
    axpby = routines()[param.dtype.type]
    n, b1, b2 = param.size, opt.beta_1, opt.beta_2
    axpby(n, 1.0 - b1, grad.ctypes.data, 1, b1, m.ctypes.data, 1)      # m = b1 m + (1 - b1) g
    np.multiply(grad, grad, out=a)
    axpby(n, 1.0 - b2, a.ctypes.data, 1, b2, v.ctypes.data, 1)         # v = b2 v + (1 - b2) g^2
    np.sqrt(v, out=a)                                                  # param -= a_t m / (sqrt(v) + eps)
    a += opt.epsilon
    np.divide(m, a, out=a)
    a *= a_t
    param -= a
