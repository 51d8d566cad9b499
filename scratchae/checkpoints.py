"""The last good state of a model in training, and the way back to it.

A `Checkpoint` holds a model's weights, its optimizer's state (Adam's moments and step count)
and its shuffling generator at one moment; `restore` puts all three back, so the optimizer
state always matches the weights. `fit` takes one at the end of every completed epoch and
goes back to it when training stops early (divergence, Ctrl-C, an exception): see
`scratchae.training`. `train_one_batch` (behind `Model.train_on_batch`) keeps one per call.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import speed


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss (or non-finite weights); the message says
    where, and which state the model was put back to."""


def state_finite(model: Any) -> bool:
    """Whether every parameter and every optimizer state array (Adam's moments) is finite, so
    a checkpoint of them can always be restored. A NaN makes min and max NaN and an infinity
    is one of them: two passes per array, no array-sized temporary."""
    arrays = [p for _, p, _ in model.optimizer_parameters()]
    arrays += [a for k, a in model.optimizer.get_state(kept_only=True).items() if k != "iterations"]
    return all(a.size == 0 or (math.isfinite(a.min()) and math.isfinite(a.max())) for a in arrays)


class Checkpoint:
    """A model's training state at one moment: its weights, its optimizer's state (Adam's
    moments and step count, SGD's velocities) and its shuffling generator.

    `restore` puts all three back, so the optimizer state always matches the weights.
    `into=` reuses the arrays of an older checkpoint of the same model (no allocation).
    """

    def __init__(self, model: Any, into: "Checkpoint | None" = None) -> None:
        params = [p for _, p, _ in model.optimizer_parameters()]
        old = into.weights if into is not None and _same_layout(into.params, params) else None
        self.params = params
        self.weights = [_copy(p, old[i] if old else None) for i, p in enumerate(params)]
        self.optimizer = model.optimizer
        state = model.optimizer.get_state(kept_only=True)   # as kept: restored exactly
        old_state = into.state if into is not None else {}
        self.state = {k: _copy(np.asarray(v), old_state.get(k)) for k, v in state.items()}
        self.iterations = int(model.optimizer.iterations)
        self.rng = model.rng.bit_generator.state if model.rng is not None else None

    def restore(self, model: Any) -> None:
        for p, w in zip(self.params, self.weights):
            p[...] = w
        self.optimizer.set_state(self.state, kept_only=True)   # copies: the checkpoint stays
        if self.rng is not None and model.rng is not None:
            model.rng.bit_generator.state = self.rng


def _same_layout(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(u.shape == v.shape and u.dtype == v.dtype for u, v in zip(a, b))


def _copy(a: np.ndarray, into: np.ndarray | None) -> np.ndarray:
    if into is not None and into.shape == a.shape and into.dtype == a.dtype:
        np.copyto(into, a)
        return into
    return np.array(a, copy=True)


def train_one_batch(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """`Model.train_on_batch` on checked data: one step, and no broken weights left behind.

    The last good state is the one before the previous call's update (the weights this
    call's loss was computed with came from that update). On a non-finite loss the model goes
    back to it; if this call's update leaves non-finite weights, it is undone at once. Costs
    one copy (into reused arrays) and one finiteness check of the weights and optimizer state
    per call (its cost is in docs/performance.md).
    """
    before = Checkpoint(model, into=model._spare_checkpoint)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            value = speed.step_for(model)(x, y)
    except BaseException:
        before.restore(model)
        raise
    if not math.isfinite(value):
        good = model._last_good
        if good is not None and good.optimizer is model.optimizer \
                and good.iterations + 1 == model.optimizer.iterations:
            good.restore(model)
            where = ("the weights and optimizer state are back to before the previous "
                     "train_on_batch update, which made them")
        else:
            where = "the weights are as they were"
        model._spare_checkpoint = before
        raise NonFiniteLossError(f"loss is {value} on this batch; its update was not applied and "
                                 f"{where}. Try a smaller learning_rate, or check the data.")
    if not state_finite(model):
        before.restore(model)
        model._spare_checkpoint = before
        raise NonFiniteLossError(f"the update of this batch (loss {value}) made the weights or "
                                 "optimizer state non-finite; it was undone. Try a smaller learning_rate.")
    model._spare_checkpoint, model._last_good = model._last_good, before
    return value
