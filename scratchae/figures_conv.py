"""Figures of a convolutional autoencoder: what its filters are and what they make of a digit.

    ae = autoencoders.convolutional(seed=0); ae.model.fit(x, x, epochs=20, batch_size=128)
    figures_conv.filters(ae.model.get_layer("encoder_conv_1").params["kernel"]).savefig("filters.png")
    figures_conv.feature_maps(figures_conv.layer_outputs(ae.model, x_test[0])).savefig("maps.png")

    filters        a Conv2D kernel (kh, kw, C, F): each filter's kh x kw weights as a small image,
                   one diverging colour scale centred on 0 for all of them
    layer_outputs  [(layer name, its output)] of one image through every layer of a model
    feature_maps   those outputs, one grid per layer: each channel as an image

A filter of the first layer is the pattern it answers most to: the layer's output at (i, j) is
b + sum_{a, b} x[i + a, j + b] K[a, b, 0, f] (a cross-correlation, as Keras's), largest where the
3x3 patch of the digit under it looks most like K[:, :, 0, f].
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .plotting import finish_figure

__all__ = ["filters", "layer_outputs", "feature_maps", "MAX_CHANNELS"]

#: feature_maps shows at most this many channels of a layer (its first ones).
MAX_CHANNELS = 32

#: Channels per row of a layer's grid in feature_maps.
ROW = 16


def filters(kernel: Any, columns: int | None = None, *, run: str | None = None,
            title: str | None = "First-layer filters: each 3x3 kernel as an image") -> Figure:
    """Every filter of a Conv2D kernel (kh, kw, C, F) as a kh x kw image: F of them for one
    input channel (in rows of `columns`, default a square grid), a C x F grid for C channels
    (row c: the weights each filter gives to input channel c). One diverging colour scale for
    all, centred on 0 (red positive, blue negative, from -m to m with m the largest |weight|),
    with its colour bar; each weight is drawn as a square, with its value written on it when
    the kernel is 5x5 or smaller. The images are drawn in the figure's one Axes, in order
    (filter 0 of input 0 first)."""
    k = np.asarray(kernel)
    if k.dtype.kind not in "fiu":
        raise TypeError(f"kernel must hold numbers, got dtype {k.dtype}")
    if k.ndim != 4 or 0 in k.shape:
        raise ValueError(f"kernel must be a Conv2D kernel of shape (kh, kw, in_channels, filters), "
                         f"got shape {k.shape}")
    kh, kw, c, f = k.shape
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel must hold finite values")
    if columns is not None and (isinstance(columns, bool) or not isinstance(columns, int) or columns < 1):
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    if c == 1:
        cols = min(f, columns or math.ceil(math.sqrt(f)))
        rows = math.ceil(f / cols)
        cells = [k[:, :, 0, i] for i in range(f)]
        names = [f"filter {i}" for i in range(f)]
    else:
        rows, cols = c, f
        cells = [k[:, :, ch, i] for ch in range(c) for i in range(f)]
        names = [f"filter {i}" for i in range(f)] + [""] * (f * (c - 1))
    m = float(np.max(np.abs(k))) or 1.0
    fig = Figure(figsize=(1.15 * cols + 1.6, 1.1 * rows * kh / kw + 0.9))
    ax = fig.add_subplot(1, 1, 1)
    gap = 0.22                                  # room for each filter's name above it
    shown = _tiles(ax, cells, cols, (-m, m), "RdBu_r", gap=gap, names=names)
    if kh * kw <= 25:
        for (r, col), w in zip(_places(len(cells), cols), cells):
            for (a, b), v in np.ndenumerate(w):
                x, y = _pixel_centre(r, col, a, b, w.shape, gap)
                ax.text(x, y, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(v) > 0.6 * m else "black")
    if c > 1:
        for ch in range(c):
            ax.text(-0.05, ch + 0.5, f"input {ch}", ha="right", va="center", fontsize=8, rotation=90)
    bar = fig.colorbar(shown, ax=ax, shrink=0.8, fraction=0.04)
    bar.set_label("weight (unitless)")
    return finish_figure(fig, title, run)


def _places(n: int, cols: int) -> list[tuple[int, int]]:
    """(row, column) of the cells 0..n-1 of a grid filled row by row."""
    return [divmod(i, cols) for i in range(n)]


def _pixel_centre(r: int, col: int, a: int, b: int, shape: tuple, gap: float) -> tuple[float, float]:
    """Where pixel (a, b) of the image in cell (r, col) is centred, in `_tiles`' coordinates."""
    size = 1 - gap
    return (col + gap / 2 + (b + 0.5) * size / shape[1], r + gap / 2 + (a + 0.5) * size / shape[0])


