# %% [markdown]
# # The article's code, on scratchae
#
# The Keras listing of "Applied Deep Learning, Part 3: Autoencoders", all six of its models
# (the vanilla, shallow, denoising and sparse autoencoders), changed only where the docstring below
# says: the imports, above all, and figures saved to files. The numbered demos (`01_vanilla.py`, `02_denoising.py`,
# `03_sparse.py`) walk through the same sections with more explanation; the backward passes
# behind every `fit` are derived in [docs/backprop.md](../docs/backprop.md).
#
# A script and a notebook at once (percent format: `# %%` starts a code cell, `# %% [markdown]`
# a text cell): run `python demos/article_listing.py [OUT_FOLDER]`, or open it in VS Code (run
# the cells) or in Jupyter as `demos/article_listing.ipynb`.

# %%
"""The article's Keras code ("Applied Deep Learning, Part 3: Autoencoders"), run on scratchae.

    python demos/article_listing.py [OUT_FOLDER]        (default ./demo-output/)

What changed from the article, and nothing else:

* the imports: scratchae's modules in place of Keras's (same names, same calls);
* `mnist.load_data(subset=True)`: the plain `mnist.load_data()` downloads full MNIST, which
  cannot work offline (and these machines have no route to the mirrors), so the listing uses
  the 4,000 / 1,000 digits bundled with scratchae. Drop `subset=True` to train on all 60,000.
* figures: `plt.savefig(...)` into OUT_FOLDER where the article called `plt.show()` (as a
  script with matplotlib's Agg backend; in a notebook each figure also shows inline);
* seaborn's `distplot` of the code values: `scratchae.plotting.code_distributions` instead
  (a histogram in NumPy and matplotlib; seaborn is not a dependency);
* the loss comparison: `plotting.compare_losses` instead of the article's pandas helper;
* the `# %%` cell markers and the text cells between the article's code, so the file opens as a
  notebook, and an output folder taken from the command line.

Training all six models takes about half a minute on two cores with the bundled data.
"""
# -- imports: the only lines that differ from the article -----------------------------------------
import os
import sys

# run from a checkout: the repository's scratchae (a notebook runs in demos/, without __file__)
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, os.path.join(HERE, ".."))

import matplotlib

IN_NOTEBOOK = "ipykernel" in sys.modules
if not IN_NOTEBOOK:
    matplotlib.use("Agg")                 # as a script, no window: figures go to PNG files
import matplotlib.pyplot as plt
import numpy as np

from scratchae import plotting            # replaces seaborn (and the pandas history helper)
from scratchae.datasets import mnist
from scratchae.layers import Dense, Input
from scratchae.models import Model
from scratchae.optimizers import Adam      # noqa: F401  (compile(optimizer=Adam()) works too)
from scratchae.regularizers import l1

# the output folder: the first argument of the command line (a notebook's kernel has a command
# line of its own: there, the default)
OUT = sys.argv[1] if len(sys.argv) > 1 and not IN_NOTEBOOK else "demo-output"
os.makedirs(OUT, exist_ok=True)


def save(name):
    """Write the current figure to OUT/name. As a script, close it; in a notebook leave it open,
    and the cell shows it when it ends, where the article called plt.show()."""
    plt.savefig(os.path.join(OUT, name))
    if not IN_NOTEBOOK:
        plt.close()
    print("wrote", os.path.join(OUT, name))


# %% [markdown]
# ## The data
#
# MNIST's digits as rows of 784 pixels in [0, 1]: the inputs, and the targets too.

# %%
# -- the data ------------------------------------------------------------------------------------
(x_train, y_train), (x_test, y_test) = mnist.load_data(subset=True)   # offline: see the docstring
x_train = x_train.astype('float32') / 255.0
x_test = x_test.astype('float32') / 255.0
x_train = x_train.reshape((len(x_train), np.prod(x_train.shape[1:])))
x_test = x_test.reshape((len(x_test), np.prod(x_test.shape[1:])))
print(x_train.shape, x_test.shape)

