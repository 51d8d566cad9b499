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
    with its colour bar; each pixel is drawn as a square, with its weight written on it when
    the kernel is 5x5 or smaller."""
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
        cells = [(i // cols, i % cols, k[:, :, 0, i], f"filter {i}") for i in range(f)]
    else:
        rows, cols = c, f
        cells = [(ch, i, k[:, :, ch, i], f"filter {i}" if ch == 0 else "") for ch in range(c) for i in range(f)]
    m = float(np.max(np.abs(k))) or 1.0
    fig = Figure(figsize=(1.25 * cols + 1.6, 1.3 * rows + 1.1))
    axes, shown = [], None
    label = kh * kw <= 25
    for r, col, w, name in cells:
        ax = fig.add_subplot(rows, cols, r * cols + col + 1)
        shown = ax.imshow(w, cmap="RdBu_r", vmin=-m, vmax=m)
        if label:
            for (a, b), v in np.ndenumerate(w):
                ax.text(b, a, f"{v:.1f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(v) > 0.6 * m else "black")
        ax.set_xticks([])
        ax.set_yticks([])
        if name:
            ax.set_title(name, fontsize=8, pad=2)
        if c > 1 and col == 0:
            ax.set_ylabel(f"input {r}", fontsize=8)
        axes.append(ax)
    bar = fig.colorbar(shown, ax=axes, shrink=0.8, fraction=0.04)
    bar.set_label("weight (unitless)")
    return finish_figure(fig, title, run)


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
    """One grid per layer, top to bottom: each channel of the layer's output (H, W, C) as an
    image, up to `MAX_CHANNELS` (its first) in rows of 16, on one colour scale per layer from
    its smallest to its largest value (written beside the layer's name). Outputs that are not
    (H, W, C) images (a Dense layer's vector) are refused."""
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
    fig = Figure(figsize=(0.62 * cols + 0.8, 0.66 * sum(rows_of) + 0.42 * len(maps) + 1.0))
    subfigs = fig.subfigures(len(maps), 1, height_ratios=[r + 0.6 for r in rows_of], squeeze=False)[:, 0]
    for sub, (name, a), nrows in zip(subfigs, maps, rows_of):
        h, w, c = a.shape
        shown = min(c, MAX_CHANNELS)
        lo, hi = float(a.min()), float(a.max())
        more = f", the first {shown} of {c} channels" if shown < c else ""
        sub.suptitle(f"{name}: {h}x{w}, {c} channel(s){more}; scale {lo:.2g} (dark) to {hi:.2g} (light)",
                     fontsize=8, x=0.01, ha="left")
        for i in range(shown):
            ax = sub.add_subplot(nrows, cols, (i // ROW) * cols + i % ROW + 1)
            ax.imshow(a[:, :, i], cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1.0)
            ax.set_xticks([])
            ax.set_yticks([])
    return finish_figure(fig, title, run)
