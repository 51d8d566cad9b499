"""The geometry of sliding windows, shared by `Conv2D` and `MaxPooling2D`: sizes and padding.

Images are channels-last, x (N, H, W, C), as in Keras. A window of kh x kw slides over H x W
with strides (sh, sw). Keras's (TensorFlow's) arithmetic, per spatial axis of size n, window
k and stride s:

    padding='valid'   no padding;           out = floor((n - k) / s) + 1    (k <= n required)
    padding='same'    zeros added around;   out = ceil(n / s)
                      total = max((out - 1) s + k - n, 0) zeros, before = total // 2 and
                      after = total - before: an odd total puts the extra one at the bottom
                      (or the right). PyTorch's padding='same' (stride 1 only) pads the same.

    >>> output_size(28, 3, 1, "same"), padding_amounts(28, 3, 1, "same")
    (28, (1, 1))
    >>> output_size(7, 2, 2, "same"), padding_amounts(7, 2, 2, "same")   # the extra zero below
    (4, (0, 1))
    >>> output_size(16, 3, 1, "valid")
    14

`window_view` is the one speed trick here: every window of a padded batch as a view
(no copy), for the fast convolution (`scratchae.conv_fast`) and the max pooling.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._validate import positive_int

PADDINGS = ("valid", "same")


def pair(name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of positive ints as a pair (Keras's kernel_size=3 means (3, 3))."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return positive_int(f"{name}[0]", value[0]), positive_int(f"{name}[1]", value[1])
    v = positive_int(name, value)
    return v, v


def check_padding(padding: Any) -> str:
    """'valid' or 'same' (any case, as Keras takes them)."""
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def output_size(n: int, k: int, s: int, padding: str) -> int:
    """The number of window positions along an axis of size n (see the module's table)."""
    if padding == "same":
        return -(-n // s)
    if k > n:
        raise ValueError(f"a window of {k} does not fit in {n} with padding='valid'")
    return (n - k) // s + 1


def padding_amounts(n: int, k: int, s: int, padding: str) -> tuple[int, int]:
    """(before, after): the zeros added along an axis of size n (0, 0 for 'valid')."""
    if padding == "valid":
        return 0, 0
    total = max((output_size(n, k, s, padding) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def geometry(hw: tuple[int, int], window: tuple[int, int], strides: tuple[int, int],
             padding: str, what: str = "kernel") -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
    """((Ho, Wo), ((top, bottom), (left, right))) for an input of spatial size hw; a window
    larger than its input with padding='valid' is a ValueError naming both."""
    (h, w), (kh, kw), (sh, sw) = hw, window, strides
    if padding == "valid" and (kh > h or kw > w):
        raise ValueError(f"the {what} {window} is larger than its input {tuple(hw)} with "
                         "padding='valid': use a smaller one, a larger input, or padding='same'")
    out = (output_size(h, kh, sh, padding), output_size(w, kw, sw, padding))
    return out, (padding_amounts(h, kh, sh, padding), padding_amounts(w, kw, sw, padding))


def pad_hw(x: np.ndarray, pads: tuple[tuple[int, int], ...], value: float = 0.0) -> np.ndarray:
    """x (N, H, W, C) with `pads` rows and columns of `value` around H and W (x itself if none)."""
    if not any(pads[0]) and not any(pads[1]):
        return x
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def window_view(xp: np.ndarray, window: tuple[int, int], strides: tuple[int, int],
                out: tuple[int, int]) -> np.ndarray:
    """Every window of the padded batch xp (N, Hp, Wp, C) as a read-only view of shape
    (N, Ho, Wo, kh, kw, C): view[n, i, j, a, b, c] = xp[n, i*sh + a, j*sw + b, c]. No copy:
    the strides of the view step sh rows for i and one row for a."""
    n, c = xp.shape[0], xp.shape[3]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(n, out[0], out[1], window[0], window[1], c),
                      strides=(s0, s1 * strides[0], s2 * strides[1], s1, s2, s3), writeable=False)


def image_batch(layer: Any, x: Any) -> np.ndarray:
    """x as a 4-D float array of the layer's dtype, or a clear error naming the layer."""
    if isinstance(x, (list, tuple)):
        raise ValueError(f"{layer.name} takes one input, got a list of {len(x)}")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer.name} expects a NumPy array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{layer.name} expects a 4-D input (N, height, width, channels), got "
                         f"shape {x.shape}" + (" (add a channel axis: x[..., None])" if x.ndim == 3 else ""))
    return x if x.dtype == layer.dtype else x.astype(layer.dtype)


def image_shape(layer: Any, input_shape: Any) -> tuple[int, int, int]:
    """input_shape (no batch axis) as (H, W, C), or a ValueError naming the layer."""
    if isinstance(input_shape, list):
        raise ValueError(f"{layer.name} takes one input, got a list of {len(input_shape)}")
    shape = tuple(input_shape) if not isinstance(input_shape, int) else (input_shape,)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValueError(f"{layer.name} expects inputs of shape (batch, height, width, channels), "
                         f"got {(None, *shape)}")
    return tuple(int(d) for d in shape)          # type: ignore[return-value]


__all__ = ["PADDINGS", "pair", "check_padding", "output_size", "padding_amounts", "geometry",
           "pad_hw", "window_view", "image_batch", "image_shape"]
