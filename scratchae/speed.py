"""The fast pieces, behind one door: what `fit` runs instead of the plain `Model.train_step`.

Each is a switch, and each gives the plain step's numbers (tests/test_fast_path.py,
tests/test_fast_step.py, tests/test_blas_adam.py; what each buys: docs/performance.md):

* **the loss on logits** (`compile(fuse_sigmoid_bce=True)`, the default): when the model's
  output is scratchae's own `Dense` with its own `Sigmoid` and the loss its own
  `BinaryCrossentropy`, the last layer runs to its logits only (`Logits`) and the loss is
  `BinaryCrossentropy(from_logits=True)`: dL/dz = (sigmoid(z) - y) / (N D) in one pass,
  exact and never NaN where the sigmoid saturates (`fuses`, `training_loss`);
* **one buffer for all parameters** (`compile(pack_parameters=True)`, the default;
  `scratchae.buffers`): the optimizer updates one vector, a few passes in all, not a few per
  parameter; gradients are zeroed with one fill;
* **no dL/dx for the data**: a layer that reads only the model's inputs and whose backward is
  scratchae's own Dense's adds its parameter gradients and skips dx = dz . kernel^T
  (`ParametersOnly`; PyTorch skips it the same way for an input without requires_grad);
* **Adam in eight passes** (`BLAS_ADAM = True`, the default; `scratchae.blas_adam`): with
  the packed buffer and exactly `optimizers.Adam`, the moments are updated by the BLAS
  routine of NumPy's own OpenBLAS that multiplies and adds in one pass (axpby): eight passes
  over the parameters instead of the readable update's twelve, the same numbers;
* **Adam beside the backward** (`OVERLAP_ADAM = False`, the default: measured slower on a
  quiet machine, faster only on a busy one; `overlapped_step`): in
  a chain of the library's Dense layers whose products are small enough that `fit` keeps
  BLAS on one thread (the other core is then idle), each layer's update but the first's on a
  second thread as soon as the layer's backward is done, while this thread computes the
  rest of the backward; the same numbers (an elementwise update: a slice's are the whole's);
* **the loss on logits into kept arrays** (`BUFFERED_LOSS = False`, the default: whole epochs
  measured no faster; `BufferedLogitsBCE`): the same numbers, without five new batch-sized
  arrays a step;
* **no zeroing** when every gradient is written, not added (`all_written`; no switch);
* the number of BLAS threads, which the training loop chooses (`scratchae._blas`).

`step_for(model)` gives the step `fit` and `train_on_batch` run: the plain `train_step` when
no switch applies. The checker and `compute_loss` use the same pieces (`training_forward_loss`)
so what is checked is what trains.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable

import numpy as np

from . import _blas, blas_adam, losses as _losses
from .activations import Sigmoid
from .buffers import ParameterBuffers, holders
from .layers import Dense
from .optimizers import Adam

#: The optimizer-state key of a model's packed parameters (not its name: a model may be renamed).
PACKED = "packed/*"
#: Adam's update of the packed parameters in eight passes, BLAS's axpby (`scratchae.blas_adam`);
#: False: the readable update. Read at every step.
BLAS_ADAM = True
#: Each layer's Adam update but the first's on a second thread during the backward, where
#: BLAS runs one thread (`overlapped_step`). Off: on a quiet machine it made the epoch slower
#: (docs/performance.md, tried and dropped); kept, tested equal, to be measured again.
#: Read when `step_for` makes the step.
OVERLAP_ADAM = False
#: The fewest parameters a layer's update must have to go to the second thread: a smaller
#: one costs less than handing it over (the vanilla model's 4,128 of its code layer).
HAND_OFF = 16_384
#: The loss on logits into arrays kept between steps (`BufferedLogitsBCE`). Off: whole epochs
#: did not get faster (docs/performance.md, tried and dropped); kept, tested equal, to be
#: measured again. Read when `step_for` makes the step.
BUFFERED_LOSS = False


class FastDense:
    """scratchae's own Dense, run by the fast step in one of three ways (any together):

        logits   forward = layer.forward_logits(x): z = x . kernel + bias, the sigmoid left
                 out; backward takes dz = dL/dz from BinaryCrossentropy(from_logits=True)
        no dx    backward returns None: dL/dx, which nobody uses for the data, not computed
                 (at batch 256 in the vanilla autoencoder, the 256x128 by 128x784 product:
                 a sixth of the step's multiply-adds)
        write    backward writes x^T . dz and the sum of dz into grads (np.matmul(..., out=))
                 instead of adding them to the zeros the step has just put there: the same
                 numbers, without a temporary and a pass per parameter. Only for a layer
                 whose arrays no other layer holds (a tied kernel must be added to). When
                 every layer's gradients are written so (`all_written`), the step does not
                 zero them at all.
    """

    def __init__(self, layer: Dense, logits: bool = False, dx: bool = True, write: bool = False) -> None:
        self.layer, self.logits, self.dx, self.write = layer, logits, dx, write
        self.name = f"{layer.name} (logits)" if logits else layer.name

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.layer.params

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self.layer.grads

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward_logits(x) if self.logits else self.layer.forward(x)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        layer = self.layer
        dz = dy if self.logits else layer._dz(dy)
        if self.write:                                   # into zeros: the same as adding
            np.matmul(layer._x.T, dz, out=layer.grads["kernel"])
            if layer.use_bias:
                np.add.reduce(dz, axis=0, out=layer.grads["bias"])
        else:
            layer.add_parameter_gradients(dz)
        return dz @ layer.params["kernel"].T if self.dx else None

    def __repr__(self) -> str:
        ways = [w for w, on in (("logits", self.logits), ("no dx", not self.dx), ("write", self.write)) if on]
        return f"FastDense({self.layer.name}: {', '.join(ways) or 'plain'})"


class Logits(FastDense):
    """A Dense layer up to its logits, in place of a model's last layer when the model trains
    its sigmoid and binary cross-entropy as one loss on logits (`FastDense` with logits)."""

    def __init__(self, layer: Dense) -> None:
        super().__init__(layer, logits=True)


class ParametersOnly(FastDense):
    """A first layer's backward without dL/dx (`FastDense` with no dx), of a Dense or of its
    `Logits`."""

    def __init__(self, piece: Any) -> None:
        super().__init__(piece.layer if isinstance(piece, FastDense) else piece,
                         logits=isinstance(piece, FastDense) and piece.logits, dx=False)


def _library_dense(layer: Any) -> bool:
    """A Dense whose forward and backward are scratchae's own (a subclass that overrides
    any of them is run as it is written)."""
    t = type(layer)
    return (isinstance(layer, Dense) and t.forward is Dense.forward and t.backward is Dense.backward
            and t.forward_logits is Dense.forward_logits and t.backward_logits is Dense.backward_logits
            and t._dz is Dense._dz and t.add_parameter_gradients is Dense.add_parameter_gradients)


def fuses(model: Any) -> bool:
    """Whether the model trains its output layer to its logits with BCE from the logits.

    True only for scratchae's own pieces: one output, computed by a `Dense` whose forward and
    backward are the library's, activation exactly `Sigmoid`, no activity penalty and read by
    no other layer, and a loss exactly `BinaryCrossentropy(from_logits=False)`; and only while
    `fuse_sigmoid_bce` is on."""
    if not (model.fuse_sigmoid_bce and model.chain) or type(model.loss) is not _losses.BinaryCrossentropy:
        return False
    if len(model._outputs) != 1 or model._outputs[0] < 0:
        return False
    i = model._outputs[0]
    last = model._nodes[i].layer
    read = any(i in n.parents for n in model._nodes)
    return (not model.loss.from_logits and not read and _library_dense(last)
            and type(last.activation) is Sigmoid and last.activity_regularizer is None)


def training_loss(model: Any) -> _losses.Loss | None:
    """The loss the training step computes: `model.loss`, or BCE from logits when `fuses`."""
    if not fuses(model):
        return model.loss
    kept = getattr(model, "_logits_loss", None)
    if kept is None or kept.reduction != model.loss.reduction:      # made anew after a compile
        kept = model._logits_loss = _losses.BinaryCrossentropy(from_logits=True,
                                                                 reduction=model.loss.reduction)
    return kept


class BufferedLogitsBCE(_losses.BinaryCrossentropy):
    """`BinaryCrossentropy(from_logits=True)`, the same numbers bit for bit, computed into
    arrays kept from one step to the next (one set per batch shape) instead of five new
    ones per step: the step 1[z >= 0] written as floats in one pass (not a boolean array
    and its conversion), e = exp(-|z|), d = 1 + e, log d, and the gradient.

    What `backward` returns is one of those arrays: it holds this step's gradient until
    the next forward, which is how the fast step uses it (at once, by the last layer's
    backward). `fast_step` runs it in the training loss's place (`BUFFERED_LOSS`)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(from_logits=True, reduction=reduction)
        self._arrays: dict[tuple, tuple[np.ndarray, ...]] = {}

    def _buffers(self, z: np.ndarray) -> tuple[np.ndarray, ...]:
        key = (z.shape, z.dtype)
        got = self._arrays.get(key)
        if got is None:
            if len(self._arrays) > 3:                    # batch sizes come and go
                self._arrays.clear()
            got = self._arrays[key] = tuple(np.empty_like(z) for _ in range(5))
        return got

    def _forward_logits(self, z, y):
        step, e, d, logs, _ = self._buffers(z)
        np.greater_equal(z, 0, out=step, casting="unsafe")          # 1.0 where z >= 0, else 0.0
        np.abs(z, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)
        np.add(e, 1, out=d)
        np.log(d, out=logs)
        total = float(np.vdot(step, z)) + float(logs.sum()) - float(np.vdot(y, z))
        p = _losses.select_sigmoid(e, d, step, out=e)
        return total / self.divisor(z), (p, y)

    def _backward(self, cache):
        p, y_true = cache
        g = self._buffers(p)[4]
        np.subtract(p, y_true, out=g)
        g *= 1.0 / self.divisor(p)
        return g