def _tiles(ax, images: list, cols: int, clim: tuple[float, float], cmap: str, gap: float,
           names: list[str] | None = None):
    """Draw `images` in one Axes as a grid of unit cells, `cols` a row, each image filling its
    cell but a `gap`, all on the colour limits `clim`; the cell's name above it. One Axes for
    all (a figure with hundreds of Axes takes seconds to lay out). Returns the last image."""
    rows = math.ceil(len(images) / cols)
    shown = None
    for (r, col), img in zip(_places(len(images), cols), images):
        shown = ax.imshow(img, cmap=cmap, vmin=clim[0], vmax=clim[1], interpolation="nearest",
                          extent=(col + gap / 2, col + 1 - gap / 2, r + 1 - gap / 2, r + gap / 2))
    for (r, col), name in zip(_places(len(images), cols), names or []):
        if name:
            ax.text(col + 0.5, r + gap / 2 - 0.01, name, ha="center", va="bottom", fontsize=8)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return shown


def layer_outputs(model: Any, image: Any) -> list[tuple[str, np.ndarray]]:
    """("input", the image) then (name, output) of every layer of `model` (in the order they
    run) on one image, in inference mode: image (H, W, C) or (1, H, W, C) (a flat (H*W,) image
    is taken as (H, W, 1) when the model's input is (H, W, 1)); each without its batch axis,
    e.g. (28, 28, 16)."""
    x = np.asarray(image)
    inputs = getattr(model, "_inputs", None)
    if not inputs or len(inputs) != 1:
        raise ValueError("layer_outputs needs a built model with one input")
    shape = tuple(inputs[0].input_shape)
    if x.shape == shape:
        x = x[None]
    elif x.shape == (1, *shape):
        pass
    elif x.size == math.prod(shape) and x.ndim <= 2 and len(shape) == 3 and shape[2] == 1:
        x = x.reshape(1, *shape)
    else:
        raise ValueError(f"image must have the model's input shape {shape} (or (1, *shape)), "
                         f"got {x.shape}")
    x, _ = model.check_data(x)
    model.forward(x, training=False)
    # the outputs Model.forward keeps for its backward, one per layer in model.chain's order
    return [("input", x[0])] + [(layer.name, np.asarray(v)[0]) for layer, v in zip(model.chain, model._values)]


def feature_maps(outputs: list[tuple[str, Any]], *, run: str | None = None,
                 title: str | None = "Feature maps of one test digit, layer by layer") -> Figure:
    """One grid per layer (one Axes each), top to bottom: each channel of the layer's output
    (H, W, C) as an image of the same drawn size whatever H and W, up to `MAX_CHANNELS` (its
    first) in rows of 16, on one colour scale per layer from its smallest to its largest value
    (written beside the layer's name). Outputs that are not (H, W, C) images (a Dense layer's
    vector) are refused."""
    items = list(outputs)
    if not items:
        raise ValueError("outputs must name at least one layer's output")
    maps = []
    for name, a in items:
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 3 or 0 in a.shape:
            raise ValueError(f"the output of {name!r} must be an (H, W, C) image, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"the output of {name!r} holds non-finite values")
        maps.append((str(name), a))
    rows_of = [math.ceil(min(a.shape[2], MAX_CHANNELS) / ROW) for _, a in maps]
    cols = max(min(a.shape[2], ROW) for _, a in maps)
    fig = Figure(figsize=(0.62 * cols + 0.8, 0.62 * sum(rows_of) + 0.3 * len(maps) + 1.0))
    grid = fig.add_gridspec(len(maps), 1, height_ratios=rows_of)
    for k, ((name, a), nrows) in enumerate(zip(maps, rows_of)):
        h, w, c = a.shape
        shown = min(c, MAX_CHANNELS)
        lo, hi = float(a.min()), float(a.max())
        more = f", the first {shown} of {c} channels" if shown < c else ""
        ax = fig.add_subplot(grid[k])
        _tiles(ax, [a[:, :, i] for i in range(shown)], cols, (lo, hi if hi > lo else lo + 1.0),
               "viridis", gap=0.08)
        ax.set_title(f"{name}: {h}x{w}, {c} channel(s){more}; scale {lo:.2g} (dark) to {hi:.2g} (light)",
                     fontsize=8, loc="left", pad=2)
    return finish_figure(fig, title, run)
