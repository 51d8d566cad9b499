"""`Monitor`: look inside training, layer by layer, every `every` steps.

    from scratchae.monitor import Monitor

    monitor = Monitor(every=25)
    model.fit(x, x, epochs=3, callbacks=[monitor])
    monitor.series("update_ratio")        # {layer name: one value per recorded step}

At a recorded step, right after its update, the monitor reads what the step left behind (the
gradients in `layer.grads`, the new weights in `layer.params`, and for a layer that keeps them
the pre-activations z of the batch) and keeps, for every layer that has parameters, whatever
its class (scratchae's Dense or a `Layer` of yours):

    grad_norm           ||dL/dtheta||, the L2 norm of the layer's gradient (kernel and bias
                        together) on this batch
    update_ratio        ||theta_after - theta_before|| / ||theta_before||, over kernel and bias:
                        how far this step moved the layer relative to its size. About 1e-3 is
                        healthy (Karpathy's rule of thumb); far below, the layer hardly learns;
                        far above, it is thrown around
    dead_fraction       ReLU layers: the fraction of units that are 0 for every sample of the
                        batch (z <= 0 throughout), which pass no gradient at all; NaN otherwise
    saturated_fraction  sigmoid layers: the fraction of outputs below 0.01 or above 0.99 (where
                        sigmoid'(z) < 0.0099, the gradient through it almost vanishes); NaN
                        otherwise
    act_mean, act_std   mean and standard deviation of the layer's output (after its
                        activation) over the batch and its units

grad_norm and update_ratio need only the contract's `params` and `grads`. The other four need
the layer's pre-activations and the activation applied to them, which the contract does not
name: a layer that keeps its last pre-activation in `logits` and its activation piece in
`activation` (scratchae's Dense does; a layer of yours may too) offers them, read in one place
(`preactivation`); any other layer gets NaN for those four. The activation is recomputed from
z (a model that trains its last sigmoid as one loss on logits never runs that sigmoid), for
scratchae's ReLU, Sigmoid and Linear; another activation gives NaN for the four as well.

Cost: nothing between recorded steps but a counter; at a recorded step one copy of the weights
(taken the step before, to measure the update) and a few passes over the weights, gradients
and the batch's logits; what that costs an epoch at the default every=25 is measured by
benchmarks/monitor_cost.py (docs/performance.md#the-training-monitor).

The records are those of the last fit (a new fit starts afresh); a fit that diverges or is
stopped keeps what was recorded up to then, the steps that were undone included.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._validate import positive_int
from .activations import Linear, ReLU, Sigmoid, sigmoid
from .callbacks import Callback

__all__ = ["Monitor", "STATISTICS", "SATURATION", "measure", "preactivation"]

#: The statistics a Monitor records, in order.
STATISTICS = ("grad_norm", "update_ratio", "dead_fraction", "saturated_fraction", "act_mean", "act_std")

#: A sigmoid output below SATURATION[0] or above SATURATION[1] counts as saturated.
SATURATION = (0.01, 0.99)


class Monitor(Callback):
    """Record per-layer gradient health every `every` training steps (default 25).

    After fit: `steps` (the step numbers recorded, counted from 1 in this fit), `epochs` (the
    same as fractional epochs: 1.0 is the end of the first epoch), `layers` (the names of the
    layers with parameters, in the order they run), `kinds` ({layer: 'relu', 'sigmoid',
    'linear' or 'other'}), `shapes` ({layer: '784→128'}, input to output shape without the
    batch axis; '4x5' for a shape of two axes, '[3, 3]' for a layer called on a list),
    `series(stat)` ({layer: array}) and `to_dict()` (JSON-ready; the figures of
    `scratchae.figures_training` take either).
    """

    def __init__(self, every: int = 25) -> None:
        super().__init__()
        self.every = positive_int("every", every)
        self._reset()

    def _reset(self) -> None:
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.layers: list[str] = []
        self.kinds: dict[str, str] = {}
        self.shapes: dict[str, str] = {}
        self.values: dict[str, dict[str, list[float]]] = {s: {} for s in STATISTICS}
        self._layers: list[Any] = []
        self._before: dict[str, list[np.ndarray]] = {}
        self._step = 0
        self._epoch = 0
        self._first_epoch = 0

    # -- the hooks -------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()
        layers = getattr(self.model, "chain", None) or self.model.layers
        self._layers = [l for l in layers if getattr(l, "params", None)]
        self.layers = [l.name for l in self._layers]
        self.kinds = {l.name: _kind(l) for l in self._layers}
        self.shapes = {l.name: _shape_text(l) for l in self._layers}
        for stat in STATISTICS:
            self.values[stat] = {name: [] for name in self.layers}
        self._first_epoch = None
        self._snapshot()                               # the weights before the first step

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        if self._first_epoch is None:
            self._first_epoch = epoch

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Step k (from 0) is recorded when k % every == 0; the weights are copied at the end of
        the step before, so the record holds this step's update."""
        k = self._step
        self._step += 1
        if k % self.every == 0:
            self._record(batch)
        if self._step % self.every == 0:
            self._snapshot()

    # -- the measurements ------------------------------------------------------------------
    def _snapshot(self) -> None:
        for layer in self._layers:
            old = self._before.get(layer.name)
            params = list(layer.params.values())
            if old is None or [a.shape for a in old] != [p.shape for p in params]:
                self._before[layer.name] = [np.array(p, dtype=np.float64) for p in params]
            else:
                for a, p in zip(old, params):
                    np.copyto(a, p)

    def _record(self, batch: int) -> None:
        steps = self.params.get("steps") or 1
        self.steps.append(self._step)
        self.epochs.append(self._epoch - self._first_epoch + (batch + 1) / steps)
        for layer in self._layers:
            for stat, value in measure(layer, self._before[layer.name]).items():
                self.values[stat][layer.name].append(value)

    # -- reading the records ---------------------------------------------------------------
    def series(self, stat: str) -> dict[str, np.ndarray]:
        """{layer name: the recorded values of `stat`} (one of `STATISTICS`), in layer order."""
        if stat not in STATISTICS:
            raise ValueError(f"unknown statistic {stat!r}; one of {', '.join(STATISTICS)}")
        return {name: np.asarray(v, dtype=np.float64) for name, v in self.values[stat].items()}

    def last(self, stat: str) -> dict[str, float]:
        """{layer name: the last recorded value of `stat`}."""
        return {name: float(v[-1]) for name, v in self.series(stat).items() if len(v)}

    def to_dict(self) -> dict:
        """Everything recorded, JSON-ready (NaN written as None)."""
        clean = lambda v: [None if not math.isfinite(x) else x for x in v]
        return {"every": self.every, "saturation": list(SATURATION), "steps": list(self.steps),
                "epochs": list(self.epochs), "layers": list(self.layers), "kinds": dict(self.kinds), "shapes": dict(self.shapes),
                "values": {s: {n: clean(v) for n, v in per.items()} for s, per in self.values.items()}}

    def __repr__(self) -> str:
        return f"Monitor(every={self.every}, records={len(self.steps)}, layers={self.layers})"