def buffered_loss(model: Any, loss: _losses.Loss | None) -> _losses.Loss | None:
    """The loss `fast_step` runs: `loss`, or its `BufferedLogitsBCE` twin when `loss` is
    exactly BinaryCrossentropy from logits and `BUFFERED_LOSS` is on."""
    if not (BUFFERED_LOSS and type(loss) is _losses.BinaryCrossentropy and loss.from_logits):
        return loss
    kept = getattr(model, "_buffered_loss", None)
    if kept is None or kept.reduction != loss.reduction:
        kept = model._buffered_loss = BufferedLogitsBCE(reduction=loss.reduction)
    return kept


def training_pieces(model: Any, input_gradient: bool = True, write: bool = False) -> dict[int, Any]:
    """{node index: the piece run in its layer's place}: the output's `Logits` when `fuses`;
    with input_gradient=False, no dx for the library's Dense layers that read only the model's
    inputs; with write=True, gradients written, not added, by the library's Dense layers whose
    arrays no other layer holds (right only just after the gradients were zeroed)."""
    shared = {id(layer.params[key]) for (layer, key), *others in holders(model) if others}
    fused = model._outputs[0] if fuses(model) else None
    pieces: dict[int, Any] = {}
    for i, node in enumerate(model._nodes):
        layer = node.layer
        if not _library_dense(layer):
            continue
        logits = i == fused
        dx = input_gradient or not all(r < 0 for r in node.parents)
        own = write and not any(id(p) in shared for p in layer.params.values())
        if logits or not dx or own:
            pieces[i] = FastDense(layer, logits=logits, dx=dx, write=own)
    return pieces


