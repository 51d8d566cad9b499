"""The training loop behind `Model.fit`, and its engineering.

The loop itself is short (`_train`): for every epoch, shuffle, cut the data into batches
and call the training step: `model.train_step(xb, yb)`, the textbook step of
`scratchae.models`, or the same step with `compile`'s switches (`scratchae.speed`). Around it sits
what a real run needs and a learner can skip on a first read:

* a progress bar and Keras's `History` (per-epoch loss, sample-weighted over the batches, and
  the metrics named in compile: Keras's keys), with the parts of the loss apart in
  `History.parts` (the reconstruction loss and each layer's loss term);
* callbacks (`scratchae.callbacks`, e.g. `scratchae.monitor.Monitor`): at most one call per
  step, `callbacks.on_batch_end(...)`, and none at all when fit is given no callbacks;
* divergence: a NaN or infinite loss stops training with `NonFiniteLossError`, naming the
  epoch and batch; so do weights or a loss gone non-finite after the last update of an epoch
  (checked once per epoch, on that epoch's last batch, before the epoch is recorded);
* Ctrl-C: the first one stops after the current batch, a second one during a batch at once;
  SIGTERM (kill, timeout, docker stop, Slurm, systemd) and SIGHUP (a closed terminal or SSH
  session) do the same where they have their default action, and `fit` raises `Interrupted`
  (a KeyboardInterrupt) naming the signal; the previous handlers are back when it returns;
* one `fit` at a time per model: a callback that calls `fit`, or a second thread, is refused;
* whatever stops `fit` (divergence, a signal, an exception), the model goes back to the end of
  its last completed epoch, the start of the epoch that did not finish: weights, optimizer
  state (Adam's moments and step count) and shuffling generator, as `Checkpoint` took them.
  So `model.history`, the model and a file saved from it describe the same epochs, and
  resuming from that file continues, bit for bit (with a fixed BLAS thread count, see
  `scratchae._blas`), as if the unfinished epoch never started. The checkpoint costs one
  copy of the parameters and optimizer state per epoch, nothing per batch;
* BLAS threads: one for small products, more where timing the steps shows they pay
  (`scratchae._blas`); and batch gathers into one reused buffer.

(The packed parameters behind `compile(pack_parameters=True)` are in `scratchae.buffers`, the
checkpoints and `train_on_batch`'s undo in `scratchae.checkpoints`.)

This module knows a model through `check_data`, its step (`speed.step_for`), `compute_loss`, `loss_terms()`,
`parameters()` (for the size of its largest kernel), `rng`, `name`, `history`, `optimizer`,
`optimizer_parameters()` and the undo slot of `train_on_batch` it clears
(`scratchae.checkpoints`); it never imports `scratchae.models`.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from . import _blas, speed
from ._validate import int_at_least, positive_int
from .callbacks import CallbackList
from .checkpoints import Checkpoint, NonFiniteLossError, state_finite
from .progress import ProgressBar
from .utils import as_rng


class History:
    """What `fit` returns, with Keras's keys: `history.history["loss"]` has one value per epoch.

    history:  exactly the keys Keras's History has, so code that walks every key of a Keras
              history (a table or a plot per key) ports unchanged:
                  loss            the sample-weighted mean of the batch losses of the epoch, each
                                  computed with the weights as they were at that batch (they
                                  change during the epoch), the layers' loss terms included
                                  (Keras folds an activity regularizer into `loss` too);
                  <metric>        each metric named in `compile(metrics=[...])`, in that order:
                                  a name from `parts` below, e.g. "reconstruction_loss";
                  val_loss, val_<metric>  the same on validation_data at the end of the epoch
                                  (val_loss as `evaluate` gives it), after the training keys.
              A model compiled without metrics has ["loss"], with validation_data
              ["loss", "val_loss"], whatever penalties its layers add.
    parts:    the split of `loss`, recorded for every model whether or not a metric names it:
                  reconstruction_loss  the same mean of the loss alone (binary cross-entropy,
                                       say), without the layers' terms: what the model
                                       reconstructs, comparable between models with and
                                       without a penalty;
                  <layer>_<term>       each layer loss term, e.g. "code_penalty" (the activity
                                       penalty of a layer named code), "z_kl" (a VAE's KL),
                                       "code_contractive"; loss = reconstruction_loss + these;
                  val_ twins of each with validation_data.
    epoch:    the epochs recorded (counted from 0, from `initial_epoch`).

    `with_parts()` gives both in one dict (what a run's saved history json holds).
    `history.blas_threads` counts the steps trained with each number of BLAS threads, e.g.
    {1: 1875}; empty when NumPy's setting was left alone (see `scratchae._blas`).
    """

    def __init__(self, metrics: tuple[str, ...] | list[str] = ()) -> None:
        self.history: dict[str, list[float]] = {}
        self.parts: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.interrupted = False
        self.blas_threads: dict[int, int] = {}     # BLAS thread count -> steps trained with it
        self._keys = ("loss", *metrics)            # Keras's keys, without the val_ prefix

    def _record(self, epoch: int, logs: dict[str, float]) -> None:
        """Record one epoch from its full logs (`LossSums.logs()`, val_ ones included)."""
        self.epoch.append(epoch)
        for k, v in self.keras_logs(logs).items():
            self.history.setdefault(k, []).append(v)
        for k, v in logs.items():
            if k not in ("loss", "val_loss"):
                self.parts.setdefault(k, []).append(v)

    def keras_logs(self, logs: dict[str, float]) -> dict[str, float]:
        """Of one epoch's full logs, the entries Keras would log, in Keras's order: loss, the
        metrics, then their val_ twins."""
        return {p + k: logs[p + k] for p in ("", "val_") if p + "loss" in logs for k in self._keys}

    def with_parts(self) -> dict[str, list[float]]:
        """`history` and `parts` in one dict: loss, the metrics, the parts, then the val_ ones."""
        both = {**self.history, **self.parts}
        return {k: both[k] for k in sorted(both, key=lambda k: k.startswith("val_"))}

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)}, parts={list(self.parts)})"


def fit_model(model: Any, x: Any, y: Any, *, batch_size: int | None, epochs: int, verbose: Any,
              validation_data: Any, shuffle: bool, seed: Any, initial_epoch: int,
              callbacks: Any = None) -> History:
    """`Model.fit`: check every argument and the data once, then train (see `Model.fit`).
    A second fit of the same model while one runs (from a callback, or another thread) is a
    RuntimeError, before anything is touched."""
    with one_fit_at_a_time(model):
        return _checked_fit(model, x, y, batch_size, epochs, verbose, validation_data, shuffle,
                            seed, initial_epoch, callbacks)


def _checked_fit(model: Any, x: Any, y: Any, batch_size: int | None, epochs: int, verbose: Any,
                 validation_data: Any, shuffle: bool, seed: Any, initial_epoch: int,
                 callbacks: Any) -> History:
    batch_size = positive_int("batch_size", 32 if batch_size is None else batch_size)
    epochs = positive_int("epochs", epochs)
    verbose = check_verbose(verbose)
    if y is None:
        raise ValueError("fit needs targets y; for an autoencoder pass the input twice: fit(x, x)")
    x, y = model.check_data(x, y)      # y is x again when the caller passed x twice
    val = None if validation_data is None else check_validation_data(model, validation_data)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    initial_epoch = int_at_least("initial_epoch", initial_epoch, 0, "an integer >= 0")
    callbacks = CallbackList(callbacks)
    check_metrics(model, x, y)
    if seed is not None:
        model.rng = as_rng(seed)
    return _train(model, x, y, batch_size, range(initial_epoch, initial_epoch + epochs), shuffle,
                  verbose, val, callbacks)


def metric_names(model: Any) -> tuple[str, ...]:
    """The metrics named in the model's `compile(metrics=[...])` (Keras's `metrics_names`
    without its leading "loss")."""
    return tuple(getattr(model, "metrics_names", ("loss",))[1:])


#: Keras metrics computed from the predictions, which scratchae's compile refuses by name.
PREDICTION_METRICS = ("accuracy", "acc", "binary_accuracy", "mse", "mae", "mean_squared_error",
                      "mean_absolute_error", "binary_crossentropy", "bce", "mape", "msle")


def check_metrics(model: Any, x: np.ndarray, y: np.ndarray) -> None:
    """Every metric named in compile is one of the parts of this model's loss, before any step:
    "reconstruction_loss" or one of its layers' loss terms (found by one forward of one sample
    in inference mode: no draw from the model's generator, no weight changed)."""
    names = metric_names(model)
    if not names:
        return
    model.compute_loss(x[:1], y[:1], training=False)
    known = ["reconstruction_loss", *model.loss_terms()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"compile(metrics=...) of {model.name!r} names {unknown}, which this model "
                         f"does not compute: its metrics can be the parts of its loss, {known}")


def check_validation_data(model: Any, validation_data: Any) -> tuple[np.ndarray, np.ndarray]:
    """validation_data as checked (x_val, y_val), or the reason it cannot be, before any step
    (before: `(x, None)` trained a whole epoch, then raised a raw TypeError)."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        got = (f"a {type(validation_data).__name__} of {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
        raise ValueError(f"validation_data must be a pair (x_val, y_val) of arrays (for an "
                         f"autoencoder (x_val, x_val)), got {got}")
    x_val, y_val = validation_data
    for name, value in (("x_val", x_val), ("y_val", y_val)):
        if value is None:
            raise ValueError(f"validation_data must be a pair (x_val, y_val) of arrays, got {name} "
                             f"None (for an autoencoder pass x_val twice: (x_val, x_val))")
    try:
        return model.check_data(x_val, y_val)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"validation_data: {exc}") from None


_fits_lock = threading.Lock()


@contextmanager
def one_fit_at_a_time(model: Any) -> Iterator[None]:
    """Mark `model` as training for the block; RuntimeError if it already is. (A callback
    calling fit, or two threads fitting one model, would interleave two runs' steps, leaving
    `model.history` and the optimizer's step count describing neither.)"""
    me = threading.current_thread()
    with _fits_lock:
        running = getattr(model, "_fitting", None)
        if running is not None:
            raise RuntimeError(f"fit of {model.name!r} refused: {_who(running, me)} is already "
                               "training this model. One fit at a time per model: wait for it "
                               "to return (or train a copy, e.g. a model loaded from its file)")
        model._fitting = me
    try:
        yield
    finally:
        model._fitting = None


def refuse_during_fit(model: Any, what: str) -> None:
    """RuntimeError if `model` is training (for `train_on_batch`, which would add steps that
    the running fit's history does not count)."""
    running = getattr(model, "_fitting", None)
    if running is not None:
        raise RuntimeError(f"{what} of {model.name!r} refused: {_who(running, threading.current_thread())} "
                           "is training this model; call it after fit returns")


def _who(running: threading.Thread, me: threading.Thread) -> str:
    if running is me:
        return "a fit running in this thread (this call came from inside it: a callback?)"
    return f"a fit in thread {running.name!r}"


def _train(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: range, shuffle: bool,
           verbose: int, val: tuple | None, callbacks: CallbackList) -> History:
    """The loop: for every epoch, shuffle, one `train_step` per batch, check, record the epoch.

    `start` is always the state after the last recorded epoch: whatever stops the loop puts
    the model back to it before the exception leaves.
    """
    history = History(metric_names(model))
    model.history = history
    model._last_good = None                    # train_on_batch's undo no longer applies
    n = len(x)
    batches = _Batches(x, y, min(batch_size, n))
    if callbacks:
        callbacks.begin(model, {"epochs": epochs.stop, "steps": batches.count, "batch_size": batches.size})
    # Divergence shows up as a non-finite loss, reported below with where it happened;
    # NumPy's overflow warnings on the way there would only bury that message.
    with _StopOnInterrupt() as stop, np.errstate(over="ignore", invalid="ignore"), \
            _blas.for_training(largest_product(model, batches.size)) as threads:
        history.blas_threads = threads.steps
        start = Checkpoint(model)
        try:
            for epoch in epochs:
                if verbose:
                    _print(f"Epoch {epoch + 1}/{epochs.stop}")
                if callbacks:
                    callbacks.on_epoch_begin(epoch)
                logs = _epoch(model, batches, threads, epoch, shuffle, start, stop, val, batch_size,
                              verbose, callbacks)
                if logs is None:                       # a signal before the epoch's end
                    history.interrupted = True
                    break
                start = Checkpoint(model)              # first, so a failure here drops the epoch
                history._record(epoch, logs)
                if callbacks:                          # Keras's logs; the parts: model.history.parts
                    callbacks.on_epoch_end(epoch, history.keras_logs(logs))
                if stop.requested:                     # a signal in the epoch's last batch: keep it
                    history.interrupted = True
                    break
        except BaseException as exc:
            stop.interruptible = False
            start.restore(model)
            history.interrupted = isinstance(exc, KeyboardInterrupt)
            raise
    if callbacks:
        callbacks.on_train_end(history.history)
    if history.interrupted:
        raise Interrupted(stop.signum, f"training of {model.name!r} {_stopped(stop.signum)}; "
                                       f"{_back_to(history)}")
    return history


def _epoch(model: Any, batches: "_Batches", threads: "_blas.Threads", epoch: int, shuffle: bool,
           start: "Checkpoint", stop: "_StopOnInterrupt", val: tuple | None, batch_size: int,
           verbose: int, callbacks: CallbackList) -> dict[str, float] | None:
    """One epoch: its logs, or None when a signal stopped it (the model is then back at `start`).
    A divergence raises; `_train` puts the model back at `start`."""
    n = len(batches.x)
    step = speed.step_for(model)             # the plain train_step, or it with the switches
    order = model.rng.permutation(n) if shuffle else None
    bar = ProgressBar(n, verbose)
    losses, done, last = LossSums(), 0, None
    for b, (xb, yb) in enumerate(threads.timed(batches.each(order))):
        stop.interruptible = True
        value = step(xb, yb)
        stop.interruptible = False
        if not math.isfinite(value):
            raise _diverged(model, start, f"loss became {value} at epoch {epoch + 1}, batch {b + 1} "
                                          f"(samples {done}-{done + len(xb) - 1})")
        losses.add(value, model.loss_terms(), len(xb))
        done += len(xb)
        last = (b, xb, yb)
        bar.update(done, losses.loss)
        if callbacks:
            callbacks.on_batch_end(b, {"loss": value})
        if stop.requested and done < n:
            start.restore(model)
            if verbose:
                what = _stopped(stop.signum)
                _print(f"\n{what[0].upper()}{what[1:]} at epoch {epoch + 1} after {done}/{n} "
                       f"samples; {_back_to(model.history)}.")
            return None
    _check_last_update(model, start, epoch, *last)
    logs = losses.logs()
    if val is not None:
        stop.interruptible = True
        logs.update(evaluate_parts(model, *val, batch_size).logs("val_"))
        stop.interruptible = False
        if not math.isfinite(logs["val_loss"]):
            raise _diverged(model, start, f"the loss on validation_data became {logs['val_loss']} "
                                          f"after epoch {epoch + 1}")
    # the bar: Keras's keys, and the parts too where there is a penalty to tell apart
    bar.finish(done, logs if losses.penalties else model.history.keras_logs(logs))
    return logs


def largest_product(model: Any, batch_size: int) -> int:
    """Multiply-adds of the largest matrix product of a training step, in float32 terms (a
    float64 product takes about twice as long, so it counts double). A 2-D kernel (Dense's)
    is batch x its size (its forward x . kernel; the two backward products have the same
    count); a 4-D one (Conv2D's, (kh, kw, C, F)) is applied at every output position, so
    batch x Ho Wo x its size (im2col's columns . kernel, and the same for its gradients)."""
    return batch_size * max((kernel_multiply_adds(layer, p) * p.itemsize // 4
                             for layer in model.chain for p in layer.params.values()), default=0)


def kernel_multiply_adds(layer: Any, p: np.ndarray) -> int:
    """Multiply-adds per sample of the product of `layer` with its parameter p: p's size for
    a 2-D kernel, times the output's positions Ho Wo for a 4-D one; 0 for a bias (1-D)."""
    if p.ndim == 2:
        return p.size
    if p.ndim == 4 and getattr(layer, "input_shape", None) is not None:
        return p.size * int(np.prod(layer.output_shape[1:-1]))
    return 0


def _check_last_update(model: Any, start: "Checkpoint", epoch: int, b: int, xb: np.ndarray,
                       yb: np.ndarray) -> None:
    """The epoch's last update is checked by no later batch: check it here, once per epoch
    (the weights and optimizer state are finite, and so is the loss of the last batch with
    the weights). So every checkpoint holds a finite state, which can always be restored."""
    where = f"after the last update of epoch {epoch + 1} (batch {b + 1})"
    if not state_finite(model):
        raise _diverged(model, start, f"the weights or optimizer state became non-finite {where}")
    value = model.compute_loss(xb, yb, training=False)       # no draw from the run's generator
    if not math.isfinite(value):
        raise _diverged(model, start, f"loss became {value} {where}, on that batch")


def _back_to(history: History) -> str:
    """Where a stopped fit left the model, in words."""
    done = len(history.epoch)
    if done:
        return (f"the model is back at the end of epoch {history.epoch[-1] + 1}, the {done} "
                f"completed epoch(s) in model.history")
    return "the model is back where this fit started (no epoch completed)"


def evaluate_batches(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """The model's loss on checked (x, y), batch by batch, as the sample-weighted mean."""
    return evaluate_parts(model, x, y, batch_size).loss


def evaluate_parts(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> "LossSums":
    """The model's loss on checked (x, y) batch by batch, with its parts (see `LossSums`)."""
    sums = LossSums()
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        sums.add(model.compute_loss(xb, yb, training=False), model.loss_terms(), len(xb))
    return sums


class LossSums:
    """Sample-weighted sums of batch losses and of their parts, for an epoch or an evaluation.

    `add(value, terms, n)` takes a batch's loss (the layers' loss terms included), its terms
    {"<layer>_<term>": value} (`Model.loss_terms()`) and its size; `logs(prefix)` gives the
    means: loss, reconstruction_loss (the loss without the terms) and each term.
    """

    def __init__(self) -> None:
        self.total, self.n = 0.0, 0
        self.penalties: dict[str, float] = {}

    def add(self, value: float, penalties: dict[str, float], n: int) -> None:
        self.total += value * n
        self.n += n
        for name, p in penalties.items():
            self.penalties[name] = self.penalties.get(name, 0.0) + p * n

    @property
    def loss(self) -> float:
        return self.total / self.n

    def logs(self, prefix: str = "") -> dict[str, float]:
        logs = {f"{prefix}loss": self.loss,
                f"{prefix}reconstruction_loss": (self.total - sum(self.penalties.values())) / self.n}
        logs.update({f"{prefix}{name}": p / self.n for name, p in self.penalties.items()})
        return logs


class _Batches:
    """Minibatches of (x, y) in a given order, gathered into one reused buffer per array."""

    def __init__(self, x: np.ndarray, y: np.ndarray, size: int) -> None:
        self.x, self.y, self.size = x, y, size
        self.count = -(-len(x) // size)                 # batches per epoch
        self.xbuf = np.empty((size, *x.shape[1:]), dtype=x.dtype)       # (N, D) or (N, H, W, C)
        self.ybuf = self.xbuf if y is x else np.empty((size, *y.shape[1:]), dtype=y.dtype)

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


def _diverged(model: Any, start: "Checkpoint", what: str) -> NonFiniteLossError:
    """The error for a divergence; `_train` puts the model back at `start` as it leaves."""
    return NonFiniteLossError(
        f"{what}; training stopped and {_back_to(model.history)}: its weights, optimizer state "
        f"({start.iterations} step(s)) and shuffling generator as they were then, the last "
        "state known to give a finite loss. Try a smaller learning_rate, or check the data."
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


#: The signals fit treats as Ctrl-C: SIGINT, and where the platform has them SIGTERM (kill,
#: timeout, docker stop, Slurm, systemd) and SIGHUP (a closed terminal or SSH session).
STOP_SIGNALS: tuple[int, ...] = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                                      if hasattr(signal, n))


class Interrupted(KeyboardInterrupt):
    """Training (or a command) stopped by a signal: Ctrl-C's SIGINT, SIGTERM or SIGHUP.

    A KeyboardInterrupt, so `except KeyboardInterrupt` catches all three as it always caught
    Ctrl-C; `signum` says which came (the last one, if several did).
    """

    def __init__(self, signum: int | None, message: str = "") -> None:
        super().__init__(*([message] if message else []))
        self.signum = signal.SIGINT if signum is None else signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def _stopped(signum: int | None) -> str:
    """'interrupted' (Ctrl-C), or 'stopped by SIGTERM'."""
    if signum in (None, signal.SIGINT):
        return "interrupted"
    return f"stopped by {signal.Signals(signum).name}"


class StopHandler:
    """The handler `signals_as_interrupts` puts on SIGINT, SIGTERM and SIGHUP for a command.

    The first signal raises `Interrupted` where it lands, as Python's own handler raises
    KeyboardInterrupt for Ctrl-C. Once a stop is under way (that first signal, or one that
    stopped `fit`, which tells this handler when it gives it back) later signals are only
    counted in `later`: the command is already saving what was completed, and a second
    Ctrl-C must not break that save off. (SIGKILL still ends anything.)
    """

    def __init__(self) -> None:
        self.stopping = False
        self.later: list[int] = []

    def __call__(self, signum: int, frame: Any) -> None:
        if self.stopping:
            self.later.append(signum)
            return
        self.stopping = True
        raise Interrupted(signum)


def _takes_over(signum: int, handler: Any) -> bool:
    """Whether fit (or a block that must finish) handles `signum` while it runs. An ignored
    signal stays ignored (`nohup` ignores SIGHUP); SIGTERM and SIGHUP only where they have
    their default action or a command's `StopHandler`, so a program's own handler keeps its
    say."""
    if handler is signal.SIG_IGN:
        return False
    return signum == signal.SIGINT or handler is signal.SIG_DFL or isinstance(handler, StopHandler)


@contextmanager
def _handling(handler: Callable[[int, Any], None],
              signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[dict[int, Any]]:
    """`handler` for each of `signals` that `_takes_over` allows, for the block (main thread
    only: elsewhere signals cannot be caught, and the block simply runs); the old handlers,
    which the block receives, after it."""
    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in signals:
            previous = signal.getsignal(signum)
            if _takes_over(signum, previous):
                old[signum] = previous
                signal.signal(signum, handler)
    try:
        yield old
    finally:     # getsignal gives None for a handler not set from Python
        for signum, previous in old.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


class _StopOnInterrupt:
    """While training, turn the first stop signal (Ctrl-C, SIGTERM, SIGHUP) into a request to
    stop after the current batch.

    A second one stops a running batch (or validation) at once, by raising `Interrupted`
    there; between batches it only repeats the request, so it never lands in the middle of
    taking or restoring a checkpoint. Outside the main thread signals cannot be caught; Ctrl-C
    then interrupts wherever it lands (and fit restores its checkpoint).
    """

    def __enter__(self) -> "_StopOnInterrupt":
        self.requested = False
        self.interruptible = False
        self.signum: int | None = None
        self._handlers = _handling(self._handler)
        self._old = self._handlers.__enter__()
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        self.signum = signum
        if self.requested and self.interruptible:
            self.interruptible = False
            raise Interrupted(signum)
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self.requested:       # a command's handler, back: its stop is under way from now on
            for previous in self._old.values():
                if isinstance(previous, StopHandler):
                    previous.stopping = True
        self._handlers.__exit__(*exc)


@contextmanager
def signals_as_interrupts() -> Iterator[StopHandler]:
    """For the block, a `StopHandler` on SIGINT, SIGTERM and SIGHUP (SIGTERM and SIGHUP where
    they have their default action; main thread only): the first one raises `Interrupted`,
    in or out of `fit`, and later ones wait. The commands run inside it, so that a run
    stopped by `kill` or a closed terminal ends as Ctrl-C ends it: what was completed saved,
    and said."""
    handler = StopHandler()
    with _handling(handler):
        yield handler


@contextmanager
def held_interrupts(raise_after: bool = True) -> Iterator[list[int]]:
    """Run the block to its end even if a stop signal (Ctrl-C, SIGTERM, SIGHUP) comes
    meanwhile (a rescue save, say).

    A signal that came during it is raised as `Interrupted` once the block is done, or, with
    raise_after=False, only recorded in the list the block receives (for code that is already
    stopping because of one). Only the main thread receives signals: elsewhere the block
    simply runs.
    """
    pressed: list[int] = []
    with _handling(lambda signum, frame: pressed.append(signum)):
        yield pressed
    if pressed and raise_after:
        raise Interrupted(pressed[-1], f"{signal.Signals(pressed[-1]).name} during a block that "
                                       "had to finish")
