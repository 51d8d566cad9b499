"""The training loop behind `Model.fit`, and its engineering.

The loop itself is short (`_train`): for every epoch, shuffle, cut the data into batches
and call `model.train_step(xb, yb)`, the textbook step of `scratchae.models`. Around it sits
what a real run needs and a learner can skip on a first read:

* a progress bar and Keras's `History` (per-epoch loss, sample-weighted over the batches);
* divergence: a NaN or infinite loss stops training with `NonFiniteLossError`, naming the
  epoch and batch, and the weights go back to the start of the epoch if they went bad;
* Ctrl-C: the first one stops after the current batch, keeps the completed epochs in the
  history and leaves the model usable;
* one BLAS thread during training (`scratchae._blas`), and batch gathers into one reused buffer.

* `ParameterBuffers`, the packed parameters behind `compile(pack_parameters=True)`.

This module knows a model only through `train_step`, `rng`, `name`, `history` and its
`optimizer_parameters()`; it never imports `scratchae.models`.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
from typing import Any

import numpy as np

from . import _blas
from ._contract import ContractError, Problem, describe
from ._validate import positive_int
from .progress import ProgressBar
from .utils import as_rng


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


def fit_model(model: Any, x: Any, y: Any, *, batch_size: int | None, epochs: int, verbose: Any,
              validation_data: Any, shuffle: bool, seed: Any, initial_epoch: int) -> History:
    """`Model.fit`: check every argument and the data once, then train (see `Model.fit`)."""
    batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
    epochs = positive_int("epochs", epochs)
    verbose = check_verbose(verbose)
    if y is None:
        raise ValueError("fit needs targets y; for an autoencoder pass the input twice: fit(x, x)")
    x, y = model.check_data(x, y)      # y is x again when the caller passed x twice
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
        val = model.check_data(*validation_data)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if seed is not None:
        model.rng = as_rng(seed)
    return _train(model, x, y, batch_size, range(initial_epoch, initial_epoch + epochs), shuffle,
                  verbose, val)


def _train(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: range, shuffle: bool,
           verbose: int, val: tuple | None) -> History:
    """The loop: for every epoch, shuffle, one `train_step` per batch, record the epoch."""
    history = History()
    model.history = history
    n = len(x)
    batches = _Batches(x, y, min(batch_size, n))
    # Divergence shows up as a non-finite loss, reported below with where it happened;
    # NumPy's overflow warnings on the way there would only bury that message.
    with _StopOnInterrupt() as stop, np.errstate(over="ignore", invalid="ignore"), \
            _blas.single_threaded():
        for epoch in epochs:
            if verbose:
                _print(f"Epoch {epoch + 1}/{epochs.stop}")
            order = model.rng.permutation(n) if shuffle else None
            snapshot = [p.copy() for _, p, _ in model.optimizer_parameters()]
            bar = ProgressBar(n, verbose)
            total, done = 0.0, 0
            for b, (xb, yb) in enumerate(batches.each(order)):
                value = model.train_step(xb, yb)
                if not math.isfinite(value):
                    raise _diverged(model, snapshot, value, epoch, b, done, len(xb))
                total += value * len(xb)
                done += len(xb)
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
                logs["val_loss"] = evaluate_batches(model, *val, batch_size)
            bar.finish(done, logs)
            history._record(epoch, logs)
            if stop.requested:        # Ctrl-C in the epoch's last batch: keep the epoch, stop
                history.interrupted = True
                break
    if history.interrupted:
        raise KeyboardInterrupt(f"training of {model.name!r} interrupted; see model.history")
    return history


def evaluate_batches(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """The model's loss on checked (x, y), batch by batch, as the sample-weighted mean."""
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        total += model.compute_loss(xb, yb) * len(xb)
    return total / len(x)


class _Batches:
    """Minibatches of (x, y) in a given order, gathered into one reused buffer per array."""

    def __init__(self, x: np.ndarray, y: np.ndarray, size: int) -> None:
        self.x, self.y, self.size = x, y, size
        self.xbuf = np.empty((size, x.shape[1]), dtype=x.dtype)
        self.ybuf = self.xbuf if y is x else np.empty((size, y.shape[1]), dtype=y.dtype)

    def each(self, order: np.ndarray | None):
        x, y = self.x, self.y
        for start in range(0, len(x), self.size):
            stop = min(start + self.size, len(x))
            if order is None:
                yield x[start:stop], y[start:stop]
                continue
            idx = order[start:stop]
            xb = np.take(x, idx, axis=0, out=self.xbuf[:len(idx)])
            yield xb, (xb if y is x else np.take(y, idx, axis=0, out=self.ybuf[:len(idx)]))


def _diverged(model: Any, snapshot: list[np.ndarray], value: float, epoch: int, b: int,
              done: int, m: int) -> NonFiniteLossError:
    """The error for a non-finite loss; puts the epoch's starting weights back if they went bad."""
    params = [p for _, p, _ in model.optimizer_parameters()]
    restored = not all(np.all(np.isfinite(p)) for p in params)
    if restored:
        for p, s in zip(params, snapshot):
            p[...] = s
    return NonFiniteLossError(
        f"loss became {value} at epoch {epoch + 1}, batch {b + 1} (samples {done}-{done + m - 1}); "
        "training stopped and the update of that batch was not applied"
        + ("; the weights had gone non-finite and were restored to the start of the epoch"
           if restored else "; the model keeps its last finite weights")
        + ". Try a smaller learning_rate, or check the data."
    )


def check_verbose(verbose: Any) -> int:
    """Keras's verbose: 0, 1, 2 or 'auto' (= 1)."""
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