def training_forward_loss(model: Any, x: Any, y: np.ndarray, input_gradient: bool = True,
                          pieces: dict[int, Any] | None = None, training: bool = True) -> float:
    """The forward and the loss of a training step (loss terms included), with the pieces
    above (or those given); the next `model.backward` mirrors them. training=False: the same
    loss with the layers in inference mode (no noise drawn, Sampling's z = mu), as `evaluate`
    computes it."""
    if pieces is None:
        pieces = training_pieces(model, input_gradient)
    out = model.forward(x, training=training, pieces=pieces)
    return training_loss(model).forward(out, y) + model.penalty()


def training_backward(model: Any) -> Any:
    """The backward after `training_forward_loss` (the gradients must have been zeroed)."""
    return model.backward(training_loss(model).backward())


def optimizer_parameters(model: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The (path, param, grad) triples the optimizer updates after a backward. Packed: one
    triple, ('packed/*', all parameters, all gradients), after copying in any array a layer
    put in its dicts since the last step. Otherwise `model.parameters()`."""
    if not model.pack_parameters:
        return model.parameters()
    if model._buffers is None or not model._buffers.covers(model):
        model._buffers = ParameterBuffers(model)
    return [(PACKED, *model._buffers.sync())]


def zero_grads(model: Any) -> None:
    """Every gradient to 0: one fill of the packed buffer, or one per array."""
    if model.pack_parameters and model._buffers is not None and model._buffers.covers(model):
        model._buffers.flat_grad.fill(0)
    else:
        model.zero_grads()


def apply_update(model: Any) -> None:
    """The optimizer's step after a backward: `optimizer.apply(optimizer_parameters(model))`,
    or the same update in eight passes (`BLAS_ADAM`) where it applies."""
    parameters, opt = optimizer_parameters(model), model.optimizer
    if BLAS_ADAM and type(opt) is Adam and len(parameters) == 1 and blas_adam.update(opt, *parameters[0]):
        return
    opt.apply(parameters)


def all_written(model: Any, pieces: dict[int, Any]) -> bool:
    """Whether the backward writes every gradient of the model (each parameter array is a
    `FastDense` with write's own): then zeroing them first changes nothing."""
    written = {id(p.layer) for p in pieces.values() if p.write}
    return all(id(layer) in written for group in holders(model) for layer, _ in group)


def fast_step(model: Any, pieces: dict[int, Any], loss: Any, x: np.ndarray, y: np.ndarray,
              zero: bool = True) -> float:
    """`Model.train_step` with the switches: the same forward, loss, backward and update.
    zero=False skips zeroing the gradients (right only when `all_written`)."""
    value = loss.forward(model.forward(x, training=True, pieces=pieces), y) + model.penalty()
    if not math.isfinite(value):
        return value
    if zero:
        zero_grads(model)
    model.backward(loss.backward())
    apply_update(model)
    return value


def chain_pieces(model: Any, pieces: dict[int, Any]) -> list[Any] | None:
    """The pieces in order when the model is a chain of them only: node i reads node i - 1
    (the first, the model's one input), the last node is the one output, every piece a
    `FastDense` writing its gradients, the first without dL/dx. Else None."""
    nodes = model._nodes
    if len(model._outputs) != 1 or model._outputs[0] != len(nodes) - 1 or len(pieces) != len(nodes):
        return None
    for i, node in enumerate(nodes):
        piece = pieces.get(i)
        if (node.parents != [i - 1 if i else -1] or not isinstance(piece, FastDense) or not piece.write
                or piece.dx != (i > 0)):
            return None
    return [pieces[i] for i in range(len(nodes))]


_second_thread: tuple[int, ThreadPoolExecutor] | None = None


def second_thread() -> ThreadPoolExecutor:
    """The one worker thread the overlapped updates run on, made at first use in each process
    (a process forked after training has no thread behind its parent's executor)."""
    global _second_thread
    if _second_thread is None or _second_thread[0] != os.getpid():
        _second_thread = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="scratchae-adam"))
    return _second_thread[1]


