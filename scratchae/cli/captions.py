"""The captions of the run pages that depend on the run, computed from it.

A caption states what its figure shows. Where what is there to see depends on the run (is the
loss still falling? are the saturated outputs a problem, or the data's own black pixels?), the
sentence is built here from the run's numbers; the fixed sentences beside them say only what
is always true.

    unit_health_caption(monitor, targets)   dead ReLU units and saturated sigmoid outputs, the
                                            latter beside the share of target pixels that are
                                            themselves near 0 or 1
    loss_trend(values)                      what the last epoch did to a loss
    compare_final(curves, a, b)             how two models' curves compare, epoch by epoch
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..monitor import SATURATION

__all__ = ["unit_health_caption", "loss_trend", "compare_final", "saturated_share"]


def saturated_share(targets: Any) -> float:
    """The share of the target values below SATURATION[0] or above SATURATION[1] (0.01, 0.99):
    what a sigmoid output must be saturated to reproduce (on MNIST most pixels are black)."""
    t = np.asarray(targets, dtype=np.float64)
    lo, hi = SATURATION
    return float(np.mean((t < lo) | (t > hi))) if t.size else float("nan")


def _records(monitor: Any) -> dict:
    return monitor.to_dict() if hasattr(monitor, "to_dict") else monitor


def _per_layer(rec: dict, stat: str, kind: str) -> list[tuple[str, float, float]]:
    """(layer, first recorded value, last recorded value) of `stat` for the layers of `kind`."""
    rows = []
    for name in rec["layers"]:
        if rec.get("kinds", {}).get(name) != kind:
            continue
        values = [v for v in rec["values"][stat][name] if v is not None and v == v]
        if values:
            rows.append((name, float(values[0]), float(values[-1])))
    return rows


def unit_health_caption(monitor: Any, targets: Any) -> str:
    """The caption of the dead-and-saturated figure: what each panel counts, then, from the
    run, each layer's value at the first and the last record; for the sigmoid outputs, the
    share of the targets that are themselves below 0.01 or above 0.99, so a reader sees
    whether a high saturated fraction is the data's (an output pinned at 0 on a black pixel is
    the right answer) or more than the data asks."""
    rec = _records(monitor)
    parts = []
    relu = _per_layer(rec, "dead_fraction", "relu")
    if relu:
        values = "; ".join(f"{n} {last:.0%} (first record {first:.0%})" for n, first, last in relu)
        worst = max(last for _, _, last in relu)
        parts.append("Left: the share of ReLU units that are 0 for every image of a batch (they pass "
                     f"no gradient), at the last record: {values}. "
                     + ("No unit is dead." if worst == 0 else
                        "A share that grows from record to record is units dying; one that stays "
                        "flat is units that never woke."))
    sig = _per_layer(rec, "saturated_fraction", "sigmoid")
    if sig:
        share = saturated_share(targets)
        values = "; ".join(f"{n} {last:.0%} (first record {first:.0%})" for n, first, last in sig)
        last = max(v for _, _, v in sig)
        if last <= share + 0.05:
            verdict = ("no more than the targets themselves ask for: the saturation is the data's, "
                       "not stuck units")
        else:
            verdict = ("more than the targets ask for: some outputs are pinned where the image is "
                       "not (a learning rate too high, or inputs out of scale)")
        parts.append(f"{'Right' if relu else 'The figure'}: the share of sigmoid outputs below "
                     f"{SATURATION[0]:g} or above {SATURATION[1]:g}, at the last record: {values}. "
                     f"{share:.0%} of the test targets' pixels are themselves below "
                     f"{SATURATION[0]:g} or above {SATURATION[1]:g}, so this is {verdict}.")
    return " ".join(parts)


def loss_trend(values: Sequence[float], what: str = "the loss") -> str:
    """What the last epoch did to `values` (one per epoch): its change, relative, and whether
    the curve was still falling; with one epoch, only its value."""
    v = [float(x) for x in values]
    if not v:
        return ""
    if len(v) == 1:
        return f"One epoch: {what} ended at {v[0]:.4g}; one point shows no trend."
    change = (v[-1] - v[-2]) / abs(v[-2]) if v[-2] else 0.0
    if change < -0.001:
        head = (f"The last epoch still lowered {what} by {-change:.1%} (from {v[-2]:.4g} to "
                f"{v[-1]:.4g}): more epochs would likely lower it further.")
    elif change > 0.001:
        head = (f"The last epoch raised {what} by {change:.1%} (from {v[-2]:.4g} to {v[-1]:.4g}): "
                f"more epochs are unlikely to help at this learning rate.")
    else:
        head = (f"The last epoch changed {what} by less than 0.1% ({v[-2]:.4g} to {v[-1]:.4g}): "
                f"it has levelled off.")
    return head


def compare_final(curves: Mapping[str, Sequence[float]], a: str, b: str) -> str:
    """How curve `a` compares with curve `b`, epoch by epoch over the epochs both have: in how
    many it is higher, and at the last."""
    x, y = [float(v) for v in curves[a]], [float(v) for v in curves[b]]
    n = min(len(x), len(y))
    if n == 0:
        return ""
    higher = sum(x[i] > y[i] for i in range(n))
    last = "higher" if x[n - 1] > y[n - 1] else "lower" if x[n - 1] < y[n - 1] else "equal"
    return (f"The {a} curve is above the {b} curve in {higher} of the {n} epochs both ran; at "
            f"epoch {n} it is "
            f"{x[n - 1]:.4g} against {y[n - 1]:.4g} ({last}).")
