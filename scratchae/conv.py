"""`Conv2D`, Keras's 2-D convolution layer, channels-last, with two implementations.

    x = Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)     # Keras's line

    y = activation(z),   z[n, i, j, f] = b[f] + sum_{a, b, c} xp[n, i sh + a, j sw + b, c] K[a, b, c, f]

x (N, H, W, C), kernel K (kh, kw, C, F), bias b (F,), y (N, Ho, Wo, F), xp the input with its
'same' padding zeros (Keras's sizes and padding: `scratchae.windows`). Like Keras's, this is a
cross-correlation (the kernel is not flipped); the input gradient is then a convolution with
the flipped kernel (docs/backprop.md#conv2d).

The switch between the two implementations is public, per layer:

    implementation='fast'    (default) `scratchae.conv_fast`: im2col, one matrix product for
                             the forward and one per gradient of the backward
    implementation='naive'   `scratchae.conv_naive`: loops over every output element, the
                             formula as written; the same numbers, a few hundred times slower

The activation is the library's own piece (`scratchae.activations`), applied as Dense applies
it: y = act.forward(z) and dz = act.backward(dy).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import activations as _activations
from . import initializers
from ._validate import positive_int
from .conv_fast import conv2d_backward_fast, conv2d_forward_fast
from .conv_naive import conv2d_backward_naive, conv2d_forward_naive
from .layer import Layer, register_layer
from .utils import as_rng
from .windows import check_padding, geometry, image_batch, image_shape, pair

IMPLEMENTATIONS = ("fast", "naive")


class Conv2D(Layer):
    """2-D convolution over (N, H, W, C) images, with Keras's arguments and layouts.

    Parameters
    ----------
    filters : int
        F, the number of output channels.
    kernel_size : int or (int, int)
        (kh, kw); an int k means (k, k).
    strides : int or (int, int)
        (sh, sw), the step between windows (default 1).
    padding : 'valid' or 'same'
        'valid': no padding, Ho = floor((H - kh) / sh) + 1; 'same': zeros around, Ho = ceil(H / sh),
        the odd one at the bottom and right (Keras's and TensorFlow's rule).
    activation : 'relu', 'sigmoid', 'linear', None or an Activation
    use_bias : bool
    kernel_initializer, bias_initializer : str or callable
        Keras's names; glorot_uniform's fans are kh kw C and kh kw F (`scratchae.initializers`).
    seed : int, Generator or None
        Randomness of the initial weights (None: the library generator).
    implementation : 'fast' or 'naive'
        Which code computes the convolution (see the module's docstring); the same numbers.
    input_shape : (H, W, C) or None
        Build at once (as the first layer of a Sequential).

    Shapes: kernel (kh, kw, C, F), bias (F,); x (N, H, W, C) -> y (N, Ho, Wo, F).
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 seed: int | np.random.Generator | None = None, implementation: str = "fast",
                 input_shape: tuple[int, int, int] | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.filters = positive_int("filters", filters)
        self.kernel_size = pair("kernel_size", kernel_size)
        self.strides = pair("strides", strides)
        self.padding = check_padding(padding)
        self.activation = _activations.get(activation)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
        self.use_bias = use_bias
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be 'fast' or 'naive', got {implementation!r}")
        self.implementation = implementation
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_names = (kernel_initializer if isinstance(kernel_initializer, str) else "custom",
                            bias_initializer if isinstance(bias_initializer, str) else "custom")
        self._rng = as_rng(seed) if seed is not None else None
        self._x: np.ndarray | None = None
        self._cache: Any = None
        self.logits: np.ndarray | None = None
        if input_shape is not None:
            self.build(input_shape)

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create kernel (kh, kw, C, F) and bias (F,) for inputs (H, W, C), once; refuse a kernel
        larger than the input with padding='valid', and another channel count later."""
        h, w, c = image_shape(self, input_shape)
        geometry((h, w), self.kernel_size, self.strides, self.padding)       # raises if it cannot fit
        if self.built:
            self._check_channels(c)
            super().build((h, w, c))              # another (H, W) is refused, as for any layer
            return
        rng = self._rng if self._rng is not None else as_rng(None)
        shape = (*self.kernel_size, c, self.filters)
        self.params["kernel"] = np.ascontiguousarray(self.kernel_initializer(shape, self.dtype, rng),
                                                     dtype=self.dtype)
        if self.use_bias:
            self.params["bias"] = np.ascontiguousarray(
                self.bias_initializer((self.filters,), self.dtype, rng), dtype=self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        super().build((h, w, c))

    def _check_channels(self, c: int) -> None:
        k = self.params["kernel"]
        if c != k.shape[2]:
            raise ValueError(f"{self.name} has a kernel {k.shape} for inputs with {k.shape[2]} "
                             f"channel(s), got {c} channel(s)")

    def compute_output_shape(self, input_shape: Any) -> tuple:
        h, w, _ = image_shape(self, input_shape)
        (ho, wo), _ = geometry((h, w), self.kernel_size, self.strides, self.padding)
        return (ho, wo, self.filters)

    def kink_signs(self) -> list[np.ndarray]:
        """sign(z) under a ReLU: where a finite difference crosses the kink."""
        if getattr(self.activation, "kink_at_zero", False) and self.logits is not None:
            return [np.sign(self.logits)]
        return []

    # -- forward / backward ----------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y = activation(conv(x) + b); x (N, H, W, C) -> y (N, Ho, Wo, F)."""
        return self.activation.forward(self.forward_logits(x))

    def forward_logits(self, x: np.ndarray) -> np.ndarray:
        """z = conv(x) + b, before the activation; caches what the backward needs."""
        x = image_batch(self, x)
        if not self.built:
            self.build(x.shape[1:])
        self._check_channels(x.shape[3])
        kernel, bias = self.params["kernel"], self.params.get("bias")
        if self.implementation == "naive":
            z, self._cache = conv2d_forward_naive(x, kernel, bias, self.strides, self.padding), None
        else:
            z, self._cache = conv2d_forward_fast(x, kernel, bias, self.strides, self.padding)
        self._x, self.logits = x, z
        return z

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy = dL/dy (N, Ho, Wo, F) -> dL/dx (N, H, W, C); adds dL/dK and dL/db into grads.

            dz              = activation.backward(dy)
            dK[a, b, c, f] += sum_{n, i, j} dz[n, i, j, f] xp[n, i sh + a, j sw + b, c]
            db[f]          += sum_{n, i, j} dz[n, i, j, f]
            dxp[n, p, q, c] = sum_{f} sum over (i, j, a, b) with i sh + a = p, j sw + b = q
                              of dz[n, i, j, f] K[a, b, c, f]      (dx: dxp without the padding)

        The input gradient sums over the output channels f; as a correlation it is the full
        convolution of dz with the flipped kernel. Derived in docs/backprop.md#conv2d.
        """
        if self._x is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        if np.shape(dy) != self.logits.shape:
            raise ValueError(f"{self.name}: dy must have shape {self.logits.shape}, got {np.shape(dy)}")
        dz = self.activation.backward(dy)
        kernel = self.params["kernel"]
        if self.implementation == "naive":
            dx, dk, db = conv2d_backward_naive(dz, self._x, kernel, self.strides, self.padding)
        else:
            dx, dk, db = conv2d_backward_fast(dz, self._cache, kernel)
        self.grads["kernel"] += dk
        if self.use_bias:
            self.grads["bias"] += db
        return dx

    # -- what summary() and the checker show of it -------------------------------------------
    def summary_notes(self) -> str:
        """'relu', 'sigmoid', ...: the activation (and the implementation when naive)."""
        return self.activation.name + (", naive" if self.implementation == "naive" else "")

    def gradcheck_parts(self, x: np.ndarray) -> list[tuple[str, Any, Any]]:
        """The activation, checked alone on the logits it sees (unless the identity)."""
        if self.activation.name == "linear":
            return []
        return [(self.activation.name, self.activation, np.array(self.forward_logits(x), dtype=np.float64))]

    def get_config(self) -> dict:
        init = lambda n: n if n in initializers.INITIALIZERS else "zeros"
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "activation": self.activation.name, "use_bias": self.use_bias,
                "kernel_initializer": init(self._init_names[0]),
                "bias_initializer": init(self._init_names[1]), "implementation": self.implementation}

    @classmethod
    def from_config(cls, cfg: dict) -> "Conv2D":
        cfg = dict(cfg)
        cfg["kernel_size"], cfg["strides"] = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
        return cls(**cfg)

    def __repr__(self) -> str:
        return (f"Conv2D({self.filters}, {self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}, activation={self.activation.name!r}, name={self.name!r})")


register_layer(Conv2D)
