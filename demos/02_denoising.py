# %% [markdown]
# # 2. The denoising autoencoder
#
# Section 2 of the article "Applied Deep Learning, Part 3: Autoencoders". The same vanilla
# autoencoder as in section 1 (784-128-32-128-784), with one change: the input is a noisy
# digit, the target the clean one. To rebuild the clean digit from the noisy one the network
# must learn what digits look like, not copy pixels.
#
# A script and a notebook at once (percent format: `# %%` starts a code cell, `# %% [markdown]`
# a text cell): run `python demos/02_denoising.py [OUT_FOLDER] [--dataset NAME]`, or open it in
# VS Code (run the cells) or in Jupyter as `demos/02_denoising.ipynb`. The backward passes of
# the training are derived in [docs/backprop.md](../docs/backprop.md).

# %%
"""Section 2 of the article: the denoising autoencoder.

    python demos/02_denoising.py [OUT_FOLDER] [--dataset NAME]

The vanilla autoencoder's layers, trained to map a noisy image, clip(x + 0.4 N(0, 1), 0, 1), back
to the clean x (10 epochs, batch 32). Writes denoising.png (original / noisy input / output)
into OUT_FOLDER (default ./demo-output/).
"""
import argparse
import os
import sys

# run from a checkout: the repository's scratchae (a notebook runs in demos/, without __file__)
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, os.path.join(HERE, ".."))

from scratchae import autoencoders, plotting
from scratchae.datasets import add_gaussian_noise, load

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out", nargs="?", default="demo-output")
parser.add_argument("--dataset", default="mnist-5k")
# a notebook's kernel has a command line of its own: there, take the defaults
args = parser.parse_args([] if "ipykernel" in sys.modules else None)
os.makedirs(args.out, exist_ok=True)

# %%
data = load(args.dataset)
print("Data:", data.description)
x_train, x_test = data.x_train, data.x_test

# %% [markdown]
# ## The noise
#
# The article adds Gaussian noise, 0.4 times a standard normal, to every pixel and clips the
# result back into [0, 1], so a noisy digit is still an image with pixels in the range of the
# clean ones.

# %%
# The noise is drawn once, before training (as in the article), and clipped back into [0, 1].
x_train_noisy = add_gaussian_noise(x_train, noise_factor=0.4, seed=0)
x_test_noisy = add_gaussian_noise(x_test, noise_factor=0.4, seed=1)

# %% [markdown]
# ## Training: noisy in, clean out
#
# `fit(x_train_noisy, x_train)`: nothing else changes. The loss compares the output with the
# *clean* digit, so its gradient at the output, `(p - x_clean) / (N D)` (the
# [fused sigmoid and BCE](../docs/backprop.md#fused-sigmoid-and-bce)), pushes every pixel
# towards the clean value, and the backward pass carries that through every layer
# ([the chain](../docs/backprop.md#the-chain)).

# %%
ae = autoencoders.vanilla(seed=0)            # 784-128-32-128-784, compiled with adam + BCE
history = ae.model.fit(x_train_noisy, x_train, epochs=10, batch_size=32, seed=0, verbose=2)
# noisy input, clean target: the only change from the vanilla autoencoder
print("loss per epoch", [round(v, 4) for v in history.history["loss"]])
print("test loss (noisy in, clean out)", round(ae.model.evaluate(x_test_noisy, x_test), 4))

# %% [markdown]
# Original digits, the noisy inputs, and what the autoencoder makes of them.

# %%
denoised = ae.model.predict(x_test_noisy)
fig = plotting.denoising(x_test, x_test_noisy, denoised)
fig.savefig(os.path.join(args.out, "denoising.png"))
print("Figure written to", os.path.join(args.out, "denoising.png"))
fig
