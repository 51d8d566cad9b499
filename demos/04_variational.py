# %% [markdown]
# # 4. The variational autoencoder
#
# The article's third use of autoencoders: "VAE learns the parameters of the probability
# distribution modeling the input data ... we can also use the VAE as a generative model".
# This is Keras 2's MLP VAE example (784-512-2), written as it is: the encoder gives the mean
# and the log-variance of a 2-D Gaussian code, a `Sampling` layer draws z from it, and the
# decoder maps z back to an image. Because the code is 2-D, the whole code space can be drawn.
#
# A script and a notebook at once (percent format: `# %%` starts a code cell, `# %% [markdown]`
# a text cell): run `python demos/04_variational.py [OUT_FOLDER] [--dataset NAME]`, or open it in
# VS Code (run the cells) or in Jupyter as `demos/04_variational.ipynb`.

# %%
"""The variational autoencoder of Keras 2's MLP example (784-512-2), its latent plane and samples.

    python demos/04_variational.py [OUT_FOLDER] [--dataset NAME]

50 epochs of batch 128 with Adam, as the example, and its model written as it writes it (an
encoder to [z_mean, z_log_var, z], a decoder, `vae = Model(inputs, decoder(encoder(inputs)[2]))`).
Two things differ. `Sampling` stands where the example has `Lambda(sampling)`. And the example
builds its loss from backend ops (`binary_crossentropy(inputs, outputs) * original_dim` plus the
KL, through `vae.add_loss`), which scratchae does not have: the same two terms are here a loss
and a layer, `BinaryCrossentropy(reduction="sum_over_pixels")` the reconstruction summed over
the 784 pixels and `Sampling`'s own loss term the KL; so `fit` gets x as its target too. Their sum, averaged over images, is the
negative ELBO in nats per image. Writes vae-latent.png, vae-manifold.png, vae-samples.png and
vae-elbo.png into OUT_FOLDER.
"""
import argparse
import os
import sys

# run from a checkout: the repository's scratchae (a notebook runs in demos/, without __file__)
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np

from scratchae import figures_vae
from scratchae.datasets import load
from scratchae.layers import Dense, Input, Sampling
from scratchae.losses import BinaryCrossentropy
from scratchae.models import Model
from scratchae.utils import set_random_seed

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out", nargs="?", default="demo-output")
parser.add_argument("--dataset", default="mnist-5k")
# a notebook's kernel has a command line of its own: there, take the defaults
args = parser.parse_args([] if "ipykernel" in sys.modules else None)
os.makedirs(args.out, exist_ok=True)

# %%
data = load(args.dataset)
print("Data:", data.description)
x_train, x_test, y_test = data.x_train, data.x_test, data.y_test

# %% [markdown]
# ## The model, as Keras's example writes it
#
# The example's network parameters, and its layers with their names. `Sampling()` computes
# `z = z_mean + exp(0.5 * z_log_var) * eps` with `eps ~ N(0, 1)` in training, and `z = z_mean`
# in `predict`; its backward (`dL/dz_mean = dz`, `dL/dz_log_var = dz * 0.5 * sigma * eps`, plus
# the KL's own gradient) is derived in
# [the VAE section of backprop.md](../docs/backprop.md#the-variational-autoencoders-sampling-and-kl).
# Its KL term, `-0.5 * sum_j (1 + z_log_var - z_mean^2 - exp(z_log_var))`, is summed over the
# latent units and averaged over the batch, as the example's `K.sum(..., axis=-1)` then `K.mean`.

# %%
original_dim = 784
intermediate_dim = 512
batch_size = 128
latent_dim = 2
epochs = 50

set_random_seed(0)                                   # the same weights at every run

# build encoder model
inputs = Input(shape=(original_dim,), name="encoder_input")
x = Dense(intermediate_dim, activation="relu")(inputs)
z_mean = Dense(latent_dim, name="z_mean")(x)
z_log_var = Dense(latent_dim, name="z_log_var")(x)
z = Sampling(name="z")([z_mean, z_log_var])          # the example: Lambda(sampling, ...)
encoder = Model(inputs, [z_mean, z_log_var, z], name="encoder")

# build decoder model
latent_inputs = Input(shape=(latent_dim,), name="z_sampling")
x = Dense(intermediate_dim, activation="relu")(latent_inputs)
outputs = Dense(original_dim, activation="sigmoid")(x)
decoder = Model(latent_inputs, outputs, name="decoder")

# instantiate VAE model: the decoder called on the encoder's z shares both models' layers
outputs = decoder(encoder(inputs)[2])
vae = Model(inputs, outputs, name="vae_mlp")
# the example: vae.add_loss(K.mean(binary_crossentropy(inputs, outputs) * original_dim + kl_loss));
# here the reconstruction is the loss, summed over pixels, and the KL is Sampling's own term
vae.compile(optimizer="adam", loss=BinaryCrossentropy(reduction="sum_over_pixels"))
vae.summary()

# %% [markdown]
# ## Training: the negative ELBO in nats per image
#
# `loss` is the reconstruction (binary cross-entropy summed over the 784 pixels) plus the KL
# from the prior, each averaged over the images: the negative ELBO, the number papers and
# pytorch/examples print. `history.history` has Keras's keys (`loss`, `val_loss`); the two parts
# are apart in `history.parts`: `reconstruction_loss` and `z_kl` (name them in
# `compile(metrics=[...])` to have them in `history.history` too, as Keras does).

# %%
history = vae.fit(x_train, x_train, epochs=epochs, batch_size=batch_size, seed=0, verbose=2,
                  validation_data=(x_test, x_test))
print("history:", list(history.history), "  parts:", list(history.parts))
test = vae.evaluate(x_test, x_test, return_dict=True)
print(f"test negative ELBO {test['loss']:.2f} nats per image: reconstruction "
      f"{test['reconstruction_loss']:.2f} + KL {test['z_kl']:.2f}")

# %%
fig = figures_vae.elbo_parts(history)
fig.savefig(os.path.join(args.out, "vae-elbo.png"))
fig

# %% [markdown]
# ## The latent plane
#
# Each test image at its code `z_mean`, coloured by its digit. The labels were never used:
# the digits find their places because nearby codes must decode to similar images, and the KL
# keeps the codes near the prior's centre.

# %%
z_mean, _, _ = encoder.predict(x_test, batch_size=batch_size)     # predict: z = z_mean
fig = figures_vae.latent_scatter(z_mean, y_test)
fig.savefig(os.path.join(args.out, "vae-latent.png"))
fig

# %% [markdown]
# ## The decoder over the plane, and samples from the prior
#
# The decoder's image of every point of a 15 x 15 grid from -3 to 3 on both axes (three prior
# standard deviations): the classic manifold figure. Then the VAE as a generative model: codes
# drawn from the prior N(0, I), decoded.

# %%
n = 15
grid = figures_vae.manifold_grid(n, span=3.0)
fig = figures_vae.latent_manifold(decoder.predict(grid), n, span=3.0)
fig.savefig(os.path.join(args.out, "vae-manifold.png"))
fig

# %%
z_prior = np.random.default_rng(0).standard_normal((100, latent_dim)).astype("float32")
fig = figures_vae.prior_samples(decoder.predict(z_prior))
fig.savefig(os.path.join(args.out, "vae-samples.png"))
print("Figures written to", args.out)
fig
