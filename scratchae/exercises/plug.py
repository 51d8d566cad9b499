"""Your own piece inside the article's model: the adapters behind `scratchae train --use`.

Once `scratchae gradcheck --exercise PIECE FILE` passes, the same class can train a whole
autoencoder in place of scratchae's:

    scratchae train vanilla --use dense=my_dense.py
    scratchae train sparse --use l1=my_l1.py --use relu=my_relu.py
    scratchae train vanilla --use dense=broken:dense-zero-dx     a shipped mistake, no file

The command trains the model twice from the same seed and the same initial weights, once with
your pieces and once with scratchae's, and prints both losses side by side. Where each piece
goes, and how it is wrapped so that the rest of the library (the training step, the optimizer,
saving) keeps working unchanged:

    dense    every Dense layer (scratchae's own class, not a subclass such as the contractive
             code layer) keeps its activation and its weights, but its affine half,
             z = x . kernel + bias and that map's backward, is your class: the layer becomes a
             `YourDense` whose `forward_logits`/`backward_logits` call an instance of your
             `Dense(input_dim, units, seed)`. That instance's `params` *is* the layer's dict, so
             it starts from the layer's own (seeded) weights rather than the ones your __init__
             drew, and the optimizer updates what your forward reads. Its `grads` are arrays of
             its own, set to zero just before each of its backward calls; what your backward
             leaves in them is then added into the layer's grads (the layer contract's +=, after
             the model zeroed them at the start of the step). So your backward trains the model
             right whether it adds into grads (+=, as the exercise asks) or writes them (=), also
             where a weight is shared (the tied autoencoder's code layer, whose kernel the
             decoder reuses): writing is what the grader's `accumulates` check charges.
    relu     your ReLU, one instance per layer, as the activation of every layer that uses relu.
    sigmoid  your Sigmoid as the activation of every layer that uses sigmoid (the output layer).
    bce      your BinaryCrossentropy as the loss: it receives the sigmoid's probabilities.
    l1       your L1, built with the model's factor, as the activity penalty of the code layer
             (a model without an L1 penalty has nowhere to put it).

Nothing here is fused: a model trains the last sigmoid and the binary cross-entropy as one loss
on logits only when all three pieces are scratchae's own, so with your dense, sigmoid or bce the
model runs the plain step and every forward and backward of yours is called, every batch.

`PIECE=broken:NAME` plugs one of the shipped wrong pieces (`scratchae.exercises.broken`) in
the same places, so a teacher can show a wrong backward failing to learn.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import EXERCISES, ExerciseError, load_class
from .broken import BROKEN, Broken
from .._contract import gradient_problem
from ..activations import Activation, ReLU, Sigmoid
from ..layers import Dense
from ..losses import BinaryCrossentropy
from ..models import Model
from ..regularizers import L1

PIECES = ("dense", "relu", "sigmoid", "bce", "l1")     # the exercises that plug into the article's models
BROKEN_PREFIX = "broken:"


class PlugError(ValueError):
    """A piece that cannot be plugged: unknown, missing, not importable, not buildable."""


@dataclass(frozen=True)
class Source:
    """Where a piece comes from: the learner's class from a file, or a shipped broken class."""

    piece: str                   # "dense", "relu", "sigmoid", "bce" or "l1"
    cls: type
    origin: str                  # the file's path as given, or "broken:NAME"
    broken: Broken | None = None

    @property
    def label(self) -> str:
        """How the output names this piece: 'your dense', or the broken piece's name."""
        return self.broken.name if self.broken else f"your {self.piece}"

    def gradcheck_command(self) -> str:
        """The command that shows what is wrong with this piece's backward."""
        if self.broken:
            return f"scratchae gradcheck --broken {self.broken.name}"
        return f"scratchae gradcheck --exercise {self.piece} {self.origin}"


# -- loading ------------------------------------------------------------------------------------
def parse_use(text: str) -> tuple[str, str]:
    """'dense=my_dense.py' -> ('dense', 'my_dense.py'); PlugError if it has no known PIECE=."""
    piece, sep, where = text.partition("=")
    piece = piece.strip()
    if not sep or not where:
        raise PlugError(f"--use {text!r}: expected PIECE=FILE (or PIECE=broken:NAME), "
                        f"e.g. --use dense=my_dense.py")
    if piece not in PIECES:
        raise PlugError(f"--use {text!r}: unknown piece {piece!r}; choose from {', '.join(PIECES)}")
    return piece, where


