"""`Flatten` and `Reshape`, as in Keras: the same numbers in another shape, per sample.

    Flatten             (N, d1, d2, ...) -> (N, d1 d2 ...)    row-major (C order), as Keras
    Reshape(target)     (N, ...) -> (N, *target); one entry of target may be -1 (inferred)

No arithmetic, so the backward is the inverse reshape: dL/dx = dy reshaped to x's shape
(each element of y *is* one element of x).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .layer import Layer, register_layer


class _Reshaping(Layer):
    """What the two share: the input checks and the backward (dy back to x's shape)."""

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._shape: tuple | None = None

    def _input(self, x: Any) -> np.ndarray:
        if isinstance(x, (list, tuple)):
            raise ValueError(f"{self.name} takes one input, got a list of {len(x)}")
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.name} expects a NumPy array, got {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"{self.name} expects a batch (N, ...), got shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:])
        self._shape = x.shape
        return x if x.dtype == self.dtype else x.astype(self.dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._input(x)
        return x.reshape(x.shape[0], *self.compute_output_shape(x.shape[1:]))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dy reshaped to the input's shape."""
        if self._shape is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        if np.size(dy) != math.prod(self._shape):
            raise ValueError(f"{self.name}: dy must have {math.prod(self._shape)} elements "
                             f"(the input was {self._shape}), got shape {np.shape(dy)}")
        return np.reshape(dy, self._shape)


class Flatten(_Reshaping):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), row-major as Keras's channels-last Flatten."""

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (math.prod(tuple(input_shape)),)


class Reshape(_Reshaping):
    """(N, ...) -> (N, *target_shape); at most one -1 in target_shape, inferred from the size."""

    def __init__(self, target_shape: Any, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(target_shape, int):
            target_shape = (target_shape,)
        if not isinstance(target_shape, (tuple, list)) or not target_shape or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and (d > 0 or d == -1)
                for d in target_shape) or list(target_shape).count(-1) > 1:
            raise ValueError(f"target_shape must be a tuple of positive ints with at most one -1, "
                             f"got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        size = math.prod(tuple(input_shape))
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"{self.name}: cannot reshape {tuple(input_shape)} ({size} values) "
                                 f"to {self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"{self.name}: cannot reshape {tuple(input_shape)} ({size} values) to "
                             f"{self.target_shape} ({known} values)")
        return self.target_shape

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)           # refuse a size that does not match
        super().build(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


register_layer(Flatten)
register_layer(Reshape)
