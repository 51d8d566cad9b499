"""Weight initialisers, by Keras name. Each is f(shape, dtype, rng) -> array.

Glorot-uniform (Keras's default for Dense kernels) draws from U(-limit, limit) with
limit = sqrt(6 / (fan_in + fan_out)), so a layer's outputs start with about the variance of
its inputs. For a kernel of shape (input_dim, units), fan_in = input_dim, fan_out = units.
For a convolution kernel (kh, kw, in, out), as in Keras, each output sums kh * kw * in inputs
and each input feeds kh * kw * out outputs: fan_in = kh kw in, fan_out = kh kw out (the
receptive field's size times the channels).

    >>> _fans((3, 3, 16, 8))
    (144, 72)
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._registry import lookup

Initializer = Callable[[tuple[int, ...], np.dtype, np.random.Generator], np.ndarray]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out): (rows, columns) of a matrix; for more axes, the last two are the
    input and output channels and the axes before them the receptive field."""
    if len(shape) < 2:
        return (shape[0], shape[0]) if shape else (1, 1)
    field = math.prod(shape[:-2])
    return shape[-2] * field, shape[-1] * field


def glorot_uniform(shape, dtype, rng):
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, dtype, rng):
    # Keras uses a normal truncated at 2 standard deviations; the stddev is corrected for that.
    fan_in, fan_out = _fans(shape)
    std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
    return _truncated_normal(shape, std, rng).astype(dtype)


def he_uniform(shape, dtype, rng):
    fan_in, _ = _fans(shape)
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, dtype, rng):
    fan_in, _ = _fans(shape)
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    return _truncated_normal(shape, std, rng).astype(dtype)


def zeros(shape, dtype, rng):
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype, rng):
    return np.ones(shape, dtype=dtype)


def _truncated_normal(shape, std, rng):
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2
    while bad.any():                      # redraw the tails, as a truncated normal does
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2
    return out * std


INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, zeros, ones)
}


def get(identifier: str | Initializer) -> Initializer:
    """An initialiser from its Keras name or a callable f(shape, dtype, rng)."""
    if callable(identifier):
        return identifier
    return lookup("initializer", identifier, INITIALIZERS, (), call=False)