def load_source(piece: str, where: str) -> Source:
    """The class to plug for `piece`: the learner's from the file `where`, or 'broken:NAME'.

    A learner's class is built once here with the exercise's own arguments, so a class that
    cannot even be constructed is reported before any data is loaded.
    """
    if where.startswith(BROKEN_PREFIX):
        name = where[len(BROKEN_PREFIX):]
        broken = BROKEN.get(name)
        names = [b.name for b in BROKEN.values() if b.piece == piece]
        if broken is None or broken.piece != piece:
            what = "unknown broken piece" if broken is None else f"{name} is not a {piece} piece"
            raise PlugError(f"--use {piece}={where}: {what}; the broken {piece} pieces are: "
                            f"{', '.join(names)} (scratchae gradcheck --list)")
        return Source(piece, broken.cls, where, broken)
    try:
        cls = load_class(piece, where)
    except FileNotFoundError:
        raise PlugError(f"--use {piece}={where}: no such file (start one with "
                        f"scratchae gradcheck --exercise {piece} --init {where})") from None
    except ExerciseError as exc:
        raise PlugError(f"--use {piece}={where}: {exc}") from None
    ex = EXERCISES[piece]
    try:
        ex.make(cls)
    except Exception as exc:
        raise PlugError(f"--use {piece}={where}: {ex.class_name}(...) failed: "
                        f"{type(exc).__name__}: {exc}") from None
    return Source(piece, cls, where)


# -- the adapters ---------------------------------------------------------------------------------
class YourDense(Dense):
    """A scratchae Dense whose affine half is the learner's class (`self.yours`).

    Its activation, activity penalty, weights and saving are the Dense layer's; only
    z = x . kernel + bias and its backward (dL/dz -> grads and dL/dx) run the learner's code.
    """

    yours: Any

    def forward_logits(self, x: np.ndarray) -> np.ndarray:
        """z from the learner's forward; x converted to the layer's float type first."""
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        self._x = x
        self.logits = self.yours.forward(x)
        return self.logits

    def backward_logits(self, dz: np.ndarray) -> np.ndarray:
        """dL/dx from the learner's backward, run on zeroed grads of its own; what it leaves in
        them is added into the layer's grads (the contract's +=)."""
        if self._x is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        own = self._own_grads
        for g in own.values():
            g.fill(0)
        if not isinstance(getattr(self.yours, "grads", None), dict):
            self.yours.grads = {}
        self.yours.grads.clear()                      # the arrays a backward that assigned replaced
        self.yours.grads.update(own)
        dx = _checked(self.yours.backward(dz), self._x, "Dense.backward", "x")
        for key, total in self.grads.items():
            total += _checked(self.yours.grads.get(key), own[key], "Dense.backward", key,
                              where=f"self.grads[{key!r}]")
        return dx


