"""The text of `Model.summary()`: Keras's table of layers, plus the loss that really trains.

Every layer prints, whatever its class: its name and class, output shape, parameter count and
a notes column. The notes are the layer's own `summary_notes()` if it has that method (a short
string), for scratchae's Dense its activation and activity penalty, else empty. A model that
is not a plain chain (a layer reading several tensors or one that is not the layer before it,
several inputs or outputs) gets Keras's "Connected to" column: the layers each one reads.
An array that several layers hold (a tied kernel) counts in each holder's row, and once in
Total; the holders after the first say which array they share.
"""
from __future__ import annotations

from typing import Any



def layer_notes(layer: Any) -> str:
    """The notes column of one layer: its `summary_notes()` (a Dense: activation, penalty)."""
    own = getattr(layer, "summary_notes", None)
    return str(own()) if callable(own) else ""


def is_chain(model: Any) -> bool:
    """True for one input, one output and every layer reading only the one before it."""
    nodes = model.nodes
    if len(model._inputs) > 1 or len(model._outputs) != 1 or not nodes:      # (0: unbuilt Sequential)
        return False
    if model._outputs[0] != len(nodes) - 1:
        return False
    return all(n.parents == [i - 1] and not n.many for i, n in enumerate(nodes))


def connections(model: Any) -> dict[int, str]:
    """{id(layer): the names of the layers it reads, in order} for every layer of the model."""
    names = lambda r: model._inputs[-1 - r].name if r < 0 else model.nodes[r].layer.name
    out = {id(l): "-" for l in model._inputs}
    for node in model.nodes:
        out[id(node.layer)] = ", ".join(names(r) for r in node.parents)
    return out


def _shared(model: Any) -> dict[int, list[str]]:
    """{id(layer): ['encoder/kernel', ...]}: the arrays a layer holds that an earlier layer holds too."""
    first: dict[int, str] = {}
    out: dict[int, list[str]] = {}
    for layer in model.chain:
        for key, p in layer.params.items():
            if id(p) in first:
                out.setdefault(id(layer), []).append(first[id(p)])
            else:
                first[id(p)] = f"{layer.name}/{key}"
    return out


def summary_table(model: Any) -> str:
    """Layers with output shapes, notes, parameter counts (and what each reads, for a graph),
    the total counting a shared array once, and the training loss."""
    graph = bool(model.nodes) and not is_chain(model)
    shapes = {id(l): _shape_text(l) for l in model.layers}
    longest = lambda texts: max((len(t) for t in texts), default=0)
    cols = (max(28, longest(f" {l.name} ({type(l).__name__})" for l in model.layers) + 1),
            max(15, longest(shapes.values()) + 2), 24, 12)       # wide enough for image shapes
    width = sum(cols) + (28 if graph else 0)
    head = (f"{' Layer (type)':<{cols[0]}}{'Output Shape':<{cols[1]}}{'Activation, penalty':<{cols[2]}}"
            f"{'Param #':>{cols[3]}}")
    if graph:
        head += "  Connected to"
    lines = [f'Model: "{model.name}"', "_" * width, head, "=" * width]
    linked = connections(model) if graph else {}
    shared = _shared(model)
    for layer in model.layers:
        label = f" {layer.name} ({type(layer).__name__})"
        notes = layer_notes(layer)
        if id(layer) in shared:
            notes = ", ".join(t for t in (notes, "shares " + ", ".join(shared[id(layer)])) if t)
        shape = shapes[id(layer)]
        row = f"{label:<{cols[0]}}{shape:<{cols[1]}}{notes:<{cols[2]}}{layer.count_params():>{cols[3]},}"
        if graph:
            row += f"  {linked.get(id(layer), '-')}"
        lines.append(row)
    total = model.count_params()
    lines += ["=" * width, f"Total params: {total:,}"
              + (" (an array shared by several layers counted once)" if shared else ""),
              f"Trainable params: {total:,}", "Non-trainable params: 0",
              f"Training loss: {_training_loss(model)}", "_" * width]
    return "\n".join(lines)


def _shape_text(layer: Any) -> str:
    """'(None, 28, 28, 16)': the layer's output shape with the batch axis."""
    try:
        return str(layer.output_shape) if layer.built else "(unbuilt)"
    except Exception:                          # a layer of yours that cannot say its shape
        return "?"


def _training_loss(model: Any) -> str:
    if model.loss is None:
        return "none yet (not compiled)"
    last = model.layers[-1].name if model.layers else "the model"
    if model.fused:
        return (f"BinaryCrossentropy(from_logits=True) on {last}'s logits: its sigmoid and the "
                "binary cross-entropy fused (compile(fuse_sigmoid_bce=False) for the plain pair)")
    return f"{model.loss!r} on the output of {last}"
