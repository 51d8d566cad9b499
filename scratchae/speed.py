"""The fast pieces, behind one door: what `fit` runs instead of the plain `Model.train_step`.

Each is a switch, and each gives the plain step's numbers (tests/test_fast_path.py):

* **the loss on logits** (`compile(fuse_sigmoid_bce=True)`, the default): when the model's
  output is scratchae's own `Dense` with its own `Sigmoid` and the loss its own
  `BinaryCrossentropy`, the last layer runs to its logits only (`Logits`) and the loss is
  `BinaryCrossentropy(from_logits=True)`: dL/dz = (sigmoid(z) - y) / (N D) in one pass,
  exact and never NaN where the sigmoid saturates (`fuses`, `training_loss`);
* **one buffer for all parameters** (`compile(pack_parameters=True)`, the default;
  `scratchae.buffers`): the optimizer updates one vector, a few passes in all, not a few per
  parameter; gradients are zeroed with one fill;
* **no dL/dx for the data**: a layer that reads only the model's inputs and whose backward is
  scratchae's own Dense's adds its parameter gradients and skips dx = dz . kernel^T
  (`ParametersOnly`; PyTorch skips it the same way for an input without requires_grad);
* the number of BLAS threads, which the training loop chooses (`scratchae._blas`).

`step_for(model)` gives the step `fit` and `train_on_batch` run: the plain `train_step` when
no switch applies. The checker and `compute_loss` use the same pieces (`training_forward_loss`)
so what is checked is what trains.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable

import numpy as np

from . import losses as _losses
from .activations import Sigmoid
from .buffers import ParameterBuffers
from .layers import Dense

#: The optimizer-state key of a model's packed parameters (not its name: a model may be renamed).
PACKED = "packed/*"


class Logits:
    """A Dense layer up to its logits, run in place of a model's last layer when the model
    trains its sigmoid and binary cross-entropy as one loss on logits.

        forward(x)   = layer.forward_logits(x)    z = x . kernel + bias, the sigmoid left out
        backward(dz) = layer.backward_logits(dz)  dz = dL/dz from BinaryCrossentropy(from_logits=True)
    """

    def __init__(self, layer: Dense) -> None:
        self.layer = layer
        self.name = f"{layer.name} (logits)"

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.layer.params

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self.layer.grads

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward_logits(x)

    def backward(self, dz: np.ndarray) -> np.ndarray:
        return self.layer.backward_logits(dz)

    def __repr__(self) -> str:
        return f"Logits({self.layer.name})"


class ParametersOnly:
    """A first layer's backward without dL/dx (nobody uses the data's gradient): the same
    parameter gradients, one matrix product fewer (at batch 256 in the vanilla autoencoder,
    the 256x128 by 128x784 one: a sixth of the step's multiply-adds)."""

    def __init__(self, piece: Any) -> None:
        self.piece = piece
        self.layer = piece.layer if isinstance(piece, Logits) else piece

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.piece.forward(x) if isinstance(self.piece, Logits) else self.layer.forward(x)

    def backward(self, dy: np.ndarray) -> None:
        dz = dy if isinstance(self.piece, Logits) else self.layer._dz(dy)
        self.layer.add_parameter_gradients(dz)
        return None


def _library_dense(layer: Any) -> bool:
    """A Dense whose forward and backward are scratchae's own (a subclass that overrides
    any of them is run as it is written)."""
    t = type(layer)
    return (isinstance(layer, Dense) and t.forward is Dense.forward and t.backward is Dense.backward
            and t.forward_logits is Dense.forward_logits and t.backward_logits is Dense.backward_logits
            and t._dz is Dense._dz and t.add_parameter_gradients is Dense.add_parameter_gradients)


def fuses(model: Any) -> bool:
    """Whether the model trains its output layer to its logits with BCE from the logits.

    True only for scratchae's own pieces: one output, computed by a `Dense` whose forward and
    backward are the library's, activation exactly `Sigmoid`, no activity penalty and read by
    no other layer, and a loss exactly `BinaryCrossentropy(from_logits=False)`; and only while
    `fuse_sigmoid_bce` is on."""
    if not (model.fuse_sigmoid_bce and model.chain) or type(model.loss) is not _losses.BinaryCrossentropy:
        return False
    if len(model._outputs) != 1 or model._outputs[0] < 0:
        return False
    i = model._outputs[0]
    last = model._nodes[i].layer
    read = any(i in n.parents for n in model._nodes)
    return (not model.loss.from_logits and not read and _library_dense(last)
            and type(last.activation) is Sigmoid and last.activity_regularizer is None)


def training_loss(model: Any) -> _losses.Loss | None:
    """The loss the training step computes: `model.loss`, or BCE from logits when `fuses`."""
    if not fuses(model):
        return model.loss
    if getattr(model, "_logits_loss", None) is None:
        model._logits_loss = _losses.BinaryCrossentropy(from_logits=True)
    return model._logits_loss


def training_pieces(model: Any, input_gradient: bool = True) -> dict[int, Any]:
    """{node index: the piece run in its layer's place}: the output's `Logits` when `fuses`;
    with input_gradient=False, `ParametersOnly` for the library's Dense layers that read only
    the model's inputs."""
    pieces: dict[int, Any] = {}
    if fuses(model):
        i = model._outputs[0]
        pieces[i] = Logits(model._nodes[i].layer)
    if not input_gradient:
        for i, node in enumerate(model._nodes):
            if all(r < 0 for r in node.parents) and _library_dense(node.layer):
                pieces[i] = ParametersOnly(pieces.get(i, node.layer))
    return pieces


def training_forward_loss(model: Any, x: Any, y: np.ndarray, input_gradient: bool = True) -> float:
    """The forward and the loss of a training step (loss terms included), with the pieces
    above; the next `model.backward` mirrors them."""
    pieces = training_pieces(model, input_gradient)
    out = model.forward(x, training=True, pieces=pieces)
    return training_loss(model).forward(out, y) + model.penalty()


def training_backward(model: Any) -> Any:
    """The backward after `training_forward_loss` (the gradients must have been zeroed)."""
    return model.backward(training_loss(model).backward())


def optimizer_parameters(model: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The (path, param, grad) triples the optimizer updates after a backward. Packed: one
    triple, ('packed/*', all parameters, all gradients), after copying in any array a layer
    put in its dicts since the last step. Otherwise `model.parameters()`."""
    if not model.pack_parameters:
        return model.parameters()
    if model._buffers is None or not model._buffers.covers(model):
        model._buffers = ParameterBuffers(model)
    return [(PACKED, *model._buffers.sync())]


def zero_grads(model: Any) -> None:
    """Every gradient to 0: one fill of the packed buffer, or one per array."""
    if model.pack_parameters and model._buffers is not None and model._buffers.covers(model):
        model._buffers.flat_grad.fill(0)
    else:
        model.zero_grads()


def fast_step(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """`Model.train_step` with the switches: the same forward, loss, backward and update."""
    value = training_forward_loss(model, x, y, input_gradient=False)
    if not math.isfinite(value):
        return value
    zero_grads(model)
    training_backward(model)
    model.optimizer.apply(optimizer_parameters(model))
    return value


def step_for(model: Any) -> Callable[[np.ndarray, np.ndarray], float]:
    """The step `fit` and `train_on_batch` run on `model`: the plain `train_step` when no
    switch applies, else `fast_step`. A `train_step` of your own (a subclass's, or one put on
    the class) always runs as written."""
    from .models import PLAIN_TRAIN_STEP

    if type(model).train_step is not PLAIN_TRAIN_STEP:
        return model.train_step
    if not (model.pack_parameters or fuses(model) or training_pieces(model, input_gradient=False)):
        return model.train_step
    return partial(fast_step, model)
