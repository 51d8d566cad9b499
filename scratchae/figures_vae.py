"""Figures of a variational autoencoder: what a teacher shows of one, from NumPy alone.

    v = autoencoders.vae(2, 512, seed=0); v.model.fit(x, x, epochs=50, batch_size=128)
    figures_vae.prior_samples(v.generate(100, seed=0)).savefig("samples.png")
    figures_vae.latent_manifold(v.decoder.predict(manifold_grid(15)), 15).savefig("manifold.png")

    prior_samples    images decoded from codes drawn from the prior N(0, I): the VAE as a generator
    manifold_grid    the codes of an n x n grid over the 2-D latent plane, from -span to span
    latent_manifold  the decoded grid, one image per code (the classic manifold figure)
    latent_scatter   a 2-D latent's test codes (z_mean), coloured by digit
    elbo_parts       the negative ELBO per epoch and its two parts, reconstruction and KL
    kl_units         the KL of each latent unit from the prior (which units the model uses)
    units_in_use     how many units carry more than a threshold of KL
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .figures_code import scatter_by_label
from .plotting import _as_images, _epoch_axis, _losses, finish_figure, history_dict

__all__ = ["prior_samples", "manifold_grid", "latent_manifold", "latent_scatter", "elbo_parts",
           "kl_units", "units_in_use", "USED_UNIT_NATS"]

#: A latent unit whose mean KL from the prior is below this many nats carries (almost) nothing:
#: its posterior is the prior whatever the image.
USED_UNIT_NATS = 0.1


def prior_samples(images: Any, columns: int = 10, *, run: str | None = None,
                  title: str | None = "Samples from the prior: decoded z ~ N(0, I)") -> Figure:
    """The images (decoded from prior draws, e.g. `VariationalAutoencoder.generate(n)`) in a
    grid of `columns`, no gaps, on one gray scale (black 0, white 1)."""
    imgs = _as_images(images, "images")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    columns = min(columns, len(imgs))
    rows = math.ceil(len(imgs) / columns)
    side = imgs.shape[1]
    sheet = np.zeros((rows * side, columns * side))
    for i, img in enumerate(imgs):
        r, c = divmod(i, columns)
        sheet[r * side:(r + 1) * side, c * side:(c + 1) * side] = img
    fig = Figure(figsize=(0.6 * columns + 0.6, 0.6 * rows + 1.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(sheet, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_axis_off()
    return finish_figure(fig, title, run)


def manifold_grid(n: int = 15, span: float = 3.0) -> np.ndarray:
    """The (n * n, 2) codes of an n x n grid over the latent plane, z1 and z2 each from -span
    to span (3: three prior standard deviations), row by row from the top (z2 = span) down,
    z1 from left to right: the order `latent_manifold` draws them in."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not (isinstance(span, (int, float)) and math.isfinite(span) and span > 0):
        raise ValueError(f"span must be a finite number > 0, got {span!r}")
    values = np.linspace(-span, span, n)
    z2, z1 = np.meshgrid(values[::-1], values, indexing="ij")
    return np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)


def latent_manifold(decoded: Any, n: int, span: float = 3.0, *, run: str | None = None,
                    title: str | None = "The decoder over the latent plane") -> Figure:
    """The n x n images decoded from `manifold_grid(n, span)`, as one picture with the latent
    coordinates on its axes: how the digits change from place to place in the code space."""
    imgs = _as_images(decoded, "decoded")
    if len(imgs) != n * n:
        raise ValueError(f"decoded must hold n * n = {n * n} images, got {len(imgs)}")
    side = imgs.shape[1]
    sheet = imgs.reshape(n, n, side, side).transpose(0, 2, 1, 3).reshape(n * side, n * side)
    fig = Figure(figsize=(7.5, 7.5))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(sheet, cmap="gray", vmin=0.0, vmax=1.0, extent=(-span, span, -span, span))
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"{n} x {n} codes from {-span:g} to {span:g} (prior standard deviations)", fontsize=10)
    return finish_figure(fig, title, run)