# -- the optional protocol of pre-activations: the only place that reads it ---------------------
def _offered_activation(layer: Any) -> Any:
    """The activation piece of a layer that offers pre-activations (`logits` and `activation`
    attributes, as scratchae's Dense), else None."""
    return getattr(layer, "activation", None) if hasattr(layer, "logits") else None


def preactivation(layer: Any) -> tuple[np.ndarray, Any] | None:
    """(z, activation) of the layer's last forward for a layer that offers them (the optional
    protocol of the module docstring: `layer.logits`, the pre-activations, and
    `layer.activation`, the piece applied to them), else None."""
    act = _offered_activation(layer)
    z = getattr(layer, "logits", None) if act is not None else None
    return (z, act) if isinstance(z, np.ndarray) else None


def _kind(layer: Any) -> str:
    act = _offered_activation(layer)
    for cls, name in ((ReLU, "relu"), (Sigmoid, "sigmoid"), (Linear, "linear")):
        if type(act) is cls:
            return name
    return "other"


def _shape_text(layer: Any) -> str:
    """'784\u2192128': the layer's input and output shapes without the batch axis ('?' unbuilt)."""
    def text(shape: Any) -> str:
        if isinstance(shape, list):
            return "[" + ", ".join(text(s) for s in shape) + "]"
        if shape is None:
            return "?"
        return "x".join("?" if d is None else str(d) for d in shape)
    try:
        out = layer.output_shape[1:]
    except Exception:
        out = None
    return f"{text(getattr(layer, 'input_shape', None))}\u2192{text(out)}"


def _norm(arrays) -> float:
    return math.sqrt(sum(float(np.vdot(a, a)) for a in arrays))    # vdot flattens


def measure(layer: Any, before: list[np.ndarray]) -> dict[str, float]:
    """The statistics of one layer after a step: its gradients of that step, its weights now
    against `before` (float64 copies of the weights before the step) and, for a layer that
    offers its pre-activations (`preactivation`), the activation statistics."""
    params = list(layer.params.values())
    delta = _norm([np.subtract(p, b, dtype=np.float64) for p, b in zip(params, before)])
    size = _norm(before)
    out = {"grad_norm": _norm(list(layer.grads.values())),
           "update_ratio": delta / size if size > 0 else math.nan,
           "dead_fraction": math.nan, "saturated_fraction": math.nan,
           "act_mean": math.nan, "act_std": math.nan}
    seen = preactivation(layer)
    kind = _kind(layer)
    if seen is None or kind == "other":
        return out
    z = seen[0]
    if kind == "relu":
        a = np.maximum(z, 0)
        out["dead_fraction"] = float(np.mean(~np.any(z > 0, axis=0)))
    elif kind == "sigmoid":
        a = sigmoid(z)
        lo, hi = SATURATION
        out["saturated_fraction"] = float(np.mean((a < lo) | (a > hi)))
    else:
        a = z
    out["act_mean"] = float(np.mean(a, dtype=np.float64))
    out["act_std"] = float(np.std(a, dtype=np.float64))
    return out
