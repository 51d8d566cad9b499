"""The contract every layer meets (`Layer`, as in Keras's keras/src/layers/layer.py), and `Input`.

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

The layers themselves live one family to a module (`scratchae.dense`, `tied`, `contractive`,
`noise`, `merge`), each importing only this one; `scratchae.layers` gathers them all, as
keras.layers does.

Calling a layer on the symbolic tensor from `Input(shape=(784,))` builds it and records the
graph, Keras-style, for `scratchae.models.Model(inputs, outputs)`.
"""
from __future__ import annotations

import inspect
import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from . import config
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

    # -- randomness (a stochastic layer's one way to pick its generator) -----------------------
    def keep_seed(self, seed: int | None) -> None:
        """Check and keep `seed`, the generator's seed when the model gives none (`self.rng`)."""
        if seed is not None:
            as_rng(seed)                      # checked now: a non-negative int
        self.seed = seed
        self._own_rng: np.random.Generator | None = None

    def generator(self) -> np.random.Generator:
        """The generator a stochastic layer draws from: the model's (`self.rng`, set before a
        training forward), else one made once from the seed given to `keep_seed`, else the
        library generator."""
        if self.rng is not None:
            return self.rng
        if getattr(self, "seed", None) is not None:
            if self._own_rng is None:
                self._own_rng = np.random.default_rng(self.seed)
            return self._own_rng
        return as_rng(None)

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
    """Marks the start of a model: the shape of one sample, the data passed on unchanged.

    `shape` is any tuple of positive ints without the batch axis: (784,) for flat images,
    (28, 28, 1) for images with a channel axis (channels-last, as Keras's Conv2D reads them).
    `input_dim` is the width of a flat input (shape (D,)), None for any other shape."""

    def __init__(self, shape: tuple[int, ...], name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(shape, int):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or len(shape) == 0:
            raise ValueError(f"Input shape must be a tuple of positive ints without the batch axis, "
                             f"e.g. (784,) or (28, 28, 1), got {shape!r}")
        self.input_shape = tuple(positive_int(f"Input shape[{k}]", d) for k, d in enumerate(shape))
        self.input_dim = self.input_shape[0] if len(self.input_shape) == 1 else None
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy

    def get_config(self) -> dict:
        return {**super().get_config(), "shape": list(self.input_shape)}

    @classmethod
    def from_config(cls, cfg: dict) -> "InputLayer":
        return cls(tuple(cfg["shape"]), name=cfg["name"], dtype=cfg["dtype"])


def Input(shape: tuple[int, ...], name: str | None = None, dtype: Any = None) -> SymbolicTensor:
    """The symbolic input of a functional model: `Input(shape=(784,))`, `Input((28, 28, 1))`."""
    layer = InputLayer(shape, name=name, dtype=dtype)
    return SymbolicTensor(layer.output_shape, layer)


def _snake(name: str) -> str:
    """Keras's default layer names: Dense -> dense, MaxPooling2D -> max_pooling2d (no
    underscore after a digit)."""
    return "".join("_" + c.lower() if c.isupper() and not (k and name[k - 1].isdigit()) else c.lower()
                   for k, c in enumerate(name)).lstrip("_")


register_layer(InputLayer)
