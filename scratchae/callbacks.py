"""Callbacks: code that `fit` calls at fixed points of training, in Keras's spirit.

    from scratchae.monitor import Monitor

    monitor = Monitor(every=25)
    model.fit(x, x, epochs=3, callbacks=[monitor])

A callback subclasses `Callback` and overrides the hooks it needs. `fit` calls them in this
order (the loop is in `scratchae.training`):

    set_model(model), set_params({"epochs", "steps", "batch_size"})   before training
    on_train_begin(logs)
        on_epoch_begin(epoch)
            on_batch_end(batch, logs)        after every step: logs = {"loss": the batch's loss}
        on_epoch_end(epoch, logs)            logs = the epoch's `History.history` entries, Keras's
                                             keys (loss, the compiled metrics, their val_ twins);
                                             the parts of the loss: self.model.history.parts
    on_train_end(logs)                       when fit returns, or stops on Ctrl-C, SIGTERM or SIGHUP

`batch` counts from 0 within the epoch, `epoch` from `initial_epoch`. A divergence or an
exception ends training without `on_train_end`. A callback may read the model, predict and
evaluate, but not train it: `fit` or `train_on_batch` of the same model from a callback is
a RuntimeError (one fit at a time per model), which ends that fit like any exception. Without callbacks the loop calls none of this:
`fit(..., callbacks=None)` does no work for them at all.

The one callback scratchae ships is `scratchae.monitor.Monitor` (gradient norms, update
ratios, dead and saturated units, activation statistics).
"""
from __future__ import annotations

from typing import Any, Iterable

__all__ = ["Callback", "CallbackList"]


class Callback:
    """Base class: every hook does nothing. `self.model` and `self.params` are set by fit."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass


class CallbackList:
    """The callbacks of one fit, called in the order given. Empty lists are falsy, so the loop
    writes `if callbacks: callbacks.on_batch_end(...)` and pays nothing without them."""

    def __init__(self, callbacks: Iterable[Callback] | None = None) -> None:
        items = [] if callbacks is None else callbacks
        if isinstance(items, Callback) or not isinstance(items, (list, tuple)):
            raise TypeError(f"callbacks must be a list of Callback objects (e.g. [Monitor()]), "
                            f"got {type(items).__name__}")
        for c in items:
            if not isinstance(c, Callback):
                raise TypeError(f"every callback must be a scratchae.callbacks.Callback, got "
                                f"{type(c).__name__}")
        self.callbacks = list(items)

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def begin(self, model: Any, params: dict[str, Any]) -> None:
        """set_model, set_params and on_train_begin of every callback."""
        for c in self.callbacks:
            c.set_model(model)
            c.set_params(params)
            c.on_train_begin({})

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for c in self.callbacks:
            c.on_epoch_begin(epoch, logs)

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for c in self.callbacks:
            c.on_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for c in self.callbacks:
            c.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        for c in self.callbacks:
            c.on_train_end(logs)
