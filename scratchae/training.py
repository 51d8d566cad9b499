"""The training loop behind `Model.fit`, and its engineering.

The loop itself is short (`fit_model`): for every epoch, shuffle, cut the data into batches
and call `model.train_step(xb, yb)`, the textbook step of `scratchae.models`. Around it sits
what a real run needs and a learner can skip on a first read:

* a progress bar and Keras's `History` (per-epoch loss, sample-weighted over the batches);
* divergence: a NaN or infinite loss stops training with `NonFiniteLossError`, naming the
  epoch and batch, and the weights go back to the start of the epoch if they went bad;
* Ctrl-C: the first one stops after the current batch, keeps the completed epochs in the
  history and leaves the model usable;
* one BLAS thread during training (`scratchae._blas`), and batch gathers into one reused buffer.

This module knows a model only through `train_step`, `evaluate`-style calls and its
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
from .progress import ProgressBar


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


def fit_model(model: Any, x: np.ndarray, y: np.ndarray, *, batch_size: int, epochs: int,
              initial_epoch: int, shuffle: bool, verbose: int,
              evaluate: Any = None) -> History:
    """Train `model` on checked arrays (see `Model.fit` for the meaning of every argument).

    `evaluate`, if given, is called at the end of each epoch and returns the val_loss.
    """
    history = History()
    model.history = history
    n = len(x)
    batches = _Batches(x, y, min(batch_size, n))
    # Divergence shows up as a non-finite loss, reported below with where it happened;
    # NumPy's overflow warnings on the way there would only bury that message.
    with _StopOnInterrupt() as stop, np.errstate(over="ignore", invalid="ignore"), \
            _blas.single_threaded():
        for epoch in range(initial_epoch, initial_epoch + epochs):
            if verbose:
                _print(f"Epoch {epoch + 1}/{initial_epoch + epochs}")
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
            if evaluate is not None:
                logs["val_loss"] = evaluate()
            bar.finish(done, logs)
            history._record(epoch, logs)
            if stop.requested:        # Ctrl-C in the epoch's last batch: keep the epoch, stop
                history.interrupted = True
                break
    if history.interrupted:
        raise KeyboardInterrupt(f"training of {model.name!r} interrupted; see model.history")
    return history


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
