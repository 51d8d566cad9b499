"""Models: a chain of layers with Keras's training API, and save/load.

    input_img = Input(shape=(784,))
    code = Dense(32, activation="relu")(input_img)
    output_img = Dense(784, activation="sigmoid")(code)
    autoencoder = Model(input_img, output_img)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    autoencoder.fit(x_train, x_train, epochs=5)
    encoder = Model(input_img, code)          # shares the first Dense with the autoencoder

A model is a *chain*: each layer feeds the next. One training step is

    forward:   h_0 = x,  h_i = layer_i.forward(h_{i-1})
    loss:      L = loss(h_last, y) + sum_i penalty_i        (activity penalties, if any)
    backward:  dh = dL/dh_last, then dh = layer_i.backward(dh) from the last layer down
    update:    optimizer.apply(parameters)

When the last layer is a sigmoid and the loss is binary cross-entropy, the loss is taken
from the last layer's logits z (`BinaryCrossentropy(from_logits=True)`): the value is exact
(no clipping) and dL/dz = (sigmoid(z) - y) / (N D) goes straight into the layer, skipping
the sigmoid's backward (see `scratchae.losses`). The reported loss then differs from
Keras's clipped one only where a probability is below 1e-7 or above 1 - 1e-7.

Parameters live in one contiguous buffer per trained model (and the gradients in a twin
buffer): `compile` moves the layers' `params`/`grads` arrays into it, so the optimizer
updates all of them with a few vector operations. Keep references to weight arrays only
after `compile`, or use `get_weights()`.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
from typing import Any, Iterable

import numpy as np

from . import _blas
from . import losses as _losses
from . import optimizers as _optimizers
from ._validate import positive_int
from .layers import Dense, InputLayer, Layer, SymbolicTensor
from .progress import ProgressBar
from .utils import as_rng, global_rng

class History:
    """What `fit` returns: `history.history["loss"]` has one value per epoch (Keras's meaning).

    loss:     the sample-weighted mean of the batch losses of the epoch, each computed with
              the weights as they were at that batch (they change during the epoch),
              activity penalties included.
    val_loss: the loss on validation_data at the end of the epoch (as `evaluate` gives it).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.interrupted = False

    def _record(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message says where."""


class Model:
    """A chain of layers between an `Input` and an output, with Keras's training methods."""

    def __init__(self, inputs: SymbolicTensor | None = None, outputs: SymbolicTensor | None = None,
                 name: str | None = None) -> None:
        self.name = name or "model"
        self.optimizer: _optimizers.Optimizer | None = None
        self.loss: _losses.Loss | None = None
        self.history: History | None = None
        self._flat: np.ndarray | None = None
        self._flat_grad: np.ndarray | None = None
        self._rng: np.random.Generator | None = None
        self._layers: list[Layer] = []
        if inputs is None and outputs is None:
            return
        self._layers = _trace_chain(inputs, outputs)
        self._check_dtypes()

    # -- structure -------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The layers in order; a functional Model lists its InputLayer first (as Keras does)."""
        return list(self._layers)

    @property
    def _chain(self) -> list[Dense]:
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    @property
    def input_dim(self) -> int | None:
        return self._layers[0].input_dim if self._layers else None

    @property
    def dtype(self) -> np.dtype:
        return self._chain[0].dtype if self._chain else self._layers[0].dtype

    def _check_dtypes(self) -> None:
        dtypes = {l.dtype for l in self._chain}
        if len(dtypes) > 1:
            raise TypeError(f"all layers of a model must share one float type, got {sorted(d.name for d in dtypes)}")

    def _require_built(self) -> None:
        if not self._chain or any(not l.built for l in self._chain):
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
        return [(f"{l.name}/{k}", l.params[k], l.grads[k]) for l in self._chain for k in l.params]

    def count_params(self) -> int:
        return sum(l.count_params() for l in self._layers)

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer: str | _optimizers.Optimizer = "adam",
                loss: str | _losses.Loss | None = None) -> None:
        """Choose the optimizer ('adam', 'sgd' or an instance) and the loss ('binary_crossentropy',
        'mse' or an instance). The parameters move into one contiguous buffer at the first step."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='binary_crossentropy'")
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss)
        if self._rng is None:
            self._rng = np.random.default_rng(global_rng().integers(2**63))

    def _pack(self) -> None:
        """Put all parameters (and gradients) of the chain into one contiguous buffer each.

        The layers' dict entries become views of the buffers; values are copied over. Layers
        shared with another model stay shared: they are the same objects, and a model whose
        layers were moved by another model's compile moves them back at its next step.
        """
        params = [(l, k) for l in self._chain for k in l.params]
        total = sum(l.params[k].size for l, k in params)
        flat = np.empty(total, dtype=self.dtype)
        flat_grad = np.zeros(total, dtype=self.dtype)
        i = 0
        for layer, key in params:
            p = layer.params[key]
            view, gview = flat[i:i + p.size].reshape(p.shape), flat_grad[i:i + p.size].reshape(p.shape)
            view[...] = p
            layer.params[key], layer.grads[key] = view, gview
            i += p.size
        self._flat, self._flat_grad = flat, flat_grad

    def _packed(self) -> bool:
        if self._flat is None:
            return False
        return all(p.base is self._flat and g.base is self._flat_grad for _, p, g in self.parameters())

    def _optimizer_triples(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        # One triple for the whole buffer: Adam's state is then one vector per slot, keyed by
        # the model's name, and a step is a handful of vector operations.
        if not self._packed():
            self._pack()
        return [(f"{self.name}/*", self._flat, self._flat_grad)]

    def _require_compiled(self) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(
                f"model {self.name!r} must be compiled before training or evaluation: "
                "call model.compile(optimizer='adam', loss='binary_crossentropy')"
            )

    # -- the arithmetic of one batch ---------------------------------------------------------
    def _fused(self) -> bool:
        last = self._chain[-1]
        return (isinstance(self.loss, _losses.BinaryCrossentropy) and not self.loss.from_logits
                and last.activation.name == "sigmoid")

    def _forward(self, x: np.ndarray) -> np.ndarray:
        h = x
        for layer in self._chain:
            h = layer.forward(h)
        return h

    def _forward_loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward pass and loss of one batch: data loss plus every activity penalty.

        When the loss fuses with the last sigmoid, the last layer stops at its logits and
        `sigmoid_bce_from_logits` gives the probabilities and the loss from one exponential
        (a last layer with its own activity penalty takes the plain route, as the penalty
        needs the sigmoid's backward).
        """
        chain = self._chain
        last = chain[-1]
        if self._fused() and last.activity_regularizer is None:
            h = x
            for layer in chain[:-1]:
                h = layer.forward(h)
            p, value = _losses.sigmoid_bce_from_logits(last.forward_logits(h), y)
            self._fused_cache = (p, y)
        elif self._fused():
            p = self._forward(x)
            value = _FUSED_BCE.forward_trusted(last.logits, y)
            self._fused_cache = (p, y)
        else:
            value = self.loss.forward_trusted(self._forward(x), y)
        return value + sum(l.penalty for l in chain if l.activity_regularizer is not None)

    def _backward(self) -> None:
        """Fill every layer's grads from the loss cached by the last _forward_loss."""
        chain = self._chain
        if self._fused():
            # dL/dz = (sigmoid(z) - y) / (N D) into the last layer's logits, skipping the
            # sigmoid's own backward (see scratchae.losses)
            dy, dlogits = None, _losses.fused_sigmoid_bce_grad(*self._fused_cache)
        else:
            dy, dlogits = self.loss.backward(), None
        for i in range(len(chain) - 1, -1, -1):
            dy = chain[i].backward(dy, dlogits=dlogits, need_dx=i > 0)
            dlogits = None

    def compute_loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """The training loss of one batch (penalties included), without changing anything."""
        self._require_compiled()
        return self._forward_loss(x, y)

    def compute_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """(loss, {path: dL/dparam}) for one batch, without updating the weights."""
        self._require_compiled()
        value = self._forward_loss(x, y)
        self._backward()
        return value, {path: g.copy() for path, _, g in self.parameters()}

    def _train_step(self, x: np.ndarray, y: np.ndarray, triples: list) -> float:
        """Forward, loss, backward, update. `triples` come from _optimizer_triples(), taken
        before the step (packing after backward would lose the gradients just written)."""
        value = self._forward_loss(x, y)
        if not math.isfinite(value):
            return value          # the caller stops; this batch's update is not applied
        self._backward()
        self.optimizer.apply(triples)
        return value

    # -- input checks, once per call -------------------------------------------------------
    def _check_data(self, x: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(self, Sequential) and self._layers and not self._layers[0].built:
            self._build_on(x)
        self._require_built()
        x_in = x
        x = _as_matrix(x, "x", self.input_dim, self.dtype)
        if y is None:
            return x, None
        y_arr = x if y is x_in else _as_matrix(y, "y", self._chain[-1].units, self.dtype)
        if len(y_arr) != len(x):
            raise ValueError(f"x and y must have the same number of samples, got {len(x)} and {len(y_arr)}")
        if isinstance(self.loss, _losses.BinaryCrossentropy):
            lo, hi = float(y_arr.min()), float(y_arr.max())
            if lo < 0 or hi > 1:
                raise ValueError(
                    f"binary_crossentropy needs targets in [0, 1], got values in [{lo:g}, {hi:g}]"
                    + (" (images scaled to 0-255? divide by 255)" if hi > 1 else "")
                )
        return x, y_arr

    # -- Keras's training API --------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray | None = None, batch_size: int | None = None,
            epochs: int = 1, verbose: int | str = "auto", validation_data: tuple | None = None,
            shuffle: bool = True, seed: int | np.random.Generator | None = None,
            initial_epoch: int = 0) -> History:
        """Train for `epochs` passes over (x, y) in minibatches; returns a `History`.

        batch_size defaults to 32 (Keras). shuffle=True draws a new order every epoch from the
        model's generator (seeded by `seed`, else by `utils.set_random_seed` at compile time).
        A NaN or infinite loss stops training with `NonFiniteLossError` naming the epoch and
        batch; the failing batch's update is not applied. Ctrl-C stops after the current batch:
        the completed epochs are kept in `model.history`, the model stays usable, and the
        KeyboardInterrupt is raised again so a script stops as expected.
        """
        self._require_compiled()
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        epochs = positive_int("epochs", epochs)
        verbose = _check_verbose(verbose)
        if y is None:
            raise ValueError("fit needs targets y; for an autoencoder pass the input twice: fit(x, x)")
        x, y = self._check_data(x, y)      # y is x again when the caller passed x twice
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            val = self._check_data(*validation_data)
        if seed is not None:
            self._rng = as_rng(seed)
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")

        triples = self._optimizer_triples()      # packs the parameters if needed
        history = History()
        self.history = history
        n = len(x)
        bs = min(batch_size, n)
        xb_buf = np.empty((bs, x.shape[1]), dtype=x.dtype)
        yb_buf = xb_buf if y is x else np.empty((bs, y.shape[1]), dtype=y.dtype)
        # Divergence shows up as a non-finite loss, reported below with where it happened;
        # NumPy's overflow warnings on the way there would only bury that message.
        with _StopOnInterrupt() as stop, np.errstate(over="ignore", invalid="ignore"), \
                _blas.single_threaded():
            for epoch in range(initial_epoch, initial_epoch + epochs):
                if verbose == 1 or verbose == 2:
                    _print(f"Epoch {epoch + 1}/{initial_epoch + epochs}")
                order = self._rng.permutation(n) if shuffle else None
                snapshot = triples[0][1].copy()
                bar = ProgressBar(n, verbose)
                total, done = 0.0, 0
                for b, start in enumerate(range(0, n, bs)):
                    stop_ = min(start + bs, n)
                    m = stop_ - start
                    if order is None:
                        xb, yb = x[start:stop_], y[start:stop_]
                    else:
                        idx = order[start:stop_]
                        xb = np.take(x, idx, axis=0, out=xb_buf[:m])
                        yb = xb if y is x else np.take(y, idx, axis=0, out=yb_buf[:m])
                    value = self._train_step(xb, yb, triples)
                    if not math.isfinite(value):
                        restored = self._restore_if_nonfinite(snapshot)
                        raise NonFiniteLossError(
                            f"loss became {value} at epoch {epoch + 1}, batch {b + 1} "
                            f"(samples {start}-{stop_ - 1}); training stopped and the update of that "
                            "batch was not applied"
                            + ("; the weights had gone non-finite and were restored to the "
                               "start of the epoch" if restored else "; the model keeps its last finite weights")
                            + ". Try a smaller learning_rate, or check the data."
                        )
                    total += value * m
                    done += m
                    bar.update(done, total / done)
                    if stop.requested and done < n:
                        break
                if stop.requested and done < n:
                    history.interrupted = True
                    if verbose:
                        _print(f"\nInterrupted at epoch {epoch + 1} after {done}/{n} samples; "
                               f"history keeps the {len(history.epoch)} completed epoch(s).")
                    break
                logs = {"loss": total / done}
                if val is not None:
                    logs["val_loss"] = self._evaluate_checked(*val, batch_size=batch_size)
                bar.finish(done, logs)
                history._record(epoch, logs)
                if stop.requested:        # Ctrl-C in the epoch's last batch: keep the epoch, stop
                    history.interrupted = True
                    break
        if history.interrupted:
            raise KeyboardInterrupt(f"training of {self.name!r} interrupted; see model.history")
        return history

    def _restore_if_nonfinite(self, snapshot: np.ndarray) -> bool:
        if np.all(np.isfinite(self._flat)):
            return False
        self._flat[...] = snapshot
        return True

    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> float:
        """One optimizer step on one batch; returns its loss (penalties included, before the step)."""
        self._require_compiled()
        x, y = self._check_data(x, y)
        with np.errstate(over="ignore", invalid="ignore"):
            value = self._train_step(x, y, self._optimizer_triples())
        if not math.isfinite(value):
            raise NonFiniteLossError(f"loss is {value} on this batch; the update was not applied")
        return value

    def predict(self, x: np.ndarray, batch_size: int | None = None, verbose: int | str = 0) -> np.ndarray:
        """The model's output for every row of x, computed batch by batch (default 32)."""
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        x, _ = self._check_data(x)
        return np.concatenate([self._forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                 verbose: int | str = 0) -> float:
        """The loss on (x, y), penalties included, as the sample-weighted mean over batches.

        Like Keras, the activity penalty is added per batch, so with scratchae's summed L1 the
        penalty part of the result grows with batch_size.
        """
        self._require_compiled()
        batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
        x, y = self._check_data(x, y)
        return self._evaluate_checked(x, y, batch_size)

    def _evaluate_checked(self, x, y, batch_size) -> float:
        total = 0.0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            total += self._forward_loss(xb, yb) * len(xb)
        return total / len(x)

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of all parameters, Keras order: kernel then bias of each Dense, in layer order."""
        return [w for l in self._chain for w in l.get_weights()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set all parameters from a list in get_weights() order (all checked before any is set)."""
        expected = [p for _, p, _ in self.parameters()]
        if not isinstance(weights, (list, tuple)) or len(weights) != len(expected):
            raise ValueError(f"set_weights expects a list of {len(expected)} arrays, got "
                             f"{len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__}")
        i = 0
        staged = []
        for layer in self._chain:
            k = len(layer.params)
            staged.append((layer, weights[i:i + k]))
            for (key, p), w in zip(layer.params.items(), weights[i:i + k]):
                w = np.asarray(w)
                if w.shape != p.shape:
                    raise ValueError(f"{layer.name}/{key}: expected shape {p.shape}, got {w.shape}")
                if not np.issubdtype(w.dtype, np.number) or not np.all(np.isfinite(w)):
                    raise ValueError(f"{layer.name}/{key}: weights must be finite numbers")
            i += k
        for layer, ws in staged:
            layer.set_weights(list(ws))

    # -- display ----------------------------------------------------------------------------
    def summary(self, print_fn=None) -> str:
        """Print (and return) a Keras-like table of layers, output shapes and parameter counts."""
        cols = (28, 15, 24, 12)
        width = sum(cols)
        lines = [f'Model: "{self.name}"', "_" * width,
                 f"{' Layer (type)':<{cols[0]}}{'Output Shape':<{cols[1]}}{'Activation, penalty':<{cols[2]}}"
                 f"{'Param #':>{cols[3]}}", "=" * width]
        for i, layer in enumerate(self._layers):
            label = f" {layer.name} ({type(layer).__name__})"
            notes = ""
            if isinstance(layer, Dense):
                reg = layer.activity_regularizer
                notes = layer.activation.name + (f", {reg!r}" if reg is not None else "")
            shape = str(layer.output_shape) if layer.built else "(unbuilt)"
            lines.append(f"{label:<{cols[0]}}{shape:<{cols[1]}}{notes:<{cols[2]}}{layer.count_params():>{cols[3]},}")
        total = self.count_params()
        lines += ["=" * width, f"Total params: {total:,}", f"Trainable params: {total:,}",
                  "Non-trainable params: 0", "_" * width]
        text = "\n".join(lines)
        (print_fn or print)(text)
        return text

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
        _check_unique_names(self._layers + [layer])
        self._layers.append(layer)
        self._check_dtypes()


# -- helpers --------------------------------------------------------------------------------
_FUSED_BCE = _losses.BinaryCrossentropy(from_logits=True)


def _trace_chain(inputs: Any, outputs: Any) -> list[Layer]:
    """The layers from `inputs` to `outputs`, walking back through each tensor's parent."""
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
    chain: list[Layer] = []
    t = outputs
    while t is not None and t is not inputs:
        chain.append(t.layer)
        t = t.parent
    if t is None:
        raise ValueError("outputs are not computed from inputs: the chain from outputs back to an "
                         "Input does not pass through the given inputs")
    chain.append(inputs.layer if inputs.parent is None else _InputFor(inputs))
    chain.reverse()
    seen = set()
    for layer in chain:
        if id(layer) in seen:
            raise ValueError(f"layer {layer.name!r} appears twice in the chain: branching and "
                             "repeated layers are out of scope in scratchae")
        seen.add(id(layer))
    _check_unique_names(chain)
    return chain


def _check_unique_names(layers: list[Layer]) -> None:
    """Weights are saved under '<layer name>/<param>': two layers may not share a name."""
    names = [l.name for l in layers]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"all layer names in a model must be unique; repeated: {dup}")


def _InputFor(t: SymbolicTensor) -> InputLayer:
    """An InputLayer for a model whose inputs are an intermediate tensor (a decoder's, say)."""
    return InputLayer((t.shape[-1],), dtype=t.layer.dtype)


def _as_matrix(a: Any, name: str, width: int | None, dtype: np.dtype) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        if isinstance(a, (list, tuple)):
            a = np.asarray(a)
        else:
            raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        raise TypeError(
            f"{name} has integer dtype {a.dtype}: scale images to floats in [0, 1] first, "
            f"e.g. {name} = {name}.astype('float32') / 255.0"
        )
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must hold floats, got dtype {a.dtype}")
    if a.ndim != 2:
        hint = f" (flatten images: {name}.reshape(len({name}), -1))" if a.ndim == 3 else ""
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {a.shape}{hint}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if width is not None and a.shape[1] != width:
        raise ValueError(f"{name} must have {width} features per sample, got shape {a.shape}")
    if not _all_finite(a):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s)")
    return a if a.dtype == dtype else a.astype(dtype)


def _all_finite(a: np.ndarray, rows: int = 4096) -> bool:
    """np.isfinite(a).all(), a block of rows at a time: no temporary the size of the dataset."""
    return all(np.isfinite(a[i:i + rows]).all() for i in range(0, len(a), rows))


def _check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2) and not isinstance(verbose, bool):
        return int(verbose)
    raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _StopOnInterrupt:
    """While training, turn the first Ctrl-C into a request to stop after the current batch.

    A second Ctrl-C interrupts at once (the default handler is back after the first). Outside
    the main thread signals cannot be caught; Ctrl-C then interrupts wherever it lands.
    """

    def __enter__(self) -> "_StopOnInterrupt":
        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._old if self._old is not None else signal.default_int_handler)

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# `load_model` lives in scratchae.saving; importable from here too, as in Keras.
from .saving import load_model  # noqa: E402,F401
