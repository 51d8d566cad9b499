# %% [markdown]
# # 1. The vanilla autoencoder, and a shallow one
#
# Section 1 of the article "Applied Deep Learning, Part 3: Autoencoders". An autoencoder is
# trained to give back its input: 784 pixels in, the same 784 pixels out. In between, a *code*
# layer of 32 units is the bottleneck every image squeezes through, so the network has to find
# a compact description of a digit. The encoder is everything up to the code, the decoder
# everything after it.
#
# This file is a script and a notebook at once (the percent format: `# %%` starts a code
# cell, `# %% [markdown]` a text cell):
#
# * as a script: `python demos/01_vanilla.py [OUT_FOLDER] [--dataset NAME]` writes the figures
#   into OUT_FOLDER (default `./demo-output/`);
# * in VS Code: open it and run the cells one by one ("Run Cell" above each `# %%`);
# * in Jupyter: open `demos/01_vanilla.ipynb`, the same cells made from this file by
#   `python scripts/make_notebooks.py`; every figure shows inline.
#
# Every backward pass the training below runs is derived, step by step, in
# [docs/backprop.md](../docs/backprop.md), with a tiny autoencoder worked by hand.

# %%
"""Section 1 of the article: the vanilla autoencoder (784-128-32-128-784; the article's "deep"
autoencoder) and the shallow one (784-32-784).

    python demos/01_vanilla.py [OUT_FOLDER] [--dataset NAME]

Trains both with the article's recipe (Adam, binary cross-entropy, batch 32; 3 and 5 epochs),
prints their losses and writes vanilla-reconstructions.png, vanilla-weights.png and
shallow-reconstructions.png into OUT_FOLDER (default ./demo-output/). The bundled 4,000-digit
MNIST subset keeps it under a minute; `--dataset auto` uses full MNIST when it can.
"""
import argparse
import os
import sys

# run from a checkout: the repository's scratchae (a notebook runs in demos/, without __file__)
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, os.path.join(HERE, ".."))

from scratchae import plotting
from scratchae.datasets import load
from scratchae.layers import Dense, Input
from scratchae.models import Model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out", nargs="?", default="demo-output")
parser.add_argument("--dataset", default="mnist-5k")
# a notebook's kernel has a command line of its own: there, take the defaults
args = parser.parse_args([] if "ipykernel" in sys.modules else None)
os.makedirs(args.out, exist_ok=True)

# %% [markdown]
# ## The data
#
# MNIST digits, each 28 x 28 pixels flattened into a row of 784 values scaled to [0, 1]. The
# targets are the inputs themselves, and values in [0, 1] are what binary cross-entropy needs
# (see [binary cross-entropy](../docs/backprop.md#binary-cross-entropy)).

# %%
data = load(args.dataset)                 # float32 rows of 784 pixels in [0, 1]
print("Data:", data.description)
x_train, x_test = data.x_train, data.x_test

# %% [markdown]
# ## The vanilla autoencoder
#
# 784-128-32-128-784: ReLU in the hidden layers and the code, a sigmoid at the output so every
# pixel comes out in (0, 1). Each `Dense` is an affine map followed by its activation; its
# backward pass, `dW = x^T . dz`, `db = sum_n dz`, `dx = dz . W^T`, is derived in
# [Dense](../docs/backprop.md#dense), the ReLU's mask in [ReLU](../docs/backprop.md#relu).
#
# The article compiles with Adam and binary cross-entropy. scratchae trains the last sigmoid
# and the cross-entropy as one piece from the logits, whose gradient is simply
# `(p - x) / (N D)` ([why](../docs/backprop.md#fused-sigmoid-and-bce)); `summary()` says so.
# Adam, and Keras's "epsilon hat" form of it, is derived in [Adam](../docs/backprop.md#adam).

# %%
# The vanilla autoencoder: the code layer (32 units) is the bottleneck every image squeezes through.
input_img = Input(shape=(784,))
hidden_1 = Dense(128, activation="relu", seed=0)(input_img)
code = Dense(32, activation="relu", seed=1)(hidden_1)
hidden_2 = Dense(128, activation="relu", seed=2)(code)
output_img = Dense(784, activation="sigmoid", seed=3)(hidden_2)
vanilla = Model(input_img, output_img)
vanilla.compile(optimizer="adam", loss="binary_crossentropy")
vanilla.summary()

# %% [markdown]
# Training: every batch of 32 is one `train_step`, the forward pass through every layer, the
# loss, the backward pass through every layer in reverse, one Adam update
# ([the chain](../docs/backprop.md#the-chain)). The target is the input.

# %%
history = vanilla.fit(x_train, x_train, epochs=3, batch_size=32, seed=0)   # input == target
print("vanilla: loss per epoch", [round(v, 4) for v in history.history["loss"]],
      "test loss", round(vanilla.evaluate(x_test, x_test), 4))

# %% [markdown]
# Test digits (top) and what the autoencoder makes of them (bottom): blurred, but recognisable,
# from 32 numbers each.

# %%
fig = plotting.reconstructions(x_test, vanilla.predict(x_test))
fig.savefig(os.path.join(args.out, "vanilla-reconstructions.png"))
fig

# %% [markdown]
# ## What the first layer looks at
#
# Column j of the first kernel (784 x 128) holds the weights unit j gives to the 784 pixels.
# Shown as a 28 x 28 image, it is the pattern that makes the unit fire. Its gradient, column j
# of `x^T . dz`, is a sum of the batch's images, each weighted by how much unit j should change
# for it ([Dense](../docs/backprop.md#dense)); after training some columns look like parts of
# digits.

# %%
# Each first-layer unit weighs the 784 pixels: shown as an image, it is the pattern the unit detects.
kernel = vanilla.get_weights()[0]            # shape (784, 128): Keras order, kernel then bias
fig = plotting.first_layer_weights(kernel, n=10)
fig.savefig(os.path.join(args.out, "vanilla-weights.png"))
fig

# %% [markdown]
# ## The shallow autoencoder
#
# The article's second model drops the two hidden layers: 784-32-784, one code layer and the
# output. Fewer layers, a similar loss. (The tiny 4-2-4 version of this model, with an L1
# penalty, is the [worked example](../docs/backprop.md#worked-example) of the derivations.)

# %%
# The shallow autoencoder: one 32-unit code layer and the output. Fewer layers, similar loss.
input_img = Input(shape=(784,))
code = Dense(32, activation="relu", seed=0)(input_img)
output_img = Dense(784, activation="sigmoid", seed=1)(code)
shallow = Model(input_img, output_img)
shallow.compile(optimizer="adam", loss="binary_crossentropy")
history = shallow.fit(x_train, x_train, epochs=5, batch_size=32, seed=0, verbose=2)
print("shallow: loss per epoch", [round(v, 4) for v in history.history["loss"]],
      "test loss", round(shallow.evaluate(x_test, x_test), 4))

# %%
fig = plotting.reconstructions(x_test, shallow.predict(x_test))
fig.savefig(os.path.join(args.out, "shallow-reconstructions.png"))
print("Figures written to", args.out)
fig
