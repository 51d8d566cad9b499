"""Activations: the non-linear pieces between the matrix products. No parameters.

Every piece here follows the contract of the whole library (see `scratchae.layers`):

    y  = piece.forward(x)     caches what backward will need
    dx = piece.backward(dy)   dy = dL/dy, same shape as y; returns dL/dx, same shape as x

Shapes are (N, D) throughout; the pieces are elementwise so any shape works. The output has
the input's float type (float32 in, float32 out). Derivatives are taken from what forward
cached: ReLU keeps a boolean mask, Sigmoid keeps its output.

    >>> import numpy as np
    >>> relu = ReLU()
    >>> relu.forward(np.array([[-1.0, 0.0, 2.0]]))
    array([[0., 0., 2.]])
    >>> relu.backward(np.array([[5.0, 5.0, 5.0]]))
    array([[0., 0., 5.]])
"""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._registry import lookup

Array = NDArray[np.floating]


class Activation:
    """Base class: a differentiable elementwise function with a cache."""

    name = "activation"

    def __init__(self) -> None:
        self._cache: object = None

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array:
        raise NotImplementedError

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def _cached(self) -> object:
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before forward: "
                "call forward(x) first, it stores what backward needs"
            )
        return self._cache

    @staticmethod
    def _check_dy(dy: Array, like: Array) -> None:
        if np.shape(dy) != like.shape:
            raise ValueError(f"dy must have the forward output's shape {like.shape}, got {np.shape(dy)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Activation):
    """The identity, y = x (Keras's activation=None / 'linear'). dL/dx = dy."""

    name = "linear"

    def forward(self, x: Array) -> Array:
        self._cache = x
        return x

    def backward(self, dy: Array) -> Array:
        """Identity: y[n, j] = x[n, j], so dy[n, j]/dx[n, j] = 1 and every other partial is 0;
        the chain-rule sum keeps one term: dL/dx[n, j] = dy[n, j], i.e. dL/dx = dy, shape unchanged.

        Derived in docs/backprop.md#linear.
        """
        self._check_dy(dy, self._cached())
        return dy


class ReLU(Activation):
    """Rectified linear unit, y = max(x, 0)."""

    name = "relu"
    kink_at_zero = True          # not differentiable at x == 0 (the checker's kink probe)

    def forward(self, x: Array) -> Array:
        mask = x > 0
        self._cache = mask
        return np.maximum(x, 0)           # max(-0.0, 0) stays a clean 0

    def backward(self, dy: Array) -> Array:
        """Backpropagate through y = max(x, 0).

        y[n, j] depends on x[n, j] alone, so the chain-rule sum has one term:
        dL/dx[n, j] = dy[n, j] * relu'(x[n, j]), an elementwise product, with

            relu'(x) = 1  where x > 0
                       0  where x <= 0  (subgradient choice at x == 0: 0, as in Keras/TF/PyTorch)

            dL/dx = dy * 1[x > 0]       shape (N, D), from the boolean mask kept by forward

        Derived in docs/backprop.md#relu.
        """
        mask = self._cached()
        self._check_dy(dy, mask)
        return np.multiply(dy, mask, dtype=dy.dtype)


def sigmoid(x: Array) -> Array:
    """Logistic function 1 / (1 + exp(-x)), computed without overflow for any finite x.

    The naive form overflows exp(-x) for x < about -88 in float32 (and warns). Here exp is only
    ever taken of -|x| <= 0, so it lies in (0, 1]:

        x >= 0:  1 / (1 + e^(-x))
        x <  0:  e^x / (1 + e^x)        (the same number, rewritten)

    (The loss on logits computes the same two cases without choosing per element:
    `scratchae.losses.select_sigmoid`.)
    """
    e = np.exp(-np.abs(x))                      # in (0, 1], never overflows
    d = 1.0 + e
    return np.where(x >= 0, 1.0 / d, e / d)


class Sigmoid(Activation):
    """Logistic sigmoid, y = 1 / (1 + exp(-x)); stable for any finite x (|x| = 1000 included)."""

    name = "sigmoid"

    def forward(self, x: Array) -> Array:
        y = sigmoid(x)
        self._cache = y
        return y

    def backward(self, dy: Array) -> Array:
        """Backpropagate through y = sigmoid(x).

        d/dx 1/(1 + e^-x) = e^-x / (1 + e^-x)^2 = y * e^-x/(1 + e^-x) = y (1 - y); elementwise,
        so dL/dx[n, j] = dy[n, j] * y[n, j] (1 - y[n, j]):

            dy/dx = sigmoid(x) * (1 - sigmoid(x)) = y * (1 - y)     taken from the cached output y
            dL/dx = dy * y * (1 - y)                                shape (N, D)

        For |x| large, y*(1-y) underflows towards 0: the gradient vanishes (saturation). The
        fused sigmoid + binary cross-entropy in `scratchae.losses` avoids that loss of signal.
        Derived in docs/backprop.md#sigmoid.
        """
        y = self._cached()
        self._check_dy(dy, y)
        return dy * y * (1 - y)


ACTIVATIONS: dict[str, type[Activation]] = {
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "linear": Linear,
}


def get(identifier: str | Activation | None) -> Activation:
    """A fresh activation piece from a name ('relu', 'sigmoid', 'linear' or None) or an instance."""
    if identifier is None:
        return Linear()
    return lookup("activation", identifier, ACTIVATIONS, Activation)
