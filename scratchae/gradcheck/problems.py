"""What is being checked: a piece, a model or a function, behind one small protocol the
engine drives (`_Problem`), read through the layer contract of `scratchae.layers` only:

    forward       `layer.run_forward(inputs, training)` (one array, or a list of arrays)
    the loss      L = sum(forward(inputs) * dy) + sum(layer.loss_terms().values())
    gradients     `layer.zero_grads()` before every analytic backward (backward adds, +=)
    kinks         `layer.kink_signs()`; a piece that is not a Layer (a bare ReLU or L1 checked
                  alone) with `kink_at_zero = True` is probed by the signs of its input
    noise         a layer with `stochastic = True` runs with training=True, and its generator
                  `layer.rng` is put back to the same state before every forward, so each
                  finite difference sees the same noise as the analytic backward

The one thing the contract does not say is what a layer is made of. A layer may say it with
`gradcheck_parts(x)` -> [(name, piece, the input that piece sees)] and `parts()` -> [(name,
piece)]; scratchae's `Dense` gives its activation and its activity regularizer.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import ReLU, Sigmoid
from ..config import EPSILON
from ..layers import Dense, Layer
from ..losses import BinaryCrossentropy, Loss
from ..regularizers import L1, L2
from .._contract import Problem
from .structure import _MISSING, _call

#: Replay a stochastic piece's noise at every forward of a check (the point of the replay is
#: shown by turning it off in tests/test_gradcheck_graphs.py; leave it on).
_REPLAY_NOISE = True


# -- kinks ----------------------------------------------------------------------------------
def _kinked_at_zero(piece: Any) -> bool:
    """A piece that says it is not differentiable at 0 (`kink_at_zero = True`: ReLU, L1)."""
    return bool(getattr(piece, "kink_at_zero", False))


def _kink_signs(layer: Any) -> list[np.ndarray]:
    """`layer.kink_signs()` of its last forward, as copies (a later forward must not change them)."""
    signs = _call("kink_signs", layer.kink_signs)
    return [np.array(s, copy=True) for s in signs]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _loss_terms(piece: Any) -> float:
    """The sum of a piece's own loss terms of its last forward (0 for a piece without any)."""
    terms = getattr(piece, "loss_terms", None)
    if not callable(terms):
        return 0.0
    return float(sum(float(v) for v in _call("forward", terms).values()))


def _zero_grads(piece: Any) -> None:
    """Every gradient of `piece` to 0 before an analytic backward (the contract's backward adds
    into them). An entry that an earlier pass of a wrong backward removed or replaced by an
    array of another shape or type is given back as zeros of its parameter's shape, so that
    every pass starts from the state a model's `zero_grads` leaves (the structure check reports
    what this pass hands back)."""
    grads = getattr(piece, "grads", None)
    if not isinstance(grads, dict):
        return
    params = getattr(piece, "params", None) or {}
    for key, g in list(grads.items()):
        if isinstance(g, np.ndarray) and g.dtype.kind == "f" and \
                (key not in params or g.shape == np.shape(params[key])):
            g.fill(0)
    for key, p in params.items():
        g = grads.get(key)
        if not (isinstance(g, np.ndarray) and g.dtype.kind == "f" and g.shape == np.shape(p)):
            grads[key] = np.zeros_like(p)


# -- what a layer is made of ------------------------------------------------------------------
def _part_name(piece: Any) -> str:
    if isinstance(piece, L1):
        return "l1"
    if isinstance(piece, L2):
        return "l2"
    name = getattr(piece, "name", None)
    return name if isinstance(name, str) and name else type(piece).__name__.lower()


def part_pieces(layer: Any) -> list[tuple[str, Any]]:
    """(name, piece) of the pieces `layer` is made of (its `parts()`), for naming the one that
    raised."""
    own = getattr(layer, "parts", None)
    return [(_part_name(p), p) for _, p in own()] if callable(own) and isinstance(layer, Layer) else []


def part_inputs(layer: Any, x: Any) -> list[tuple[str, Any, Any]]:
    """(name, piece, what it sees for the layer input x) for each piece `layer` is made of:
    the layer's own `gradcheck_parts(x)` (a Dense gives its activation on the logits and its
    regularizer on the output), else nothing. A piece that raised while computing the next
    one's input comes with the exception in place of an input."""
    own = getattr(layer, "gradcheck_parts", None)
    return [(_part_name(p), p, seen) for _, p, seen in own(x)] if callable(own) else []


