"""Models: a graph of layers with Keras's training API.

    input_img = Input(shape=(784,))
    code = Dense(32, activation="relu")(input_img)
    output_img = Dense(784, activation="sigmoid")(code)
    autoencoder = Model(input_img, output_img)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    autoencoder.fit(x_train, x_train, epochs=5)
    encoder = Model(input_img, code)          # shares the first Dense with the autoencoder

The layers run in one topological order (`Model.nodes`: every layer after the layers it
reads). One training step (`Model.train_step`) is the textbook's:

    forward:   every layer's forward, in order        (training=True)
    loss:      L = loss.forward(output, y) + every layer's own loss terms
    backward:  zero the gradients; dy = loss.backward(); every layer's backward, in reverse,
               each tensor's gradient the sum over the layers that read it
    update:    optimizer.apply(the (path, param, grad) of every distinct parameter array,
               or of one vector holding them all: `optimizer_parameters()`)

`fit` runs that step, or the same step with `compile`'s switches (`scratchae.speed`: the loss
on logits, one buffer for all parameters, no dL/dx for the data), tested equal to it.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from . import losses as _losses
from . import optimizers as _optimizers
from . import speed
from ._contract import check_backward
from ._summary import summary_table
from ._modelcheck import check_data, check_dtypes, checked_weights, require_compiled
from ._validate import positive_int
from .checkpoints import Checkpoint, train_one_batch
from .graph import Node, SymbolicTensor, as_tensor_list, check_layers, graph_config, trace
from .layers import InputLayer, Layer
from .speed import PACKED, Logits
from .training import (PREDICTION_METRICS, History, NonFiniteLossError, check_verbose,
                       evaluate_batches, evaluate_parts, fit_model, refuse_during_fit)
from .utils import global_rng

__all__ = ["Model", "Sequential", "History", "NonFiniteLossError", "load_model", "Logits", "PACKED"]


class Model:
    """A graph of layers from one or more `Input`s to one or more outputs, with Keras's
    training methods. `fit` and `evaluate` take models with one input and one output;
    `predict` and the checker take any (a list in, a list out)."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None) -> None:
        self.name = name or "model"
        self.optimizer: _optimizers.Optimizer | None = None
        self.loss: _losses.Loss | None = None
        self.fuse_sigmoid_bce = True
        self.pack_parameters = True
        self._metrics: list[str] = []             # compile(metrics=[...])
        self.history: History | None = None
        #: The generator that shuffles the batches of `fit` and that the layers which draw
        #: noise draw from in training (saved with the model).
        self.rng: np.random.Generator | None = None
        self._buffers: Any = None                 # the packed parameters (scratchae.speed)
        self._last_good: Checkpoint | None = None # train_on_batch's undo (see checkpoints)
        self._spare_checkpoint: Checkpoint | None = None
        self._fitting: Any = None                 # the thread whose fit is running (training)
        self._inputs: list[InputLayer] = []       # one InputLayer per model input
        self._nodes: list[Node] = []              # the layers, in topological order
        self._outputs: list[int] = []             # the node of each output
        self._values: list = []                   # each node's output in the last forward ...
        self._xs: list = []                       # ... and the model's inputs
        self._pieces: dict[int, Any] = {}         # ... and the pieces swapped in (speed)
        if inputs is None and outputs is None:
            return
        ins, outs = as_tensor_list(inputs, "inputs"), as_tensor_list(outputs, "outputs")
        self._nodes, self._outputs = trace(ins, outs)
        # an Input's own layer, or a new InputLayer for an intermediate tensor (a decoder's
        # input is the encoder's code)
        self._inputs = [t.layer if not t.parents and isinstance(t.layer, InputLayer)
                        else InputLayer(t.shape[1:], dtype=t.layer.dtype) for t in ins]
        check_layers(self._layers)
        check_dtypes(self)

    def __call__(self, inputs: Any, training: bool = False) -> Any:
        """On symbolic tensors, the model's layers called again on them, in its node order:
        `outputs = decoder(encoder(inputs)[2])` builds a VAE from an encoder and a decoder, as
        in Keras. The new tensors hold the same layers (their weights are shared, not copied),
        so a model made from them lists those layers flat, not the inner models. On arrays,
        `forward(inputs, training)`."""
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not any(isinstance(t, SymbolicTensor) for t in items):
            return self.forward(inputs, training=training)
        as_tensor_list(items, "call inputs")
        if len(items) != len(self._inputs):
            raise ValueError(f"model {self.name!r} takes {len(self._inputs)} input(s), got {len(items)}")
        for k, (t, layer) in enumerate(zip(items, self._inputs)):
            if tuple(t.shape[1:]) != tuple(layer.input_shape):
                raise ValueError(f"model {self.name!r}: input {k} must have shape "
                                 f"{(None, *layer.input_shape)}, got {t.shape}")
        values: list[SymbolicTensor] = []
        at = lambda ref: items[-1 - ref] if ref < 0 else values[ref]
        for node in self._nodes:
            parents = [at(ref) for ref in node.parents]
            values.append(node.layer(parents if node.many else parents[0]))
        outs = [at(ref) for ref in self._outputs]
        return outs if len(outs) > 1 else outs[0]

    # -- structure -------------------------------------------------------------------------
    @property
    def _layers(self) -> list[Layer]:
        return [*self._inputs, *(n.layer for n in self._nodes)]

    @property
    def layers(self) -> list[Layer]:
        """The layers in order; a functional Model lists its InputLayers first (as Keras does)."""
        return self._layers

    @property
    def chain(self) -> list[Layer]:
        """The layers that compute, in the order they run: `layers` without the InputLayers."""
        return [n.layer for n in self._nodes]

    @property
    def nodes(self) -> list[Node]:
        """The order the layers run in, each with the nodes it reads (-1 - k: input k)."""
        return list(self._nodes)

    @property
    def input_dim(self) -> int | None:
        return self._inputs[0].input_dim if self._inputs else None

    @property
    def dtype(self) -> np.dtype:
        return self.chain[0].dtype if self.chain else self._layers[0].dtype

    @property
    def built(self) -> bool:
        """True when the model knows its input width and has at least one layer that computes."""
        return bool(self._inputs) and bool(self.chain) and all(l.built for l in self.chain)

    def get_layer(self, name: str) -> Layer:
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {[l.name for l in self._layers]}")

    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(path, param, grad) for every distinct parameter array, in layer order: 'dense/kernel',
        ... An array that several layers hold (a tied kernel) comes once, under its first
        holder's path, and every holder's gradient is that one array (tied here if needed)."""
        out, first = [], {}
        for layer in self.chain:
            for key, p in layer.params.items():
                if id(p) not in first:
                    first[id(p)] = layer.grads[key]
                    out.append((f"{layer.name}/{key}", p, layer.grads[key]))
                elif layer.grads.get(key) is not first[id(p)]:
                    layer.grads[key] = first[id(p)]
        return out

    def count_params(self) -> int:
        return sum(p.size for _, p, _ in self.parameters())

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer: str | _optimizers.Optimizer = "adam",
                loss: str | _losses.Loss | None = None, metrics: list[str] | None = None, *,
                fuse_sigmoid_bce: bool = True, pack_parameters: bool = True) -> None:
        """Choose the optimizer ('adam', 'sgd' or an instance) and the loss ('binary_crossentropy',
        'mse' or an instance).

        metrics: as in Keras, names whose per-epoch values `fit`'s `History.history` records
        beside `loss` (with `val_` twins for validation_data). scratchae's metrics are the parts
        of the loss (`History.parts`): "reconstruction_loss" (the loss without the layers'
        terms) and each layer's loss term, "<layer>_<term>" ("code_penalty", "z_kl"); `fit`
        checks the names against the model before its first step. Keras's metrics computed
        from the predictions ('accuracy', 'mse', ...) are not implemented.

        The switches choose how `fit` runs the step, each giving the
        plain step's numbers (`scratchae.speed` says what each does): fuse_sigmoid_bce, the
        output's sigmoid and BCE as one loss on logits (`fused`); pack_parameters, one buffer
        for all parameters (the layers' arrays become views of it at the first step: keep
        references only after that, or use `get_weights()`)."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='binary_crossentropy'")
        for name, flag in (("fuse_sigmoid_bce", fuse_sigmoid_bce), ("pack_parameters", pack_parameters)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        metrics = _metric_list(metrics)
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss)
        self._metrics = metrics
        self.fuse_sigmoid_bce = fuse_sigmoid_bce
        self.pack_parameters = pack_parameters
        self._buffers = None
        if self.rng is None:
            self.rng = np.random.default_rng(global_rng().integers(2**63))

    @property
    def metrics_names(self) -> list[str]:
        """Keras's: ["loss", then each metric named in compile]: `History.history`'s keys
        (without their `val_` twins)."""
        return ["loss", *self._metrics]

    @property
    def fused(self) -> bool:
        """Whether `fit` trains the last layer to its logits with BCE from the logits."""
        return speed.fuses(self)

    @property
    def training_loss(self) -> _losses.Loss | None:
        """The loss `fit` computes: `loss`, or BCE from logits when `fused`."""
        return speed.training_loss(self)

    # -- one training step, as the textbook writes it ------------------------------------------
    def forward(self, x: Any, training: bool = False, *, pieces: dict[int, Any] | None = None) -> Any:
        """Run every layer's forward in order; x is one array, or a list (one per input). Each
        layer caches what its backward needs. pieces: {node index: a piece run in the layer's
        place} (how `scratchae.speed` swaps in a layer's logits)."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        values: list = []
        at = lambda ref: xs[-1 - ref] if ref < 0 else values[ref]
        for i, node in enumerate(self._nodes):
            layer = node.layer
            if training and layer.stochastic:
                layer.rng = self.rng                      # the noise the model (and checker) holds
            args = [at(r) for r in node.parents]
            piece = pieces.get(i) if pieces else None
            inp = args if node.many else args[0]
            values.append(layer.run_forward(inp, training) if piece is None else piece.forward(inp))
        self._values, self._xs, self._pieces = values, xs, dict(pieces or {})
        outs = [at(r) for r in self._outputs]
        return outs[0] if len(outs) == 1 else outs

    def loss_terms(self) -> dict[str, float]:
        """{"<layer>_<term>": value} of the last forward: every layer's own loss terms (an
        activity penalty is "<layer>_penalty", what `History` records)."""
        return {f"{n.layer.name}_{k}": v for n in self._nodes for k, v in n.layer.loss_terms().items()}

    def penalty(self) -> float:
        """The sum of every layer's loss terms of the last forward."""
        return sum(self.loss_terms().values())

    def zero_grads(self) -> None:
        """Set every parameter's gradient to 0 (backward adds into them)."""
        for _, _, g in self.parameters():
            g.fill(0)

    def backward(self, dy: Any) -> Any:
        """Run every layer's backward in reverse: dy = dL/d(output) (a list for several outputs)
        -> dL/dx (a list for several inputs). A tensor read by several layers gets the sum of
        their gradients; a layer whose output reaches no loss gets zeros (its own loss terms
        still count). Each dL/dx handed back is checked (an array of its input's shape: cheap,
        no pass over the values), so a layer that breaks the contract is named here, not two
        layers later. It runs the pieces of the last forward: a piece swapped in there
        (`pieces`) runs its backward here, and may return None (no dL/dx wanted)."""
        dys = list(dy) if len(self._outputs) > 1 else [dy]
        grads: dict[int, Any] = {}

        def add(ref: int, g: Any) -> None:
            grads[ref] = g if ref not in grads else grads[ref] + g     # the sum rule

        for ref, g in zip(self._outputs, dys):
            add(ref, g)
        at = lambda ref: self._xs[-1 - ref] if ref < 0 else self._values[ref]
        for i in reversed(range(len(self._nodes))):
            node = self._nodes[i]
            piece = self._pieces.get(i)
            g = grads.pop(i, None)
            if g is None:
                g = np.zeros_like(self._values[i])
            dx = (node.layer if piece is None else piece).backward(g)
            if dx is None and piece is not None:
                continue
            seen = [at(r) for r in node.parents]
            if node.many:
                if not isinstance(dx, (list, tuple)) or len(dx) != len(seen):
                    raise TypeError(f"{node.layer.name}.backward must return a list of {len(seen)} "
                                    f"gradients (one per input), got {type(dx).__name__}")
                for k, (d, x) in enumerate(zip(dx, seen)):
                    add(node.parents[k], check_backward(node.layer, node.layer.name, d, x,
                                                        params=False, tensor=f"inputs[{k}]"))
            else:
                add(node.parents[0], check_backward(node.layer, node.layer.name, dx, seen[0], params=False))
        dxs = [grads.get(-1 - k) for k in range(len(self._xs))]
        return dxs[0] if len(dxs) == 1 else dxs

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss, backward, update, on one batch; returns the loss before the update.

        A non-finite loss returns at once: nothing is back-propagated, the update not applied.
        """
        value = self.loss.forward(self.forward(x, training=True), y) + self.penalty()
        if not math.isfinite(value):
            return value
        self.zero_grads()
        self.backward(self.loss.backward())
        self.optimizer.apply(self.optimizer_parameters())
        return value

    def optimizer_parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """The (path, param, grad) triples `fit`'s optimizer updates: `parameters()`, or one
        packed triple with `pack_parameters` (`scratchae.speed`)."""
        return speed.optimizer_parameters(self)

    def compute_loss(self, x: np.ndarray, y: np.ndarray, training: bool = True) -> float:
        """The training loss of one batch (loss terms included), without changing the weights.
        training=True: as a step computes it (noise layers draw from `rng`); False: as
        `evaluate` does (no noise, Sampling's z = mu)."""
        require_compiled(self)
        return speed.training_forward_loss(self, x, y, training=training)

    def compute_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """(loss, {path: dL/dparam}) for one batch, without updating the weights."""
        require_compiled(self)
        value = speed.training_forward_loss(self, x, y)
        self.zero_grads()
        speed.training_backward(self)
        return value, {path: np.array(g, copy=True) for path, _, g in self.parameters()}

    def check_data(self, x: Any, y: Any = None) -> tuple[Any, np.ndarray | None]:
        """x (and y) as float matrices of the model's widths and float type, with targets the
        loss can take; a clear TypeError/ValueError otherwise (`scratchae._modelcheck`)."""
        return check_data(self, x, y)

    # -- Keras's training API --------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray | None = None, batch_size: int | None = None,
            epochs: int = 1, verbose: int | str = "auto", validation_data: tuple | None = None,
            shuffle: bool = True, seed: int | np.random.Generator | None = None,
            initial_epoch: int = 0, callbacks: list | None = None) -> History:
        """Train for `epochs` passes over (x, y) in minibatches; returns a `History`.

        Keras's arguments and defaults (batch_size 32; shuffle=True draws each epoch's order
        from `model.rng`, seeded by `seed`). Whatever stops it early (a NaN or infinite loss,
        raising `NonFiniteLossError` with the epoch and batch; Ctrl-C, SIGTERM or SIGHUP after
        the current batch, raising a KeyboardInterrupt; any exception), the model goes back to
        the end of its last completed epoch: weights, optimizer state and generator. One fit
        at a time per model. The loop, and all of that, is `scratchae.training`'s.

        The History has Keras's keys: `history.history` holds `loss` (the layers' loss terms
        included) and the metrics named in compile, with `val_` twins for validation_data;
        `history.parts` holds the split, `reconstruction_loss` and one `<layer>_<term>` per
        layer loss term (`<layer>_penalty` for an activity penalty), also with `val_` twins.
        callbacks: e.g.
        `[scratchae.monitor.Monitor(every=25)]` (docs/monitoring.md).
        """
        require_compiled(self)
        return fit_model(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                         validation_data=validation_data, shuffle=shuffle, seed=seed,
                         initial_epoch=initial_epoch, callbacks=callbacks)

    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> float:
        """One optimizer step on one batch; returns its loss (loss terms included, before the step).
        No broken weights are left behind: a non-finite loss or update raises
        `NonFiniteLossError` and is undone (`scratchae.checkpoints.train_one_batch`)."""
        require_compiled(self)
        refuse_during_fit(self, "train_on_batch")
        x, y = self.check_data(x, y)
        return train_one_batch(self, x, y)

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0) -> Any:
        """The model's output for every row of x, batch by batch (default 32); a list of outputs
        for a model with several. `verbose` is checked only (Keras's calls port)."""
        check_verbose(verbose)
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        x, _ = self.check_data(x)
        xs = x if isinstance(x, list) else [x]
        n = len(xs[0])
        parts = [self.forward([a[i:i + batch_size] for a in xs]) for i in range(0, n, batch_size)]
        if len(self._outputs) == 1:
            return np.concatenate(parts)
        return [np.concatenate([p[k] for p in parts]) for k in range(len(self._outputs))]

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                 verbose: int | str = 0, return_dict: bool = False) -> float | dict[str, float]:
        """The training loss on (x, y), loss terms included, as the sample-weighted mean over
        batches (like Keras, a penalty is added per batch: a summed L1's part grows with
        batch_size), with the layers in inference mode as Keras's (no noise drawn, Sampling's
        z = mu: the same number twice). return_dict=True: {"loss": ..., and the parts of
        `History.parts`: "reconstruction_loss" and each "<layer>_<term>"}.
        `verbose` is checked only."""
        check_verbose(verbose)
        require_compiled(self)
        if not isinstance(return_dict, bool):
            raise TypeError(f"return_dict must be True or False, got {return_dict!r}")
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        if return_dict:
            return evaluate_parts(self, *self.check_data(x, y), batch_size).logs()
        return evaluate_batches(self, *self.check_data(x, y), batch_size)

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of all distinct parameters, Keras order: kernel then bias of each layer."""
        return [p.copy() for _, p, _ in self.parameters()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set all parameters from a list in get_weights() order (all checked before any is set)."""
        for (_, param, _), w in zip(self.parameters(), checked_weights(self, weights)):
            param[...] = w
        self._last_good = None          # train_on_batch never undoes back across set_weights

    # -- display ----------------------------------------------------------------------------
    def summary(self, print_fn=None) -> None:
        """Print Keras's table of layers, output shapes and parameter counts, and the loss that
        trains; `print_fn` receives the text instead of `print` (e.g. `lines.append`)."""
        (print_fn or print)(summary_table(self))

    # -- save / load ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The layers (class, config, the layers each reads, in run order), inputs and outputs."""
        return graph_config(self)

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture, weights and optimizer state to one .npz file, atomically
        (see `scratchae.saving`)."""
        from .saving import save_model

        save_model(self, path)

    def _build_on(self, x: Any) -> None:
        """A model without an input width (only a Sequential) learns it from data."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {' -> '.join(l.name for l in self._layers)}>"


