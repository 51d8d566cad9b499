"""The packed parameters behind `Model.compile(pack_parameters=True)` (see `scratchae.speed`):
one contiguous buffer for all of a model's distinct parameter arrays and a twin for their
gradients, so that an optimizer step is a few vector operations over the whole model instead
of a few per parameter, and zeroing the gradients is one fill. An array that several layers
hold (a tied kernel) is packed once, and every holder gets the same view."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._contract import ContractError, Problem, describe


def holders(model: Any) -> list[list[tuple[Any, str]]]:
    """For each distinct parameter array, in `model.parameters()` order, the (layer, key)
    entries that hold it."""
    groups: dict[int, list[tuple[Any, str]]] = {}
    for layer in model.chain:
        for key, p in layer.params.items():
            groups.setdefault(id(p), []).append((layer, key))
    return list(groups.values())


class ParameterBuffers:
    """All distinct parameters of a model in one contiguous buffer, and the gradients in a twin.

    At construction each holder's `params[key]`/`grads[key]` entry becomes a view of the
    buffers (values copied over, gradients too). `sync()`, called after each backward and
    before the update, finds entries a layer has replaced since (a backward that assigns
    `self.grads["kernel"] = ...`, a user who assigns `layer.params["kernel"] = ...`, or another
    model sharing the layer that packed it into its own buffer): it copies their values in and
    puts the views back, so the update reaches the layer. One identity test per entry per step.
    A replaced gradient of a shared array is refused: it would drop the other holders' share.
    """

    def __init__(self, model: Any) -> None:
        self.groups = holders(model)
        first = [g[0] for g in self.groups]
        shapes = [l.params[k].shape for l, k in first]
        sizes = [int(np.prod(sh)) for sh in shapes]
        dtype = model.chain[0].dtype
        self.flat = np.empty(sum(sizes), dtype=dtype)
        self.flat_grad = np.zeros(sum(sizes), dtype=dtype)
        self.views, i = [], 0
        for group, shape, size in zip(self.groups, shapes, sizes):
            view, gview = self.flat[i:i + size].reshape(shape), self.flat_grad[i:i + size].reshape(shape)
            layer, key = group[0]
            view[...] = layer.params[key]
            _adopt(layer, key, layer.grads.get(key), gview, "gradient")
            for layer, key in group:
                layer.params[key], layer.grads[key] = view, gview
            self.views.append((view, gview))
            i += size
        self._signature = self._sign(model)

    @staticmethod
    def _sign(model: Any) -> list:
        return [(l, k) for l in model.chain for k in l.params]

    def covers(self, model: Any) -> bool:
        """Whether the buffers were made for exactly these layers and parameter names."""
        return self._signature == self._sign(model)

    def sync(self) -> tuple[np.ndarray, np.ndarray]:
        for group, (view, gview) in zip(self.groups, self.views):
            for layer, key in group:
                p, g = layer.params[key], layer.grads.get(key)
                if p is not view:
                    _adopt(layer, key, p, view, "parameter")
                    for other, k in group:
                        other.params[k] = view
                if g is not gview:
                    if len(group) > 1:
                        raise ContractError(layer.name, key, Problem(
                            f"grads[{key!r}] was replaced by a new array, but the parameter is "
                            f"shared with {', '.join(o.name for o, _ in group if o is not layer)}",
                            f"add into it (self.grads[{key!r}] += ...): the model zeroes it each step"))
                    _adopt(layer, key, g, gview, "gradient")
                    layer.grads[key] = gview
        return self.flat, self.flat_grad


def _adopt(layer: Any, key: str, new: Any, view: np.ndarray, what: str) -> None:
    """Copy an array a layer put in its params/grads into the buffer's view, checked first."""
    if not isinstance(new, np.ndarray) or new.shape != view.shape:
        hint = ("write the gradient of every parameter in backward" if new is None else
                "a gradient has exactly its parameter's shape")
        raise ContractError(layer.name, key, Problem(
            f"the {what} in {'grads' if what == 'gradient' else 'params'}[{key!r}] is "
            f"{describe(new)}, expected shape {view.shape}", hint))
    view[...] = new
