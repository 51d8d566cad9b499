"""Figures of what a `scratchae.monitor.Monitor` recorded during training.

    monitor = Monitor(every=25)
    model.fit(x, x, epochs=3, callbacks=[monitor])
    figures_training.gradient_norms(monitor, run="vanilla, mnist-5k").savefig("gradients.png")

    gradient_norms     ||dL/dW|| per layer over training (log axis): is the gradient flowing
                       to the first layers, or vanishing on the way?
    update_ratios      ||update|| / ||W|| per layer against the 1e-3 line (log axis)
    unit_health        fraction of dead ReLU units and of saturated sigmoid outputs per layer
    activation_stats   mean and standard deviation of each layer's output

Each takes a Monitor or its `to_dict()` (read back from JSON) and returns a Figure, x axis in
epochs (1.0 = the end of the first epoch), one line per layer, labelled with its name,
activation and shape.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .plotting import finish_figure

__all__ = ["gradient_norms", "update_ratios", "unit_health", "activation_stats", "HEALTHY_RATIO"]

#: Karpathy's rule of thumb for the update-to-weight ratio of a healthy layer.
HEALTHY_RATIO = 1e-3


def _records(monitor: Any) -> dict:
    """The monitor's records as a dict (a Monitor, or what its `to_dict()` gave)."""
    rec = monitor.to_dict() if hasattr(monitor, "to_dict") else monitor
    if not isinstance(rec, dict) or "values" not in rec or "epochs" not in rec:
        raise TypeError(f"expected a Monitor or its to_dict(), got {type(monitor).__name__}")
    if not rec["epochs"]:
        raise ValueError("the monitor recorded nothing: pass it to fit(callbacks=[monitor]) first")
    return rec


def _series(rec: dict, stat: str, kinds: tuple[str, ...] | None = None) -> list[tuple[str, np.ndarray]]:
    """[(legend label, values)] of the layers (of the given activation kinds) for `stat`."""
    out = []
    for name in rec["layers"]:
        kind = rec.get("kinds", {}).get(name, "")
        if kinds is not None and kind not in kinds:
            continue
        values = np.array([np.nan if v is None else v for v in rec["values"][stat][name]], dtype=float)
        shape = rec.get("shapes", {}).get(name)
        out.append((f"{name} ({kind}{', ' + shape if shape else ''})", values))
    return out


def _lines(ax, rec: dict, series: list[tuple[str, np.ndarray]]) -> None:
    x = np.asarray(rec["epochs"], dtype=float)
    for label, values in series:
        ax.plot(x, values, marker=".", markersize=3, linewidth=1.2, label=label)
    ax.set_xlabel("epoch (1.0 = end of the first epoch)")
    ax.set_xlim(0, max(1.0, float(np.ceil(x.max()))))
    ax.grid(True, which="major", alpha=0.3)


def gradient_norms(monitor: Any, *, run: str | None = None,
                   title: str | None = "Gradient flow: how large is each layer's gradient?") -> Figure:
    """The L2 norm of each layer's gradient (kernel and bias) at every recorded step, log axis."""
    rec = _records(monitor)
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    _lines(ax, rec, _series(rec, "grad_norm"))
    ax.set_yscale("log")
    ax.set_ylabel("gradient norm ||dL/dW|| (log scale)")
    ax.set_title(f"one batch's gradient, every {rec['every']} steps", fontsize=10)
    ax.legend(fontsize=8)
    return finish_figure(fig, title, run)


def update_ratios(monitor: Any, *, run: str | None = None,
                  title: str | None = "Update-to-weight ratio per layer, against the 1e-3 rule of thumb") -> Figure:
    """||W_after - W_before|| / ||W_before|| of each layer at every recorded step, log axis, with
    a dashed line at 1e-3 (Karpathy's healthy value)."""
    rec = _records(monitor)
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    _lines(ax, rec, _series(rec, "update_ratio"))
    ax.axhline(HEALTHY_RATIO, color="black", linestyle="--", linewidth=1,
               label="1e-3: a healthy layer (rule of thumb)")
    ax.set_yscale("log")
    ax.set_ylabel("||update|| / ||weights|| per step (log scale)")
    ax.set_title("far below the line: the layer hardly learns; far above: it is thrown around",
                 fontsize=10)
    ax.legend(fontsize=8)
    return finish_figure(fig, title, run)


def unit_health(monitor: Any, *, run: str | None = None,
                title: str | None = "Dead ReLU units and saturated sigmoid outputs") -> Figure:
    """Left: per ReLU layer, the fraction of units that are 0 for the whole batch (dead: no
    gradient passes). Right (when there is a sigmoid layer): per sigmoid layer, the fraction of
    outputs below 0.01 or above 0.99 (saturated)."""
    rec = _records(monitor)
    relu, sig = _series(rec, "dead_fraction", ("relu",)), _series(rec, "saturated_fraction", ("sigmoid",))
    panels = [p for p in ((relu, "dead ReLU units (0 for every image of the batch)",
                           "fraction of the layer's units"),
                          (sig, "saturated sigmoid outputs (< 0.01 or > 0.99)",
                           "fraction of the layer's outputs")) if p[0]]
    if not panels:
        raise ValueError("the monitored model has no ReLU or sigmoid layer")
    fig = Figure(figsize=(6 * len(panels), 4.5))
    for i, (series, sub, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _lines(ax, rec, series)
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel(ylabel)
        ax.set_title(sub, fontsize=10)
        ax.legend(fontsize=8)
    return finish_figure(fig, title, run)


def activation_stats(monitor: Any, *, run: str | None = None,
                     title: str | None = "Each layer's output: mean and standard deviation") -> Figure:
    """The mean of each layer's output over the batch and its units, with a band of one
    standard deviation, at every recorded step."""
    rec = _records(monitor)
    x = np.asarray(rec["epochs"], dtype=float)
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    stds = dict(_series(rec, "act_std"))
    _lines(ax, rec, _series(rec, "act_mean"))
    for line, (label, _) in zip(ax.get_lines(), _series(rec, "act_mean")):
        mean, std = line.get_ydata(), stds[label]
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_ylabel("layer output (activation value, unitless)")
    ax.set_title("line: mean over the batch and units; band: mean +- one standard deviation",
                 fontsize=10)
    ax.legend(fontsize=8)
    return finish_figure(fig, title, run)
