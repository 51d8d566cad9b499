"""The article's figures, as functions from arrays (or training histories) to a Figure.

    fig = plotting.reconstructions(x_test, autoencoder.predict(x_test))
    fig.savefig("reconstructions.png")

Each function builds a `matplotlib.figure.Figure` directly: no pyplot, no global state, no
window, so it works on a headless machine and in tests; the caller saves (or shows) it.

    reconstructions      first n test digits over their reconstructions   (2 x n, the article's)
    denoising            originals / noisy inputs / outputs                (3 x n, the article's)
    code_distributions   the code values of several encoders, overlaid     (the article's)
    compare_losses       two training-loss curves, final values in title   (the article's)
    loss_curves          every model's training loss on one plot           (not in the article)
    first_layer_weights  the first Dense kernel's columns as 28x28 images  (not in the article)

Images may be given as rows of 784 values, (N, 28, 28) arrays, or any (N, side*side) array.
Histories may be a `scratchae.models.History`, its `.history` dict, or a plain list of losses.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["reconstructions", "denoising", "code_distributions", "compare_losses",
           "loss_curves", "first_layer_weights"]

GRAY = "gray"


# -- helpers ------------------------------------------------------------------------------------
def _as_images(a: Any, name: str) -> np.ndarray:
    """(N, side, side) float images from (N, side*side) or (N, side, side) input."""
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[1] == a.shape[2]:
        return a
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side == a.shape[1] and side > 0:
            return a.reshape(len(a), side, side)
    raise ValueError(f"{name} must be images of shape (N, 784) or (N, 28, 28), got {a.shape}")


def _check_n(n: Any, available: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n > available:
        raise ValueError(f"n={n} but only {available} image(s) were given")
    return int(n)


def _image_rows(rows: Sequence[tuple[str, Any]], n: int, figsize: tuple[float, float]) -> Figure:
    """A len(rows) x n grid; row r shows rows[r]'s first n images, its title over the middle."""
    images = [(title, _as_images(a, title)) for title, a in rows]
    n = _check_n(n, min(len(a) for _, a in images))
    fig = Figure(figsize=figsize)
    for r, (title, arr) in enumerate(images):
        for i in range(n):
            ax = fig.add_subplot(len(images), n, r * n + i + 1)
            ax.imshow(arr[i], cmap=GRAY)
            ax.set_axis_off()
            if i == n // 2:
                ax.set_title(title)
    return fig


def _losses(history: Any, name: str) -> list[float]:
    """The per-epoch training losses of a History, a {'loss': [...]} dict or a list."""
    if hasattr(history, "history"):
        history = history.history
    if isinstance(history, Mapping):
        if "loss" not in history:
            raise ValueError(f"history {name!r} has no 'loss' entry (keys: {sorted(history)})")
        history = history["loss"]
    values = [float(v) for v in history]
    if not values:
        raise ValueError(f"history {name!r} has no epochs")
    return values


