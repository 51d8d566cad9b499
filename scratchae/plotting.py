"""The article's figures, as functions from arrays (or training histories) to a Figure.

    fig = plotting.reconstructions(x_test, autoencoder.predict(x_test))
    fig.savefig("reconstructions.png")

Each function builds a `matplotlib.figure.Figure` directly: no pyplot, no global state, no
window, so it works on a headless machine and in tests; the caller saves (or shows) it. Every
figure has a title (`title=` to change it) and labelled axes with their units; `run="vanilla,
mnist-5k, seed 0"` writes where the numbers came from in its bottom-left corner, for a slide.

    reconstructions      first n test digits over their reconstructions   (2 x n, the article's)
    denoising            originals / noisy inputs / outputs                (3 x n, the article's)
    code_distributions   the code values of several encoders, overlaid     (the article's)
    compare_losses       two training-loss curves, final values in title   (the article's;
                         key="reconstruction_loss" compares the losses without the penalty)
    loss_curves          every model's training loss on one plot           (not in the article)
    first_layer_weights  the first Dense kernel's columns as 28x28 images, one colour scale

More figures: `scratchae.figures_training` (what a `Monitor` recorded: gradient norms, update
ratios, dead units) and `scratchae.figures_code` (the code space: PCA of the codes by label,
decoding a straight line between two codes, each code unit's sparsity).

Images may be given as rows of 784 values, (N, 28, 28) arrays, or any (N, side*side) array.
Histories may be a `scratchae.models.History`, a dict of per-epoch lists (its `.history`, or
`with_parts()`), or a plain list of losses. Of a History, any key of `history` or of `parts`
can be plotted (key="reconstruction_loss" reads `History.parts`).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["reconstructions", "denoising", "code_distributions", "compare_losses",
           "loss_curves", "first_layer_weights", "finish_figure"]

GRAY = "gray"

#: What the loss keys of a History measure, for axis labels (binary cross-entropy is in nats,
#: averaged over pixels and images).
LOSS_LABELS = {
    "loss": "training loss (BCE + penalties, nats per pixel)",
    "reconstruction_loss": "training reconstruction loss (BCE alone, nats per pixel)",
    "val_loss": "validation loss (BCE + penalties, nats per pixel)",
    "val_reconstruction_loss": "validation reconstruction loss (BCE alone, nats per pixel)",
}


def _png_bytes(fig: Figure) -> bytes:
    """`fig` as PNG bytes, drawn exactly as `fig.savefig(path)` draws it."""
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def inline(fig: Figure) -> Figure:
    """Let a notebook show `fig` when a cell ends in it. A Figure made without pyplot has no
    backend that registers it with IPython, so Jupyter would print only `<Figure size ...>`;
    IPython's display calls an object's `_repr_png_` and shows the PNG it returns. Scripts and
    `savefig` are unaffected, and nothing here needs IPython."""
    fig._repr_png_ = functools.partial(_png_bytes, fig)
    return fig


def finish_figure(fig: Figure, title: str | None, run: str | None = None) -> Figure:
    """Give `fig` its title (a suptitle) and, when `run` is given, a 'run: ...' note in its
    bottom-left corner; lay it out (constrained) so neither overlaps the axes; let a notebook
    show it inline (see `inline`)."""
    inline(fig)
    if title:
        fig.suptitle(title, fontsize=13)
    bottom = 0.0
    if run:
        fig.text(0.01, 0.01, f"run: {run}", ha="left", va="bottom", fontsize=8, color="0.35")
        bottom = 0.22 / fig.get_figheight()            # room for one line of 8-point text
    fig.set_layout_engine("constrained", rect=(0, bottom, 1, 1 - bottom))   # left, bottom, w, h
    return fig


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


def _image_rows(rows: Sequence[tuple[str, Any]], n: int, figsize: tuple[float, float],
                title: str | None = None, run: str | None = None) -> Figure:
    """A len(rows) x n grid; row r shows rows[r]'s first n images, its title over the middle.
    Pixels are drawn on one gray scale, black 0 to white 1."""
    images = [(title, _as_images(a, title)) for title, a in rows]
    n = _check_n(n, min(len(a) for _, a in images))
    fig = Figure(figsize=figsize)
    for r, (row_title, arr) in enumerate(images):
        for i in range(n):
            ax = fig.add_subplot(len(images), n, r * n + i + 1)
            ax.imshow(arr[i], cmap=GRAY, vmin=0.0, vmax=1.0)
            ax.set_axis_off()
            if i == n // 2:
                ax.set_title(row_title)
    return finish_figure(fig, title, run) if (title or run) else inline(fig)


def history_dict(history: Any) -> Any:
    """Of a History, its Keras keys and the parts of its loss in one dict (`with_parts()`);
    anything else (a dict of lists, a plain list) as it is."""
    if hasattr(history, "with_parts"):
        return history.with_parts()
    return history.history if hasattr(history, "history") else history


def _losses(history: Any, name: str, key: str = "loss") -> list[float]:
    """The per-epoch values of `key` in a History (its `history` or `parts`) or a
    {'loss': [...]} dict; or a plain list."""
    history = history_dict(history)
    if isinstance(history, Mapping):
        if key not in history:
            raise ValueError(f"history {name!r} has no {key!r} entry (keys: {sorted(history)})")
        history = history[key]
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
def reconstructions(originals: Any, reconstructed: Any, n: int = 5, *,
                    title: str | None = "Test digits (top) and the autoencoder's reconstructions (bottom)",
                    run: str | None = None) -> Figure:
    """The first n images over their reconstructions: a 2 x n grid, figsize (10, 4.5)."""
    if len(originals) != len(reconstructed):
        raise ValueError(f"originals and reconstructed differ in length: "
                         f"{len(originals)} vs {len(reconstructed)}")
    return _image_rows([("Original Images", originals), ("Reconstructed Images", reconstructed)],
                       n, figsize=(10, 4.5), title=title, run=run)


def denoising(originals: Any, noisy: Any, denoised: Any, n: int = 5, *,
              title: str | None = "Denoising: clean digits, noisy inputs, the autoencoder's outputs",
              run: str | None = None) -> Figure:
    """Clean images, their noisy versions and the autoencoder's outputs: 3 x n, figsize (10, 7)."""
    if not len(originals) == len(noisy) == len(denoised):
        raise ValueError(f"originals, noisy and denoised differ in length: "
                         f"{len(originals)}, {len(noisy)}, {len(denoised)}")
    return _image_rows([("Original Images", originals), ("Noisy Input", noisy),
                        ("Autoencoder Output", denoised)], n, figsize=(10, 7), title=title, run=run)


