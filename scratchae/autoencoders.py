"""The article's autoencoders, one builder each, as plain scratchae models.

One model class trained three ways (the article's point): the *vanilla* and *shallow*
autoencoders differ only in their layers; *denoising* is the vanilla model trained on noisy
inputs against clean targets; *sparse* is the shallow model with an L1 activity penalty on
its code layer. One name per model everywhere (code, CLI, demos, figures): the article's
section heading calls the vanilla one its "deep autoencoder", so `deep` stays as an alias.

Two more, beyond the article, in its 784-32-784 shape: *tied* decodes with the transpose of
its encoder's kernel (`scratchae.tied.DenseTranspose`, half the weights), *contractive*
penalises how much the code moves with the input (`scratchae.contractive.ContractiveDense`).
And the article's third use, the *variational* autoencoder (`vae`, pytorch/examples' 784-400-20):
its code is a Gaussian whose mean and log-variance the encoder gives, sampled by
`scratchae.vae.Sampling`; its loss is the negative ELBO in nats per image.

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

from .contractive import DEFAULT_LAM, ContractiveDense
from .layers import Dense, Input
from .losses import BinaryCrossentropy
from .models import Model
from .regularizers import l1 as _l1
from .tied import DenseTranspose
from .utils import as_rng
from .vae import Sampling, gaussian_kl

#: The article's recipes: epochs per model, noise factor, L1 factor.
ARTICLE = {
    "vanilla": {"epochs": 3},
    "shallow": {"epochs": 5},
    "denoising": {"epochs": 10, "noise_factor": 0.4},
    "sparse": {"epochs": 20, "l1": 1e-5},   # the article writes l1(10e-6), which is 1e-5
}

#: The recipes of the models beyond the article (its shallow model's 5 epochs; the VAE's is
#: pytorch/examples/vae's: 10 epochs of batch 128, Adam 1e-3).
MORE = {
    "tied": {"epochs": 5},
    "contractive": {"epochs": 20, "lam": DEFAULT_LAM},
    "vae": {"epochs": 10, "batch_size": 128, "latent_dim": 20, "hidden": 400, "beta": 1.0},
}

#: The recipes of `scratchae train conv` and `conv-denoising`: the blog's batch of 128, and on
#: the bundled 4,000 digits (which `train` uses for these two unless --dataset says otherwise)
#: conv the blog's 50 epochs, conv-denoising 15 (the blog trains it 100 on full MNIST): about
#: a minute of training each on two idle cores (1.2 and 3.5 s an epoch), twice that on a busy
#: machine. Adam for the blog's
#: adadelta; the denoising one the blog's noise factor 0.5.
CONV_RECIPES = {
    "conv": {"epochs": 50, "batch_size": 128, "dataset": "mnist-5k"},
    "conv-denoising": {"epochs": 15, "batch_size": 128, "dataset": "mnist-5k", "noise_factor": 0.5},
}

#: Every recipe, by the name `scratchae train` knows it by.
RECIPES = {**ARTICLE, **MORE, **CONV_RECIPES}


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
    decoder = Model(code_input, _stack(layers[code_index + 1:], code_input), name=f"{name}_decoder")
    return Autoencoder(model, encoder, decoder)


def _stack(layers: list, t):
    """Each layer called on the output of the one before, from the tensor t: the last output."""
    for layer in layers:
        t = layer(t)
    return t


def _layer_name(i: int, code_index: int, n: int) -> str:
    """'hidden_1', 'code', 'hidden_2', 'output': names a teacher can say (and the keys of
    `History.parts`, e.g. 'code_penalty'). Unique within a model, which is all that saving needs."""
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


def tied(code_size: int = 32, hidden_size: int | None = None, *, input_dim: int = 784,
         seed: int | np.random.Generator | None = None, optimizer="adam",
         loss="binary_crossentropy") -> Autoencoder:
    """The shallow autoencoder with tied weights: 784-32 relu (code)-784 sigmoid, the decoder
    `DenseTranspose(code)`: y = sigmoid(h . W^T + b), W the code layer's kernel. Half the
    shallow model's weights (25,904 against 50,992); on the bundled digits, after the recipe's
    5 epochs (`scratchae train tied --dataset mnist-5k`), a test BCE of 0.169 against the
    shallow model's 0.161.

    With `hidden_size`, the vanilla shape 784-h-32-h-784 with both decoders tied (Géron's
    example): 'hidden_2' decodes with the code layer's kernel transposed, 'output' with
    hidden_1's.
    """
    rng = as_rng(seed) if seed is not None else None
    input_img = Input(shape=(input_dim,))
    if hidden_size is None:
        encoders = [Dense(code_size, activation="relu", seed=rng, name="code")]
    else:
        encoders = [Dense(hidden_size, activation="relu", seed=rng, name="hidden_1"),
                    Dense(code_size, activation="relu", seed=rng, name="code")]
    code = _stack(encoders, input_img)
    names = ["output"] if hidden_size is None else ["hidden_2", "output"]
    decoders = [DenseTranspose(enc, activation="sigmoid" if name == "output" else "relu", name=name)
                for enc, name in zip(reversed(encoders), names)]
    out = _stack(decoders, code)
    name = "tied_autoencoder"
    model = Model(input_img, out, name=name)
    model.compile(optimizer=optimizer, loss=loss)
    encoder = Model(input_img, code, name=f"{name}_encoder")
    code_input = Input(shape=(code_size,))
    return Autoencoder(model, encoder, Model(code_input, _stack(decoders, code_input), name=f"{name}_decoder"))


def contractive(code_size: int = 32, lam: float = DEFAULT_LAM, *, input_dim: int = 784,
                mean_image: np.ndarray | None = None, seed: int | np.random.Generator | None = None,
                optimizer="adam", loss="binary_crossentropy") -> Autoencoder:
    """The contractive autoencoder (Rifai et al. 2011) in the shallow shape: 784-32 sigmoid
    (code, `ContractiveDense` with the penalty lam * mean ||dh/dx||_F^2)-784 sigmoid.
    lam: see `scratchae.contractive.ContractiveDense` (default 0.003, measured there).

    mean_image: the mean of the training images, (input_dim,). Give it: the output bias then
    starts at its logit, so the decoder draws the mean image from the start. Without it, the
    fastest way down the loss is to draw the mean image through the code: every sigmoid code
    unit is pushed to 1, where its gradient vanishes, and the code stays a constant that carries
    nothing (on the bundled digits, 92% of the code values above 0.99 after 5 epochs and a BCE
    stuck at 0.266, whatever lam; with it, 0.19 and falling). `scratchae train contractive`
    passes the training images' mean.
    """
    rng = as_rng(seed) if seed is not None else None
    input_img = Input(shape=(input_dim,))
    code_layer = ContractiveDense(code_size, lam=lam, seed=rng, name="code")
    output_layer = Dense(input_dim, activation="sigmoid", seed=rng, name="output")
    code = code_layer(input_img)
    name = "contractive_autoencoder"
    model = Model(input_img, output_layer(code), name=name)
    model.compile(optimizer=optimizer, loss=loss)
    if mean_image is not None:
        output_layer.params["bias"][...] = mean_logits(mean_image, input_dim)
    encoder = Model(input_img, code, name=f"{name}_encoder")
    code_input = Input(shape=(code_size,))
    return Autoencoder(model, encoder, Model(code_input, output_layer(code_input), name=f"{name}_decoder"))


def mean_logits(mean_image: np.ndarray, input_dim: int | None = None, eps: float = 1e-3) -> np.ndarray:
    """log(p / (1 - p)) of the mean image p, clipped to [eps, 1 - eps]: the output bias with
    which a sigmoid output layer draws the mean image when its input is 0 (a pixel that is
    0 in every image gets about -6.9)."""
    p = np.asarray(mean_image, dtype=np.float64)
    if p.ndim != 1 or (input_dim is not None and p.shape != (input_dim,)):
        raise ValueError(f"mean_image must have shape ({input_dim},), got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("mean_image must hold pixel means in [0, 1]")
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


@dataclass
class VariationalAutoencoder(Autoencoder):
    """A compiled VAE: `model` (x -> the decoded sample; in predict the decoded mean), `encoder`
    (x -> z_mean, the code of every figure), `posterior` (x -> [z_mean, z_log_var]), `decoder`
    (z -> image), all sharing their layers; `sampling` is the model's `Sampling` layer."""

    posterior: Model
    sampling: Sampling

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.input_dim)

    def generate(self, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """n images decoded from codes drawn from the prior N(0, I): the VAE as a generative
        model. (n, input_dim) pixel probabilities, float32."""
        from ._validate import positive_int
        z = as_rng(seed).standard_normal((positive_int("n", n), self.latent_dim)).astype(np.float32)
        return self.decoder.predict(z)

    def kl_per_unit(self, x: np.ndarray) -> np.ndarray:
        """The KL of each latent unit from the prior, averaged over the images x, in nats:
        (latent_dim,). Their sum is the KL term of the loss at beta = 1; a unit near 0 is
        unused (its posterior is the prior: posterior collapse when every unit is)."""
        mu, lv = self.posterior.predict(x)
        return gaussian_kl(mu.astype(np.float64), lv.astype(np.float64)).mean(axis=0)


def vae(latent_dim: int = 20, hidden: int = 400, *, input_dim: int = 784, beta: float = 1.0,
        seed: int | np.random.Generator | None = None, optimizer="adam",
        loss=None) -> VariationalAutoencoder:
    """The variational autoencoder of pytorch/examples/vae: 784-400 relu, then z_mean and
    z_log_var (20 each, linear), z = Sampling()([z_mean, z_log_var]), then 400 relu-784 sigmoid.

    The loss is the negative ELBO in nats per image, every reduction written out:

        loss = (1/N) sum_n sum_{pixels d} BCE(x[n, d], p[n, d])                (reconstruction)
             + beta (1/N) sum_n sum_{units j} -0.5 (1 + lv[n, j] - mu[n, j]^2 - exp(lv[n, j]))   (KL)

    the first from `BinaryCrossentropy(reduction="sum_over_pixels")` (`History.parts`'s
    "reconstruction_loss"), the second `Sampling`'s loss term (its "z_kl"). With beta = 1 (the ELBO)
    `History`'s "loss" is the number pytorch/examples prints as its average loss; beta > 1 is a
    beta-VAE (and, strong enough, posterior collapse: see `kl_per_unit`). Keras's VAE example is
    784-512-2 (`vae(2, 512)`), whose 2-D code can be drawn as a plane.

    `loss`: another reconstruction loss (default: the summed BCE above).

        >>> v = vae(seed=0)
        >>> [layer.name for layer in v.model.layers]
        ['input', 'hidden_1', 'z_mean', 'z_log_var', 'z', 'hidden_2', 'output']
        >>> v.generate(3, seed=0).shape
        (3, 784)
    """
    from ._validate import finite_float, positive_int
    latent_dim, hidden = positive_int("latent_dim", latent_dim), positive_int("hidden", hidden)
    beta = finite_float("beta", beta, minimum=0.0)
    rng = as_rng(seed) if seed is not None else None
    x = Input(shape=(input_dim,), name="input")
    h = Dense(hidden, activation="relu", seed=rng, name="hidden_1")(x)
    z_mean = Dense(latent_dim, seed=rng, name="z_mean")(h)
    z_log_var = Dense(latent_dim, seed=rng, name="z_log_var")(h)
    sampling = Sampling(kl_weight=beta, name="z")
    z = sampling([z_mean, z_log_var])
    decoders = [Dense(hidden, activation="relu", seed=rng, name="hidden_2"),
                Dense(input_dim, activation="sigmoid", seed=rng, name="output")]
    name = "vae"
    model = Model(x, _stack(decoders, z), name=name)
    model.compile(optimizer=optimizer,
                  loss=BinaryCrossentropy(reduction="sum_over_pixels") if loss is None else loss)
    code_input = Input(shape=(latent_dim,), name="z_input")
    return VariationalAutoencoder(model, Model(x, z_mean, name=f"{name}_encoder"),
                                  Model(code_input, _stack(decoders, code_input), name=f"{name}_decoder"),
                                  posterior=Model(x, [z_mean, z_log_var], name=f"{name}_posterior"),
                                  sampling=sampling)


#: The Keras blog's convolutional autoencoder ("Building Autoencoders in Keras", F. Chollet,
#: 2016), layer by layer: (filters, activation, padding) of each 3x3 Conv2D, "pool" for
#: MaxPooling2D((2, 2), padding='same'), "up" for UpSampling2D((2, 2)). The code is the last
#: pooling's (4, 4, 8) output, 128 numbers; the one 'valid' convolution turns 16x16 into 14x14,
#: which the last upsampling doubles to 28x28.
CONVOLUTIONAL = (
    [(16, "relu", "same"), "pool", (8, "relu", "same"), "pool", (8, "relu", "same"), "pool"],
    [(8, "relu", "same"), "up", (8, "relu", "same"), "up", (16, "relu", "valid"), "up",
     (1, "sigmoid", "same")],
)


#: The Keras blog's second convolutional model, its denoising autoencoder: 32 filters in every
#: hidden Conv2D, two poolings, so the code is (7, 7, 32), 1,568 numbers; 28,353 parameters.
CONVOLUTIONAL_DENOISING = (
    [(32, "relu", "same"), "pool", (32, "relu", "same"), "pool"],
    [(32, "relu", "same"), "up", (32, "relu", "same"), "up", (1, "sigmoid", "same")],
)


def convolutional(*, seed: int | np.random.Generator | None = None, optimizer="adam",
                  loss="binary_crossentropy", implementation: str = "fast") -> Autoencoder:
    """The Keras blog's convolutional autoencoder on 28x28x1 images (`CONVOLUTIONAL`):

        Input((28, 28, 1)) -> Conv2D 16 -> pool -> Conv2D 8 -> pool -> Conv2D 8 -> pool (code, 4x4x8)
        -> Conv2D 8 -> up -> Conv2D 8 -> up -> Conv2D 16 'valid' -> up -> Conv2D 1 sigmoid -> (28, 28, 1)

    3x3 kernels, ReLU but for the sigmoid output, 4,385 parameters. The blog compiles with
    adadelta; scratchae has no Adadelta, so Adam. Train on images with a channel axis:
    `fit(x.reshape(-1, 28, 28, 1), ...)`. implementation: Conv2D's, 'fast' or 'naive'.
    The encoder maps images to the (4, 4, 8) code, the decoder the code to images.
    """
    return _conv_autoencoder(CONVOLUTIONAL, "convolutional_autoencoder", seed=seed,
                             optimizer=optimizer, loss=loss, implementation=implementation)


def convolutional_denoising(*, seed: int | np.random.Generator | None = None, optimizer="adam",
                            loss="binary_crossentropy", implementation: str = "fast") -> Autoencoder:
    """The Keras blog's convolutional denoising autoencoder (`CONVOLUTIONAL_DENOISING`):

        Input((28, 28, 1)) -> Conv2D 32 -> pool -> Conv2D 32 -> pool (code, 7x7x32)
        -> Conv2D 32 -> up -> Conv2D 32 -> up -> Conv2D 1 sigmoid -> (28, 28, 1)

    3x3 'same' kernels, 28,353 parameters; trained on clip(x + 0.5 N(0, 1), 0, 1) against the
    clean x (`scratchae.datasets.add_gaussian_noise(x, 0.5)`). Adam for the blog's adadelta.
    """
    return _conv_autoencoder(CONVOLUTIONAL_DENOISING, "convolutional_denoising_autoencoder", seed=seed,
                             optimizer=optimizer, loss=loss, implementation=implementation)


def _conv_autoencoder(specs: tuple, name: str, *, seed, optimizer, loss,
                      implementation: str) -> Autoencoder:
    """The model of (encoder specs, decoder specs) as `CONVOLUTIONAL` writes them: layers named
    encoder_conv_1, pool_1, ..., 'code' (the encoder's last), decoder_conv_1, up_1, ..., 'output'."""
    from .layers import Conv2D, MaxPooling2D, UpSampling2D

    rng = as_rng(seed) if seed is not None else None
    counts = {"conv": 0, "pool": 0, "up": 0}

    def make(spec, part: str):
        kind = spec if isinstance(spec, str) else "conv"
        counts[kind] += 1
        name = f"{part}_{kind}_{counts[kind]}" if kind == "conv" else f"{kind}_{counts[kind]}"
        if kind == "pool":
            return MaxPooling2D((2, 2), padding="same", name=name)
        if kind == "up":
            return UpSampling2D((2, 2), name=name)
        filters, activation, padding = spec
        return Conv2D(filters, (3, 3), activation=activation, padding=padding, seed=rng,
                      implementation=implementation, name=name)

    encoder_specs, decoder_specs = specs
    encoder_layers = [make(s, "encoder") for s in encoder_specs]
    encoder_layers[-1].name = "code"
    counts["conv"] = 0
    decoder_layers = [make(s, "decoder") for s in decoder_specs]
    decoder_layers[-1].name = "output"
    input_img = Input(shape=(28, 28, 1))
    code = _stack(encoder_layers, input_img)
    model = Model(input_img, _stack(decoder_layers, code), name=name)
    model.compile(optimizer=optimizer, loss=loss)
    code_input = Input(shape=code.shape[1:])
    return Autoencoder(model, Model(input_img, code, name=f"{name}_encoder"),
                       Model(code_input, _stack(decoder_layers, code_input), name=f"{name}_decoder"))
