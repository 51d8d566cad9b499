"""Section 1 of the article: the vanilla autoencoder, deep (784-128-32-128-784) and shallow (784-32-784).

    python demos/01_deep.py [OUT_FOLDER] [--dataset NAME]

Trains both with the article's recipe (Adam, binary cross-entropy, batch 32; 3 and 5 epochs),
prints their losses and writes deep-reconstructions.png, deep-weights.png and
shallow-reconstructions.png into OUT_FOLDER (default ./demo-output/). The bundled 4,000-digit
MNIST subset keeps it under a minute; `--dataset auto` uses full MNIST when it can.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout

from scratchae import plotting
from scratchae.datasets import load
from scratchae.layers import Dense, Input
from scratchae.models import Model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out", nargs="?", default="demo-output")
parser.add_argument("--dataset", default="mnist-5k")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

data = load(args.dataset)                 # float32 rows of 784 pixels in [0, 1]
print("Data:", data.description)
x_train, x_test = data.x_train, data.x_test

# The deep autoencoder: the code layer (32 units) is the bottleneck every image squeezes through.
input_img = Input(shape=(784,))
hidden_1 = Dense(128, activation="relu", seed=0)(input_img)
code = Dense(32, activation="relu", seed=1)(hidden_1)
hidden_2 = Dense(128, activation="relu", seed=2)(code)
output_img = Dense(784, activation="sigmoid", seed=3)(hidden_2)
deep = Model(input_img, output_img)
deep.compile(optimizer="adam", loss="binary_crossentropy")
deep.summary()
history = deep.fit(x_train, x_train, epochs=3, batch_size=32, seed=0)   # input == target
print("deep: loss per epoch", [round(v, 4) for v in history.history["loss"]],
      "test loss", round(deep.evaluate(x_test, x_test), 4))

fig = plotting.reconstructions(x_test, deep.predict(x_test))
fig.savefig(os.path.join(args.out, "deep-reconstructions.png"))
# Each first-layer unit weighs the 784 pixels: shown as an image, it is the pattern the unit detects.
kernel = deep.get_weights()[0]            # shape (784, 128): Keras order, kernel then bias
plotting.first_layer_weights(kernel, n=10).savefig(os.path.join(args.out, "deep-weights.png"))

# The shallow autoencoder: one 32-unit code layer and the output. Fewer layers, similar loss.
input_img = Input(shape=(784,))
code = Dense(32, activation="relu", seed=0)(input_img)
output_img = Dense(784, activation="sigmoid", seed=1)(code)
shallow = Model(input_img, output_img)
shallow.compile(optimizer="adam", loss="binary_crossentropy")
history = shallow.fit(x_train, x_train, epochs=5, batch_size=32, seed=0, verbose=2)
print("shallow: loss per epoch", [round(v, 4) for v in history.history["loss"]],
      "test loss", round(shallow.evaluate(x_test, x_test), 4))
plotting.reconstructions(x_test, shallow.predict(x_test)).savefig(
    os.path.join(args.out, "shallow-reconstructions.png"))
print("Figures written to", args.out)