# %% [markdown]
# ## Section 1: the vanilla autoencoder
#
# 784-128-32-128-784, trained to give back its input. Every `Dense` layer's backward pass is
# derived in [Dense](../docs/backprop.md#dense); the last sigmoid and the binary cross-entropy
# train together from the logits ([why](../docs/backprop.md#fused-sigmoid-and-bce)); `adam` is
# [Adam](../docs/backprop.md#adam) in Keras's form.

# %%
# -- the vanilla autoencoder --------------------------------------------------------------------------
input_size = 784
hidden_size = 128
code_size = 32

input_img = Input(shape=(input_size,))
hidden_1 = Dense(hidden_size, activation='relu')(input_img)
code = Dense(code_size, activation='relu')(hidden_1)
hidden_2 = Dense(hidden_size, activation='relu')(code)
output_img = Dense(input_size, activation='sigmoid')(hidden_2)

autoencoder = Model(input_img, output_img)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
autoencoder.fit(x_train, x_train, epochs=3)


# %% [markdown]
# Test digits over their reconstructions, then the first layer's weights as images.

# %%
def plot_autoencoder_outputs(autoencoder, n, dims, name):
    decoded_imgs = autoencoder.predict(x_test)
    plt.figure(figsize=(10, 4.5))
    for i in range(n):
        # top row: the test digit
        ax = plt.subplot(2, n, i + 1)
        plt.imshow(x_test[i].reshape(*dims))
        plt.gray()
        ax.get_xaxis().set_visible(False)
        ax.get_yaxis().set_visible(False)
        if i == n // 2:
            ax.set_title('Original Images')
        # bottom row: what the autoencoder made of it
        ax = plt.subplot(2, n, i + 1 + n)
        plt.imshow(decoded_imgs[i].reshape(*dims))
        plt.gray()
        ax.get_xaxis().set_visible(False)
        ax.get_yaxis().set_visible(False)
        if i == n // 2:
            ax.set_title('Reconstructed Images')
    save(name)                             # the article: plt.show()


plot_autoencoder_outputs(autoencoder, 5, (28, 28), 'listing-vanilla.png')

weights = autoencoder.get_weights()[0].T
n = 10
plt.figure(figsize=(20, 5))
for i in range(n):
    ax = plt.subplot(1, n, i + 1)
    plt.imshow(weights[i].reshape(28, 28))
    ax.get_xaxis().set_visible(False)
    ax.get_yaxis().set_visible(False)
save('listing-weights.png')

# %% [markdown]
# ## Section 1: the vanilla autoencoder, shallow
#
# One code layer of 32 units between input and output: 784-32-784.

# %%
# -- the shallow autoencoder -------------------------------------------------------------------------
input_img = Input(shape=(input_size,))
code = Dense(code_size, activation='relu')(input_img)
output_img = Dense(input_size, activation='sigmoid')(code)

autoencoder = Model(input_img, output_img)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
autoencoder.fit(x_train, x_train, epochs=5)

plot_autoencoder_outputs(autoencoder, 5, (28, 28), 'listing-shallow.png')

# %% [markdown]
# ## Section 2: the denoising autoencoder
#
# The vanilla layers again, trained from noisy inputs to clean targets.

# %%
# -- the denoising autoencoder -----------------------------------------------------------------------
noise_factor = 0.4
x_train_noisy = x_train + noise_factor * np.random.normal(size=x_train.shape)
x_test_noisy = x_test + noise_factor * np.random.normal(size=x_test.shape)
x_train_noisy = np.clip(x_train_noisy, 0.0, 1.0)
x_test_noisy = np.clip(x_test_noisy, 0.0, 1.0)
# (np.random.normal gives float64; scratchae casts it to the model's float32 as Keras does)

input_img = Input(shape=(input_size,))
hidden_1 = Dense(hidden_size, activation='relu')(input_img)
code = Dense(code_size, activation='relu')(hidden_1)
hidden_2 = Dense(hidden_size, activation='relu')(code)
output_img = Dense(input_size, activation='sigmoid')(hidden_2)

