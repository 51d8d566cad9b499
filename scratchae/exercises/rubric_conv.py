"""The conv2d and maxpool exercises: their answers by hand, and the hints that name their
classic mistakes. Scored by `rubric._pieces` like Dense (conv2d) and the one-tensor pieces
(maxpool); the hints compare a wrong gradient with the gradient each mistake would give,
computed here from the exact answers (`exact.py`), never from a backward of the submission's.

    conv2d   dL/dx correlated with the unflipped kernel (the flip of the full convolution
             missing): the exact gradient for the kernel rotated by 180 degrees
             dL/dx summed over the input channels as well as the output ones: every input
             channel holding the sum of the exact gradient over the channels
             dL/dkernel rotated by 180 degrees (a flip where none belongs)
             dL/dbias averaged over N, Ho, Wo where it sums them
    maxpool  the max's gradient sent to every input of its window, or a quarter of it to each
             (average pooling's backward), or to every input that ties with the max
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import exact

# conv2d by hand: x (1, 3, 3, 1) = [[1, 2, 0], [0, 1, -1], [2, 0, 1]], kernel (2, 2, 1, 2) with
# K0 = kernel[:, :, 0, 0] = [[1, 0], [0, -1]], K1 = kernel[:, :, 0, 1] = [[0, 2], [1, 0]], dy (1, 2, 2, 2)
# with dy0 = [[1, 0], [2, 0]], dy1 = [[0, 1], [0, 1]]:
#   dL/dbias = the sums of dy0 and dy1 = [3, 2]
#   dL/dkernel[p, q, 0, k] = sum_ij x[i + p, j + q] dyk[i, j]:
#     k = 0 (dy0 is 1 at (0, 0), 2 at (1, 0)): x[p, q] + 2 x[1 + p, q] = [[1, 4], [4, 1]]
#     k = 1 (dy1 is 1 at (0, 1), (1, 1)): x[p, 1 + q] + x[1 + p, 1 + q] = [[3, -1], [1, 0]]
#   dL/dx: each dy[i, j, k] lays dy[i, j, k] K_k over the window at (i, j), and they add up:
#     dy0[0, 0] = 1:  +1 at (0, 0), -1 at (1, 1);   dy0[1, 0] = 2:  +2 at (1, 0), -2 at (2, 1)
#     dy1[0, 1] = 1:  +2 at (0, 2), +1 at (1, 1);   dy1[1, 1] = 1:  +2 at (1, 2), +1 at (2, 1)
#     = [[1, 0, 2], [2, 0, 2], [0, -1, 0]]
CONV_HAND = {"kernel": np.array([[[[1.0, 3.0]], [[4.0, -1.0]]], [[[4.0, 1.0]], [[1.0, 0.0]]]]),
             "bias": np.array([3.0, 2.0]),
             "x": np.array([[1.0, 0.0, 2.0], [2.0, 0.0, 2.0], [0.0, -1.0, 0.0]]).reshape(1, 3, 3, 1)}
# maxpool by hand: x (1, 2, 5, 2), channel 0 = [[3, 3, 0, -1, 9], [2, 0, 5, 5, -9]], channel 1 =
# [[-1, -2, 7, 1, 8], [-3, -0.5, 2, 7, 10]]; windows: columns 0-1 and 2-3, column 4 in none.
#   channel 0: [3, 3, 2, 0] ties, the first is (0, 0);  [0, -1, 5, 5] ties, the first is (1, 2)
#   channel 1: [-1, -2, -3, -0.5] at (1, 1);            [7, 1, 2, 7] ties, the first is (0, 2)
# dy = [[[[2, 0.5], [-1, 3]]]]: dL/dx is dy at those four places, 0 everywhere else
_MAX = np.zeros((1, 2, 5, 2))
_MAX[0, 0, 0, 0], _MAX[0, 1, 2, 0], _MAX[0, 1, 1, 1], _MAX[0, 0, 2, 1] = 2.0, -1.0, 0.5, 3.0
MAXPOOL_HAND = {"x": _MAX}
CASES = {"conv2d": "x (1, 3, 3, 1), kernel (2, 2, 1, 2), dy (1, 2, 2, 2)",
         "maxpool": "x (1, 2, 5, 2) with ties in three windows, dy (1, 1, 2, 2)"}


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    return a.shape == b.shape and float(np.linalg.norm(a - b)) <= 1e-6 * scale


def _windows(dy: np.ndarray, shape: tuple) -> np.ndarray:
    """dy copied to every input of its 2x2 window (0 in the row or column in no window)."""
    out = np.zeros(shape)
    ho, wo = dy.shape[1], dy.shape[2]
    out[:, :2 * ho, :2 * wo, :] = np.repeat(np.repeat(dy, 2, axis=1), 2, axis=2)
    return out


def hint(piece: str, tensor: str, got: Any, want: np.ndarray, call: dict) -> str:
    """The named mistake `got` is, in words (with the leading ' (hint: '), or ''."""
    if not isinstance(got, np.ndarray) or got.shape != want.shape or got.dtype.kind != "f" \
            or not np.all(np.isfinite(got)):
        return ""
    x, dy = np.asarray(call["inputs"][0], dtype=np.float64), np.asarray(call["dy"], dtype=np.float64)
    if piece == "maxpool":
        every = _windows(dy, x.shape)
        if _close(got, every):
            return (" (hint: yours sends each dy[n, i, j, c] to every input of its window: only the arg-max "
                    "moved the max, so it alone gets dy; the other three inputs get 0)")
        if _close(got, every / 4):
            return (" (hint: yours gives a quarter of dy to each input of the window: that is average "
                    "pooling's backward; the max's gradient goes whole to the arg-max)")
        ties = x == _windows(np.real(exact.maxpool(x)), x.shape)
        if _close(got, every * ties):
            return (" (hint: on a tie, every input equal to the window's max got dy (a mask x == max?): "
                    "the rule is the first max in row-major window order only, the one np.argmax picks)")
        return " (hint: dy[n, i, j, c] goes to the arg-max of window (i, j) of channel c, and only there)"
    kernel, bias = call["params"]["kernel"], call["params"]["bias"]
    if tensor == "x":
        flipped = exact.gradient(lambda z: np.sum(exact.conv2d(z, kernel[::-1, ::-1], bias) * dy), x)
        if _close(got, flipped):
            return (" (hint: yours is the gradient for the kernel rotated by 180 degrees: dy correlated with "
                    "the unflipped kernel; dL/dx[n, a, b, c] = sum dy[n, a - p, b - q, k] kernel[p, q, c, k], a "
                    "full convolution, so correlating a padded dy needs kernel[::-1, ::-1])")
        if _close(got, np.broadcast_to(want.sum(axis=-1, keepdims=True), want.shape)):
            return (" (hint: every input channel of yours holds the same values, the exact gradient summed "
                    "over the input channels: the sum over channels took in c too; dL/dx[n, a, b, c] sums "
                    "dy[..., k] kernel[p, q, c, k] over the output channels k only, for each c on its own)")
        return (" (hint: dL/dx[n, a, b, c] = sum over p, q and the output channels k of "
                "dy[n, a - p, b - q, k] kernel[p, q, c, k], where 0 <= a - p < Ho and 0 <= b - q < Wo)")
    if tensor == "kernel":
        if _close(got, want[::-1, ::-1]):
            return (" (hint: yours is the exact one rotated by 180 degrees: the kernel's gradient is a "
                    "correlation of x with dy, sum x[n, i + p, j + q, c] dy[n, i, j, k], no flip; the flip "
                    "belongs to dL/dx)")
        return " (hint: dL/dkernel[p, q, c, k] = sum over n, i, j of x[n, i + p, j + q, c] dy[n, i, j, k])"
    m = dy.shape[0] * dy.shape[1] * dy.shape[2]
    if _close(got, want / m):
        return (f" (hint: yours = exact / {m}, N Ho Wo: averaged over the batch and the positions where "
                "the bias, added at every position of every image, sums them: dy.sum(axis=(0, 1, 2)))")
    return " (hint: the bias is added at every position of every image: sum dy over n, i and j)"
