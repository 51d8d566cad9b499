"""Every layer, as `keras.layers` gathers them: `from scratchae.layers import Input, Dense`.

    Layer, Input, InputLayer, register_layer   the contract (`scratchae.layer`)
    Dense                                      `scratchae.dense`

Each family lives in its own module, which imports only `scratchae.layer` (and `dense` for
the layers built on a Dense); this module imports them all and nothing imports it back.
"""
from .dense import Dense
from .layer import LAYERS, Input, InputLayer, Layer, register_layer

__all__ = ["LAYERS", "Dense", "Input", "InputLayer", "Layer", "register_layer"]
