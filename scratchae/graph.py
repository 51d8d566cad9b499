"""The functional API's bookkeeping: symbolic tensors, and the chain they trace.

`Input(shape=(784,))` gives a `SymbolicTensor`; calling a layer on one builds the layer and
returns the next, remembering its parent. `Model(inputs, outputs)` then walks from outputs
back to inputs (`trace_chain`) to find its layers, in order. Only chains: no branches, no
layer used twice. This module knows layers only by their `name`; it imports none.
"""
from __future__ import annotations

from typing import Any


class SymbolicTensor:
    """A placeholder for data flowing through a model being defined (Keras's KerasTensor).

    It knows its shape (None for the batch), the layer that produced it and that layer's input,
    so `Model(inputs, outputs)` can walk the chain back from outputs to inputs.
    """

    def __init__(self, shape: tuple, layer: Any, parent: "SymbolicTensor | None") -> None:
        self.shape = shape
        self.layer = layer
        self.parent = parent

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} from {self.layer.name}>"


def trace_chain(inputs: Any, outputs: Any) -> tuple[SymbolicTensor, list]:
    """(the input tensor, the layers from it to `outputs` in order), walking back through each
    tensor's parent. The input tensor's own layer is not in the list: an `Input`'s layer, or
    the layer that computed an intermediate tensor (a decoder's input), is the caller's choice."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != 1:
            raise ValueError(f"scratchae models take exactly one input, got {len(inputs)}")
        inputs = inputs[0]
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            raise ValueError(f"scratchae models have exactly one output (a chain), got {len(outputs)}")
        outputs = outputs[0]
    for name, t in (("inputs", inputs), ("outputs", outputs)):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model {name} must be a symbolic tensor from Input(...) or a layer call, "
                            f"got {type(t).__name__}")
    layers: list = []
    t = outputs
    while t is not None and t is not inputs:
        layers.append(t.layer)
        t = t.parent
    if t is None:
        raise ValueError("outputs are not computed from inputs: the chain from outputs back to an "
                         "Input does not pass through the given inputs")
    layers.reverse()
    return inputs, layers


def check_chain(layers: list) -> None:
    """No layer twice (branches and repeated layers are out of scope), and unique names
    (weights are saved under '<layer name>/<param>')."""
    seen = set()
    for layer in layers:
        if id(layer) in seen:
            raise ValueError(f"layer {layer.name!r} appears twice in the chain: branching and "
                             "repeated layers are out of scope in scratchae")
        seen.add(id(layer))
    names = [l.name for l in layers]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"all layer names in a model must be unique; repeated: {dup}")
