"""The text of `Model.summary()`: Keras's table of layers, plus the loss that really trains."""
from __future__ import annotations

from typing import Any

from .layers import Dense


def summary_table(model: Any) -> str:
    """Layers with output shapes, activations and penalties, parameter counts, training loss."""
    cols = (28, 15, 24, 12)
    width = sum(cols)
    lines = [f'Model: "{model.name}"', "_" * width,
             f"{' Layer (type)':<{cols[0]}}{'Output Shape':<{cols[1]}}{'Activation, penalty':<{cols[2]}}"
             f"{'Param #':>{cols[3]}}", "=" * width]
    for layer in model.layers:
        label = f" {layer.name} ({type(layer).__name__})"
        notes = ""
        if isinstance(layer, Dense):
            reg = layer.activity_regularizer
            notes = layer.activation.name + (f", {reg!r}" if reg is not None else "")
        shape = str(layer.output_shape) if layer.built else "(unbuilt)"
        lines.append(f"{label:<{cols[0]}}{shape:<{cols[1]}}{notes:<{cols[2]}}{layer.count_params():>{cols[3]},}")
    total = model.count_params()
    lines += ["=" * width, f"Total params: {total:,}", f"Trainable params: {total:,}",
              "Non-trainable params: 0", f"Training loss: {_training_loss(model)}", "_" * width]
    return "\n".join(lines)


def _training_loss(model: Any) -> str:
    if model.loss is None:
        return "none yet (not compiled)"
    last = model.layers[-1].name if model.layers else "the model"
    if model.fused:
        return (f"BinaryCrossentropy(from_logits=True) on {last}'s logits: its sigmoid and the "
                "binary cross-entropy fused (compile(fuse_sigmoid_bce=False) for the plain pair)")
    return f"{model.loss!r} on the output of {last}"
