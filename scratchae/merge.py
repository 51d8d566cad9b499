"""Merge layers, as in Keras: `Add()` and `Concatenate(axis=-1)`, called on a list of tensors.

    >>> from scratchae.layers import Dense, Input
    >>> from scratchae.models import Model
    >>> a, b = Input(shape=(3,)), Input(shape=(2,))
    >>> both = Concatenate()([Dense(4)(a), b])          # (None, 4 + 2)
    >>> both.shape
    (None, 6)
    >>> model = Model([a, b], Add()([Dense(6)(both), both]))

A model with several inputs takes a list of arrays in `predict` (and hands back a list of
input gradients from `backward`); `fit` and `evaluate` take models with one input and one
output only. The forward of a merge layer takes a list of arrays and its backward returns a
list, one gradient per input, in order:

    Add           y = x_0 + x_1 + ...            dL/dx_k = dy for every k
    Concatenate   y = [x_0, x_1, ...] along axis dL/dx_k = the slice of dy that x_k filled

Derived in docs/backprop.md#add-and-concatenate.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .layer import Layer, register_layer


class _Merge(Layer):
    """A layer of a list of inputs: the list checked, in the symbolic call and in forward."""

    def _shapes(self, input_shape: Any) -> list[tuple]:
        if not isinstance(input_shape, list) or not input_shape:
            raise ValueError(f"{self.name} is called on a list of tensors, e.g. "
                             f"{type(self).__name__}()([a, b]); got {input_shape!r}")
        return [tuple(s) for s in input_shape]

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)          # refuses shapes that do not merge
        super().build(input_shape)

    def _arrays(self, inputs: Any) -> list[np.ndarray]:
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise ValueError(f"{self.name}.forward takes a list of arrays, got {type(inputs).__name__}")
        arrays = [np.asarray(a) for a in inputs]
        if any(a.ndim == 0 for a in arrays) or len({len(a) for a in arrays}) > 1:
            raise ValueError(f"{self.name}: the inputs must be arrays with the same number of rows, "
                             f"got shapes {[a.shape for a in arrays]}")
        shapes = [a.shape[1:] for a in arrays]
        if not self.built:
            self.build(shapes)
        else:
            self.compute_output_shape(shapes)
        return [a if a.dtype == self.dtype else a.astype(self.dtype) for a in arrays]


class Add(_Merge):
    """y = x_0 + x_1 + ... (inputs of one shape): Keras's `Add()`.

    Backward: ∂y[n, i]/∂x_k[n, i] = 1 for every input k, so each input's gradient is dy itself
    (a copy each, so no two inputs share an array).
    """

    _count: int | None = None           # inputs of the last forward
    _shape: tuple | None = None

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._shapes(input_shape)
        if len(set(shapes)) > 1:
            raise ValueError(f"{self.name} adds tensors of one shape, got {[(None, *s) for s in shapes]}")
        return shapes[0]

    def forward(self, inputs: list[np.ndarray], training: bool = False) -> np.ndarray:
        arrays = self._arrays(inputs)
        self._count, self._shape = len(arrays), arrays[0].shape
        out = arrays[0].copy()
        for a in arrays[1:]:
            out += a
        return out

    def backward(self, dy: np.ndarray) -> list[np.ndarray]:
        """[dy, dy, ...]: one copy of dy for each input."""
        if self._count is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(inputs) first")
        if np.shape(dy) != self._shape:
            raise ValueError(f"{self.name}: dy must have shape {self._shape}, got {np.shape(dy)}")
        return [np.array(dy, copy=True) for _ in range(self._count)]


class Concatenate(_Merge):
    """y = the inputs side by side along `axis` (default -1, the features): Keras's
    `Concatenate(axis=-1)`. Every other axis must agree; the batch axis (0) cannot be joined.

    Backward: y's slice [offset_k, offset_k + width_k) along the axis is x_k, so dL/dx_k is
    the same slice of dy (and x_k gets nothing from the other slices).
    """

    _widths: list[int] = []             # each input's width along the axis, last forward
    _out_shape: tuple | None = None

    def __init__(self, axis: int = -1, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int, got {axis!r}")
        if axis == 0:
            raise ValueError("Concatenate cannot join along axis 0, the batch axis")
        self.axis = int(axis)

    def _axis(self, rank: int) -> int:
        """The axis in a shape without the batch axis (of `rank` dimensions)."""
        a = self.axis + rank + 1 if self.axis < 0 else self.axis
        if not 1 <= a <= rank:
            raise ValueError(f"{self.name}: axis {self.axis} is out of range for inputs of shape "
                             f"(None, {rank} dimensions)")
        return a - 1

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._shapes(input_shape)
        if len({len(s) for s in shapes}) > 1:
            raise ValueError(f"{self.name}: inputs of different ranks, {[(None, *s) for s in shapes]}")
        ax = self._axis(len(shapes[0]))
        rest = {s[:ax] + s[ax + 1:] for s in shapes}
        if len(rest) > 1:
            raise ValueError(f"{self.name} joins along axis {self.axis}: every other axis must agree, "
                             f"got {[(None, *s) for s in shapes]}")
        out = list(shapes[0])
        out[ax] = None if any(s[ax] is None for s in shapes) else sum(s[ax] for s in shapes)
        return tuple(out)

    def forward(self, inputs: list[np.ndarray], training: bool = False) -> np.ndarray:
        arrays = self._arrays(inputs)
        axis = self._axis(arrays[0].ndim - 1) + 1
        self._widths = [a.shape[axis] for a in arrays]
        out = np.concatenate(arrays, axis=axis)
        self._out_shape = out.shape
        return out

    def backward(self, dy: np.ndarray) -> list[np.ndarray]:
        """The slices of dy along the axis, one per input (copies)."""
        if self._out_shape is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(inputs) first")
        if np.shape(dy) != self._out_shape:
            raise ValueError(f"{self.name}: dy must have shape {self._out_shape}, got {np.shape(dy)}")
        axis = self._axis(np.ndim(dy) - 1) + 1
        cuts = np.cumsum(self._widths)[:-1]
        return [part.copy() for part in np.split(np.asarray(dy), cuts, axis=axis)]

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


for _cls in (Add, Concatenate):
    register_layer(_cls)
