"""The article's autoencoders, one builder each, as plain scratchae models.

One model class trained three ways (the article's point): the *vanilla* and *shallow*
autoencoders differ only in their layers; *denoising* is the vanilla model trained on noisy
inputs against clean targets; *sparse* is the shallow model with an L1 activity penalty on
its code layer. One name per model everywhere (code, CLI, demos, figures): the article's
section heading calls the vanilla one its "deep autoencoder", so `deep` stays as an alias.

    >>> ae = vanilla(seed=0)
    >>> [layer.units for layer in ae.model.layers[1:]]
    [128, 32, 128, 784]
    >>> ae.encoder.layers[-1] is ae.model.layers[2]        # the encoder shares the code layer
    True

Each builder returns an `Autoencoder`: the compiled `model`, its `encoder` (input -> code)
and `decoder` (code -> output), all sharing the same weight arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import Dense, Input
from .models import Model
from .regularizers import l1 as _l1
from .utils import as_rng

#: The article's recipes: epochs per model, noise factor, L1 factor.
ARTICLE = {
    "vanilla": {"epochs": 3},
    "shallow": {"epochs": 5},
    "denoising": {"epochs": 10, "noise_factor": 0.4},
    "sparse": {"epochs": 20, "l1": 1e-5},   # the article writes l1(10e-6), which is 1e-5
}


@dataclass
class Autoencoder:
    """A compiled autoencoder with its encoder and decoder (the same layers, shared)."""

    model: Model
    encoder: Model
    decoder: Model


def _build(sizes: list[int], code_index: int, *, input_dim: int, l1: float | None,
           seed: int | np.random.Generator | None, optimizer, loss, name: str) -> Autoencoder:
    rng = as_rng(seed) if seed is not None else None
    input_img = Input(shape=(input_dim,))
    h = input_img
    code = None
    layers = []
    for i, units in enumerate(sizes):
        last = i == len(sizes) - 1
        reg = _l1(l1) if (i == code_index and l1) else None
        layer = Dense(units, activation="sigmoid" if last else "relu", activity_regularizer=reg,
                      seed=rng, name=_layer_name(i, code_index, len(sizes)))
        h = layer(h)
        layers.append(layer)
        if i == code_index:
            code = h
    model = Model(input_img, h, name=name)
    model.compile(optimizer=optimizer, loss=loss)
    encoder = Model(input_img, code, name=f"{name}_encoder")
    code_input = Input(shape=(sizes[code_index],))
    t = code_input
    for layer in layers[code_index + 1:]:
        t = layer(t)
    decoder = Model(code_input, t, name=f"{name}_decoder")
    return Autoencoder(model, encoder, decoder)


def _layer_name(i: int, code_index: int, n: int) -> str:
    """'hidden_1', 'code', 'hidden_2', 'output': names a teacher can say (and History's keys,
    e.g. 'code_penalty'). Unique within a model, which is all that saving needs."""
    if i == code_index:
        return "code"
    if i == n - 1:
        return "output"
    return f"hidden_{i + 1 if i < code_index else i}"


def vanilla(hidden_size: int = 128, code_size: int = 32, *, input_dim: int = 784,
            l1: float | None = None, seed: int | np.random.Generator | None = None,
            optimizer="adam", loss="binary_crossentropy") -> Autoencoder:
    """The article's vanilla ("deep") autoencoder, 784-128 relu-32 relu (code)-128 relu-784 sigmoid.

    Also the denoising model: train it with `fit(add_gaussian_noise(x, 0.4), x)`.
    """
    return _build([hidden_size, code_size, hidden_size, input_dim], 1, input_dim=input_dim,
                  l1=l1, seed=seed, optimizer=optimizer, loss=loss, name="vanilla_autoencoder")


#: The article's section title for the vanilla autoencoder; the same builder.
deep = vanilla


def shallow(code_size: int = 32, *, input_dim: int = 784, l1: float | None = None,
            seed: int | np.random.Generator | None = None, optimizer="adam",
            loss="binary_crossentropy") -> Autoencoder:
    """The article's shallow autoencoder, 784-32 relu (code)-784 sigmoid.

    With `l1=1e-5` it is the article's sparse ("regularized") model; without, its "standard" one.
    """
    return _build([code_size, input_dim], 0, input_dim=input_dim, l1=l1, seed=seed,
                  optimizer=optimizer, loss=loss, name="shallow_autoencoder")


def sparse(code_size: int = 32, l1: float = 1e-5, *, input_dim: int = 784,
           seed: int | np.random.Generator | None = None, optimizer="adam",
           loss="binary_crossentropy") -> Autoencoder:
    """The shallow model with the article's L1 activity penalty on the code (default 1e-5)."""
    return _build([code_size, input_dim], 0, input_dim=input_dim, l1=l1, seed=seed,
                  optimizer=optimizer, loss=loss, name="sparse_autoencoder")