def _epoch_axis(ax, epochs: int) -> None:
    """Epochs counted from 1, whole numbers only, even for a one-epoch run."""
    ax.set_xlabel("epoch")
    ax.set_xlim(0.5, epochs + 0.5)
    if epochs <= 20:
        ax.set_xticks(range(1, epochs + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _named(mapping: Any, what: str) -> list[tuple[str, Any]]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise TypeError(f"{what} must be a non-empty dict {{name: ...}}, got {type(mapping).__name__}")
    return [(str(k), v) for k, v in mapping.items()]


# -- the article's figures ----------------------------------------------------------------------
def reconstructions(originals: Any, reconstructed: Any, n: int = 5) -> Figure:
    """The first n images over their reconstructions: a 2 x n grid, figsize (10, 4.5)."""
    if len(originals) != len(reconstructed):
        raise ValueError(f"originals and reconstructed differ in length: "
                         f"{len(originals)} vs {len(reconstructed)}")
    return _image_rows([("Original Images", originals), ("Reconstructed Images", reconstructed)],
                       n, figsize=(10, 4.5))


def denoising(originals: Any, noisy: Any, denoised: Any, n: int = 5) -> Figure:
    """Clean images, their noisy versions and the autoencoder's outputs: 3 x n, figsize (10, 7)."""
    if not len(originals) == len(noisy) == len(denoised):
        raise ValueError(f"originals, noisy and denoised differ in length: "
                         f"{len(originals)}, {len(noisy)}, {len(denoised)}")
    return _image_rows([("Original Images", originals), ("Noisy Input", noisy),
                        ("Autoencoder Output", denoised)], n, figsize=(10, 7))


def code_distributions(codes: Mapping[str, Any], bins: int = 50) -> Figure:
    """Histograms (as densities) of each encoder's code values, overlaid; means in the legend.

    `codes` maps a name to that encoder's outputs on the same images, e.g.
    {'standard': encoder.predict(x_test), 'regularized': sparse_encoder.predict(x_test)}.
    All share one set of bins, from 0 (or the smallest value) to the largest value.
    """
    named = [(k, np.asarray(v, dtype=np.float64).ravel()) for k, v in _named(codes, "codes")]
    for k, v in named:
        if v.size == 0 or not np.all(np.isfinite(v)):
            raise ValueError(f"codes {k!r} must be a non-empty array of finite values")
    lo = min(0.0, *(float(v.min()) for _, v in named))
    hi = max(float(v.max()) for _, v in named)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for k, v in named:
        ax.hist(v, bins=edges, density=True, alpha=0.5, histtype="stepfilled",
                label=f"{k} (mean {v.mean():.2f})")
    ax.set_yscale("log")
    ax.set_xlabel("code value")
    ax.set_ylabel("density (log scale)")
    ax.set_title("Encoded Values Distribution")
    ax.legend()
    return fig


def compare_losses(histories: Mapping[str, Any]) -> Figure:
    """Training-loss curves of two (or more) models; title 'Training Loss: a 0.0933 vs b 0.1032'."""
    return _loss_plot(histories, "training loss", lambda k, v: k,
                      lambda named: "Training Loss: " + " vs ".join(f"{k} {v[-1]:.4f}" for k, v in named))


# -- what a learner also wants --------------------------------------------------------------------
def loss_curves(histories: Mapping[str, Any]) -> Figure:
    """Every model's training loss per epoch on one plot, the final value in the legend."""
    return _loss_plot(histories, "training loss (per epoch)", lambda k, v: f"{k} (final {v[-1]:.4f})",
                      lambda named: "Training loss of each model")


def _loss_plot(histories: Mapping[str, Any], ylabel: str, label, title) -> Figure:
    """One curve per model: `label(name, losses)` in the legend, `title(named)` on top."""
    named = [(k, _losses(h, k)) for k, h in _named(histories, "histories")]
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for k, losses in named:
        ax.plot(range(1, len(losses) + 1), losses, marker=".", label=label(k, losses))
    ax.set_title(title(named))
    _epoch_axis(ax, max(len(v) for _, v in named))
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig


def first_layer_weights(kernel: Any, n: int = 10, columns: int = 10) -> Figure:
    """The first n units' incoming weights as images: column j of the (784, units) kernel.

    The article plots `autoencoder.get_weights()[0].T[:10]` (one row of ten, figsize (20, 5));
    here any n, in rows of `columns`. Each image has its own gray scale (light = positive).
    """
    k = np.asarray(kernel)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D (input_dim, units), got shape {k.shape}")
    images = _as_images(k.T, "kernel.T")
    n = _check_n(n, len(images))
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    cols = min(n, columns)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(2 * cols, 2 * rows + 0.6))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(images[i], cmap=GRAY)
        ax.set_axis_off()
        ax.set_title(f"unit {i}", fontsize=9)
    fig.suptitle("First-layer weights (one image per unit)")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=1 - 0.9 / fig.get_figheight(),
                        wspace=0.1, hspace=0.3)
    return fig
