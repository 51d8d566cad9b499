"""Models: a chain of layers with Keras's training API.

    input_img = Input(shape=(784,))
    code = Dense(32, activation="relu")(input_img)
    output_img = Dense(784, activation="sigmoid")(code)
    autoencoder = Model(input_img, output_img)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    autoencoder.fit(x_train, x_train, epochs=5)
    encoder = Model(input_img, code)          # shares the first Dense with the autoencoder

A model is a *chain*: each layer feeds the next. One training step (`Model.train_step`) is
the textbook's, every piece's own forward and backward:

    forward:   h = x;  h = piece.forward(h) for each piece in order
    loss:      L = loss.forward(h, y) + the activity penalties of the layers
    backward:  dy = loss.backward();  dy = piece.backward(dy) for each piece in reverse
    update:    optimizer.apply(the (path, param, grad) triples)

Two optimisations are visible pieces of that step, each with a switch in `compile`: the loss
on logits (`fuse_sigmoid_bce`: scratchae's own last sigmoid and BCE trained as
`BinaryCrossentropy(from_logits=True)` on the last layer's logits, the `Logits` piece; a
subclass of any of them is never fused) and one buffer for all parameters
(`pack_parameters`, `scratchae.buffers`; a layer that puts new arrays in its dicts trains all
the same). Both give the plain step's numbers (tested); `summary()` says which loss trains.
"""
from __future__ import annotations

import math
import os
from typing import Any, Iterable

import numpy as np

from . import losses as _losses
from . import optimizers as _optimizers
from ._contract import check_backward
from ._validate import as_matrix, positive_int
from .activations import Sigmoid
from .graph import SymbolicTensor, check_chain, trace_chain
from ._summary import summary_table
from .buffers import ParameterBuffers
from .layers import Dense, InputLayer, Layer, Logits
from .checkpoints import Checkpoint, train_one_batch
from .training import (History, NonFiniteLossError, check_verbose, evaluate_batches, evaluate_parts,
                       fit_model, refuse_during_fit)
from .utils import global_rng

#: The optimizer-state key of a model's packed parameters (not its name: a model may be renamed).
PACKED = "packed/*"

__all__ = ["Model", "Sequential", "History", "NonFiniteLossError", "load_model"]


