"""The Keras side of `benchmarks/fidelity_conv.py keras`: the blog's code, run from its own venv.

Never imported by scratchae: fidelity_conv.py starts it with the Python of an environment
that has keras, jax and numpy (KERAS_BACKEND=jax), and reads what it writes. It needs only
those, not scratchae.

    python _keras_conv.py DIR

DIR/inputs.npz: x_train, x_test (n, 28, 28, 1) float32, orders (epochs, n) int64, the
initial weights '<layer>/kernel' (kh, kw, in, out: Keras's layout too) and '<layer>/bias' of
scratchae's `autoencoders.convolutional()`, and the scalars batch, lr, epsilon. The model is
the Keras blog's layers as the blog writes them; each epoch trains on x_train[order] with
shuffle=False, then evaluates on x_test. Writes DIR/keras.json: per epoch the training loss
(Keras's history) and the test loss (Keras's evaluate).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
from keras import layers  # noqa: E402

#: scratchae's names of the blog's Conv2D layers, in the order the blog writes them
CONV_NAMES = ("encoder_conv_1", "encoder_conv_2", "encoder_conv_3", "decoder_conv_1",
              "decoder_conv_2", "decoder_conv_3", "output")


def blog_model() -> keras.Model:
    """The blog's convolutional autoencoder (its lines, with Adam where it has adadelta)."""
    input_img = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(16, (3, 3), activation="relu")(x)
    x = layers.UpSampling2D((2, 2))(x)
    decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    return keras.Model(input_img, decoded)


def main(folder: str) -> int:
    a = np.load(os.path.join(folder, "inputs.npz"))
    model = blog_model()
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    for name, conv in zip(CONV_NAMES, convs):
        conv.set_weights([a[f"{name}/kernel"], a[f"{name}/bias"]])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(a["lr"]), epsilon=float(a["epsilon"])),
                  loss="binary_crossentropy")
    x, x_test, batch = a["x_train"], a["x_test"], int(a["batch"])
    rows = []
    for epoch, order in enumerate(a["orders"]):
        xe = x[order]
        t = time.perf_counter()
        history = model.fit(xe, xe, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        seconds = time.perf_counter() - t
        test = float(model.evaluate(x_test, x_test, batch_size=batch, verbose=0))
        rows.append({"train": float(history.history["loss"][-1]), "test": test, "seconds": seconds})
        print(f"keras epoch {epoch + 1}: train {rows[-1]['train']:.5f} test {test:.5f} ({seconds:.0f} s)",
              file=sys.stderr, flush=True)
    with open(os.path.join(folder, "keras.json"), "w") as f:
        json.dump({"keras": keras.__version__, "backend": keras.backend.backend(), "epochs": rows}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
