"""Figures of the code space: what the encoder has learned, from NumPy alone.

    codes = ae.encoder.predict(x_test)
    figures_code.code_space(codes, y_test, run="vanilla, mnist-5k").savefig("code-space.png")

    pca_2d            the codes projected on their first two principal components (np.linalg.svd)
    code_space        that projection, one dot per test image coloured by its digit
    maps_2d           the same images mapped to 2-D four ways: PCA and t-SNE, of the codes
                      and of the raw pixels (scratchae.manifold.TSNE)
    map_accuracies    how well each of those maps keeps the digits apart (1-NN accuracy)
    code_maps         the four maps side by side, each titled with its accuracy
    line_between      codes on the straight line from one code to another
    code_interpolation  one digit, the decoded points of that line, the other digit
    unit_sparsity     per code unit: the fraction of images for which it is 0, and its mean,
                      for several encoders side by side (standard against L1)
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .plotting import _as_images, _named, finish_figure

__all__ = ["pca_2d", "scatter_by_label", "code_space", "maps_2d", "map_accuracies", "code_maps", "line_between", "code_interpolation", "unit_sparsity"]


def pca_2d(codes: Any) -> tuple[np.ndarray, np.ndarray]:
    """(points, explained): the codes (N, d) projected on their first two principal components,
    shape (N, 2), and the fraction of the variance each component explains, shape (2,).

    Principal components from the SVD of the centred codes, C = U S V^T: the rows of V^T are
    the directions of largest variance, and C V^T[:2].T the projection. Each direction's sign
    is fixed so that its largest component is positive (an SVD may return either sign).
    A code of width 1 gives a second column of zeros.
    """
    c = np.asarray(codes, dtype=np.float64)
    if c.ndim != 2 or len(c) < 2 or not np.all(np.isfinite(c)):
        raise ValueError(f"codes must be a finite (N, d) array with N >= 2, got shape {c.shape}")
    centred = c - c.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt[:2]
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    points = centred @ vt.T
    var = s ** 2
    explained = var[:2] / var.sum() if var.sum() > 0 else np.zeros(len(vt))
    if points.shape[1] < 2:
        points = np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])
        explained = np.append(explained, np.zeros(2 - len(explained)))
    return points, explained


def scatter_by_label(ax: Any, points: Any, labels: Any, *, size: float | None = None,
                     legend: bool = True, what: str = "points") -> np.ndarray:
    """One dot per row of the (N, 2) `points` on the Axes `ax`, coloured by its label (C0-C9,
    one colour per distinct label, in sorted order), with a legend of the labels beside the
    axes. size: the dots' (default 10, or 3 above 2,000 points). The labels, as an array.
    `what` names the points in the errors. The figures of codes and maps all draw this way."""
    pts = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{what} must have shape (N, 2), got {pts.shape}")
    if len(labels) != len(pts):
        raise ValueError(f"{what} and labels differ in length: {len(pts)} vs {len(labels)}")
    size = size if size is not None else (10 if len(pts) <= 2000 else 3)
    for i, value in enumerate(np.unique(labels)):
        at = labels == value
        ax.scatter(pts[at, 0], pts[at, 1], s=size, alpha=0.7, color=f"C{i % 10}", label=str(value),
                   linewidths=0)
    if legend:
        ax.legend(title="label", markerscale=2, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return labels


def code_space(codes: Any, labels: Any, *, run: str | None = None,
               title: str | None = "The code space: test images' codes, first two principal components") -> Figure:
    """One dot per image at its code's projection on the first two principal components
    (`pca_2d`), coloured by its label (0-9); the axes say how much variance each explains."""
    points, explained = pca_2d(codes)
    fig = Figure(figsize=(7.5, 6.5))
    ax = fig.add_subplot(1, 1, 1)
    scatter_by_label(ax, points, labels, what="codes")
    ax.set_xlabel(f"principal component 1 ({explained[0]:.0%} of the code variance)")
    ax.set_ylabel(f"principal component 2 ({explained[1]:.0%} of the code variance)")
    width = np.shape(codes)[1]
    ax.set_title(f"{len(points):,} images; each {width}-D code projected to 2-D", fontsize=10)
    return finish_figure(fig, title, run)


#: The rows and columns of `maps_2d`: what is mapped, and how.
MAP_SOURCES = ("codes", "pixels")
MAP_METHODS = ("PCA", "t-SNE")


def tsne_perplexity(n: int, perplexity: float = 30.0) -> float:
    """The perplexity the maps use for n points: `perplexity`, lowered to (n - 1) / 3 when n is
    too small for it (t-SNE needs a perplexity below n; each point's neighbourhood should hold
    a few others at least)."""
    if n < 4:
        raise ValueError(f"a t-SNE map needs at least 4 points, got {n}")
    return float(min(perplexity, (n - 1) / 3))


def maps_2d(codes: Any, pixels: Any, *, perplexity: float = 30.0, max_iter: int = 1000,
            random_state: int | np.random.Generator | None = 0, verbose: int = 0
            ) -> dict[str, dict[str, np.ndarray]]:
    """The same n images mapped to 2-D four ways: {"codes": {"PCA": ..., "t-SNE": ...},
    "pixels": {"PCA": ..., "t-SNE": ...}}, each (n, 2).

    codes: the encoder's outputs, (n, ...) (flattened per image: a conv code of (4, 4, 8)
    counts as 128 numbers); pixels: the same images' inputs, (n, ...). PCA is `pca_2d`;
    t-SNE is `scratchae.manifold.TSNE` (exact, init="pca", perplexity from `tsne_perplexity`,
    `max_iter` iterations) on each. The article's point: t-SNE struggles above about 32
    dimensions, so a 784-pixel image is mapped better through its 32-number code.

    Time and memory are t-SNE's, twice (O(n^2) each): for 1,000 images and 1,000 iterations,
    about 6 s per map on a 2-core machine and an 8 MB affinity matrix.
    """
    from .manifold import TSNE

    sources = {"codes": np.asarray(codes), "pixels": np.asarray(pixels)}
    n = len(sources["codes"])
    if len(sources["pixels"]) != n:
        raise ValueError(f"codes and pixels must describe the same images, got {n} codes and "
                         f"{len(sources['pixels'])} images")
    p = tsne_perplexity(n, perplexity)
    maps: dict[str, dict[str, np.ndarray]] = {}
    for name, x in sources.items():
        flat = np.asarray(x, dtype=np.float64).reshape(n, -1)
        tsne = TSNE(2, perplexity=p, max_iter=max_iter, random_state=random_state, verbose=verbose)
        maps[name] = {"PCA": pca_2d(flat)[0], "t-SNE": tsne.fit_transform(flat)}
    return maps


def _check_maps(maps: Any) -> None:
    if not isinstance(maps, Mapping) or set(maps) != set(MAP_SOURCES) or any(
            not isinstance(maps[s], Mapping) or set(maps[s]) != set(MAP_METHODS) for s in MAP_SOURCES):
        raise ValueError("maps must be what maps_2d returns: {'codes': {'PCA': ..., 't-SNE': ...}, "
                         f"'pixels': {{...}}}}, got {maps!r:.120}")


def map_accuracies(maps: Mapping[str, Mapping[str, Any]], labels: Any) -> dict[str, dict[str, float]]:
    """For each map of `maps_2d`, the leave-one-out 1-nearest-neighbour accuracy of the labels
    in 2-D (`scratchae.manifold.one_nn_accuracy`): the share of images whose nearest other point
    on the map shows the same digit. About 0.1 for a map that keeps nothing of ten digits."""
    from .manifold import one_nn_accuracy

    _check_maps(maps)
    return {s: {m: one_nn_accuracy(maps[s][m], labels) for m in MAP_METHODS} for s in MAP_SOURCES}


def code_maps(maps: Mapping[str, Mapping[str, Any]], labels: Any, *, code_width: int | None = None,
              run: str | None = None,
              title: str | None = "The same test images mapped to 2-D: PCA and t-SNE, codes and pixels"
              ) -> Figure:
    """The four maps of `maps_2d` on a 2 x 2 grid (rows: codes, pixels; columns: PCA, t-SNE),
    one dot per image coloured by its label, each panel titled with its 1-NN accuracy
    (`map_accuracies`). code_width: the code's size, for the row's name."""
    acc = map_accuracies(maps, labels)
    fig = Figure(figsize=(11, 10))
    what = {"codes": f"the {code_width}-number codes" if code_width else "the codes",
            "pixels": "the raw pixels"}
    for r, source in enumerate(MAP_SOURCES):
        for c, method in enumerate(MAP_METHODS):
            ax = fig.add_subplot(2, 2, 2 * r + c + 1)
            scatter_by_label(ax, maps[source][method], labels, legend=(r, c) == (0, 1),
                             what=f"the {method} map of {source}")
            ax.set_title(f"{method} of {what[source]}\n1-NN accuracy in 2-D: "
                         f"{acc[source][method]:.1%}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    n = len(np.asarray(labels).ravel())
    return finish_figure(fig, f"{title}\n({n:,} images, the same in every panel)" if title else None, run)


def line_between(start: Any, end: Any, steps: int = 9) -> np.ndarray:
    """`steps` codes evenly spaced on the straight line from `start` to `end`, both included:
    (1 - t) start + t end for t = 0, 1/(steps-1), ..., 1; shape (steps, d)."""
    a, b = np.asarray(start, dtype=np.float64).ravel(), np.asarray(end, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"start and end must have the same width, got {a.shape} and {b.shape}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) * a + t * b


def code_interpolation(start_image: Any, end_image: Any, decoded: Any, *,
                       labels: tuple[str, str] = ("start", "end"), run: str | None = None,
                       title: str | None = "Decoding a straight line between two digits' codes") -> Figure:
    """The start image, the decoder's outputs along the line between the two codes (from
    `line_between`, t = 0 to 1), and the end image, in one row."""
    decoded = _as_images(np.asarray(decoded), "decoded")
    ends = _as_images(np.stack([np.asarray(start_image).ravel(), np.asarray(end_image).ravel()]),
                      "start_image and end_image")
    steps = len(decoded)
    if steps < 2:
        raise ValueError("decoded must hold at least 2 images (t = 0 and t = 1)")
    row = [(f"input: {labels[0]}", ends[0])]
    row += [(f"t = {t:.2f}", img) for t, img in zip(np.linspace(0, 1, steps), decoded)]
    row += [(f"input: {labels[1]}", ends[1])]
    fig = Figure(figsize=(1.2 * len(row) + 0.4, 2.2))
    for i, (name, img) in enumerate(row):
        ax = fig.add_subplot(1, len(row), i + 1)
        ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=8)
        if i in (0, len(row) - 1):
            for side in ax.spines.values():
                side.set_edgecolor("C1")
                side.set_linewidth(2)
    return finish_figure(fig, title, run)


def unit_sparsity(codes: Mapping[str, Any], *, run: str | None = None,
                  title: str | None = "Each code unit: how often it is zero, and its mean") -> Figure:
    """For each encoder (e.g. {'standard': ..., 'l1(1e-05)': ...}), per code unit: top, the
    fraction of images for which the unit is exactly 0; bottom, its mean value. Within each
    encoder the units are sorted by their mean, largest first, so the two shapes compare."""
    named = [(k, np.asarray(v, dtype=np.float64)) for k, v in _named(codes, "codes")]
    for k, v in named:
        if v.ndim != 2 or v.size == 0 or not np.all(np.isfinite(v)):
            raise ValueError(f"codes {k!r} must be a non-empty finite (N, units) array")
    fig = Figure(figsize=(10, 6.5))
    top, bottom = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2, sharex=None)
    width = 0.8 / len(named)
    for i, (k, v) in enumerate(named):
        means = v.mean(axis=0)
        order = np.argsort(-means, kind="stable")
        zero = (v == 0).mean(axis=0)[order]
        x = np.arange(v.shape[1]) + (i - (len(named) - 1) / 2) * width
        top.bar(x, zero, width=width, color=f"C{i}",
                label=f"{k}: on average {zero.mean():.0%} zeros, mean {v.mean():.2f}")
        bottom.bar(x, means[order], width=width, color=f"C{i}", label=k)
    top.set_ylim(0, 1.02)
    top.set_ylabel("fraction of images\nwhere the unit is 0")
    top.legend(fontsize=8, loc="upper left")
    bottom.set_ylabel("mean unit value\n(the code layer's output, unitless)")
    for ax in (top, bottom):
        ax.set_xlabel("code unit, ranked by its mean value within each model (largest first)")
    top.set_title(f"{max(len(v) for _, v in named):,} images", fontsize=10)
    return finish_figure(fig, title, run)
