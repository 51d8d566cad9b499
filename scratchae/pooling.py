"""`MaxPooling2D` and `UpSampling2D`, as in Keras: the convolutional autoencoder's way down and up.

Channels-last, x (N, H, W, C); each channel is pooled or repeated on its own. No parameters.

    MaxPooling2D   y[n, i, j, c] = max_{a < ph, b < pw} xp[n, i sh + a, j sw + b, c]
                   backward: each dy[n, i, j, c] goes to the one input that was the max of its
                   window (the arg-max); every other input of the window gets nothing from it.
                   Ties: the first max in the window's row-major order (a, then b), the one
                   np.argmax picks, gets it all; the others get 0 (the backward finds the
                   arg-max by comparing each cell with the max, in that order). With 'same' padding the
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
from .windows import check_padding, geometry, image_batch, image_shape, pad_hw, pair


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
        self._xp: np.ndarray | None = None          # the padded input of the last forward
        self._y: np.ndarray | None = None           # its output, each window's max
        self._pads: Any = None
        self._cells: list[tuple[int, int]] = []
        self._out: tuple[int, int] = (0, 0)

    def build(self, input_shape: Any) -> None:
        h, w, _ = image_shape(self, input_shape)
        geometry((h, w), self.pool_size, self.strides, self.padding, what="pool_size")
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        h, w, c = image_shape(self, input_shape)
        (ho, wo), _ = geometry((h, w), self.pool_size, self.strides, self.padding, what="pool_size")
        return (ho, wo, c)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y (N, Ho, Wo, C): each window's max, as a running max over the window's ph pw cells.

        Cell k = (a, b) of every window at once is the strided slice xp[:, a::sh, b::sw, :]
        (`_cell`): y = max(cell 0, cell 1, ...), ph pw - 1 elementwise maxima. Which cell won
        is not stored: the backward finds it again by comparing each cell with y."""
        x = image_batch(self, x)
        if not self.built:
            self.build(x.shape[1:])
        out, pads = geometry(x.shape[1:3], self.pool_size, self.strides, self.padding,
                             what="pool_size")
        xp = pad_hw(x, pads, value=-np.inf)
        cells = [(a, b) for a in range(self.pool_size[0]) for b in range(self.pool_size[1])]
        y = self._cell(xp, *cells[0], out).copy()
        for a, b in cells[1:]:
            np.maximum(y, self._cell(xp, a, b, out), out=y)
        self._xp, self._y, self._pads, self._cells, self._out = xp, y, pads, cells, out
        return y

    def _cell(self, xp: np.ndarray, a: int, b: int, out: tuple[int, int]) -> np.ndarray:
        """Cell (a, b) of every window: xp[n, i sh + a, j sw + b, c] for all (n, i, j, c), a view."""
        (sh, sw), (ho, wo) = self.strides, out
        return xp[:, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw, :]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx: dy[n, i, j, c] added at the arg-max of window (n, i, j, c), zeros elsewhere
        (added where windows overlap: several may share their max).

        The cells are visited in row-major order with `rest`, the part of dy no cell has
        taken yet: cell k takes rest where it equals the max (share = rest * [cell == y]),
        and rest keeps 0 there, so on a tie the first max takes it all and the later ones
        get 0 (np.argmax's choice). Where the windows tile the input without overlapping
        (strides = pool_size, the usual case), each input is in one window: shares are
        written straight into dx, no zeros first."""
        if self._y is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        if np.shape(dy) != self._y.shape:
            raise ValueError(f"{self.name}: dy must have shape {self._y.shape}, got {np.shape(dy)}")
        dtype = np.result_type(dy)
        (sh, sw), (ph, pw), (ho, wo) = self.strides, self.pool_size, self._out
        xp_shape = self._xp.shape
        tiles = (sh, sw) == (ph, pw) and xp_shape[1] == ho * ph and xp_shape[2] == wo * pw
        finite = bool(np.isfinite(dy).all())          # rest * 0 is 0 only for a finite rest
        write = tiles and finite                      # shares written, not added to zeros
        dxp = np.empty(xp_shape, dtype=dtype) if write else np.zeros(xp_shape, dtype=dtype)
        rest = dy
        last = len(self._cells) - 1
        for k, (a, b) in enumerate(self._cells):
            hit = self._cell(self._xp, a, b, self._out) == self._y
            into = self._cell(dxp, a, b, self._out)
            if write:
                share = np.multiply(rest, hit, out=into)
            else:
                share = rest * hit if finite else np.where(hit, rest, 0)
                into += share
            if k < last:
                rest = np.where(hit, 0, rest) if not finite else \
                    (rest - share if k == 0 else np.subtract(rest, share, out=rest))
        (top, bottom), (left, right) = self._pads
        return dxp[:, top:dxp.shape[1] - bottom, left:dxp.shape[2] - right, :]

    def kink_signs(self) -> list[np.ndarray]:
        """The winner's place in each window (the first cell equal to the max): it changes
        exactly where a finite difference crosses a tie (the max is not differentiable there)."""
        if self._y is None:
            return []
        arg = np.full(self._y.shape, -1, dtype=np.int16)
        for k, (a, b) in enumerate(self._cells):
            arg[(arg < 0) & (self._cell(self._xp, a, b, self._out) == self._y)] = k
        return [arg]

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
        rows = dy[:, 0::s0]                  # the block's rows summed, then its columns:
        for i in range(1, s0):               # each a strided add over the whole batch
            rows = rows + dy[:, i::s0]
        dx = rows[:, :, 0::s1]
        for j in range(1, s1):
            dx = dx + rows[:, :, j::s1]
        return dx if s0 * s1 > 1 else np.array(dx, dtype=np.result_type(dy))

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size)}

    @classmethod
    def from_config(cls, cfg: dict) -> "UpSampling2D":
        return cls(**{**cfg, "size": tuple(cfg["size"])})


register_layer(MaxPooling2D)
register_layer(UpSampling2D)