autoencoder = Model(input_img, output_img)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
autoencoder.fit(x_train_noisy, x_train, epochs=10)

n = 5
plt.figure(figsize=(10, 7))
images = autoencoder.predict(x_test_noisy)
for i in range(n):
    ax = plt.subplot(3, n, i + 1)
    plt.imshow(x_test[i].reshape(28, 28))
    plt.gray()
    ax.get_xaxis().set_visible(False)
    ax.get_yaxis().set_visible(False)
    if i == n // 2:
        ax.set_title('Original Images')

    ax = plt.subplot(3, n, i + 1 + n)
    plt.imshow(x_test_noisy[i].reshape(28, 28))
    plt.gray()
    ax.get_xaxis().set_visible(False)
    ax.get_yaxis().set_visible(False)
    if i == n // 2:
        ax.set_title('Noisy Input')

    ax = plt.subplot(3, n, i + 1 + 2 * n)
    plt.imshow(images[i].reshape(28, 28))
    plt.gray()
    ax.get_xaxis().set_visible(False)
    ax.get_yaxis().set_visible(False)
    if i == n // 2:
        ax.set_title('Autoencoder Output')
save('listing-denoising.png')

# %% [markdown]
# ## Section 3: the sparse autoencoder
#
# Two shallow autoencoders, the second with an L1 activity penalty on its code. Its gradient,
# `lam * sign(code)`, summed over the batch as in the article's Keras, is derived in
# [L1 penalty](../docs/backprop.md#l1-penalty).

# %%
# -- the sparse autoencoder: standard, then with an L1 activity penalty on the code -------------------
input_img = Input(shape=(input_size,))
code = Dense(code_size, activation='relu')(input_img)
output_img = Dense(input_size, activation='sigmoid')(code)

autoencoder_standard = Model(input_img, output_img)
autoencoder_standard.compile(optimizer='adam', loss='binary_crossentropy')
history_standard = autoencoder_standard.fit(x_train, x_train, epochs=20)
encoded_standard = Model(input_img, code)

input_img = Input(shape=(input_size,))
code = Dense(code_size, activation='relu', activity_regularizer=l1(10e-6))(input_img)
output_img = Dense(input_size, activation='sigmoid')(code)

autoencoder_regularized = Model(input_img, output_img)
autoencoder_regularized.compile(optimizer='adam', loss='binary_crossentropy')
history_regularized = autoencoder_regularized.fit(x_train, x_train, epochs=20)
encoded_regularized = Model(input_img, code)

# %% [markdown]
# Reconstructions of both, and their mean code values: the penalty makes the code sparse.

# %%
plot_autoencoder_outputs(autoencoder_standard, 5, (28, 28), 'listing-sparse-standard.png')
plot_autoencoder_outputs(autoencoder_regularized, 5, (28, 28), 'listing-sparse-regularized.png')

encoded_imgs_standard = encoded_standard.predict(x_test)
encoded_imgs_regularized = encoded_regularized.predict(x_test)
print('mean code, standard:', encoded_imgs_standard.mean())
print('mean code, regularized:', encoded_imgs_regularized.mean())

# %% [markdown]
# The distributions of the code values and the two loss curves.

# %%
# the article: sns.distplot(...) for each; here one figure with both histograms
fig = plotting.code_distributions({'standard': encoded_imgs_standard,
                                   'regularized': encoded_imgs_regularized})
fig.savefig(os.path.join(OUT, 'listing-code-distributions.png'))
print('wrote', os.path.join(OUT, 'listing-code-distributions.png'))
fig                                        # a notebook shows it (a script: nothing)

# %%
# the article: plot_compare_histories([history_standard, history_regularized], [...])
fig = plotting.compare_losses({'standard': history_standard,
                               'regularized': history_regularized})
fig.savefig(os.path.join(OUT, 'listing-losses.png'))
print('wrote', os.path.join(OUT, 'listing-losses.png'))
fig
