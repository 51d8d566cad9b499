# %% [markdown]
# # 3. The sparse autoencoder
#
# Section 3 of the article "Applied Deep Learning, Part 3: Autoencoders". Two shallow
# autoencoders (784-32-784): a "standard" one, and a "regularized" one with an L1 activity
# penalty on its code, `activity_regularizer=l1(10e-6)` (the article's way of writing 1e-5).
# The penalty adds `1e-5 * sum |code|`, over the batch and the 32 code units, to the loss, so
# training is pushed towards codes with many values at or near 0: a *sparse* code.
#
# A script and a notebook at once (percent format: `# %%` starts a code cell, `# %% [markdown]`
# a text cell): run `python demos/03_sparse.py [OUT_FOLDER] [--dataset NAME]`, or open it in
# VS Code (run the cells) or in Jupyter as `demos/03_sparse.ipynb`.

# %%
"""Section 3 of the article: the sparse autoencoder, with and without an L1 penalty on the code.

    python demos/03_sparse.py [OUT_FOLDER] [--dataset NAME]

Two shallow autoencoders (784-32-784), 20 epochs each: "standard", and "regularized" with
activity_regularizer=l1(1e-5) on the code layer (the article writes 10e-6, the same number).
The penalty, 1e-5 times the sum of |code| over the batch, pushes code values towards zero:
we measure each encoder's mean code value on the test images (article, full MNIST: 6.60 vs
0.78). Writes sparse-code-distributions.png and sparse-losses.png into OUT_FOLDER.
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
from scratchae.regularizers import l1

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
# ## What the penalty does to the gradient
#
# For a code h (after the ReLU, so h >= 0), the penalty `P = lam * sum_{n,j} |h[n,j]|` has the
# gradient `lam * sign(h)`: lam on every active code unit, 0 on every unit at 0. The
# [L1 penalty](../docs/backprop.md#l1-penalty) section derives it, and shows why the article's
# sum over the batch (Keras 2) is 32 times stronger at batch 32 than newer Keras's average.
# The code layer's backward adds it to the gradient coming down from the decoder (the sum
# rule), before the ReLU's mask: see the [worked example](../docs/backprop.md#worked-example),
# a 4-2-4 version of this very model computed by hand.
#
# The encoder is a second `Model` from the same input to the code: it shares the code layer
# with the autoencoder, so after training it gives the trained code of any image.

# %%
def shallow(regularizer):
    """A shallow autoencoder and its encoder (which shares the code layer's weights)."""
    input_img = Input(shape=(784,))
    code = Dense(32, activation="relu", activity_regularizer=regularizer, seed=0)(input_img)
    output_img = Dense(784, activation="sigmoid", seed=1)(code)
    autoencoder = Model(input_img, output_img)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder, Model(input_img, code)


# %% [markdown]
# ## Training both
#
# The same seeds, data and batches; only the penalty differs. The regularized model's loss
# includes the penalty, so its curve sits higher.

# %%
results = {}
for name, regularizer in [("standard", None), ("regularized", l1(1e-5))]:
    autoencoder, encoder = shallow(regularizer)
    print(f"\n{name}:")
    history = autoencoder.fit(x_train, x_train, epochs=20, batch_size=32, seed=0, verbose=2)
    codes = encoder.predict(x_test)       # shape (N, 32), the code of every test image
    results[name] = (history, codes)
    print(f"{name}: final loss {history.history['loss'][-1]:.4f}, "
          f"test loss {autoencoder.evaluate(x_test, x_test):.4f}, mean code {codes.mean():.2f}")

# %% [markdown]
# ## The sparse effect
#
# The article's measure: the mean code value over the test images (on full MNIST, 6.60 without
# the penalty and 0.78 with it).

# %%
standard, regularized = results["standard"][1].mean(), results["regularized"][1].mean()
print(f"\nMean code value: standard {standard:.2f}, regularized {regularized:.2f} "
      f"({standard / regularized:.1f}x lower with the penalty)")

# %% [markdown]
# The distribution of the code values: with the penalty, far more of them sit at or near 0.

# %%
codes = {name: c for name, (_, c) in results.items()}
fig = plotting.code_distributions(codes)
fig.savefig(os.path.join(args.out, "sparse-code-distributions.png"))
fig

# %%
histories = {name: h for name, (h, _) in results.items()}
fig = plotting.compare_losses(histories)
fig.savefig(os.path.join(args.out, "sparse-losses.png"))
print("Figures written to", args.out)
fig