class Model:
    """A chain of layers between an `Input` and an output, with Keras's training methods."""

    def __init__(self, inputs: SymbolicTensor | None = None, outputs: SymbolicTensor | None = None,
                 name: str | None = None) -> None:
        self.name = name or "model"
        self.optimizer: _optimizers.Optimizer | None = None
        self.loss: _losses.Loss | None = None
        self.fuse_sigmoid_bce = True
        self.pack_parameters = True
        self._logits_loss = _losses.BinaryCrossentropy(from_logits=True)    # used when fused
        self.history: History | None = None
        #: The generator that shuffles the batches of `fit` (saved with the model).
        self.rng: np.random.Generator | None = None
        self._buffers: ParameterBuffers | None = None
        self._last_good: Checkpoint | None = None         # train_on_batch's undo (see checkpoints)
        self._spare_checkpoint: Checkpoint | None = None
        self._fitting: Any = None                # the thread whose fit is running (training)
        self._pieces: list = []                  # the pieces of the last forward ...
        self._inputs: list[np.ndarray] = []      # ... and the input each one saw
        self._layers: list[Layer] = []
        if inputs is None and outputs is None:
            return
        inp, layers = trace_chain(inputs, outputs)
        # the chain starts at an Input's layer, or at a new InputLayer for an intermediate
        # tensor (a decoder's input is the encoder's code)
        first = inp.layer if inp.parent is None else InputLayer((inp.shape[-1],), dtype=inp.layer.dtype)
        self._layers = [first] + layers
        check_chain(self._layers)
        self._check_dtypes()

    # -- structure -------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The layers in order; a functional Model lists its InputLayer first (as Keras does)."""
        return list(self._layers)

    @property
    def chain(self) -> list[Dense]:
        """The layers that compute, in order: `layers` without the InputLayer."""
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    @property
    def input_dim(self) -> int | None:
        return self._layers[0].input_dim if self._layers else None

    @property
    def dtype(self) -> np.dtype:
        return self.chain[0].dtype if self.chain else self._layers[0].dtype

    @property
    def built(self) -> bool:
        """True when the model knows its input width and has at least one Dense layer."""
        return bool(self.chain) and all(l.built for l in self.chain)

    def _check_dtypes(self) -> None:
        dtypes = {l.dtype for l in self.chain}
        if len(dtypes) > 1:
            raise TypeError(f"all layers of a model must share one float type, got {sorted(d.name for d in dtypes)}")

    def _require_built(self) -> None:
        if not self.built:
            raise ValueError(
                f"model {self.name!r} is not built: give it an Input (or input_shape=/input_dim= "
                "on its first layer) and at least one Dense layer"
            )

    def get_layer(self, name: str) -> Layer:
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {[l.name for l in self._layers]}")

    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(path, param, grad) for every parameter, in layer order: 'dense/kernel', ..."""
        return [(f"{l.name}/{k}", l.params[k], l.grads[k]) for l in self.chain for k in l.params]

    def count_params(self) -> int:
        return sum(l.count_params() for l in self._layers)

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer: str | _optimizers.Optimizer = "adam",
                loss: str | _losses.Loss | None = None, *, fuse_sigmoid_bce: bool = True,
                pack_parameters: bool = True) -> None:
        """Choose the optimizer ('adam', 'sgd' or an instance) and the loss ('binary_crossentropy',
        'mse' or an instance).

        fuse_sigmoid_bce: when the last layer is scratchae's own `Dense` with its own `Sigmoid`
            (no activity penalty on it) and the loss its own `BinaryCrossentropy`, train on
            `BinaryCrossentropy(from_logits=True)` from that layer's logits: dL/dz =
            (sigmoid(z) - y) / (N D), exact and never NaN (`fused`, `training_loss`).
        pack_parameters: one contiguous buffer for all parameters, made at the first step: the
            layers' `params`/`grads` entries become views of it (keep references to weight
            arrays only after that, or use `get_weights()`); an array a layer puts in its dicts
            later is copied in before each update. False: one (path, param, grad) triple per
            parameter, optimizer state keyed 'dense/kernel', ...; a little slower.
        """
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='binary_crossentropy'")
        for name, flag in (("fuse_sigmoid_bce", fuse_sigmoid_bce), ("pack_parameters", pack_parameters)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss)
        self.fuse_sigmoid_bce = fuse_sigmoid_bce
        self.pack_parameters = pack_parameters
        self._buffers = None
        if self.rng is None:
            self.rng = np.random.default_rng(global_rng().integers(2**63))

    @property
    def fused(self) -> bool:
        """Whether training runs the last layer to its logits and BCE from the logits.

        True only for scratchae's own pieces: a `Dense` whose forward and backward are the
        library's, activation exactly `Sigmoid` and no activity penalty, and a loss exactly
        `BinaryCrossentropy(from_logits=False)`; and only while `fuse_sigmoid_bce` is on.
        """
        if not (self.fuse_sigmoid_bce and self.chain) or type(self.loss) is not _losses.BinaryCrossentropy:
            return False
        last = self.chain[-1]
        return (not self.loss.from_logits and isinstance(last, Dense)
                and type(last).forward is Dense.forward and type(last).backward is Dense.backward
                and type(last).forward_logits is Dense.forward_logits
                and type(last).backward_logits is Dense.backward_logits
                and type(last.activation) is Sigmoid and last.activity_regularizer is None)

    @property
    def training_loss(self) -> _losses.Loss | None:
        """The loss the training step computes: `loss`, or BCE from logits when `fused`."""
        return self._logits_loss if self.fused else self.loss

    def training_pieces(self) -> list:
        """What the training step runs, in order: the layers, the last one as `Logits` when fused."""
        chain = self.chain
        return chain[:-1] + [Logits(chain[-1])] if self.fused else chain

    def _require_compiled(self) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(
                f"model {self.name!r} must be compiled before training or evaluation: "
                "call model.compile(optimizer='adam', loss='binary_crossentropy')"
            )

    # -- one training step, as the textbook writes it ------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Run every piece's forward in order (training=True: the training pieces, which end
        at the logits when `fused`). Each piece caches what its backward needs."""
        pieces = self.training_pieces() if training else self.chain
        self._inputs = []
        h = x
        for piece in pieces:
            self._inputs.append(h)
            h = piece.forward(h)
        self._pieces = pieces
        return h

    def penalty(self) -> float:
        """The activity penalties of the last forward, summed over the layers that have one."""
        return sum(self.penalties().values())

    def penalties(self) -> dict[str, float]:
        """{layer name: its activity penalty} of the last forward, for the layers that have one
        (what `History` records as "<layer>_penalty"; `penalty()` is their sum)."""
        return {l.name: l.penalty for l in self.chain if l.activity_regularizer is not None}

    def backward(self, dy: np.ndarray, input_gradient: bool = True) -> np.ndarray | None:
        """Run every piece's backward in reverse: dy = dL/d(output) -> dL/dx.

        Each dL/dx handed back is checked (an array of its input's shape: cheap, no pass over
        the values) so a piece that breaks the contract is named here, not two layers later.

        input_gradient=False, as the training step calls it: nobody uses dL/dx of the data
        (like a PyTorch input without requires_grad), so a first piece whose backward is
        scratchae's own Dense's skips that product (`Dense.backward_parameters`) and None is
        returned. A first piece of your own still runs its whole backward.
        """
        steps = list(zip(reversed(self._pieces), reversed(self._inputs)))
        if not steps:
            return dy
        for piece, x in steps[:-1]:
            dy = check_backward(piece, piece.name, piece.backward(dy), x, params=False)
        first, x = steps[-1]
        if not input_gradient and _library_backward(first):
            first.backward_parameters(dy)
            return None
        return check_backward(first, first.name, first.backward(dy), x, params=False)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss, backward, update, on one batch; returns the loss before the update.

        A non-finite loss returns at once: nothing is back-propagated, the update not applied.
        """
        loss = self.training_loss
        value = loss.forward(self.forward(x, training=True), y) + self.penalty()
        if not math.isfinite(value):
            return value
        self.backward(loss.backward(), input_gradient=False)    # the data need no gradient
        self.optimizer.apply(self.optimizer_parameters())
        return value

    def optimizer_parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """The (path, param, grad) triples the optimizer updates after a backward.

        Packed (the default): one triple, ('packed/*', all parameters, all gradients),
        after copying in any array a layer put in its dicts since the last step. Otherwise
        `parameters()`, one triple per parameter.
        """
        if not self.pack_parameters:
            return self.parameters()
        if self._buffers is None or not self._buffers.covers(self.chain):
            self._buffers = ParameterBuffers(self.chain)
        return [(PACKED, *self._buffers.sync())]

    def compute_loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """The training loss of one batch (penalties included), without changing anything."""
        self._require_compiled()
        return self.training_loss.forward(self.forward(x, training=True), y) + self.penalty()

    def compute_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """(loss, {path: dL/dparam}) for one batch, without updating the weights."""
        value = self.compute_loss(x, y)
        self.backward(self.training_loss.backward())
        return value, {path: np.array(g, copy=True) for path, _, g in self.parameters()}

    # -- input checks, once per call -------------------------------------------------------
    def check_data(self, x: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """x (and y) as float matrices of the model's widths and float type, with targets the
        loss can take; a clear TypeError/ValueError otherwise. y is x again if it was x."""
        if isinstance(self, Sequential) and self._layers and not self._layers[0].built:
            self._build_on(x)
        self._require_built()
        x_in = x
        x = as_matrix(x, "x", self.input_dim, self.dtype)
        if y is None:
            return x, None
        y_arr = x if y is x_in else as_matrix(y, "y", self.chain[-1].units, self.dtype)
        if len(y_arr) != len(x):
            raise ValueError(f"x and y must have the same number of samples, got {len(x)} and {len(y_arr)}")
        if self.loss is not None:
            self.loss.check_target_range(float(y_arr.min()), float(y_arr.max()))
        return x, y_arr

    # -- Keras's training API --------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray | None = None, batch_size: int | None = None,
            epochs: int = 1, verbose: int | str = "auto", validation_data: tuple | None = None,
            shuffle: bool = True, seed: int | np.random.Generator | None = None,
            initial_epoch: int = 0, callbacks: list | None = None) -> History:
        """Train for `epochs` passes over (x, y) in minibatches; returns a `History`.

        Every batch is one `train_step` (see `scratchae.training` for the loop). batch_size
        defaults to 32 (Keras). shuffle=True draws a new order every epoch from `model.rng`
        (seeded by `seed`, else by `utils.set_random_seed` at compile time).
        A NaN or infinite loss stops training with `NonFiniteLossError` naming the epoch and
        batch, and so do weights or a loss gone non-finite after an epoch's last update
        (checked once per epoch). Ctrl-C stops after the current batch (a second Ctrl-C stops
        the batch itself) and the KeyboardInterrupt is raised again so a script stops as
        expected. Either way the model goes back to its last good state, the end of its last
        completed epoch (where this fit started if none completed): weights, optimizer state
        (Adam's moments, step count) and shuffling generator as they were then. So
        `model.history`, the model and a file saved from it describe the same completed
        epochs. SIGTERM and SIGHUP stop it as Ctrl-C does (where they have their default
        action), raising `scratchae.training.Interrupted`, a KeyboardInterrupt. One fit at a
        time per model: a callback that calls fit, or a second thread, gets a RuntimeError.
        initial_epoch (an integer >= 0) only numbers the epochs, as in Keras.

        The History has Keras's `loss` (penalties included) and its parts,
        `reconstruction_loss` and one `<layer>_penalty` per activity penalty (with `val_`
        twins for validation_data). callbacks: a list of `scratchae.callbacks.Callback`, e.g.
        `[scratchae.monitor.Monitor(every=25)]` to record gradient norms, update ratios and
        dead units while training (docs/monitoring.md); None (the default) costs nothing.
        """
        self._require_compiled()
        return fit_model(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                         validation_data=validation_data, shuffle=shuffle, seed=seed,
                         initial_epoch=initial_epoch, callbacks=callbacks)

    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> float:
        """One optimizer step on one batch; returns its loss (penalties included, before the step).

        No broken weights are left behind: a NaN or infinite loss raises `NonFiniteLossError`
        without applying the update, and puts the weights and optimizer state back to before
        the previous call's update (which made the weights that gave this loss); an update
        that leaves non-finite weights is undone at once and raises too. That takes one copy and
        one check of the weights and optimizer state per call: about 25% of a step at batch 32
        on the article's vanilla model, 3% at batch 256 (`fit` does it once per epoch).
        """
        self._require_compiled()
        refuse_during_fit(self, "train_on_batch")
        x, y = self.check_data(x, y)
        return train_one_batch(self, x, y)

    def predict(self, x: np.ndarray, batch_size: int | None = None, verbose: int | str = 0) -> np.ndarray:
        """The model's output for every row of x, computed batch by batch (default 32).

        `verbose` is accepted (and checked) so Keras calls port as they are; nothing is printed.
        """
        check_verbose(verbose)
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        x, _ = self.check_data(x)
        return np.concatenate([self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                 verbose: int | str = 0, return_dict: bool = False) -> float | dict[str, float]:
        """The loss on (x, y), penalties included, as the sample-weighted mean over batches.

        The loss is the training loss (`training_loss`). Like Keras, the activity penalty is
        added per batch, so with scratchae's summed L1 the penalty part of the result grows
        with batch_size. `verbose` is accepted (and checked) for Keras's calls; nothing is printed.
        return_dict=True (Keras's argument): {"loss", "reconstruction_loss", "<layer>_penalty"
        for each activity penalty}, the same parts as `History`.
        """
        check_verbose(verbose)
        self._require_compiled()
        if not isinstance(return_dict, bool):
            raise TypeError(f"return_dict must be True or False, got {return_dict!r}")
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        if return_dict:
            return evaluate_parts(self, *self.check_data(x, y), batch_size).logs()
        return evaluate_batches(self, *self.check_data(x, y), batch_size)

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of all parameters, Keras order: kernel then bias of each Dense, in layer order."""
        return [w for l in self.chain for w in l.get_weights()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set all parameters from a list in get_weights() order (all checked before any is set)."""
        expected = [p for _, p, _ in self.parameters()]
        if not isinstance(weights, (list, tuple)) or len(weights) != len(expected):
            raise ValueError(f"set_weights expects a list of {len(expected)} arrays, got "
                             f"{len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__}")
        staged, i = [], 0
        for layer in self.chain:
            k = len(layer.params)
            staged.append((layer, layer.check_weights(weights[i:i + k])))
            i += k
        for layer, ws in staged:
            layer.assign_weights(ws)
        self._last_good = None          # train_on_batch never undoes back across set_weights

    # -- display ----------------------------------------------------------------------------
    def summary(self, print_fn=None) -> None:
        """Print a Keras-like table of layers, output shapes, parameter counts and the loss that
        trains. Like Keras, it returns None; `print_fn` receives the text instead of `print`
        (e.g. `lines.append` to keep it)."""
        (print_fn or print)(summary_table(self))

    # -- save / load ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"class_name": type(self).__name__, "name": self.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()} for l in self._layers]}

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture, weights and optimizer state to one .npz file, atomically
        (see `scratchae.saving`)."""
        from .saving import save_model

        save_model(self, path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {' -> '.join(l.name for l in self._layers)}>"


def _library_backward(piece: Any) -> bool:
    """Whether `piece`'s backward is scratchae's own Dense's (or the Logits of such a Dense),
    which has `backward_parameters`: the same gradients without dL/dx."""
    if isinstance(piece, Logits):
        return type(piece.layer).backward_logits is Dense.backward_logits
    return (isinstance(piece, Dense) and type(piece).backward is Dense.backward
            and type(piece).backward_logits is Dense.backward_logits)


class Sequential(Model):
    """A plain stack of layers: `Sequential([Dense(32, activation="relu", input_dim=784), ...])`.

    The first layer needs its input width (`input_dim=` / `input_shape=`), or start with
    `Input(shape=(784,))`.
    """

    def __init__(self, layers: Iterable[Layer | SymbolicTensor] | None = None, name: str | None = None) -> None:
        super().__init__(name=name or "sequential")
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The layers in order, without the InputLayer (as Keras's Sequential)."""
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def _build_on(self, x: Any) -> None:
        """Keras builds a Sequential without an input width on its first data: so do we."""
        shape = np.shape(x)
        if len(shape) != 2:
            return                       # _as_matrix will explain the shape problem
        width = shape[1]
        self._layers.insert(0, InputLayer((width,), dtype=self._layers[0].dtype))
        for layer in self._layers[1:]:
            layer.build(width)
            width = layer.units

    def add(self, layer: Layer | SymbolicTensor) -> None:
        """Append a layer (or an Input as the first element) and build it on the previous width."""
        if isinstance(layer, SymbolicTensor):
            if layer.parent is not None or self._layers:
                raise ValueError("Sequential only accepts an Input as its first element")
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("an Input can only come first in a Sequential model")
            self._layers.append(layer)
            return
        if any(layer is l for l in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if not self._layers:
            if layer.built:
                self._layers.append(InputLayer((layer.input_dim,), dtype=layer.dtype))
        else:
            prev = self._layers[-1]
            width = prev.input_dim if isinstance(prev, InputLayer) else getattr(prev, "units", None)
            if width is not None:
                layer.build(width)
        check_chain(self._layers + [layer])
        self._layers.append(layer)
        self._check_dtypes()


def load_model(path: str | os.PathLike) -> Model:
    """Read a model written by `Model.save` (importable from here as in Keras; the code is in
    `scratchae.saving`)."""
    from .saving import load_model as _load

    return _load(path)