def latent_scatter(z_mean: Any, labels: Any, *, run: str | None = None,
                   title: str | None = "The test images' codes (z_mean) in the latent plane") -> Figure:
    """One dot per image at its 2-D code z_mean, coloured by its label (no projection: the
    code is the plane). For a wider code, use `figures_code.code_space` (its PCA)."""
    fig = Figure(figsize=(7.5, 6.5))
    ax = fig.add_subplot(1, 1, 1)
    scatter_by_label(ax, z_mean, labels, what="z_mean")
    ax.set_xlabel("z_mean[0]")
    ax.set_ylabel("z_mean[1]")
    ax.set_title(f"{len(np.asarray(labels).ravel()):,} images; the prior puts 99.7% of its mass "
                 "within 3 of 0 on each axis", fontsize=10)
    return finish_figure(fig, title, run)


def elbo_parts(history: Any, kl_key: str = "z_kl", *, run: str | None = None,
               title: str | None = "The negative ELBO per epoch, and its two parts") -> Figure:
    """Left: the training loss (the negative ELBO, nats per image, when beta = 1) and its
    reconstruction part; right: its KL part (`kl_key`, on its own scale: it is the smaller).
    The parts come from `History.parts` ("reconstruction_loss", "z_kl"), or from a dict that
    holds them (`History.with_parts()`, a saved history json's).
    With validation data in the history, the validation curves beside them, dashed."""
    h = history_dict(history)             # a History: its loss and the parts (History.parts)
    if not isinstance(h, Mapping):
        raise TypeError(f"history must be a History or a dict, got {type(history).__name__}")
    loss, recon, kl = (_losses(h, "history", k) for k in ("loss", "reconstruction_loss", kl_key))
    epochs = np.arange(1, len(loss) + 1)
    fig = Figure(figsize=(10, 4.2))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    left.plot(epochs, loss, "o-", color="C0", label="loss: reconstruction + KL")
    left.plot(epochs, recon, "s-", color="C1", label="reconstruction (BCE summed over pixels)")
    right.plot(epochs, kl, "o-", color="C2", label="KL from the prior (summed over units)")
    if "val_loss" in h:
        left.plot(epochs, _losses(h, "history", "val_loss"), "o--", color="C0", alpha=0.6, label="validation loss")
        left.plot(epochs, _losses(h, "history", "val_reconstruction_loss"), "s--", color="C1", alpha=0.6,
                  label="validation reconstruction")
        right.plot(epochs, _losses(h, "history", f"val_{kl_key}"), "o--", color="C2", alpha=0.6,
                   label="validation KL")
    for ax in (left, right):
        _epoch_axis(ax, len(loss))
        ax.set_ylabel("nats per image")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_title("negative ELBO = reconstruction + KL", fontsize=10)
    right.set_title("the KL term", fontsize=10)
    return finish_figure(fig, title, run)


def units_in_use(kl_per_unit: Any, threshold: float = USED_UNIT_NATS) -> int:
    """How many latent units carry more than `threshold` nats of KL on average."""
    return int(np.sum(np.asarray(kl_per_unit, dtype=np.float64) > threshold))


def kl_units(kl_per_unit: Any, *, run: str | None = None,
             title: str | None = "What each latent unit carries: its KL from the prior") -> Figure:
    """One bar per latent unit: its KL from the prior, averaged over the images
    (`VariationalAutoencoder.kl_per_unit`), with the USED_UNIT_NATS line; units below it
    carry nothing (all of them below: posterior collapse)."""
    kl = np.asarray(kl_per_unit, dtype=np.float64).ravel()
    if len(kl) == 0 or not np.all(np.isfinite(kl)) or kl.min() < -1e-9:
        raise ValueError("kl_per_unit must be finite values >= 0, one per latent unit")
    used = units_in_use(kl)
    fig = Figure(figsize=(max(5.0, 0.35 * len(kl) + 2), 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(len(kl)), kl, color=np.where(kl > USED_UNIT_NATS, "C0", "0.7"))
    ax.axhline(USED_UNIT_NATS, color="C3", linestyle="--", linewidth=1)
    ax.set_xlabel("latent unit")
    ax.set_ylabel("mean KL (nats per image)")
    ax.set_xticks(np.arange(len(kl)))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(f"{used} of {len(kl)} units in use (above the dashed {USED_UNIT_NATS:g} nats); "
                 f"total {kl.sum():.1f} nats", fontsize=10)
    return finish_figure(fig, title, run)
