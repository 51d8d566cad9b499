"""`Sequential`: a plain stack of layers, a `Model` whose graph is a chain."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ._modelcheck import check_dtypes
from .graph import Node, SymbolicTensor, check_layers
from .layer import InputLayer, Layer
from .models import Model


class Sequential(Model):
    """A plain stack of layers: `Sequential([Dense(32, activation="relu", input_dim=784), ...])`.

    The first layer needs its input width (`input_dim=` / `input_shape=`), or start with
    `Input(shape=(784,))`; else the model is built on its first data.
    """

    def __init__(self, layers: Iterable[Layer | SymbolicTensor] | None = None, name: str | None = None) -> None:
        super().__init__(name=name or "sequential")
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The layers in order, without the InputLayer (as Keras's Sequential)."""
        return self.chain

    def _build_on(self, x: Any) -> None:
        """Keras builds a Sequential without an input width on its first data: so do we."""
        shape = np.shape(x)
        if len(shape) != 2:
            return                       # as_matrix will explain the shape problem
        self._inputs = [InputLayer((shape[1],), dtype=self._nodes[0].layer.dtype)]
        width: Any = (shape[1],)
        for layer in self.chain:
            layer.build(width)
            width = layer.output_shape[1:]

    def add(self, layer: Layer | SymbolicTensor) -> None:
        """Append a layer (or an Input as the first element) and build it on the previous width."""
        if isinstance(layer, SymbolicTensor):
            if layer.parents or self._layers:
                raise ValueError("Sequential only accepts an Input as its first element")
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("an Input can only come first in a Sequential model")
            self._inputs = [layer]
            return
        if any(layer is l for l in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if self._nodes:
            prev = self._nodes[-1].layer
            if prev.built:
                layer.build(prev.output_shape[1:])
        elif self._inputs:
            layer.build(self._inputs[0].input_shape)
        elif layer.built:
            self._inputs = [InputLayer(layer.input_shape, dtype=layer.dtype)]
        check_layers(self._layers + [layer])
        self._nodes.append(Node(layer, [len(self._nodes) - 1], False))
        self._outputs = [len(self._nodes) - 1]
        check_dtypes(self)
