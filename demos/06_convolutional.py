# %% [markdown]
# # 6. The convolutional autoencoder
#
# The article: "We can do better by using more complex autoencoder architecture, such as
# convolutional autoencoders". This is the convolutional autoencoder of the Keras blog's
# "Building Autoencoders in Keras" (F. Chollet, 2016), its code as the blog writes it. A
# `Conv2D` slides 3 x 3 filters over the image, so the same few weights look at every place:
# 4,385 parameters in all, against the vanilla model's 209,968. `MaxPooling2D` halves the
# image three times down to a code of 4 x 4 x 8 = 128 numbers; `UpSampling2D` and more
# convolutions bring it back to 28 x 28.
#
# A script and a notebook at once (percent format: `# %%` starts a code cell, `# %% [markdown]`
# a text cell): run `python demos/06_convolutional.py [OUT_FOLDER] [--dataset NAME]`, or open it
# in VS Code (run the cells) or in Jupyter with jupytext. `scratchae train conv` trains the same
# model from the command line, and `scratchae train conv-denoising` the blog's second one.

# %%
"""The Keras blog's convolutional autoencoder ("Building Autoencoders in Keras"), run on scratchae.

    python demos/06_convolutional.py [OUT_FOLDER] [--dataset NAME]

The blog's layers, compile and fit as it writes them; what differs, and nothing else:

* the imports: scratchae's modules in place of Keras's (same names, same arguments);
* the data: scratchae's loader (`--dataset`, default the 4,000 / 1,000 digits bundled with
  scratchae, so it runs offline) in place of `mnist.load_data()`, then the blog's reshape to
  (N, 28, 28, 1);
* `optimizer='adam'` where the blog has 'adadelta', which scratchae does not have;
* no `TensorBoard` callback in `fit` (scratchae has no TensorBoard; `history` has the losses);
* figures: the blog's pyplot loops are `scratchae.plotting.reconstructions` and
  `scratchae.figures_conv` (the code, the filters, the feature maps), written as PNGs into
  OUT_FOLDER (conv-reconstructions.png, conv-codes.png, conv-filters.png, conv-feature-maps.png).

The blog's 50 epochs of batch 128 on the bundled digits take 2 to 3 minutes on two cores
(test loss about 0.116; an epoch of full MNIST, `--dataset mnist`, takes 15 times as long).
"""
import argparse
import os
import sys

# run from a checkout: the repository's scratchae (a notebook runs in demos/, without __file__)
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np

from scratchae import figures_conv, plotting
from scratchae.datasets import load
from scratchae.layers import Conv2D, Input, MaxPooling2D, UpSampling2D
from scratchae.models import Model
from scratchae.utils import set_random_seed

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out", nargs="?", default="demo-output")
parser.add_argument("--dataset", default="mnist-5k")
# a notebook's kernel has a command line of its own: there, take the defaults
args = parser.parse_args([] if "ipykernel" in sys.modules else None)
os.makedirs(args.out, exist_ok=True)
set_random_seed(0)                                   # the same weights at every run

# %% [markdown]
# ## The model, as the blog writes it
#
# Each `Conv2D(filters, (3, 3))` computes, for every output pixel (i, j) and filter f,
# `z[i, j, f] = b[f] + sum_{a, b, c} x[i + a, j + b, c] K[a, b, c, f]` (a cross-correlation:
# the kernel is not flipped), then its activation. `padding='same'` adds a border of zeros so
# the output keeps the input's size; the one convolution without it turns 16 x 16 into 14 x 14,
# which the last upsampling doubles to 28 x 28. The forward and backward of every layer here,
# index by index, are in [Conv2D](../docs/backprop.md#conv2d) and the sections after it.

# %%
input_img = Input(shape=(28, 28, 1))  # adapt this if using `channels_first` image data format

x = Conv2D(16, (3, 3), activation='relu', padding='same')(input_img)
x = MaxPooling2D((2, 2), padding='same')(x)
x = Conv2D(8, (3, 3), activation='relu', padding='same')(x)
x = MaxPooling2D((2, 2), padding='same')(x)
x = Conv2D(8, (3, 3), activation='relu', padding='same')(x)
encoded = MaxPooling2D((2, 2), padding='same')(x)

