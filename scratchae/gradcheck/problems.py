"""What is being checked: a piece, a model or a function, behind one small protocol the
engine drives (`_Problem`), and the kink probes that tell a ReLU or |h| kink crossed by a
difference from a bug."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import ReLU, Sigmoid
from ..config import EPSILON
from ..losses import BinaryCrossentropy, Loss
from ..regularizers import L1, L2
from .._contract import Problem
from .structure import _MISSING, _call


# -- kinks ----------------------------------------------------------------------------------
def _kinked_at_zero(piece: Any) -> bool:
    """ReLU-like or L1-like: a piece with a non-differentiable point at 0."""
    if piece is None:
        return False
    if isinstance(piece, (ReLU, L1)):
        return True
    name = (type(piece).__name__ + " " + str(getattr(piece, "name", ""))).lower()
    return "relu" in name or "l1" in name


def _is_dense_like(piece: Any) -> bool:
    return hasattr(piece, "activation") and hasattr(piece, "params")


def _dense_probe(layer: Any, out: Any = None) -> list[np.ndarray]:
    """Signs that change exactly when a difference crosses a kink inside a Dense layer."""
    sig = []
    if _kinked_at_zero(getattr(layer, "activation", None)) and getattr(layer, "logits", None) is not None:
        sig.append(np.sign(layer.logits))
    reg = getattr(layer, "activity_regularizer", None)
    if _kinked_at_zero(reg) and getattr(reg, "_cache", None) is not None:
        sig.append(np.sign(reg._cache))
    return sig


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


# -- what is being checked: a small protocol the engine drives --------------------------------
class _Problem:
    """names: tensors to check (in report order); arrays(): live float64 arrays perturbed in
    place; analytic(): forward + backward, returns {name: what the code handed back} (checked
    for structure by the engine); evaluate(): value at the current point; delta(plus, minus):
    f(+) - f(-); probe(): kink signature; nudge(): move input elements off a kink; describe(name):
    (piece, which gradient) for messages; pieces(): {id(object): label} of the checked code."""

    label = ""
    nudgeable: str | None = None
    sizes: dict[str, int] = {}
    dy: dict[str, np.ndarray] = {}
    kind: str | None = None                 # 'relu', 'dense', ... for the hints
    reduction: dict[str, str] = {}          # tensor -> 'sum' or 'mean' (how the forward reduces)
    factor: tuple[float, str] | None = None  # an L1 penalty's factor and its attribute's name
    returned: frozenset = frozenset()       # tensors whose gradient backward returns

    def delta(self, plus, minus) -> float:
        return plus - minus

    def probe(self) -> list[np.ndarray]:
        return []

    def scale(self, value) -> float:
        return 1.0 + abs(value)

    def describe(self, name: str) -> tuple[str, str]:
        return self.label, f"the gradient of {name}"

    def pieces(self) -> dict[int, str]:
        return {}


def _piece_kind(piece: Any) -> str | None:
    """'relu', 'sigmoid', 'dense', 'l1', 'l2' or 'bce' from the piece's class, else None."""
    for kind, cls in (("relu", ReLU), ("sigmoid", Sigmoid), ("l1", L1), ("l2", L2),
                      ("bce", BinaryCrossentropy)):
        if isinstance(piece, cls):
            return kind
    if _is_dense_like(piece):
        return "dense"
    name = type(piece).__name__.lower()
    for kind, words in (("relu", ("relu",)), ("sigmoid", ("sigmoid",)), ("dense", ("dense",)),
                        ("l1", ("l1",)), ("l2", ("l2",)), ("bce", ("binarycrossentropy", "bce"))):
        if any(w in name for w in words):
            return kind
    return None


