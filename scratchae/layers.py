"""Every layer, as `keras.layers` gathers them: `from scratchae.layers import Input, Dense`.

    Layer, Input, InputLayer, register_layer   the contract (`scratchae.layer`)
    Dense                                      `scratchae.dense`
    DenseTranspose                             `scratchae.tied`: a decoder on its encoder's kernel
    ContractiveDense                           `scratchae.contractive`
    Dropout, GaussianNoise                     `scratchae.noise`
    Add, Concatenate                           `scratchae.merge`
    Sampling                                   `scratchae.vae`: the VAE's reparameterized sample
    Conv2D                                     `scratchae.conv` (its two implementations:
                                               `scratchae.conv_naive`, `scratchae.conv_fast`)
    MaxPooling2D, UpSampling2D                 `scratchae.pooling`
    Flatten, Reshape                           `scratchae.reshape`

Each family lives in its own module, which imports only `scratchae.layer` (and `dense` for
the layers built on a Dense); this module imports them all and nothing imports it back.
"""
from .contractive import ContractiveDense
from .conv import Conv2D
from .dense import Dense
from .layer import LAYERS, Input, InputLayer, Layer, register_layer
from .merge import Add, Concatenate
from .noise import Dropout, GaussianNoise
from .pooling import MaxPooling2D, UpSampling2D
from .reshape import Flatten, Reshape
from .tied import DenseTranspose
from .vae import Sampling

__all__ = ["LAYERS", "Add", "Concatenate", "ContractiveDense", "Conv2D", "Dense", "DenseTranspose",
           "Dropout", "Flatten", "GaussianNoise", "Input", "InputLayer", "Layer", "MaxPooling2D",
           "Reshape", "register_layer", "Sampling", "UpSampling2D"]
