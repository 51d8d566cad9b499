"""The convolution as a learner first writes it: loops over every output element.

Read this before `scratchae.conv_fast`, which computes the same numbers with one matrix
product (tests/test_conv.py holds the two equal to float64 rounding). `Conv2D(...,
implementation='naive')` trains with these loops (slowly: benchmarks/conv_speed.py).

Keras's Conv2D is a *cross-correlation*: the kernel slides over the input unflipped. With
x (N, H, W, C) channels-last, the kernel K (kh, kw, C, F), the bias b (F,), the strides
(sh, sw) and xp the input with its padding zeros (`scratchae.windows`):

    y[n, i, j, f] = b[f] + sum_{a < kh, b < kw, c < C} xp[n, i sh + a, j sw + b, c] K[a, b, c, f]

Backward, from the partials of that one sum (derived in docs/backprop.md#conv2d):

    db[f]          = sum_{n, i, j} dy[n, i, j, f]
    dK[a, b, c, f] = sum_{n, i, j} dy[n, i, j, f] xp[n, i sh + a, j sw + b, c]
    dxp[n, p, q, c] = sum over the (i, j, a, b) with i sh + a = p and j sw + b = q of
                      sum_f dy[n, i, j, f] K[a, b, c, f]

and dx is dxp without its padding. The input gradient sums over the F *output* channels f,
each input channel c keeping its own slice K[:, :, c, f] of the kernel. Written as a
correlation it is the *full convolution* of dy with the kernel flipped in both spatial axes
and its channel axes swapped (`input_gradient_by_flip`, checked equal to the loops).
"""
from __future__ import annotations

import numpy as np

from .windows import geometry, pad_hw


def conv2d_forward_naive(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
                         strides: tuple[int, int] = (1, 1), padding: str = "valid") -> np.ndarray:
    """y (N, Ho, Wo, F) from x (N, H, W, C), kernel (kh, kw, C, F) and bias (F,) or None:
    one output element at a time, as the formula above."""
    kh, kw, _, f_out = kernel.shape
    (ho, wo), pads = geometry(x.shape[1:3], (kh, kw), strides, padding)
    xp = pad_hw(x, pads)
    sh, sw = strides
    y = np.zeros((x.shape[0], ho, wo, f_out), dtype=np.result_type(x, kernel))
    for n in range(x.shape[0]):
        for i in range(ho):
            for j in range(wo):
                window = xp[n, i * sh:i * sh + kh, j * sw:j * sw + kw, :]       # (kh, kw, C)
                for f in range(f_out):
                    y[n, i, j, f] = np.sum(window * kernel[:, :, :, f])
                    if bias is not None:
                        y[n, i, j, f] += bias[f]
    return y


def conv2d_backward_naive(dy: np.ndarray, x: np.ndarray, kernel: np.ndarray,
                          strides: tuple[int, int] = (1, 1), padding: str = "valid"
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dkernel, dbias) from dy = dL/dy (N, Ho, Wo, F): every output element hands its
    dy back to the window it read (dx) and to the kernel (dK), times the other factor."""
    kh, kw, _, f_out = kernel.shape
    (ho, wo), pads = geometry(x.shape[1:3], (kh, kw), strides, padding)
    xp = pad_hw(x, pads)
    sh, sw = strides
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(kernel)
    db = np.zeros(f_out, dtype=kernel.dtype)
    for n in range(x.shape[0]):
        for i in range(ho):
            for j in range(wo):
                rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                for f in range(f_out):
                    g = dy[n, i, j, f]
                    db[f] += g
                    dk[:, :, :, f] += g * xp[n, rows, cols, :]
                    dxp[n, rows, cols, :] += g * kernel[:, :, :, f]
    return _unpad(dxp, pads), dk, db


def input_gradient_by_flip(dy: np.ndarray, kernel: np.ndarray, input_hw: tuple[int, int],
                           strides: tuple[int, int] = (1, 1), padding: str = "valid") -> np.ndarray:
    """dL/dx as the textbooks write it: the full convolution of dy with the kernel.

    As a correlation (what `conv2d_forward_naive` computes): put sh - 1 zeros between the rows
    of dy (and sw - 1 between its columns) for a stride, surround it with kh - 1 rows and
    kw - 1 columns of zeros (the "full" padding, plus any rows of xp no window reached),
    and correlate with the flipped kernel

        Kflip[a, b, f, c] = K[kh - 1 - a, kw - 1 - b, c, f]     (spatially reversed, in <-> out)

    then cut the input's padding off. Forgetting the flip (or the swap of the channel axes)
    is the classic mistake; tests/test_conv.py shows the gradient check catching it.
    """
    kh, kw, _, f_out = kernel.shape
    (ho, wo), pads = geometry(input_hw, (kh, kw), strides, padding)
    hp, wp = input_hw[0] + sum(pads[0]), input_hw[1] + sum(pads[1])
    sh, sw = strides
    dilated = np.zeros((dy.shape[0], (ho - 1) * sh + 1, (wo - 1) * sw + 1, f_out), dtype=dy.dtype)
    dilated[:, ::sh, ::sw, :] = dy
    extra_h, extra_w = hp - ((ho - 1) * sh + kh), wp - ((wo - 1) * sw + kw)
    full = pad_hw(dilated, ((kh - 1, kh - 1 + extra_h), (kw - 1, kw - 1 + extra_w)))
    flipped = kernel[::-1, ::-1, :, :].transpose(0, 1, 3, 2)
    return _unpad(conv2d_forward_naive(full, flipped, None), pads)


def _unpad(xp: np.ndarray, pads: tuple[tuple[int, int], ...]) -> np.ndarray:
    (top, bottom), (left, right) = pads
    return xp[:, top:xp.shape[1] - bottom, left:xp.shape[2] - right, :]
