"""The packed parameters behind `Model.compile(pack_parameters=True)`: one contiguous buffer
for all of a model's parameters and a twin for their gradients, so that an optimizer step is a
few vector operations over the whole model instead of a few per parameter. A visible
optimisation with an off switch; the plain step gives the same numbers (tested)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._contract import ContractError, Problem, describe


class ParameterBuffers:
    """All parameters of a chain in one contiguous buffer, and the gradients in a twin.

    At construction each layer's `params[key]`/`grads[key]` entry becomes a view of the buffers
    (values copied over, gradients too: the first step packs after its backward). `sync()`, called after each backward and before the update, finds
    entries a layer has replaced since (a backward that assigns `self.grads["kernel"] = ...`,
    a user who assigns `layer.params["kernel"] = ...`, or another model sharing the layer that
    packed it into its own buffer): it copies their values in, and puts the view of a replaced
    parameter back so the update reaches the layer. One identity test per array per step.
    """

    def __init__(self, chain: list) -> None:
        self.entries = [(l, k) for l in chain for k in l.params]
        shapes = [l.params[k].shape for l, k in self.entries]
        sizes = [int(np.prod(sh)) for sh in shapes]
        dtype = chain[0].dtype
        self.flat = np.empty(sum(sizes), dtype=dtype)
        self.flat_grad = np.zeros(sum(sizes), dtype=dtype)
        self.views, i = [], 0
        for (layer, key), shape, size in zip(self.entries, shapes, sizes):
            view, gview = self.flat[i:i + size].reshape(shape), self.flat_grad[i:i + size].reshape(shape)
            view[...] = layer.params[key]
            _adopt(layer, key, layer.grads.get(key), gview, "gradient")
            layer.params[key], layer.grads[key] = view, gview
            self.views.append((view, gview))
            i += size

    def covers(self, chain: list) -> bool:
        """Whether the buffers were made for exactly these layers and parameter names."""
        return self.entries == [(l, k) for l in chain for k in l.params]

    def sync(self) -> tuple[np.ndarray, np.ndarray]:
        for (layer, key), (view, gview) in zip(self.entries, self.views):
            p, g = layer.params[key], layer.grads.get(key)
            if p is not view:
                _adopt(layer, key, p, view, "parameter")
                layer.params[key] = view
            if g is not gview:
                _adopt(layer, key, g, gview, "gradient")
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
