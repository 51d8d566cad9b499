"""Section 2 of the article: the denoising autoencoder.

    python demos/02_denoising.py [OUT_FOLDER] [--dataset NAME]

The deep autoencoder's layers, trained to map a noisy image, clip(x + 0.4 N(0, 1), 0, 1), back
to the clean x (10 epochs, batch 32). Writes denoising.png (original / noisy input / output)
into OUT_FOLDER (default ./demo-output/).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout

from scratchae import autoencoders, plotting
from scratchae.datasets import add_gaussian_noise, load

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out", nargs="?", default="demo-output")
parser.add_argument("--dataset", default="mnist-5k")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

data = load(args.dataset)
print("Data:", data.description)
x_train, x_test = data.x_train, data.x_test

# The noise is drawn once, before training (as in the article), and clipped back into [0, 1].
x_train_noisy = add_gaussian_noise(x_train, noise_factor=0.4, seed=0)
x_test_noisy = add_gaussian_noise(x_test, noise_factor=0.4, seed=1)

ae = autoencoders.deep(seed=0)            # 784-128-32-128-784, compiled with adam + BCE
history = ae.model.fit(x_train_noisy, x_train, epochs=10, batch_size=32, seed=0, verbose=2)
# noisy input, clean target: the only change from the vanilla autoencoder
print("loss per epoch", [round(v, 4) for v in history.history["loss"]])
print("test loss (noisy in, clean out)", round(ae.model.evaluate(x_test_noisy, x_test), 4))

denoised = ae.model.predict(x_test_noisy)
plotting.denoising(x_test, x_test_noisy, denoised).savefig(os.path.join(args.out, "denoising.png"))
print("Figure written to", os.path.join(args.out, "denoising.png"))
