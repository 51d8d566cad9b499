"""Tied weights: `DenseTranspose`, a decoder layer that uses its encoder's kernel, transposed.

An autoencoder with tied weights decodes with the transpose of the matrix it encodes with:

    encoder   h = act_e(x . W + b_e)          x (N, I), W (I, J), h (N, J)
    decoder   y = act(h . W^T + b)            y (N, I), b (I,) the decoder's own bias

Half the parameters, and a classic regulariser (the decoder cannot undo whatever the encoder
does). Keras has no such layer; Géron's book ("Hands-On Machine Learning", the autoencoder
chapter) writes one and calls it `DenseTranspose`, and so does scratchae:

    >>> from scratchae.layers import Dense, Input
    >>> from scratchae.models import Model
    >>> x = Input(shape=(784,))
    >>> encoder = Dense(32, activation="relu", name="code")
    >>> decoder = DenseTranspose(encoder, activation="sigmoid", name="output")
    >>> model = Model(x, decoder(encoder(x)))
    >>> decoder.params["kernel"] is encoder.params["kernel"]      # one array, held twice
    True
    >>> model.count_params()                        # 784*32 + 32 + 784: the kernel counted once
    25904

How the sharing works (the contract of `scratchae.layers`): the decoder's `params["kernel"]`
*is* the encoder's array and its `grads["kernel"]` *is* the encoder's gradient array. Each
backward adds (`+=`) its own path's gradient into that one array, so after a backward it holds
the sum of both paths, the gradient of the shared kernel (the sum rule: W feeds the loss along
two routes). `Model.parameters()` lists the array once, so the optimizer keeps one state for it
and updates it once; packing (`scratchae.buffers`) packs it once and gives both layers the
same view. A backward that *assigns* (`self.grads["kernel"] = ...`) instead of adding cuts the
decoder's gradient loose from the encoder's: its share is lost (the model re-ties the arrays
and packing refuses it; `scratchae.exercises.broken.TiedAssignsKernelGradient` is that mistake).

Packing replaces the entries of `params` and `grads` with views of one buffer, so the layer
reads `self.params["kernel"]` at every call and never keeps the array elsewhere.

Saving: `get_config` names the encoder ("tied_to"), `link` finds it by that name when
`load_model` has made every layer, and `build` (when the loaded decoder is called on its
input) takes the encoder's kernel. The file holds the kernel once, under the encoder's name.
A model holding the decoder without its encoder (the `decoder` of `autoencoders.tied`) is
saved with a reference that cannot be resolved: save the whole autoencoder.

Derived in docs/backprop.md#tied-weights.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import activations as _activations
from .layer import Layer, register_layer


class DenseTranspose(Layer):
    """y = activation(x . W^T + bias), W the kernel of the `Dense` layer `dense` (shared).

    Parameters
    ----------
    dense : Dense (or the name of one, for `from_config`; `link` resolves it)
        The encoder whose kernel (input_dim_e, units_e) this layer uses transposed. It must be
        built (called on its input) before this layer is.
    activation : 'relu', 'sigmoid', 'linear', None or an Activation
        Applied after the affine map (None: identity).
    use_bias : bool
        Whether to add a bias of its own, shape (dense.input_dim,), initialised to zeros.

    Shapes: x (N, dense.units) -> y (N, dense.input_dim). params: {"kernel": the encoder's
    array, "bias": this layer's own}; grads likewise (the kernel's is the encoder's array).
    """

    def __init__(self, dense: Any, activation: Any = None, use_bias: bool = True,
                 name: str | None = None, dtype: Any = None) -> None:
        if not isinstance(dense, (Layer, str)):
            raise TypeError(f"DenseTranspose ties to a Dense layer (or its name), got {type(dense).__name__}")
        if dtype is None and isinstance(dense, Layer):
            dtype = dense.dtype
        super().__init__(name=name, dtype=dtype)
        self.dense: Any = dense
        self.activation = _activations.get(activation)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
        self.use_bias = use_bias
        self.activity_regularizer = None     # none (what the checker and summaries look for)
        self._x: np.ndarray | None = None
        self.logits: np.ndarray | None = None

    # -- the tie ------------------------------------------------------------------------------
    @property
    def tied_to(self) -> str:
        """The encoder's name."""
        return self.dense if isinstance(self.dense, str) else self.dense.name

    @property
    def tied(self) -> bool:
        """Whether this layer's kernel is (the same array as) its encoder's, gradient too."""
        d = self.dense
        return (not isinstance(d, str) and "kernel" in self.params and "kernel" in d.params
                and self.params["kernel"] is d.params["kernel"]
                and self.grads.get("kernel") is d.grads.get("kernel"))

    def _encoder(self) -> Layer:
        if isinstance(self.dense, str):
            raise ValueError(f"{self.name} is tied to {self.dense!r} by name only: link it first "
                             "(load_model does), or pass the layer itself")
        return self.dense

    @property
    def units(self) -> int:
        """The output width: the encoder's input width."""
        return int(self.params["kernel"].shape[0]) if "kernel" in self.params else self._encoder().input_dim

    @property
    def input_dim(self) -> int:
        """The input width: the encoder's units."""
        return int(self.params["kernel"].shape[1]) if "kernel" in self.params else self._encoder().units

    def link(self, layers: dict[str, Layer]) -> None:
        """Find the encoder named in the config (`load_model` calls this once every layer exists)."""
        if not isinstance(self.dense, str):
            return
        found = layers.get(self.dense)
        if found is None:
            raise ValueError(f"{self.name} is tied to {self.dense!r}, which is not in this model: "
                             "save the model that holds both layers (the whole autoencoder)")
        self.dense = found

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Take the encoder's kernel (and its gradient array) and create this layer's bias.
        input_shape must be (dense.units,); the encoder must be built."""
        if isinstance(input_shape, list):
            raise ValueError(f"{self.name} takes one input, got a list of {len(input_shape)}")
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        dense = self._encoder()
        kernel = dense.params.get("kernel") if dense.built else None
        if kernel is None or np.ndim(kernel) != 2:
            raise ValueError(f"{self.name} is tied to {dense.name}, which has no kernel yet: call "
                             f"{dense.name} on its input before {self.name}")
        if shape != (kernel.shape[1],):
            raise ValueError(f"{self.name} decodes {dense.name}'s {kernel.shape[1]} units: it takes "
                             f"inputs of shape {(None, kernel.shape[1])}, got {(None, *shape)}")
        if kernel.dtype != self.dtype:
            raise TypeError(f"{self.name} is {self.dtype.name} but {dense.name}'s kernel is "
                            f"{kernel.dtype.name}: give both layers one dtype")
        if self.built:
            super().build(shape)            # refuses another shape; the bias is kept
            return
        self.params = {"kernel": kernel}
        self.grads = {"kernel": dense.grads["kernel"]}
        if self.use_bias:
            self.params["bias"] = np.zeros(kernel.shape[0], dtype=self.dtype)
            self.grads["bias"] = np.zeros(kernel.shape[0], dtype=self.dtype)
        super().build(shape)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (self.units,)

    def kink_signs(self) -> list[np.ndarray]:
        """sign(z) under a ReLU: where a difference crosses its kink."""
        if getattr(self.activation, "kink_at_zero", False) and self.logits is not None:
            return [np.sign(self.logits)]
        return []

    # -- forward / backward -----------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y = activation(x . W^T + bias); x (N, J) -> y (N, I), W (I, J) read from params now."""
        if isinstance(x, (list, tuple)):
            raise ValueError(f"{self.name} takes one input, got a list of {len(x)}")
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            raise ValueError(f"{self.name} expects a 2-D NumPy array (N, features), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if not self.built:
            self.build((x.shape[1],))
        kernel = self.params["kernel"]
        if x.shape[1] != kernel.shape[1]:
            raise ValueError(f"{self.name} expects inputs with {kernel.shape[1]} features (the "
                             f"transpose of kernel {kernel.shape}), got shape {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        self._x = x
        z = x @ kernel.T
        if self.use_bias:
            z += self.params["bias"]
        self.logits = z
        return self.activation.forward(z)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy = dL/dy (N, I) -> dL/dx (N, J); adds this path's share to the shared kernel's gradient.

        From z[n, i] = sum_j x[n, j] W[i, j] + b[i], the partial of z[n, i] by W[k, l] is
        x[n, l] if i == k (else 0), and by x[n, j] it is W[i, j]:

            dz               = activation.backward(dy)                     (N, I)
            dL/dW[k, l]     += sum_n dz[n, k] x[n, l]   ->  dz^T . x       (I, J), the kernel's shape
            dL/dbias[i]     += sum_n dz[n, i]           ->  dz summed over n
            dL/dx[n, j]      = sum_i dz[n, i] W[i, j]   ->  dz . W         (N, J)

        The kernel gradient is added (`+=`) into grads["kernel"], which is the encoder's array:
        the encoder's own backward adds its x_e^T . dz_e there too, so the array ends the step
        holding the sum of both paths. Derived in docs/backprop.md#tied-weights.
        """
        if self._x is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        kernel = self.params["kernel"]
        if np.shape(dy) != (self._x.shape[0], kernel.shape[0]):
            raise ValueError(f"{self.name}: dy must have shape {(self._x.shape[0], kernel.shape[0])}, "
                             f"got {np.shape(dy)}")
        dz = self.activation.backward(dy)
        self.grads["kernel"] += dz.T @ self._x
        if self.use_bias:
            self.grads["bias"] += dz.sum(axis=0)
        return dz @ kernel

    # -- saving -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {**super().get_config(), "tied_to": self.tied_to, "activation": self.activation.name,
                "use_bias": self.use_bias}

    @classmethod
    def from_config(cls, cfg: dict) -> "DenseTranspose":
        return cls(cfg["tied_to"], activation=cfg["activation"], use_bias=cfg["use_bias"],
                   name=cfg["name"], dtype=cfg["dtype"])

    def __repr__(self) -> str:
        return (f"DenseTranspose(tied_to={self.tied_to!r}, activation={self.activation.name!r}, "
                f"name={self.name!r})")


register_layer(DenseTranspose)
