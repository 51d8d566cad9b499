"""Deliberately wrong backward passes: negative controls for the gradient checker.

Each class subclasses a real piece and overrides only `backward` with a classic mistake.
`check_piece` must report a relative error > 1e-2 on every one of them; if it does not,
the checker (not the piece) is broken.
"""
from __future__ import annotations

import numpy as np

from scratchae.activations import ReLU, Sigmoid
from scratchae.layers import Dense
from scratchae.losses import BinaryCrossentropy
from scratchae.regularizers import L1


class TransposedKernelDense(Dense):
    """dL/dkernel written as (x^T . dz)^T: only shape-compatible for a square kernel."""

    def backward(self, dy, **kwargs):
        dx = super().backward(dy, **kwargs)
        self.grads["kernel"][...] = self.grads["kernel"].T.copy()
        return dx


class NoMaskReLU(ReLU):
    """Forgets the mask: dL/dx = dy everywhere, as if ReLU were the identity."""

    def backward(self, dy):
        self._check_dy(dy, self._cached())
        return dy.copy()


class SignFlippedL1(L1):
    """Gradient of factor * sum|h| with the wrong sign: -factor * sign(h)."""

    def gradient(self, h):
        return -np.sign(h) * self.l1


class NoMeanBCE(BinaryCrossentropy):
    """The BCE gradient without its 1/(N*D): (p - y) / (p (1 - p)), a sum's gradient for a mean."""

    def backward(self, dvalue=1.0):
        p, y = self._cache
        return (p - y) / (p * (1 - p))


class SigmoidDerivativeFromX(Sigmoid):
    """Uses the input x instead of the output y: dy * x * (1 - x)."""

    def forward(self, x):
        self._x = x
        return super().forward(x)

    def backward(self, dy):
        self._check_dy(dy, self._cached())
        return dy * self._x * (1 - self._x)
