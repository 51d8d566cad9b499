"""The checks of what a user hands a model, once per call: its data (`Model.check_data`, for
fit, predict and evaluate) and its weights (`Model.set_weights`). A clear TypeError or
ValueError naming what was expected and what came; nothing is changed before all is checked."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._validate import array_from_list, as_matrix


def check_data(model: Any, x: Any, y: Any = None) -> tuple[Any, np.ndarray | None]:
    """x (and y) as float arrays of the model's sample shapes and float type, with targets the
    loss can take: (N, D) matrices for flat inputs, (N, H, W, C) for images. y is x again if
    it was x. A model with several inputs takes x as a list (predict only: fit and evaluate
    take one input and one output)."""
    if model._nodes and not model._inputs:
        model._build_on(x)                    # a Sequential built on its first data
    require_built(model)
    x_in, inputs = x, model._inputs
    if len(inputs) > 1:
        if not isinstance(x, (list, tuple)) or len(x) != len(inputs):
            raise ValueError(f"model {model.name!r} has {len(inputs)} inputs: give x as a "
                             f"list of {len(inputs)} arrays")
        x = [as_samples(a, f"x[{k}]", l.input_shape, model.dtype) for k, (a, l) in enumerate(zip(x, inputs))]
        if len({len(a) for a in x}) > 1:
            raise ValueError(f"the inputs must have the same number of samples, got {[len(a) for a in x]}")
    else:
        x = as_samples(x, "x", inputs[0].input_shape, model.dtype)
    if y is None:
        return x, None
    if len(inputs) > 1 or len(model._outputs) > 1:
        raise ValueError(f"fit and evaluate take models with one input and one output; "
                         f"{model.name!r} has {len(inputs)} and {len(model._outputs)} "
                         "(predict takes any)")
    out = model._outputs[0]
    shape = model.chain[out].output_shape[1:] if out >= 0 else inputs[0].input_shape
    y_arr = x if y is x_in else as_samples(y, "y", shape, model.dtype)
    if len(y_arr) != len(x):
        raise ValueError(f"x and y must have the same number of samples, got {len(x)} and {len(y_arr)}")
    if model.loss is not None:
        model.loss.check_target_range(float(y_arr.min()), float(y_arr.max()))
    return x, y_arr


def as_samples(a: Any, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """`a` as a float array (N, *shape) of `dtype`, every value finite; a clear TypeError or
    ValueError naming `name`, the shape expected and the shape that came. A flat shape (D,)
    is `as_matrix`'s (N, D); any other is checked for its shape here, then for its values by
    `as_matrix` on the (N, prod(shape)) view of it (one wording for both)."""
    shape = tuple(shape)
    if len(shape) == 1:
        return as_matrix(a, name, shape[0], dtype)
    if isinstance(a, (list, tuple)):
        a = array_from_list(a, name)
    if not isinstance(a, np.ndarray):
        return as_matrix(a, name, None, dtype)              # raises its TypeError
    if a.shape[1:] != shape:
        hint = ""
        if a.ndim == 2 and a.shape[1] == math.prod(shape):
            hint = f" (reshape flat rows: {name}.reshape(len({name}), {', '.join(map(str, shape))}))"
        elif a.shape[1:] == shape[:-1] and shape[-1] == 1:
            hint = f" (add the channel axis: {name}[..., None])"
        raise ValueError(f"{name} must have shape (samples, {', '.join(map(str, shape))}), got "
                         f"shape {a.shape}{hint}")
    flat = as_matrix(a.reshape(a.shape[0], math.prod(shape)), name, None, dtype)
    return flat.reshape(a.shape)


def checked_weights(model: Any, weights: Any) -> list[np.ndarray]:
    """`weights` (in `get_weights()` order) checked and converted, each against its layer
    (`Layer.check_weights`): the count, then every shape, dtype and value."""
    expected = model.parameters()
    if not isinstance(weights, (list, tuple)) or len(weights) != len(expected):
        raise ValueError(f"set_weights expects a list of {len(expected)} arrays, got "
                         f"{len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__}")
    staged = []
    for (path, _, _), w in zip(expected, weights):
        name, key = path.rsplit("/", 1)
        layer = model.get_layer(name)
        keys = list(layer.params)
        probe = [layer.params[k] if k != key else w for k in keys]
        staged.append(layer.check_weights(probe)[keys.index(key)])
    return staged


def check_dtypes(model: Any) -> None:
    dtypes = {l.dtype for l in model.chain}
    if len(dtypes) > 1:
        raise TypeError(f"all layers of a model must share one float type, got {sorted(d.name for d in dtypes)}")


def require_built(model: Any) -> None:
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built: give it an Input (or input_shape=/"
                         "input_dim= on its first layer) and at least one layer that computes")


def require_compiled(model: Any) -> None:
    if model.optimizer is None or model.loss is None:
        raise RuntimeError(f"model {model.name!r} must be compiled before training or evaluation: "
                           "call model.compile(optimizer='adam', loss='binary_crossentropy')")
