"""`MaxPooling2D` and `UpSampling2D`, as in Keras: the convolutional autoencoder's way down and up.

Channels-last, x (N, H, W, C); each channel is pooled or repeated on its own. No parameters.

    MaxPooling2D   y[n, i, j, c] = max_{a < ph, b < pw} xp[n, i sh + a, j sw + b, c]
                   backward: each dy[n, i, j, c] goes to the one input that was the max of its
                   window (the arg-max); every other input of the window gets nothing from it.
                   Ties: the first max in the window's row-major order (a, then b), the one
                   np.argmax picks, gets it all; the others get 0. With 'same' padding the
                   padded cells are -inf, so they never win.
    UpSampling2D   y[n, i, j, c] = x[n, i // s0, j // s1, c]   (nearest: each value copied to
                   an s0 x s1 block); backward sums dy over each block (a copy forward is a
                   sum backward)

Derived in docs/backprop.md#maxpooling2d-and-upsampling2d.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .layer import Layer, register_layer
from .windows import check_padding, geometry, image_batch, image_shape, pad_hw, pair, window_view


class MaxPooling2D(Layer):
    """The max of every pool_size window (strides default to pool_size), 'valid' or 'same'.

    Backward sends each dL/dy to the arg-max of its window only (the first max on ties, see
    the module's docstring); windows that overlap (strides < pool_size) add up at an input
    that is the max of several.
    """

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.pool_size = pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else pair("strides", strides)
        self.padding = check_padding(padding)
        self._where: np.ndarray | None = None       # flat index into xp of each output's max
        self._arg: np.ndarray | None = None         # the winner's place in its window
        self._xp_shape: tuple | None = None
        self._pads: Any = None

    def build(self, input_shape: Any) -> None:
        h, w, _ = image_shape(self, input_shape)
        geometry((h, w), self.pool_size, self.strides, self.padding, what="pool_size")
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        h, w, c = image_shape(self, input_shape)
        (ho, wo), _ = geometry((h, w), self.pool_size, self.strides, self.padding, what="pool_size")
        return (ho, wo, c)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y (N, Ho, Wo, C): each window's max; remembers where each max was."""
        x = image_batch(self, x)
        if not self.built:
            self.build(x.shape[1:])
        (ho, wo), pads = geometry(x.shape[1:3], self.pool_size, self.strides, self.padding,
                                  what="pool_size")
        xp = pad_hw(x, pads, value=-np.inf)
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        n, c = x.shape[0], x.shape[3]
        windows = window_view(xp, self.pool_size, self.strides, (ho, wo)).reshape(n, ho, wo, ph * pw, c)
        arg = windows.argmax(axis=3)                            # the first max on ties
        y = np.take_along_axis(windows, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]
        # where each max sits in xp, as one flat index (n, p, q, c) for the backward
        rows = np.arange(ho)[None, :, None, None] * sh + arg // pw
        cols = np.arange(wo)[None, None, :, None] * sw + arg % pw
        hp, wp = xp.shape[1], xp.shape[2]
        self._where = ((np.arange(n)[:, None, None, None] * hp + rows) * wp + cols) * c \
            + np.arange(c)[None, None, None, :]
        self._arg, self._xp_shape, self._pads = arg, xp.shape, pads
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx: dy[n, i, j, c] added at the arg-max of window (n, i, j, c), zeros elsewhere."""
        if self._where is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        if np.shape(dy) != self._where.shape:
            raise ValueError(f"{self.name}: dy must have shape {self._where.shape}, got {np.shape(dy)}")
        size = int(np.prod(self._xp_shape))
        dxp = np.bincount(self._where.ravel(), weights=np.ravel(dy), minlength=size)
        dxp = dxp.reshape(self._xp_shape).astype(np.result_type(dy), copy=False)
        (top, bottom), (left, right) = self._pads
        return dxp[:, top:dxp.shape[1] - bottom, left:dxp.shape[2] - right, :]

    def kink_signs(self) -> list[np.ndarray]:
        """The winner's place in each window: it changes exactly where a finite difference
        crosses a tie (the max is not differentiable there)."""
        return [] if self._arg is None else [self._arg]

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}

    @classmethod
    def from_config(cls, cfg: dict) -> "MaxPooling2D":
        return cls(**{**cfg, "pool_size": tuple(cfg["pool_size"]), "strides": tuple(cfg["strides"])})


class UpSampling2D(Layer):
    """Nearest-neighbour upsampling: each pixel becomes a size[0] x size[1] block (Keras's
    default interpolation='nearest', the only one here)."""

    def __init__(self, size: Any = (2, 2), interpolation: str = "nearest", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.size = pair("size", size)
        if interpolation != "nearest":
            raise ValueError(f"UpSampling2D supports interpolation='nearest' only, got {interpolation!r}")
        self._shape: tuple | None = None

    def compute_output_shape(self, input_shape: Any) -> tuple:
        h, w, c = image_shape(self, input_shape)
        return (h * self.size[0], w * self.size[1], c)

    def build(self, input_shape: Any) -> None:
        image_shape(self, input_shape)
        super().build(input_shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y[n, i, j, c] = x[n, i // s0, j // s1, c]."""
        x = image_batch(self, x)
        if not self.built:
            self.build(x.shape[1:])
        self._shape = x.shape
        return x.repeat(self.size[0], axis=1).repeat(self.size[1], axis=2)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx[n, p, q, c] = sum of dy over the block that x[n, p, q, c] was copied to."""
        if self._shape is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        n, h, w, c = self._shape
        s0, s1 = self.size
        if np.shape(dy) != (n, h * s0, w * s1, c):
            raise ValueError(f"{self.name}: dy must have shape {(n, h * s0, w * s1, c)}, got {np.shape(dy)}")
        return dy.reshape(n, h, s0, w, s1, c).sum(axis=(2, 4))

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size)}

    @classmethod
    def from_config(cls, cfg: dict) -> "UpSampling2D":
        return cls(**{**cfg, "size": tuple(cfg["size"])})


register_layer(MaxPooling2D)
register_layer(UpSampling2D)
