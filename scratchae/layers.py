"""Layers: the contract every layer meets (`Layer`), `Input`, and `Dense`.

The contract (what the model, saving, `summary()`, the checker and the monitor read)
------------------------------------------------------------------------------------
    y  = layer.forward(x, training=False)   caches what backward needs. x is one array, or a
                                            list of arrays when the layer was called on a list
                                            (`Concatenate()([a, b])`). training=True in `fit`.
    dx = layer.backward(dy)                 dy = dL/dy, shape of y -> dL/dx, shape of x (a list,
                                            one gradient per input, for a list input)
    layer.params, layer.grads               twin dicts of arrays, same keys and shapes. Backward
                                            *adds* each parameter's gradient into grads[key]
                                            (`+=`); the model zeroes every grads array at the
                                            start of a step. So an array that two layers hold
                                            (a tied kernel) gets the sum of both paths.
    layer.loss_terms()                      {term: value} of the last forward: the layer's own
                                            additions to the loss (an activity penalty, a
                                            penalty on its weights). The model adds every
                                            layer's terms; the layer's backward adds their
                                            gradient (to dx and to grads).
    layer.compute_output_shape(shape)       the output shape for an input shape (no batch axis)
    layer.get_config(), cls.from_config(c)  rebuild from JSON (saving, `load_model`)
    layer.kink_signs()                      arrays whose signs change exactly when an input
                                            crosses a point where the layer is not
                                            differentiable (the checker's kink probe)
    layer.rng                               a layer that draws noise (`stochastic = True`) draws
                                            it from this generator, set by the model before a
                                            training forward and held still by the checker

Activations (`scratchae.activations`) follow forward/backward as is. Losses and regularizers
end a chain in a scalar, so for them

    value = piece.forward(x, ...)      a Python float (a loss also takes the targets)
    dx    = piece.backward(dvalue=1.0) dvalue = dL/dvalue, the upstream gradient of a scalar
                                       is a scalar (1 when the piece is the whole loss)

(`loss(y_true, y_pred)`, the call, keeps Keras's argument order so ported lines run; the
contract's `forward(y_pred, y_true)` puts the differentiated input first, as everywhere.)
The trainer (`scratchae.models`) and the checker (`scratchae.gradcheck`) check what a
backward hands back against this contract (`scratchae._contract`). docs/architecture.md says
what a new layer touches.

`Dense(units, activation="relu")` is the affine map y = x . kernel + bias followed by an
activation piece (CS231n's "sandwich" layer), so each part can be checked on its own:

    >>> import numpy as np
    >>> layer = Dense(2, input_dim=3, dtype="float64")
    >>> layer.set_weights([np.array([[1., 0.], [0., 1.], [1., 1.]]), np.array([0.5, -0.5])])
    >>> layer.forward(np.array([[1., 2., 3.]]))          # [1+3+.5, 2+3-.5]
    array([[4.5, 4.5]])

Calling a layer on the symbolic tensor from `Input(shape=(784,))` builds it and records the
graph, Keras-style, for `scratchae.models.Model(inputs, outputs)`.
"""
from __future__ import annotations

import inspect
import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from . import activations as _activations
from . import config, initializers, regularizers
from ._validate import array_from_list, positive_int
from .graph import SymbolicTensor
from .utils import as_rng

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)

#: Layer classes `load_model` rebuilds by name: the library's own, and yours after
#: `register_layer(cls)` (or pass `custom_objects={"Name": cls}` to `load_model`).
LAYERS: dict[str, type] = {}


def register_layer(cls: type) -> type:
    """Make `load_model` know a `Layer` subclass by its class name (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer expects a Layer subclass, got {cls!r}")
    LAYERS[cls.__name__] = cls
    return cls


def _unique_name(base: str) -> str:
    """Keras's naming: dense, dense_1, dense_2, ..."""
    k = next(_name_counters[base])
    return base if k == 0 else f"{base}_{k}"