def _piece_kind(piece: Any) -> str | None:
    """'relu', 'sigmoid', 'dense', 'l1', 'l2' or 'bce' for the hints, else None. By class for
    scratchae's pieces; a duck-typed piece that is not a Layer (a learner's class) by its name."""
    for kind, cls in (("relu", ReLU), ("sigmoid", Sigmoid), ("l1", L1), ("l2", L2),
                      ("bce", BinaryCrossentropy), ("dense", Dense)):
        if isinstance(piece, cls):
            return kind
    if isinstance(piece, Layer):
        return None                        # a user's layer: the generic words
    name = type(piece).__name__.lower()
    for kind, words in (("relu", ("relu",)), ("sigmoid", ("sigmoid",)), ("dense", ("dense",)),
                        ("l1", ("l1",)), ("l2", ("l2",)), ("bce", ("binarycrossentropy", "bce"))):
        if any(w in name for w in words):
            return kind
    return None


# -- noise held still -------------------------------------------------------------------------
class _Noise:
    """The generator of a stochastic piece (or model), put back to one state before each forward."""

    def __init__(self, owner: Any, seed: int) -> None:
        self.owner = owner
        if getattr(owner, "rng", None) is None:
            owner.rng = np.random.default_rng([seed, 7])
        self.state = owner.rng.bit_generator.state if _REPLAY_NOISE else None

    @property
    def replaying(self) -> bool:
        return self.state is not None

    def replay(self) -> None:
        if self.state is not None:
            self.owner.rng.bit_generator.state = self.state


# -- what is being checked: a small protocol the engine drives --------------------------------
class _Problem:
    """names: tensors to check (in report order); arrays(): live float64 arrays perturbed in
    place; analytic(): forward + backward, returns {name: what the code handed back} (checked
    for structure by the engine); evaluate(): value at the current point; delta(plus, minus):
    f(+) - f(-); probe(): kink signature; nudgeable: the tensors whose elements nudge() may
    move off a kink; describe(name): (piece, which gradient) for messages; pieces():
    {id(object): label} of the checked code."""

    label = ""
    nudgeable: tuple[str, ...] = ()
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


def _weighted(plus: list, minus: list, dys: list) -> float:
    """sum_k sum((plus_k - minus_k) * dy_k): the difference of L = sum_k sum(out_k * dy_k)."""
    return float(sum(np.sum((p - m) * d) for p, m, d in zip(plus, minus, dys)))


def _output_scale(outs: list, dys: list, terms: float) -> float:
    """How large the terms of L = sum(out * dy) + terms are (the round-off floor's scale)."""
    s = 1.0 + abs(terms)
    for y, d in zip(outs, dys):
        s += float(np.abs(y).max(initial=0)) * float(np.abs(d).max(initial=0)) * max(y.shape[0] if y.ndim else 1, 1)
    return s


def _as_gradient_list(dx: Any, n: int, who: str) -> list:
    """The gradients a backward returned for n inputs, one per input, or a Problem for each."""
    if isinstance(dx, (list, tuple)) and len(dx) == n:
        return list(dx)
    got = f"a list of {len(dx)}" if isinstance(dx, (list, tuple)) else type(dx).__name__
    wrong = Problem(f"backward returned {got} for a layer called on a list of {n} inputs",
                    f"return a list of {n} gradients, one per input, in the order of the inputs")
    return [wrong] * n