#: The textbook step as defined here: `scratchae.speed` runs its fast twin only in its place.
PLAIN_TRAIN_STEP = Model.train_step


def _metric_list(metrics: Any) -> list[str]:
    """compile's metrics as a list of distinct names (the names are checked against the
    model's loss terms by `fit`, which knows them after one forward)."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(f"metrics must be a list of names, e.g. metrics=['reconstruction_loss'], "
                        f"got {type(metrics).__name__}")
    for m in metrics:
        if not isinstance(m, str):
            raise TypeError(f"every metric must be a name (a str) such as 'reconstruction_loss', "
                            f"got {type(m).__name__}")
        if m in PREDICTION_METRICS:
            raise ValueError(f"metric {m!r} is one of Keras's metrics computed from the predictions, "
                             "which scratchae does not implement; compile's metrics are the parts of "
                             "the loss ('reconstruction_loss', '<layer>_<term>'): compute it from "
                             "model.predict(x), e.g. scratchae.metrics.per_image_loss")
        if m == "loss" or m.startswith("val_"):
            raise ValueError(f"metrics name the parts of the loss, e.g. 'reconstruction_loss'; got "
                             f"{m!r}, which History records by itself")
    dup = sorted({m for m in metrics if metrics.count(m) > 1})
    if dup:
        raise ValueError(f"metrics must be distinct, got {dup} more than once")
    return list(metrics)


def __getattr__(name: str) -> Any:
    """`Sequential` from here (keras.models.Sequential), looked up on first use: it lives in
    `scratchae.sequential`, which subclasses Model, so neither imports the other as it loads."""
    if name == "Sequential":
        from .sequential import Sequential

        return Sequential
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_model(path: str | os.PathLike, custom_objects: dict[str, type] | None = None) -> Model:
    """Read a model written by `Model.save` (importable from here as in Keras; the code is in
    `scratchae.saving`). custom_objects: {class name: Layer subclass} for your own layers."""
    from .saving import load_model as _load

    return _load(path, custom_objects=custom_objects)
