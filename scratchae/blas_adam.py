"""Adam's update of the packed parameters in seven passes, not twelve: a fast piece of
`scratchae.speed` (its switch: `speed.BLAS_ADAM`).

The readable update (`optimizers.Adam._update`) is twelve NumPy passes over the parameters:
NumPy has no operation that multiplies and adds in one go. BLAS has two, and NumPy's wheels
bundle an OpenBLAS that has them (the one its matrix products run on):

    axpby(alpha, x, beta, y):   y <- alpha x + beta y
    axpy(alpha, x, y):          y <- alpha x + y

So the same update, written with them:

    m     <- axpby(1 - beta_1, g, beta_1, m)           1 pass   (readable: 3)
    a     <- g * g
    v     <- axpby(1 - beta_2, a, beta_2, v)           2 passes (readable: 4)
    a     <- sqrt(v) + epsilon,  a <- m / a            3 passes (readable: 3)
    param <- axpy(-a_t, a, param)                      1 pass   (readable: 2)

The same operations on the same numbers: each product is rounded to the float type and then
added, as NumPy does it, unless a BLAS kernel fuses the multiply and the add (one rounding
instead of two: then the two agree to float rounding, not bit for bit; the kernels measured on
this project's machines, OpenBLAS 0.3.31 on x86-64, give the same bits). The state is Adam's
own (its `momentums` and `velocities` under the packed path, `iterations`, its scratch array),
so saving, loading and checkpoints see no difference.

`update(optimizer, param, grad)` returns False, doing nothing, where it does not apply: no
OpenBLAS found, a dtype other than float32/float64, or an array that is not one contiguous
vector; the caller then runs the readable update.
"""
from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from . import _blas

# (name pattern, integer type): NumPy's wheels (scipy-openblas, 64-bit integers), then a
# plain OpenBLAS with 64-bit or 32-bit integers
_NAMES = (("scipy_cblas_{}64_", ctypes.c_int64), ("cblas_{}64_", ctypes.c_int64), ("cblas_{}", ctypes.c_int))
_routines: dict[type, tuple[Any, Any]] | None = None


def routines() -> dict[type, tuple[Any, Any]]:
    """{np.float32: (saxpby, saxpy), np.float64: (daxpby, daxpy)}, as far as found."""
    global _routines
    if _routines is not None:
        return _routines
    found: dict[type, tuple[Any, Any]] = {}
    for lib in _blas.openblas_libraries():
        for dtype, scalar, prefix in ((np.float32, ctypes.c_float, "s"), (np.float64, ctypes.c_double, "d")):
            for pattern, integer in _NAMES:
                axpby = getattr(lib, pattern.format(prefix + "axpby"), None)
                axpy = getattr(lib, pattern.format(prefix + "axpy"), None)
                if axpby is None or axpy is None or dtype in found:
                    continue
                ptr = ctypes.c_void_p
                axpby.argtypes = [integer, scalar, ptr, integer, scalar, ptr, integer]
                axpy.argtypes = [integer, scalar, ptr, integer, ptr, integer]
                axpby.restype = axpy.restype = None
                found[dtype] = (axpby, axpy)
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
    seven_passes(opt, a_t, param, grad, opt._slot("momentums", path, param),
                 opt._slot("velocities", path, param), opt._buffer(path, param))
    return True


def seven_passes(opt: Any, a_t: float, param: np.ndarray, grad: np.ndarray, m: np.ndarray,
                 v: np.ndarray, a: np.ndarray) -> None:
    """The update itself on contiguous vectors of one float type (`applies`): m, v and
    param in place, a the scratch; a_t the step size (`Adam.step_size`). On any slices of
    them alike (elementwise: a slice's numbers are the whole's)."""
    axpby, axpy = routines()[param.dtype.type]
    n, b1, b2 = param.size, opt.beta_1, opt.beta_2
    axpby(n, 1.0 - b1, grad.ctypes.data, 1, b1, m.ctypes.data, 1)      # m = b1 m + (1 - b1) g
    np.multiply(grad, grad, out=a)
    axpby(n, 1.0 - b2, a.ctypes.data, 1, b2, v.ctypes.data, 1)         # v = b2 v + (1 - b2) g^2
    np.sqrt(v, out=a)
    a += opt.epsilon
    np.divide(m, a, out=a)
    axpy(n, -a_t, a.ctypes.data, 1, param.ctypes.data, 1)              # param -= a_t m / (sqrt(v) + eps)
