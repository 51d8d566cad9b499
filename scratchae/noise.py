"""Noise layers, as in Keras: `GaussianNoise(stddev)` and `Dropout(rate)`.

Both are identities in `predict` and `evaluate` (training=False) and draw fresh noise in every
training forward (training=True, in `fit`), from `self.rng`: the generator the model sets
before a training forward (`Model.rng`, seeded by `fit(seed=...)` or `set_random_seed`), so a
run is repeated exactly by its seed. A layer used on its own draws from a generator made from
its own `seed`, or, without one, from the library generator (`scratchae.utils`).

    >>> import numpy as np
    >>> drop = Dropout(0.5, seed=0)
    >>> x = np.ones((2, 4), dtype=np.float32)
    >>> drop.forward(x) is x                          # predict: the identity
    True
    >>> y = drop.forward(x, training=True)            # each value 0 or 1 / (1 - rate) = 2
    >>> sorted(set(y.ravel().tolist())) == [0.0, 2.0]
    True
    >>> bool(np.all(drop.backward(np.ones((2, 4))) == y))     # dy * mask / (1 - rate)
    True

Backward of the noise drawn in the last forward (derived in docs/backprop.md#noise-layers):

    GaussianNoise   y = x + stddev * e,  e ~ N(0, 1)       dL/dx = dy (the noise does not depend on x)
    Dropout         y = x * m / (1 - rate),  m ~ Bernoulli(1 - rate)
                                                            dL/dx = dy * m / (1 - rate)

A finite-difference check of a noise layer holds its noise still: the same draw at every
evaluation (restore the generator's state before each forward, `rng.bit_generator.state`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import finite_float
from .layer import Layer, register_layer


class _Noise(Layer):
    """What the two share: the generator, the identity outside training, the input checks."""

    stochastic = True

    def __init__(self, seed: int | None = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.keep_seed(seed)
        self._scale: np.ndarray | None = None  # what backward multiplies dy by (None: the identity)
        self._shape: tuple | None = None

    def _input(self, x: Any) -> np.ndarray:
        if isinstance(x, (list, tuple)):
            raise ValueError(f"{self.name} takes one input, got a list of {len(x)}")
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.name} expects a NumPy array, got {type(x).__name__}")
        if not self.built:
            self.build(x.shape[1:])
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        self._shape = x.shape
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        if np.shape(dy) != self._shape:
            raise ValueError(f"{self.name}: dy must have shape {self._shape}, got {np.shape(dy)}")
        return dy if self._scale is None else dy * self._scale

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


class GaussianNoise(_Noise):
    """y = x + stddev * e in training, e standard normal, a new draw at every training
    forward; y = x otherwise (Keras's `GaussianNoise(stddev, seed=None)`).

    Backward: dL/dx = dy. The noise is added and does not depend on x, so ∂y[n, i]/∂x[n, i] = 1
    and every other partial is 0. Derived in docs/backprop.md#noise-layers.
    """

    def __init__(self, stddev: float, seed: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(seed=seed, name=name, dtype=dtype)
        self.stddev = finite_float("stddev", stddev, minimum=0.0)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._input(x)
        if not training or self.stddev == 0:
            return x
        noise = self.generator().standard_normal(x.shape)
        return x + (self.stddev * noise).astype(x.dtype, copy=False)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev}


class Dropout(_Noise):
    """In training, each value is kept with probability 1 - rate and scaled by 1 / (1 - rate),
    or set to 0 (a new mask at every training forward); y = x otherwise (Keras's
    `Dropout(rate, seed=None)`: "inverted" dropout, so predict needs no rescaling).

    Backward: dL/dx = dy * m / (1 - rate), the same mask m and scale as the forward: y[n, i] =
    x[n, i] m[n, i] / (1 - rate) is linear in x[n, i]. Derived in docs/backprop.md#noise-layers.
    """

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(seed=seed, name=name, dtype=dtype)
        self.rate = finite_float("rate", rate, minimum=0.0)
        if self.rate >= 1:
            raise ValueError(f"rate must be in [0, 1) (the fraction of values set to 0), got {rate}")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._input(x)
        if not training or self.rate == 0:
            self._scale = None
            return x
        keep = self.generator().random(x.shape) >= self.rate
        self._scale = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self._scale

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


for _cls in (GaussianNoise, Dropout):
    register_layer(_cls)
