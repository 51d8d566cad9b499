"""`Dense`: the fully connected layer, y = activation(x . kernel + bias).

`Dense(units, activation="relu")` is the affine map z = x . kernel + bias followed by an
activation piece (CS231n's "sandwich" layer), so each part can be checked on its own:

    >>> import numpy as np
    >>> layer = Dense(2, input_dim=3, dtype="float64")
    >>> layer.set_weights([np.array([[1., 0.], [0., 1.], [1., 1.]]), np.array([0.5, -0.5])])
    >>> layer.forward(np.array([[1., 2., 3.]]))          # [1+3+.5, 2+3-.5]
    array([[4.5, 4.5]])

It meets the contract of `scratchae.layers.Layer`: backward adds its parameter gradients
into `grads` and returns dL/dx; an activity penalty is its loss term.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import activations as _activations
from . import initializers, regularizers
from ._validate import positive_int
from .layer import Layer, register_layer
from .utils import as_rng


class Dense(Layer):
    """Fully connected layer: y = activation(x . kernel + bias), with Keras's arguments.

    Parameters
    ----------
    units : int
        Width of the output.
    activation : 'relu', 'sigmoid', 'linear', None or an Activation
        Applied after the affine map (None: identity).
    use_bias : bool
        Whether to add a bias.
    kernel_initializer, bias_initializer : str or callable
        Keras names: 'glorot_uniform' (default kernel), 'zeros' (default bias), ...
    activity_regularizer : Regularizer or None
        A penalty on the layer's output (after the activation), e.g. `l1(1e-5)`. Its value is
        stored in `self.penalty` by forward; `loss_terms()` gives it to the model as
        {"penalty": value} (`History.parts["<layer>_penalty"]`).
    input_dim, input_shape : int or (int,)
        Build the layer at once (otherwise it is built by its first input).
    dtype : 'float32' (default from `config.floatx()`) or 'float64'
        Parameter and computation type. Inputs of another float type are converted to it.
    seed : int, Generator or None
        Randomness of the initial weights (None: the library generator, see `utils`).

    Shapes: kernel (input_dim, units), bias (units,); x (N, input_dim) -> y (N, units).
    """

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 activity_regularizer: regularizers.Regularizer | None = None,
                 input_dim: int | None = None, input_shape: tuple[int, ...] | None = None,
                 dtype: Any = None, name: str | None = None,
                 seed: int | np.random.Generator | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.units = positive_int("units", units)
        self.activation = _activations.get(activation)
        if not isinstance(use_bias, bool):
            raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._init_names = (kernel_initializer if isinstance(kernel_initializer, str) else "custom",
                            bias_initializer if isinstance(bias_initializer, str) else "custom")
        self._rng = as_rng(seed) if seed is not None else None
        self._x: np.ndarray | None = None
        self.logits: np.ndarray | None = None     # z of the last forward (the affine half's output)
        self.penalty = 0.0      # activity penalty of the last forward (0 without a regularizer)
        if input_shape is not None:
            if isinstance(input_shape, int) or len(input_shape) != 1:
                raise ValueError(f"input_shape must be a 1-tuple (features,), got {input_shape!r}")
            input_dim = input_shape[0]
        if input_dim is not None:
            self.build(positive_int("input_dim", input_dim))

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create kernel (input_dim, units) and bias (units,), once; input_shape is (input_dim,)
        (or the int input_dim)."""
        if isinstance(input_shape, list):
            raise ValueError(f"{self.name} takes one input, got a list of {len(input_shape)}")
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        if len(shape) != 1:
            raise ValueError(f"{self.name} expects inputs of shape (batch, features), got {(None, *shape)}")
        input_dim = shape[0]
        if self.built:
            if input_dim != self.input_dim:
                raise ValueError(
                    f"{self.name} was built for inputs of width {self.input_dim}, "
                    f"cannot be called on width {input_dim}"
                )
            return
        rng = self._rng if self._rng is not None else as_rng(None)
        kernel = self.kernel_initializer((input_dim, self.units), self.dtype, rng)
        self.params["kernel"] = np.ascontiguousarray(kernel, dtype=self.dtype)
        if self.use_bias:
            bias = self.bias_initializer((self.units,), self.dtype, rng)
            self.params["bias"] = np.ascontiguousarray(bias, dtype=self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.input_dim = input_dim
        super().build((input_dim,))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (self.units,)

    def loss_terms(self) -> dict[str, float]:
        """{"penalty": the activity penalty of the last forward} with a regularizer, else {}."""
        return {} if self.activity_regularizer is None else {"penalty": self.penalty}

    def kink_signs(self) -> list[np.ndarray]:
        """sign(z) under a ReLU, sign(y) under an L1 penalty: where a difference crosses a kink."""
        out = []
        if getattr(self.activation, "kink_at_zero", False) and self.logits is not None:
            out.append(np.sign(self.logits))
        reg = self.activity_regularizer
        if getattr(reg, "kink_at_zero", False) and getattr(reg, "_cache", None) is not None:
            out.append(np.sign(reg._cache))
        return out

    # -- forward / backward ----------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y = activation(x . kernel + bias); x (N, input_dim) -> y (N, units).
        (The same in training and in predict.)

        The affine half (`forward_logits`) caches x for the kernel gradient; the activation
        caches what it needs. With an activity regularizer, also computes the penalty of y
        into `self.penalty` (the model adds it to the loss).
        """
        y = self.activation.forward(self.forward_logits(x))
        if self.activity_regularizer is not None:
            self.penalty = self.activity_regularizer.forward(y)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Backpropagate through y = activation(z): dy = dL/dy (N, units) -> dL/dx (N, input_dim).

            dy += d(penalty)/dy                 if there is an activity regularizer
            dz  = activation.backward(dy)       (N, units), the activation's own backward
            dx  = backward_logits(dz)           the affine half: writes grads, returns dL/dx

        y feeds two things, the next piece and the penalty, so dL/dy[n, j] is the sum of the two
        routes (the sum rule): the upstream dy plus dpenalty/dy[n, j]. Then the chain through
        y = act(z) and z = x . kernel + bias, in reverse. Derived in docs/backprop.md#dense
        and docs/backprop.md#the-chain.
        """
        return self.backward_logits(self._dz(dy))

    def _dz(self, dy: np.ndarray) -> np.ndarray:
        """dL/dz from dL/dy: the penalty's gradient added, then the activation's backward."""
        if self._x is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        if np.shape(dy) != (self._x.shape[0], self.units):
            raise ValueError(f"{self.name}: dy must have shape {(self._x.shape[0], self.units)}, "
                             f"got {np.shape(dy)}")
        if self.activity_regularizer is not None:
            dy = dy + self.activity_regularizer.backward()
        return self.activation.backward(dy)

    def forward_logits(self, x: np.ndarray) -> np.ndarray:
        """The affine half alone, z = x . kernel + bias (N, units); caches x for backward.

        `forward` is this followed by the activation. A model that trains its last sigmoid
        and binary cross-entropy as one loss on logits calls it directly (`scratchae.speed`).
        """
        if isinstance(x, (list, tuple)):
            raise ValueError(f"{self.name} takes one input, got a list of {len(x)}")
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.name} expects a NumPy array, got {type(x).__name__}")
        if x.ndim != 2:
            raise ValueError(f"{self.name} expects a 2-D input (N, features), got shape {x.shape}")
        if not self.built:
            self.build(x.shape[1])
        if x.shape[1] != self.input_dim:
            raise ValueError(
                f"{self.name} expects inputs with {self.input_dim} features (kernel shape "
                f"{self.params['kernel'].shape}), got shape {x.shape}"
            )
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        self._x = x
        z = x @ self.params["kernel"]
        if self.use_bias:
            z += self.params["bias"]
        self.logits = z
        return z

    def backward_logits(self, dz: np.ndarray) -> np.ndarray:
        """The affine half's backward: dz = dL/dz (N, units) -> dL/dx (N, input_dim).

        From z[m, j] = sum_i x[m, i] kernel[i, j] + bias[j]: the partial of z[m, j] by kernel[i, k]
        is x[m, i] if j == k, else 0, so the chain-rule sum over every (m, j) keeps j = k (and
        likewise m = n for dL/dx[n, i]); each sum left is a matrix product:

            dL/dkernel[i, j] = sum_n x[n, i] dz[n, j]   ->  x^T . dz        (input_dim, units)
            dL/dbias[j]      = sum_n dz[n, j]           ->  dz summed over n  (units,)
            dL/dx[n, i]      = sum_j dz[n, j] kernel[i, j]  ->  dz . kernel^T  (N, input_dim)

        Derived, shapes checked, in docs/backprop.md#dense.

        Adds (the contract's +=) x^T . dz to self.grads["kernel"] and dz summed over n to
        ["bias"]; returns dL/dx.
        """
        self.add_parameter_gradients(dz)
        return dz @ self.params["kernel"].T

    def add_parameter_gradients(self, dz: np.ndarray) -> None:
        """grads["kernel"] += x^T . dz and grads["bias"] += dz summed over n (the sum over n)."""
        if self._x is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        if np.shape(dz) != (self._x.shape[0], self.units):
            raise ValueError(f"{self.name}: dz must have shape {(self._x.shape[0], self.units)}, "
                             f"got {np.shape(dz)}")
        self.grads["kernel"] += self._x.T @ dz
        if self.use_bias:
            self.grads["bias"] += dz.sum(axis=0)

    # -- what summary() and the checker show of it -------------------------------------------
    def summary_notes(self) -> str:
        """'relu', 'sigmoid, L1(l1=1e-05)', ...: the activation and the activity penalty."""
        reg = self.activity_regularizer
        return self.activation.name + (f", {reg!r}" if reg is not None else "")

    def parts(self) -> list[tuple[str, Any]]:
        """(name, piece) of the pieces checked alone when the layer fails a check: its
        activation (unless the identity) and its activity regularizer."""
        out = [] if self.activation.name == "linear" else [(self.activation.name, self.activation)]
        reg = self.activity_regularizer
        if reg is not None:
            out.append((getattr(reg, "name", None) or type(reg).__name__.lower(), reg))
        return out

    def gradcheck_parts(self, x: np.ndarray) -> list[tuple[str, Any, Any]]:
        """(name, piece, the input it sees for the layer input x) for each of `parts()`: the
        activation on the logits, the regularizer on the output (the exception in place of
        an input if the activation raised computing it)."""
        z = self.forward_logits(x)
        out: list[tuple[str, Any, Any]] = []
        for name, piece in self.parts():
            if piece is self.activation:
                out.append((name, piece, np.array(z, dtype=np.float64)))
                continue
            try:
                out.append((name, piece, np.array(self.activation.forward(z), dtype=np.float64)))
            except Exception as exc:            # no input for the regularizer: the activation raised
                out.append((self.parts()[0][0], self.activation, exc))
        return out

    def get_config(self) -> dict:
        reg = self.activity_regularizer
        return {**super().get_config(), "units": self.units, "activation": self.activation.name,
                "use_bias": self.use_bias, "kernel_initializer": self._init_names[0],
                "bias_initializer": self._init_names[1],
                "activity_regularizer": reg.get_config() if reg is not None else None,
                "input_dim": self.input_dim}

    @classmethod
    def from_config(cls, cfg: dict) -> "Dense":
        return cls(cfg["units"], activation=cfg["activation"],
                   activity_regularizer=regularizers.from_config(cfg["activity_regularizer"]),
                   **dense_arguments(cfg))

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation.name!r}, name={self.name!r})"



def dense_arguments(cfg: dict) -> dict:
    """The constructor arguments every Dense-like layer saves the same way (a custom
    initializer is saved by name 'custom' and loads as 'zeros': the weights are loaded anyway)."""
    init = lambda n: n if n in initializers.INITIALIZERS else "zeros"
    return {"use_bias": cfg["use_bias"], "kernel_initializer": init(cfg["kernel_initializer"]),
            "bias_initializer": init(cfg["bias_initializer"]), "input_dim": cfg["input_dim"],
            "dtype": cfg["dtype"], "name": cfg["name"]}


register_layer(Dense)