# at this point the representation is (4, 4, 8) i.e. 128-dimensional

x = Conv2D(8, (3, 3), activation='relu', padding='same')(encoded)
x = UpSampling2D((2, 2))(x)
x = Conv2D(8, (3, 3), activation='relu', padding='same')(x)
x = UpSampling2D((2, 2))(x)
x = Conv2D(16, (3, 3), activation='relu')(x)
x = UpSampling2D((2, 2))(x)
decoded = Conv2D(1, (3, 3), activation='sigmoid', padding='same')(x)

autoencoder = Model(input_img, decoded)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')   # the blog: 'adadelta'
autoencoder.summary()

# %% [markdown]
# ## The data
#
# Images with a channel axis, (N, 28, 28, 1), pixels in [0, 1]: channels last, as Keras's
# default. scratchae's loader gives rows of 784 values already scaled, so only the blog's
# reshape remains.

# %%
data = load(args.dataset)                 # the blog: (x_train, _), (x_test, _) = mnist.load_data()
print("Data:", data.description)
x_train, x_test = data.x_train, data.x_test
x_train = np.reshape(x_train, (len(x_train), 28, 28, 1))  # adapt this if using `channels_first` image data format
x_test = np.reshape(x_test, (len(x_test), 28, 28, 1))  # adapt this if using `channels_first` image data format

# %% [markdown]
# ## Training
#
# Every batch runs the forward pass through the 13 layers, the binary cross-entropy, and the
# backward pass in reverse: the convolutions' input gradient is a convolution with the flipped
# kernel, max pooling sends each window's gradient to its largest input only, upsampling sums
# the gradients of the copies it made ([the derivations](../docs/backprop.md#conv2d)).

# %%
history = autoencoder.fit(x_train, x_train,
                          epochs=50,
                          batch_size=128,
                          shuffle=True,
                          validation_data=(x_test, x_test))
print("loss per epoch", [round(v, 4) for v in history.history["loss"]])
print("test loss", round(autoencoder.evaluate(x_test, x_test), 4))

# %% [markdown]
# Test digits (top) and their reconstructions (bottom), from 128 numbers each.

# %%
decoded_imgs = autoencoder.predict(x_test)
fig = plotting.reconstructions(x_test.reshape(-1, 784), decoded_imgs.reshape(-1, 784), n=10)
fig.savefig(os.path.join(args.out, "conv-reconstructions.png"))
fig

# %% [markdown]
# ## The code
#
# The blog draws each test digit's 4 x 4 x 8 code. Here the code of the first three test
# digits, each of its 8 channels a 4 x 4 image: what the decoder gets to redraw the digit.

# %%
encoder = Model(input_img, encoded)
encoded_imgs = encoder.predict(x_test)
fig = figures_conv.feature_maps([(f"test digit {i}", encoded_imgs[i]) for i in range(3)],
                                title="The code of three test digits: 4 x 4 x 8 each")
fig.savefig(os.path.join(args.out, "conv-codes.png"))
fig

# %% [markdown]
# ## The filters and what they see
#
# The first layer's 16 filters, each a 3 x 3 image on one colour scale centred on 0. A filter's
# output at a pixel is its weights times the 3 x 3 patch under it, summed, plus its bias: it is
# largest where the patch looks like the filter, so filters with a positive row over a negative
# one answer to horizontal edges.

# %%
kernel = autoencoder.layers[1].params["kernel"]         # (3, 3, 1, 16): Keras's layout
fig = figures_conv.filters(kernel)
fig.savefig(os.path.join(args.out, "conv-filters.png"))
fig

# %% [markdown]
# One test digit through the whole model: each layer's output, one small image per channel.
# The encoder's maps keep the digit's shape at lower and lower resolution; the decoder's build
# it back up from the 4 x 4 code.

# %%
fig = figures_conv.feature_maps(figures_conv.layer_outputs(autoencoder, x_test[0]))
fig.savefig(os.path.join(args.out, "conv-feature-maps.png"))
print("Figures written to", args.out)
fig