def code_distributions(codes: Mapping[str, Any], bins: int = 50, *,
                       title: str | None = "Code values of each encoder on the test images",
                       run: str | None = None) -> Figure:
    """Histograms (as densities) of each encoder's code values, overlaid; means in the legend.

    `codes` maps a name to that encoder's outputs on the same images, e.g.
    {'standard': encoder.predict(x_test), 'regularized': sparse_encoder.predict(x_test)}.
    All share one set of bins, from 0 (or the smallest value) to the largest value. The axes
    keep the article's title, 'Encoded Values Distribution'; the density axis is logarithmic.
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
    ax.set_xlabel("code value (a code unit's output for one image, unitless)")
    ax.set_ylabel("density (log scale)")
    ax.set_title("Encoded Values Distribution")
    ax.legend()
    return finish_figure(fig, title, run)


def compare_losses(histories: Mapping[str, Any], key: str = "loss", *, run: str | None = None) -> Figure:
    """Training-loss curves of two (or more) models; title 'Training Loss: a 0.0933 vs b 0.1032'.

    key="reconstruction_loss" plots the loss without the activity penalties (from
    `History.parts`), so a model with an L1 penalty is compared on what it reconstructs;
    the title then says 'Training reconstruction loss (penalty excluded): ...'.
    """
    head = "Training Loss" if key == "loss" else (
        "Training reconstruction loss (penalty excluded)" if key == "reconstruction_loss" else key)
    return _loss_plot(histories, key, LOSS_LABELS.get(key, key), lambda k, v: k,
                      lambda named: f"{head}: " + " vs ".join(f"{k} {v[-1]:.4f}" for k, v in named), run)


# -- what a learner also wants --------------------------------------------------------------------
def loss_curves(histories: Mapping[str, Any], key: str = "loss", *, run: str | None = None,
                ylabel: str | None = None, title: str | None = None) -> Figure:
    """Every model's training loss per epoch on one plot, the final value in the legend
    (key="reconstruction_loss": the losses without the penalties)."""
    what = "reconstruction loss (penalty excluded)" if key == "reconstruction_loss" else "loss"
    return _loss_plot(histories, key, ylabel or LOSS_LABELS.get(key, key), lambda k, v: f"{k} (final {v[-1]:.4f})",
                      lambda named: title or f"Training {what} of each model, per epoch", run)


def _loss_plot(histories: Mapping[str, Any], key: str, ylabel: str, label, title, run) -> Figure:
    """One curve per model: `label(name, losses)` in the legend, `title(named)` on top."""
    named = [(k, _losses(h, k, key)) for k, h in _named(histories, "histories")]
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for k, losses in named:
        ax.plot(range(1, len(losses) + 1), losses, marker=".", label=label(k, losses))
    ax.set_title(title(named))
    _epoch_axis(ax, max(len(v) for _, v in named))
    ax.set_ylabel(ylabel)
    ax.legend()
    return finish_figure(fig, None, run)


def first_layer_weights(kernel: Any, n: int = 36, columns: int | None = None, *,
                        title: str | None = "First-layer weights: one 28x28 image per hidden unit",
                        run: str | None = None) -> Figure:
    """The first n units' incoming weights as images: column j of the (784, units) kernel.

    The article plots `autoencoder.get_weights()[0].T[:10]` (one row of ten); here the first n
    (default 36) in rows of `columns` (default: a square grid), all on one diverging colour
    scale centred on 0 (red positive, blue negative, from -m to m with m the largest |weight|
    shown), with its colour bar: a unit's image is the input pattern that excites it most.
    """
    k = np.asarray(kernel)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D (input_dim, units), got shape {k.shape}")
    images = _as_images(k.T, "kernel.T")
    n = _check_n(n, len(images))
    if columns is None:
        columns = math.ceil(math.sqrt(n))
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    cols = min(n, columns)
    rows = math.ceil(n / cols)
    m = float(np.max(np.abs(images[:n]))) or 1.0
    fig = Figure(figsize=(1.3 * cols + 1.4, 1.3 * rows + 1.0))
    axes = []
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        shown = ax.imshow(images[i], cmap="RdBu_r", vmin=-m, vmax=m)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"unit {i}", fontsize=8, pad=2)
        axes.append(ax)
    bar = fig.colorbar(shown, ax=axes, shrink=0.8, fraction=0.04)
    bar.set_label("weight from input pixel to unit (unitless)")
    return finish_figure(fig, title, run)