class Layer:
    """The base of every layer: name, dtype, the params/grads twin dicts, the symbolic call,
    and the defaults of the contract above (no parameters, no loss terms, no kinks, output
    shaped like the input). A subclass writes `forward` and `backward`; one with parameters
    creates them in `build(input_shape)`, a layer with other output shapes overrides
    `compute_output_shape`, one with constructor arguments extends `get_config`."""

    #: True for a layer that draws noise in a training forward (from `self.rng`).
    stochastic = False
    _forward_takes_training = True

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls._forward_takes_training = _takes_training(cls.forward)

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        base = _snake(type(self).__name__)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name or _unique_name(base)
        self.dtype = config.standardize_dtype(dtype)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.built = False
        self.input_shape: Any = None       # without the batch axis: (784,), or a list of shapes
        self.rng: np.random.Generator | None = None

    # -- the symbolic call and building ---------------------------------------------------------
    def __call__(self, inputs: Any, training: bool = False):
        many = isinstance(inputs, (list, tuple))
        items = list(inputs) if many else [inputs]
        if items and all(isinstance(t, SymbolicTensor) for t in items):
            shapes = [t.shape[1:] for t in items]
            self.build(shapes if many else shapes[0])
            return SymbolicTensor((None, *self.output_shape[1:]), self, items, many=many)
        if any(isinstance(t, SymbolicTensor) for t in items):
            raise TypeError(f"{self.name}: mix of symbolic tensors and arrays in one call")
        arrays = [np.asarray(t) for t in items]
        return self.run_forward(arrays if many else arrays[0], training)

    def run_forward(self, inputs: Any, training: bool) -> Any:
        """forward(inputs, training=...) for a layer whose forward takes it, else forward(inputs)
        (a layer written as `def forward(self, x)` behaves the same in fit and predict)."""
        takes = self._forward_takes_training if "forward" not in self.__dict__ else \
            _takes_training(self.forward)                  # a forward put on the instance itself
        return self.forward(inputs, training=training) if takes else self.forward(inputs)

    def build(self, input_shape: Any) -> None:
        """Remember the input shape (no batch axis); a layer with parameters creates them here.
        Building twice on another shape is refused."""
        shape = _shape(input_shape)
        if self.built and self.input_shape is not None and shape != self.input_shape:
            raise ValueError(f"{self.name} was built for inputs of shape {self.input_shape}, "
                             f"cannot be called on {shape}")
        self.input_shape = shape
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """The output shape (no batch axis) for `input_shape`: by default the input's own."""
        if isinstance(input_shape, list):
            raise NotImplementedError(f"{type(self).__name__} takes a list of inputs: say its "
                                      "output shape in compute_output_shape")
        return tuple(input_shape)

    @property
    def output_shape(self) -> tuple:
        """(None, ...): the output shape with the batch axis, once built."""
        if self.input_shape is None:
            raise ValueError(f"{self.name} is not built: call it on an input first")
        return (None, *self.compute_output_shape(self.input_shape))

    # -- the contract's defaults -----------------------------------------------------------
    def forward(self, inputs: Any, training: bool = False) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, dy: np.ndarray) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def loss_terms(self) -> dict[str, float]:
        """{term: value} this layer adds to the loss, from its last forward (none by default)."""
        return {}

    def kink_signs(self) -> list[np.ndarray]:
        """Arrays whose signs change exactly where the last forward crossed a kink (none)."""
        return []

    def zero_grads(self) -> None:
        """Set every gradient to 0, in place (the model does it at the start of each step)."""
        for g in self.grads.values():
            g.fill(0)

    # -- weights ----------------------------------------------------------------------------
    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters, in Keras order (kernel, then bias)."""
        return [p.copy() for p in self.params.values()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Copy `weights` (Keras order) into the parameters, all checked before any is set."""
        self.assign_weights(self.check_weights(weights))

    def check_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """`weights` (Keras order) converted to the parameters' float type, after checking count,
        shapes and values. Finiteness is checked after the conversion: 1e39 is a fine float64
        but inf in float32, and is refused for a float32 layer. Only real numbers are taken
        (integers or floats): complex weights are refused, not cut to their real part."""
        if not isinstance(weights, (list, tuple)) or len(weights) != len(self.params):
            got = len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__
            raise ValueError(f"{self.name} expects a list of {len(self.params)} weight arrays, got {got}")
        checked = []
        for (key, param), w in zip(self.params.items(), weights):
            w = array_from_list(w, f"{self.name}/{key}") if isinstance(w, (list, tuple)) else np.asarray(w)
            if w.shape != param.shape:
                raise ValueError(f"{self.name}/{key}: expected shape {param.shape}, got {w.shape}")
            if not (np.issubdtype(w.dtype, np.integer) or np.issubdtype(w.dtype, np.floating)):
                raise ValueError(f"{self.name}/{key}: weights must be finite real numbers, got dtype "
                                 f"{w.dtype}" + (" (the imaginary part would be lost)"
                                                 if np.issubdtype(w.dtype, np.complexfloating) else ""))
            with np.errstate(over="ignore"):
                w = w.astype(param.dtype)
            if not np.all(np.isfinite(w)):
                raise ValueError(f"{self.name}/{key}: weights must be finite numbers "
                                 f"(in {param.dtype.name}: NaN, inf or too large)")
            checked.append(w)
        return checked

    def assign_weights(self, checked: list[np.ndarray]) -> None:
        """Copy arrays that `check_weights` returned into the parameters, in place."""
        for param, w in zip(self.params.values(), checked):
            param[...] = w

    # -- saving -----------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor's arguments as JSON values (a subclass adds its own)."""
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, cfg: dict) -> "Layer":
        """cls(**cfg): the inverse of get_config for a layer whose config is its arguments."""
        return cls(**cfg)

    def link(self, layers: dict[str, "Layer"]) -> None:
        """After `load_model` made every layer: find the layers this one refers to by name
        (a tied layer's encoder). Nothing by default."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _takes_training(forward: Any) -> bool:
    try:
        return "training" in inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return False


def _shape(shape: Any) -> Any:
    """A shape without its batch axis as a tuple of ints (a list of them for several inputs)."""
    if isinstance(shape, list):
        return [_shape(s) for s in shape]
    if isinstance(shape, int):
        return (shape,)
    return tuple(None if d is None else int(d) for d in shape)


class InputLayer(Layer):
    """Marks the start of a model: checks the width of the data, passes it on unchanged."""

    def __init__(self, shape: tuple[int, ...], name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(shape, int):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or len(shape) != 1:
            raise ValueError(
                f"Input shape must be (features,) for scratchae's Dense models, got {shape!r}"
            )
        self.input_dim = positive_int("Input shape[0]", shape[0])
        self.input_shape = (self.input_dim,)
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy

    def get_config(self) -> dict:
        return {**super().get_config(), "shape": [self.input_dim]}

    @classmethod
    def from_config(cls, cfg: dict) -> "InputLayer":
        return cls(tuple(cfg["shape"]), name=cfg["name"], dtype=cfg["dtype"])


def Input(shape: tuple[int, ...], name: str | None = None, dtype: Any = None) -> SymbolicTensor:
    """The symbolic input of a functional model: `input_img = Input(shape=(784,))`."""
    layer = InputLayer(shape, name=name, dtype=dtype)
    return SymbolicTensor(layer.output_shape, layer)


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
        {"penalty": value} (History's "<layer>_penalty").
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

    def get_config(self) -> dict:
        reg = self.activity_regularizer
        return {**super().get_config(), "units": self.units, "activation": self.activation.name,
                "use_bias": self.use_bias, "kernel_initializer": self._init_names[0],
                "bias_initializer": self._init_names[1],
                "activity_regularizer": reg.get_config() if reg is not None else None,
                "input_dim": self.input_dim}

    @classmethod
    def from_config(cls, cfg: dict) -> "Dense":
        init = lambda n: n if n in initializers.INITIALIZERS else "zeros"   # custom: weights loaded anyway
        return cls(cfg["units"], activation=cfg["activation"], use_bias=cfg["use_bias"],
                   kernel_initializer=init(cfg["kernel_initializer"]),
                   bias_initializer=init(cfg["bias_initializer"]),
                   activity_regularizer=regularizers.from_config(cfg["activity_regularizer"]),
                   input_dim=cfg["input_dim"], dtype=cfg["dtype"], name=cfg["name"])

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation.name!r}, name={self.name!r})"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


for _cls in (InputLayer, Dense):
    register_layer(_cls)