def overlapped_step(model: Any, chain: list[Any], loss: Any, x: np.ndarray, y: np.ndarray,
                    zero: bool = True, per_sample: int = 0) -> float:
    """`fast_step` of a chain (`chain_pieces`) with each layer's update next to the backward.

    A layer's parameters are free once its backward has computed dL/dx with its kernel: its
    update (`blas_adam.eight_passes` on its slice of the packed buffers, with the step's
    a_t) then goes to `second_thread`, while this thread goes on with the layers below. The
    first layer's update runs here (the next forward needs it at once), and so does that of a
    layer under `HAND_OFF` parameters. The step returns
    when every update is done; an error on the second thread is raised here.

    It applies where `fit` keeps BLAS on one thread because the products are small: the
    largest, batch x `per_sample` multiply-adds (`training.largest_product`), under
    `_blas.CROSSOVER`, and BLAS on one thread now. Above it, when the thread policy times one
    thread faster than two, the machine is busy, and a second Python thread then waits for a
    core too (measured: docs/performance.md). Elsewhere (`OVERLAP_ADAM` switched off since,
    no eight-pass update for these arrays, an optimizer not exactly Adam) it is `fast_step`."""
    pieces = dict(enumerate(chain))
    value = loss.forward(model.forward(x, training=True, pieces=pieces), y) + model.penalty()
    if not math.isfinite(value):
        return value
    if zero:
        zero_grads(model)
    parameters, opt = optimizer_parameters(model), model.optimizer
    spans = _spans(model, chain, parameters)
    if not (OVERLAP_ADAM and BLAS_ADAM and spans and type(opt) is Adam
            and len(x) * per_sample < _blas.CROSSOVER and _blas.current_threads() == 1):
        model.backward(loss.backward())
        apply_update(model)
        return value
    (path, flat, grad), = parameters
    opt._a_t = a_t = opt.step_size(opt.iterations + 1)
    opt.iterations += 1
    m, v, a = opt._slot("momentums", path, flat), opt._slot("velocities", path, flat), opt._buffer(path, flat)
    waiting = []
    try:
        g = loss.backward()
        for i in range(len(chain) - 1, -1, -1):
            g = chain[i].backward(g)
            s = spans[i]
            update = partial(blas_adam.eight_passes, opt, a_t, flat[s], grad[s], m[s], v[s], a[s])
            if i and s.stop - s.start >= HAND_OFF:
                waiting.append(second_thread().submit(update))
            else:
                update()
    finally:
        for done in waiting:
            done.result()
    return value