class _PieceProblem(_Problem):
    def __init__(self, piece, x, extra=(), dy=None, label="", input_name=None, seed=0):
        self.piece, self.x, self.extra, self.label = piece, x, tuple(extra), label
        out = _call("forward", piece.forward, x, *self.extra)
        self.scalar = np.ndim(out) == 0
        self.input_name = input_name = input_name or ("h" if self.scalar else "x")
        if not self.scalar and dy is None:
            dy = np.random.default_rng(seed).standard_normal(np.shape(out))
        self.dy_out = dy
        params = getattr(piece, "params", None) or {}
        self.names = list(params) + [input_name]
        self.returned = frozenset([input_name])
        self.nudgeable = input_name if (self.scalar or not _is_dense_like(piece)) and _kinked_at_zero(piece) \
            else (input_name if _is_dense_like(piece) else None)
        n = x.shape[0] if x.ndim else 1
        self.sizes = {"batch size N": n, "number of elements N*D": x.size}
        if x.ndim == 2:
            self.sizes["width D"] = x.shape[1]
        elementwise = not self.scalar and not params and np.shape(out) == x.shape
        self.dy = {input_name: dy} if elementwise else {}
        self.kind = _piece_kind(piece)
        # a layer's parameter gradients sum over the batch; a loss averages, a penalty sums
        self.reduction = {k: "sum" for k in params}
        if self.scalar:
            loss_like = isinstance(piece, Loss) or self.kind == "bce" or input_name == "y_pred"
            self.reduction[input_name] = "mean" if loss_like else "sum"
        if self.kind == "l1":
            for attr in ("l1", "factor"):
                value = getattr(piece, attr, None)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.factor = (float(value), attr)
                    break

    def arrays(self):
        return {**(getattr(self.piece, "params", None) or {}), self.input_name: self.x}

    def analytic(self):
        _call("forward", self.piece.forward, self.x, *self.extra)
        if self.scalar:
            dx = _call("backward", self.piece.backward)
        else:
            dx = _call("backward", self.piece.backward, self.dy_out.copy())
        grads = getattr(self.piece, "grads", None)
        out = {k: grads[k] if isinstance(grads, dict) and k in grads else _MISSING
               for k in (getattr(self.piece, "params", None) or {})}
        out[self.input_name] = dx
        return out

    def evaluate(self):
        return _call("forward", self._evaluate)

    def _evaluate(self):
        out = self.piece.forward(self.x, *self.extra)
        self._out = out
        if self.scalar:
            return float(out)
        return np.array(out, dtype=np.float64), float(getattr(self.piece, "penalty", 0.0) or 0.0)

    def delta(self, plus, minus):
        if self.scalar:
            return plus - minus
        return float(np.sum((plus[0] - minus[0]) * self.dy_out)) + (plus[1] - minus[1])

    def scale(self, value):
        if self.scalar:
            return 1.0 + abs(value)
        y, pen = value
        return 1.0 + abs(pen) + float(np.abs(y).max(initial=0)) * float(np.abs(self.dy_out).max(initial=0)) * max(y.shape[0], 1)

    def probe(self):
        p = self.piece
        if _is_dense_like(p):
            return _dense_probe(p)
        if _kinked_at_zero(p):
            return [np.sign(self.x)]
        if hasattr(p, "from_logits") and not p.from_logits:     # BCE's clip is flat outside
            return [(self.x > EPSILON) & (self.x < 1 - EPSILON)]
        return []

    def nudge(self, name, flat_idx, rng, h):
        flat = self.x.reshape(-1)
        for i in flat_idx:
            s = np.sign(flat[i]) or (1.0 if rng.random() < 0.5 else -1.0)
            flat[i] += s * 10 * h

    def describe(self, name):
        if name in self.returned:
            return self.label, f"dL/d{name} (returned by backward)"
        return self.label, f"grads[{name!r}]"

    def pieces(self):
        out = {id(self.piece): self.label}
        for attr in ("activation", "activity_regularizer"):
            part = getattr(self.piece, attr, None)
            if part is not None:
                out[id(part)] = f"{self.label} > {getattr(part, 'name', None) or type(part).__name__.lower()}"
        return out


class _ModelProblem(_Problem):
    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.label = model.name
        self.paths = [(l.name, k) for l in model.chain for k in l.params]
        self.names = [f"{l}/{k}" for l, k in self.paths]
        self.sizes = {"batch size N": x.shape[0], "number of elements N*D": y.size, "width D": y.shape[1]}
        self.dy = {}

    def arrays(self):
        return {f"{l.name}/{k}": l.params[k] for l in self.model.chain for k in l.params}

    def analytic(self):
        m = self.model
        _call("forward", m.compute_loss, self.x, self.y)
        _call("backward", lambda: m.backward(m.training_loss.backward()))
        out = {}
        for layer in m.chain:
            grads = getattr(layer, "grads", None)
            for k in layer.params:
                g = grads[k] if isinstance(grads, dict) and k in grads else _MISSING
                out[f"{layer.name}/{k}"] = g.copy() if isinstance(g, np.ndarray) else g
        return out

    def evaluate(self):
        return _call("forward", lambda: float(self.model.compute_loss(self.x, self.y)))

    def probe(self):
        return [s for l in self.model.chain for s in _dense_probe(l)]

    def describe(self, name):
        layer, key = name.rsplit("/", 1)
        return layer, f"grads[{key!r}]"

    def pieces(self):
        out = {}
        for layer in self.model.chain:
            out[id(layer)] = layer.name
            for attr in ("activation", "activity_regularizer"):
                part = getattr(layer, attr, None)
                if part is not None:
                    out[id(part)] = f"{layer.name} > {getattr(part, 'name', None) or type(part).__name__.lower()}"
        for loss in (self.model.loss, self.model.training_loss):
            if loss is not None:
                out[id(loss)] = "loss"
        return out


class _FunctionProblem(_Problem):
    def __init__(self, f, grad, arrays, kinks=None):
        self.f, self.grad, self.args, self.kinks = f, grad, arrays, kinks
        self.names = ["x"] if len(arrays) == 1 else [f"arg{i}" for i in range(len(arrays))]
        self.returned = frozenset(self.names)
        self.label = getattr(f, "__name__", "f")
        first = arrays[0]
        self.sizes = {"batch size N": first.shape[0] if first.ndim else 1, "number of elements": first.size}
        self.dy = {}

    def arrays(self):
        return dict(zip(self.names, self.args))

    def analytic(self):
        g = _call("grad", self.grad, *self.args)
        if len(self.args) == 1 and not (isinstance(g, (tuple, list)) and len(g) == 1):
            g = [g]
        if not isinstance(g, (tuple, list)) or len(g) != len(self.args):
            n = len(g) if isinstance(g, (tuple, list)) else 1
            wrong = Problem(f"grad returned {n} gradient(s) for {len(self.args)} inputs",
                            "return a tuple with one gradient per input, in order")
            return {name: wrong for name in self.names}
        return dict(zip(self.names, g))

    def evaluate(self):
        return _call("f", lambda: float(self.f(*self.args)))

    def probe(self):
        return [np.asarray(self.kinks(*self.args))] if self.kinks is not None else []

    def describe(self, name):
        return self.label, f"the gradient of {name} (returned by grad)"

    def pieces(self):
        return {}