class _PieceProblem(_Problem):
    """One piece: an activation, a layer (on one input or a list of them), a regularizer or a
    loss (a scalar forward; `extra` holds a loss's target)."""

    def __init__(self, piece, x, extra=(), dy=None, label="", input_name=None, seed=0):
        self.piece, self.extra, self.label = piece, tuple(extra), label
        self.many = isinstance(x, list)
        self.xs = list(x) if self.many else [x]
        self.layer = isinstance(piece, Layer)
        self.training = bool(getattr(piece, "stochastic", False))
        self.noise = _Noise(piece, seed) if self.training else None
        out = _call("forward", self.forward, self.inputs())
        self.scalar = np.ndim(out) == 0
        if self.many:
            self.input_names = [f"inputs[{k}]" for k in range(len(self.xs))]
        else:
            self.input_names = [input_name or ("h" if self.scalar else "x")]
        self.input_name = self.input_names[0]
        if not self.scalar and dy is None:
            dy = np.random.default_rng(seed).standard_normal(np.shape(out))
        self.dy_out = dy
        params = getattr(piece, "params", None) or {}
        self.names = list(params) + self.input_names
        self.returned = frozenset(self.input_names)
        # inputs whose elements may be moved off a kink: a layer's (its kink_signs say where),
        # or the input of a piece with a kink at 0
        self.nudgeable = tuple(self.input_names) if (self.layer or _kinked_at_zero(piece)) else ()
        first = self.xs[0]
        self.sizes = {"batch size N": first.shape[0] if first.ndim else 1,
                      "number of elements N*D": first.size}
        if first.ndim == 2:
            self.sizes["width D"] = first.shape[1]
        elementwise = not self.scalar and not params and not self.many and np.shape(out) == first.shape
        self.dy = {self.input_name: dy} if elementwise else {}
        self.kind = _piece_kind(piece)
        # a layer's parameter gradients sum over the batch; a loss averages, a penalty sums
        self.reduction = {k: "sum" for k in params}
        if self.scalar:
            loss_like = isinstance(piece, Loss) or self.kind == "bce" or input_name == "y_pred"
            self.reduction[self.input_name] = "mean" if loss_like else "sum"
        if self.kind == "l1":
            for attr in ("l1", "factor"):
                value = getattr(piece, attr, None)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.factor = (float(value), attr)
                    break

    @property
    def x(self) -> np.ndarray:
        """The (first) input: the array a one-input piece is checked at."""
        return self.xs[0]

    def inputs(self, xs: list | None = None) -> Any:
        xs = self.xs if xs is None else xs
        return list(xs) if self.many else xs[0]

    def forward(self, inputs: Any) -> Any:
        """One forward of the piece, its noise (if any) replayed from the saved state."""
        if self.noise is not None:
            self.noise.replay()
        if self.layer:
            return self.piece.run_forward(inputs, self.training)
        if self.training:
            return self.piece.forward(inputs, *self.extra, training=True)
        return self.piece.forward(inputs, *self.extra)

    def backward(self) -> Any:
        """The analytic backward after a forward, gradients zeroed first."""
        _call("backward", _zero_grads, self.piece)
        if self.scalar:
            return _call("backward", self.piece.backward)
        return _call("backward", self.piece.backward, self.dy_out.copy())

    def arrays(self):
        return {**(getattr(self.piece, "params", None) or {}), **dict(zip(self.input_names, self.xs))}

    def analytic(self):
        _call("forward", self.forward, self.inputs())
        dx = self.backward()
        grads = getattr(self.piece, "grads", None)
        out = {k: grads[k] if isinstance(grads, dict) and k in grads else _MISSING
               for k in (getattr(self.piece, "params", None) or {})}
        dxs = _as_gradient_list(dx, len(self.xs), self.label) if self.many else [dx]
        out.update(zip(self.input_names, dxs))
        return out

    def evaluate(self):
        return _call("forward", self._evaluate)

    def _evaluate(self):
        out = self.forward(self.inputs())
        if self.scalar:
            return float(out)
        return np.array(out, dtype=np.float64), _loss_terms(self.piece)

    def delta(self, plus, minus):
        if self.scalar:
            return plus - minus
        return _weighted([plus[0]], [minus[0]], [self.dy_out]) + (plus[1] - minus[1])

    def scale(self, value):
        if self.scalar:
            return 1.0 + abs(value)
        y, terms = value
        return _output_scale([y], [self.dy_out], terms)

    def probe(self):
        p = self.piece
        if self.layer:
            return _kink_signs(p)
        if _kinked_at_zero(p):
            return [np.sign(self.x)]
        if hasattr(p, "from_logits") and not p.from_logits:     # BCE's clip is flat outside
            return [(self.x > EPSILON) & (self.x < 1 - EPSILON)]
        return []

    def nudge(self, name, flat_idx, rng, h):
        flat = self.xs[self.input_names.index(name)].reshape(-1)
        for i in flat_idx:
            s = np.sign(flat[i]) or (1.0 if rng.random() < 0.5 else -1.0)
            flat[i] += s * 10 * h

    def describe(self, name):
        if name in self.returned:
            return self.label, f"dL/d{name} (returned by backward)"
        return self.label, f"grads[{name!r}]"

    def pieces(self):
        out = {id(self.piece): self.label}
        for name, part in part_pieces(self.piece):
            out[id(part)] = f"{self.label} > {name}"
        return out