def _spans(model: Any, chain: list[Any], parameters: list) -> list[slice] | None:
    """Each chain layer's slice of the packed buffer (its parameters side by side), or None
    when the parameters are not one packed vector the eight-pass update takes."""
    if len(parameters) != 1 or parameters[0][0] != PACKED or not blas_adam.applies(*parameters[0][1:]):
        return None
    flat = parameters[0][1]
    base, size = flat.ctypes.data, flat.itemsize
    spans = []
    for piece in chain:
        arrays = list(piece.layer.params.values())
        starts = sorted(((p.ctypes.data - base) // size, p.size) for p in arrays)
        for (s0, n0), (s1, _) in zip(starts, starts[1:]):
            if s0 + n0 != s1:
                return None
        start = starts[0][0]
        if start < 0 or start + sum(n for _, n in starts) > flat.size:
            return None
        spans.append(slice(start, start + sum(n for _, n in starts)))
    return spans


def step_for(model: Any) -> Callable[[np.ndarray, np.ndarray], float]:
    """The step `fit` and `train_on_batch` run on `model`: the plain `train_step` when no
    switch applies, else `fast_step` with the pieces and the loss chosen here, once (a
    change of the model's layers or switches takes effect at the next fit). A `train_step`
    of your own (a subclass's, or one put on the class) always runs as written."""
    from .models import PLAIN_TRAIN_STEP

    if type(model).train_step is not PLAIN_TRAIN_STEP:
        return model.train_step
    pieces = training_pieces(model, input_gradient=False, write=True)
    if not (model.pack_parameters or pieces):
        return model.train_step
    loss, zero = buffered_loss(model, training_loss(model)), not all_written(model, pieces)
    chain = chain_pieces(model, pieces) if model.pack_parameters and OVERLAP_ADAM else None
    if chain is not None:
        per_sample = max(p.size * p.itemsize // 4 for piece in chain for p in piece.layer.params.values()
                         if p.ndim == 2)
        return partial(overlapped_step, model, chain, loss, zero=zero, per_sample=per_sample)
    return partial(fast_step, model, pieces, loss, zero=zero)
