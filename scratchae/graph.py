"""The functional API's bookkeeping: symbolic tensors, and the graph they trace.

`Input(shape=(784,))` gives a `SymbolicTensor`; calling a layer on one (or on a list of
them, `Concatenate()([a, b])`) builds the layer and returns a new tensor that remembers the
layer and the tensors it was computed from. `Model(inputs, outputs)` walks from the outputs
back to the inputs (`trace`) and puts the layers in one topological order: every layer after
the layers whose outputs it reads. The model runs them in that order forward and in reverse
backward; `Model.nodes` prints it. This module knows layers only by their `name`; it imports none.

A layer appears once in a model (it keeps one forward's cache for its backward); two layers
share weights by holding the same array (`scratchae.tied.DenseTranspose`), not by being
called twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SymbolicTensor:
    """A placeholder for data flowing through a model being defined (Keras's KerasTensor).

    shape: with None for the batch, e.g. (None, 784). layer: the layer that computes it.
    parents: the tensors that layer reads (empty for an `Input`). many: whether the layer was
    called on a list (its forward gets a list, even of one tensor, and its backward returns one).
    """

    def __init__(self, shape: tuple, layer: Any, parents: "list[SymbolicTensor] | SymbolicTensor | None" = None,
                 many: bool = False) -> None:
        self.shape = tuple(shape)
        self.layer = layer
        if parents is None:
            parents = []
        elif isinstance(parents, SymbolicTensor):
            parents = [parents]
        self.parents: list[SymbolicTensor] = list(parents)
        self.many = many

    @property
    def parent(self) -> "SymbolicTensor | None":
        """The one tensor this one was computed from (None for an Input; chains only)."""
        return self.parents[0] if len(self.parents) == 1 else None

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} from {self.layer.name}>"


@dataclass
class Node:
    """One step of a model's forward: `layer` reads the outputs of the nodes `parents`
    (indices into the model's node list; -1 - k for the model's k-th input)."""

    layer: Any
    parents: list[int]
    many: bool

    def __repr__(self) -> str:
        return f"Node({self.layer.name} <- {self.parents})"


def as_tensor_list(value: Any, what: str) -> list[SymbolicTensor]:
    """A model's `inputs` or `outputs` as a non-empty list of symbolic tensors."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(f"Model {what} must name at least one tensor")
    for t in items:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model {what} must be symbolic tensors from Input(...) or a layer call, "
                            f"got {type(t).__name__}")
    return items


def trace(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> tuple[list[Node], list[int]]:
    """(the nodes in topological order, the index of each output's node) for the graph from
    `inputs` to `outputs`. A path from an output that never meets an input, a layer reached
    twice and two layers of one name are refused with the reason."""
    order: list[SymbolicTensor] = []
    index: dict[int, int] = {}
    inputs_at = {id(t): k for k, t in enumerate(inputs)}
    state: dict[int, str] = {}
    for out in outputs:
        stack = [(out, False)]
        while stack:
            t, done = stack.pop()
            if id(t) in inputs_at or state.get(id(t)) == "done":
                continue
            if done:
                state[id(t)] = "done"
                index[id(t)] = len(order)
                order.append(t)
                continue
            if not t.parents:
                raise ValueError(f"outputs are not computed from inputs: {t.layer.name!r} is reached "
                                 "from the outputs but is not one of the model's inputs")
            state[id(t)] = "open"
            stack.append((t, True))
            for p in reversed(t.parents):
                if id(p) not in inputs_at and state.get(id(p)) != "done":
                    stack.append((p, False))

    def ref(t: SymbolicTensor) -> int:
        return -1 - inputs_at[id(t)] if id(t) in inputs_at else index[id(t)]

    nodes = [Node(t.layer, [ref(p) for p in t.parents], t.many) for t in order]
    refs = [ref(t) for t in outputs]
    used = {r for n in nodes for r in n.parents} | set(refs)
    for k, t in enumerate(inputs):
        if -1 - k not in used:
            raise ValueError(f"input {k} ({t.layer.name!r}) is used by no output: give a model "
                             "only the inputs its outputs are computed from")
    check_layers([n.layer for n in nodes])
    return nodes, refs


def check_layers(layers: list) -> None:
    """No layer twice (it keeps one forward's cache; share weights with a second layer that
    holds the same array instead), and unique names (weights are saved as '<layer>/<param>')."""
    seen = set()
    for layer in layers:
        if id(layer) in seen:
            raise ValueError(f"layer {layer.name!r} is called twice in one model: a layer keeps one "
                             "forward's cache for its backward. Share weights with a second layer "
                             "holding the same array (e.g. scratchae.tied.DenseTranspose)")
        seen.add(id(layer))
    names = [l.name for l in layers]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"all layer names in a model must be unique; repeated: {dup}")


def graph_config(model: Any) -> dict:
    """A model's description for saving: each layer's class and config and, for the layers
    that compute, the names of the layers it reads (Keras's inbound nodes), in run order;
    the names of the model's inputs and outputs."""
    names = {i: n.layer.name for i, n in enumerate(model._nodes)}
    ref = lambda r: model._inputs[-1 - r].name if r < 0 else names[r]
    layers = [{"class_name": type(l).__name__, "config": l.get_config()} for l in model._inputs]
    layers += [{"class_name": type(n.layer).__name__, "config": n.layer.get_config(),
                "inbound": [ref(r) for r in n.parents], "many": n.many} for n in model._nodes]
    return {"class_name": type(model).__name__, "name": model.name, "layers": layers,
            "inputs": [l.name for l in model._inputs], "outputs": [ref(r) for r in model._outputs]}


check_chain = check_layers          # the name the chain-only release used