class _ModelProblem(_Problem):
    """A whole model on one batch, every distinct parameter array checked (a tied kernel once,
    under its first holder's path).

    With targets y (one output, a compiled loss): L = the training loss, loss terms included,
    through `Model.compute_loss` (what `fit` computes). Without (several outputs, or no loss):
    L = sum_k sum(output_k * dy_k) + the model's loss terms, dy_k given or random (seeded),
    each output's forward run with training=True as in a training step."""

    def __init__(self, model, x, y=None, dy=None, seed=0):
        self.model, self.y, self.label = model, y, model.name
        self.xs = list(x) if isinstance(x, list) else [x]
        self.many_in = isinstance(x, list)
        # every distinct parameter array once, under its first holder's path (as parameters())
        self.holders: dict[str, tuple[Any, str]] = {}
        seen: set[int] = set()
        for layer in model.chain:
            for key, param in layer.params.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    self.holders[f"{layer.name}/{key}"] = (layer, key)
        self.names = list(self.holders)
        self.noise = _Noise(model, seed) if any(getattr(l, "stochastic", False) for l in model.chain) else None
        self.dys = None
        if y is None:
            outs = self._outputs(_call("forward", self._forward))
            if dy is None:
                rng = np.random.default_rng([seed, 11])
                dy = [rng.standard_normal(np.shape(o)) for o in outs]
            self.dys = list(dy) if isinstance(dy, (list, tuple)) else [dy]
            if [np.shape(d) for d in self.dys] != [o.shape for o in outs]:
                raise ValueError(f"dy must have the outputs' shapes {[o.shape for o in outs]}, "
                                 f"got {[np.shape(d) for d in self.dys]}")
            first = outs[0]
        else:
            first = y
        self.sizes = {"batch size N": self.xs[0].shape[0], "number of elements N*D": first.size}
        if first.ndim == 2:
            self.sizes["width D"] = first.shape[1]
        self.dy = {}

    def _x(self):
        return self.xs if self.many_in else self.xs[0]

    def _forward(self):
        if self.noise is not None:
            self.noise.replay()
        if self.y is not None:
            return self.model.compute_loss(self._x(), self.y)
        return self.model.forward(self._x(), training=True)

    def _outputs(self, out) -> list[np.ndarray]:
        return [np.array(o, dtype=np.float64) for o in (out if isinstance(out, list) else [out])]

    def arrays(self):
        return {path: layer.params[key] for path, (layer, key) in self.holders.items()}

    def _zero(self):
        """Every layer's gradients valid and 0 (the holders of a shared array tied to one)."""
        for layer in self.model.chain:
            _zero_grads(layer)
        self.model.zero_grads()             # parameters() ties a shared array's gradients

    def analytic(self):
        from .. import speed

        m = self.model
        _call("forward", self._forward)
        _call("backward", self._zero)
        if self.y is not None:
            _call("backward", speed.training_backward, m)
        else:
            dys = [d.copy() for d in self.dys]
            _call("backward", m.backward, dys if len(dys) > 1 else dys[0])
        out = {}
        for path, (layer, key) in self.holders.items():
            grads = getattr(layer, "grads", None)
            g = grads[key] if isinstance(grads, dict) and key in grads else _MISSING
            out[path] = g.copy() if isinstance(g, np.ndarray) else g
        return out

    def evaluate(self):
        return _call("forward", self._evaluate)

    def _evaluate(self):
        out = self._forward()
        if self.y is not None:
            return float(out)
        return self._outputs(out), float(self.model.penalty())

    def delta(self, plus, minus):
        if self.y is not None:
            return plus - minus
        return _weighted(plus[0], minus[0], self.dys) + (plus[1] - minus[1])

    def scale(self, value):
        if self.y is not None:
            return 1.0 + abs(value)
        outs, terms = value
        return _output_scale(outs, self.dys, terms)

    def probe(self):
        return [s for l in self.model.chain for s in _kink_signs(l)]

    def describe(self, name):
        layer, key = name.rsplit("/", 1)
        return layer, f"grads[{key!r}]"

    def pieces(self):
        return model_pieces(self.model)


def model_pieces(model: Any) -> dict[int, str]:
    """{id(object): label} of a model's layers, their parts and its loss (to name the one that raised)."""
    out = {}
    for layer in model.chain:
        out[id(layer)] = layer.name
        for name, part in part_pieces(layer):
            out[id(part)] = f"{layer.name} > {name}"
    for loss in (model.loss, model.training_loss):
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