class YourActivation(Activation):
    """The learner's ReLU or Sigmoid as a layer's activation, under the library's name."""

    def __init__(self, yours: Any, name: str) -> None:
        super().__init__()
        self.yours = yours
        self.name = name

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._cache = x
        return self.yours.forward(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x = self._cached()
        return _checked(self.yours.backward(dy), x, f"{type(self.yours).__name__}.backward", "x")

    def __repr__(self) -> str:
        return f"YourActivation({type(self.yours).__name__})"


class YourBinaryCrossentropy(BinaryCrossentropy):
    """The learner's BinaryCrossentropy as the loss (inputs checked as scratchae's are)."""

    def __init__(self, yours: Any) -> None:
        super().__init__(from_logits=False)
        self.yours = yours

    def _forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[float, tuple]:
        return float(self.yours.forward(y_pred, y_true)), (y_pred,)

    def _backward(self, cache: tuple) -> np.ndarray:
        return _checked(self.yours.backward(), cache[0], "BinaryCrossentropy.backward", "y_pred")


class YourL1(L1):
    """The learner's L1 as an activity penalty, built with the layer's factor."""

    def __init__(self, yours: Any, factor: float) -> None:
        super().__init__(factor)
        self.yours = yours

    def forward(self, h: np.ndarray) -> float:
        self._cache = h
        return float(self.yours.forward(h))

    def backward(self, dvalue: float = 1.0) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        g = _checked(self.yours.backward(), self._cache, "L1.backward", "h")
        return g if dvalue == 1.0 else g * float(dvalue)


def _checked(result: Any, like: np.ndarray, what: str, name: str, where: str | None = None) -> np.ndarray:
    """The learner's gradient, if the contract's structure check passes (a float array of its
    input's shape; values are not searched, a NaN shows in the loss); else a clear ValueError."""
    problem = gradient_problem(result, like, finite=False)
    if problem is not None:
        label = f"dL/d{name}" + (f" in {where}" if where else "")
        raise ValueError(f"your {what}: {label} {problem.message} (hint: {problem.hint})")
    return result


# -- plugging -------------------------------------------------------------------------------------
def plug(model: Model, source: Source) -> list[str]:
    """Put `source`'s piece into every place of `model` that uses that piece; return the places.

    The model's weights are kept (a plugged dense uses the layer's own arrays), so a model
    and its twin built from the same seed start from the same numbers. PlugError when the
    model has no such place or the learner's class does not fit the layer.
    """
    chain = [layer for layer in model.layers if isinstance(layer, Dense)]
    piece = source.piece
    if piece == "dense":
        places = [layer for layer in chain if type(layer) is Dense]    # not a subclass's own backward
        if not places:
            raise PlugError(f"--use dense: model {model.name!r} has no plain Dense layer to replace")
        for layer in places:
            _plug_dense(layer, source)
        return [layer.name for layer in places]
    if piece in ("relu", "sigmoid"):
        kind = ReLU if piece == "relu" else Sigmoid
        places = [layer for layer in chain if type(layer.activation) is kind]
        for layer in places:
            yours = source.cls() if source.broken else YourActivation(source.cls(), piece)
            layer.activation = yours
        return [f"{layer.name} > {piece}" for layer in places]
    if piece == "bce":
        if not isinstance(model.loss, BinaryCrossentropy):
            raise PlugError(f"--use bce: model {model.name!r} is not trained with binary cross-entropy")
        model.loss = source.cls() if source.broken else YourBinaryCrossentropy(source.cls())
        return ["loss"]
    if piece == "l1":
        places = [layer for layer in chain if isinstance(layer.activity_regularizer, L1)]
        if not places:
            raise PlugError("--use l1: this model has no L1 penalty to replace; train sparse "
                            "(or give --l1 F > 0)")
        for layer in places:
            factor = layer.activity_regularizer.l1
            layer.activity_regularizer = (source.cls(factor) if source.broken
                                          else YourL1(source.cls(factor), factor))
        return [f"{layer.name} > l1" for layer in places]
    raise PlugError(f"unknown piece {piece!r}; choose from {', '.join(PIECES)}")


def _plug_dense(layer: Dense, source: Source) -> None:
    """Turn `layer` into a YourDense around the learner's class, or into the broken class."""
    if source.broken:
        layer.__class__ = source.cls
        return
    shapes = {"kernel": (layer.input_dim, layer.units), "bias": (layer.units,)}
    where = f"--use dense={source.origin}"
    try:
        yours = source.cls(layer.input_dim, layer.units, seed=0)
    except Exception as exc:
        raise PlugError(f"{where}: Dense({layer.input_dim}, {layer.units}, seed=0) failed: "
                        f"{type(exc).__name__}: {exc}") from None
    for attr in ("params", "grads"):
        d = getattr(yours, attr, None)
        if not isinstance(d, dict) or set(d) != set(shapes) or any(
                np.shape(d[k]) != shape for k, shape in shapes.items()):
            raise PlugError(f"{where}: Dense({layer.input_dim}, {layer.units}) must keep "
                            f"self.{attr} = {{'kernel': {shapes['kernel']}, 'bias': {shapes['bias']}}} "
                            "arrays, as the template does")
    yours.params = layer.params                               # the layer's weights, shared
    layer.__class__ = YourDense
    layer.yours = yours
    layer._own_grads = {k: np.zeros_like(v) for k, v in layer.params.items()}   # yours, zeroed per call


def try_one_batch(model: Model, x: np.ndarray, y: np.ndarray, sources: list[Source]) -> None:
    """One forward and backward of `model` on (x, y) (no update), so an unfinished or crashing
    piece is a one-line PlugError before training starts rather than a traceback after."""
    try:
        with np.errstate(all="ignore"):
            model.compute_gradients(x, y)
    except Exception as exc:
        source = _culprit(exc, sources)
        if isinstance(exc, NotImplementedError):
            raise PlugError(f"{source.origin}: backward still raises NotImplementedError; write it, "
                            f"then check it with {source.gradcheck_command()}") from None
        text = str(exc).strip()
        message = f": {text.splitlines()[0]}" if text else ""
        raise PlugError(f"{source.origin}: failed on a first batch: "
                        f"{type(exc).__name__}{message}") from None


def _culprit(exc: BaseException, sources: list[Source]) -> Source:
    """The source whose file raised `exc` (the innermost such frame), else the first one."""
    files = {}
    for s in sources:
        if not s.broken:
            files[str(Path(s.origin).resolve())] = s
    found = sources[0]
    tb = exc.__traceback__
    while tb is not None:
        name = str(Path(tb.tb_frame.f_code.co_filename).resolve())
        if name in files:
            found = files[name]
        tb = tb.tb_next
    return found


@contextmanager
def as_library(model: Model) -> Iterator[Model]:
    """`model` with scratchae's own Dense class while inside (to save it: the file format
    knows scratchae's classes only). The weights, the activations' names, the loss's and the
    penalties' configs already read as the library's."""
    swapped = [(layer, layer.__class__) for layer in model.layers
               if isinstance(layer, Dense) and type(layer) is not Dense]
    try:
        for layer, _ in swapped:
            layer.__class__ = Dense
        yield model
    finally:
        for layer, cls in swapped:
            layer.__class__ = cls


def describe_places(source: Source, places: list[str]) -> str:
    """One line: which piece runs where, e.g. 'your dense (my_dense.py) runs in: dense, dense_1'."""
    origin = "" if source.broken else f" ({Path(source.origin).name})"
    return f"{source.label}{origin} runs in: {', '.join(places)}"
