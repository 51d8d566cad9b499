"""The two exercises with no gradient of their own to difference: Adam, and the model's backward.

Adam is checked against its closed form (written here independently of scratchae.optimizers):
the update is applied in place, a first step worked by hand, five steps against the closed form
(`gradcheck.check_optimizer`), and two parameters stepped together (each its own m and v, one t).

The model's backward (the loop over the pieces, in reverse) is checked twice: on three of
scratchae's Dense layers, every parameter gradient and dL/dx against finite differences of the
loss (`gradcheck.check_function`); and on three hand-made pieces, which record the order of
their backward calls and what each was handed, against numbers worked by hand.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import gradcheck
from .._contract import Problem
from ..gradcheck import Report, Row
from ..gradcheck.checks import adam_closed_form
from ..gradcheck.hints import Hint
from .checks import Part, call_report, compare, raised_row

BIAS_HINT = Hint("bias-correction", "the step matches Adam without its bias correction: m and v start "
                 "at zeros, so early on they are too small by (1 - beta_1^t) and (1 - beta_2^t); the "
                 "step size a_t must undo both")
TWO_HINT = Hint("state", "each parameter keeps its own m and v (keyed by its path, zeros of its shape at "
                "first), and t counts the steps, once per apply, not once per parameter")


# -- Adam ---------------------------------------------------------------------------------------------
def _step(opt: Any, *pairs: tuple[str, np.ndarray, np.ndarray]) -> None:
    opt.apply([(path, p, g.copy()) for path, p, g in pairs])


def adam_in_place(cls: type) -> Report:
    """The structure of an optimizer step: the caller's array changes, stays finite and float."""
    def rows() -> list[Row]:
        p = np.array([[1.0, -2.0, 0.5], [0.25, -1.0, 3.0]])
        before = p.copy()
        _step(cls(), ("w", p, np.array([[0.1, -0.2, 0.3], [-0.4, 0.5, -0.6]])))
        if np.array_equal(p, before):
            problem = ("apply left the caller's param unchanged: update the array itself (param -= "
                       "..., or param[...] = ...); a new array bound to a name inside apply is lost")
            return [Row("adam", "in place", p.shape, 0, p.size, "structure", 1.0,
                        hint=Hint("structure", "update param in place"), problem=problem)]
        if not np.all(np.isfinite(p)):
            return [Row("adam", "in place", p.shape, 0, p.size, "structure", 1.0,
                        hint=Hint("structure", "a division by zero? epsilon goes in the denominator"),
                        problem=f"after one step the param holds NaN or inf: {p}")]
        return [Row("adam", "in place", p.shape, p.size, p.size, "all", 0.0)]
    return call_report("adam in place: apply updates the caller's array", "adam", "apply", rows)


# One step by hand, learning rate 0.1 (Keras's defaults otherwise), p = [1, -1], g = [0.3, -20]:
#   m = 0.1 g, v = 0.001 g^2, a_1 = 0.1 sqrt(1 - 0.999) / (1 - 0.9) = 0.1 sqrt(0.001) / 0.1
#   step = a_1 m / (sqrt(v) + eps) = 0.1 sign(g) * s|g| / (s|g| + 1e-7), s = sqrt(0.001)
#        = [-0.09999895, 0.09999998]: about lr against the sign of g, whatever the size of g
ADAM_P0, ADAM_G = np.array([1.0, -1.0]), np.array([0.3, -20.0])
ADAM_FIRST_STEP = np.array([-0.09999894591855767, 0.09999998418861426])


def adam_first_step(cls: type) -> Report:
    def rows() -> list[Row]:
        p = ADAM_P0.copy()
        _step(cls(learning_rate=0.1), ("w", p, ADAM_G))
        row = compare("adam (by hand)", "first step", p - ADAM_P0, ADAM_FIRST_STEP,
                      "one step at learning_rate 0.1 from p = [1, -1] with g = [0.3, -20]: the step")
        if not row.ok:
            row.hint = _bias_or(cls, row.hint)
        return [row]
    return call_report("adam by hand: the first step", "adam (by hand)", "apply", rows)


def _no_bias_correction(cls: type) -> bool:
    """True when a fresh optimizer's first step is the uncorrected a_t = learning_rate."""
    opt = cls()
    p, g = np.array([0.5, -1.5, 2.0]), np.array([0.01, 0.2, -3.0])
    start = p.copy()
    _step(opt, ("w", p, g))
    lr, b1, b2, eps = opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon
    plain = -lr * (1 - b1) * g / (np.sqrt((1 - b2) * g * g) + eps)
    return bool(np.allclose(p - start, plain, rtol=1e-6, atol=0))


def _bias_or(cls: type, other: Hint | None) -> Hint | None:
    """BIAS_HINT if the class steps without the bias correction, else `other`."""
    try:
        return BIAS_HINT if _no_bias_correction(cls) else other
    except Exception:
        return other


def adam_steps(cls: type) -> Report:
    """Five steps against the closed form (gradcheck.check_optimizer), hint refined."""
    try:
        rep = gradcheck.check_optimizer(cls())
    except Exception as exc:
        rep = Report("adam: 5 steps against the closed form", [raised_row("adam", "apply", exc)])
        rep.located = rep.rows[0]
        return rep
    rows = rep.rows
    for r in rows:
        r.layer = "adam"
    for r in rows:
        if not r.ok:
            r.hint = _bias_or(cls, r.hint)
    return rep


def adam_two_parameters(cls: type) -> Report:
    """Two parameters of different shapes in one apply, three steps, each against its own closed form."""
    def rows() -> list[Row]:
        rng = np.random.default_rng(7)
        a0, b0 = rng.standard_normal((2, 3)), rng.standard_normal(4)
        ga = [rng.standard_normal((2, 3)) for _ in range(3)]
        gb = [rng.standard_normal(4) * 10.0 for _ in range(3)]
        opt = cls(learning_rate=0.01)
        a, b = a0.copy(), b0.copy()
        moved_a, moved_b = [], []
        for t in range(3):
            _step(opt, ("first/kernel", a, ga[t]), ("second/bias", b, gb[t]))
            moved_a.append(a - a0)
            moved_b.append(b - b0)
        lr, b1, b2, eps = opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon
        want_a = [p - a0 for p in adam_closed_form(lr, b1, b2, eps, a0, ga)]
        want_b = [p - b0 for p in adam_closed_form(lr, b1, b2, eps, b0, gb)]
        got = np.concatenate([m.ravel() for m in moved_a + moved_b])
        want = np.concatenate([w.ravel() for w in want_a + want_b])
        row = compare("adam", "two parameters", got, want,
                      "two parameters (shapes (2, 3) and (4,)) in one apply, 3 steps: their moves")
        if not row.ok:
            row.hint = _bias_or(cls, TWO_HINT)
        return [row]
    return call_report("adam, two parameters in one apply", "adam", "apply", rows)


ADAM_PARTS: dict[str, Part] = {"in place": adam_in_place, "by hand": adam_first_step,
                               "closed form": adam_steps, "two parameters": adam_two_parameters}


# -- the model's backward -----------------------------------------------------------------------------
def chain_layers() -> list:
    """Three of scratchae's Dense layers, float64: 6 -relu-> 4 -sigmoid-> 3 -sigmoid-> 6."""
    from ..layers import Dense

    return [Dense(4, activation="relu", input_dim=6, dtype="float64", seed=1, name="dense"),
            Dense(3, activation="sigmoid", input_dim=4, dtype="float64", seed=2, name="dense_1"),
            Dense(6, activation="sigmoid", input_dim=3, dtype="float64", seed=3, name="dense_2")]


def _unpack(result: Any, paths: list[str]) -> list[Any]:
    """[dx, grads[path] for each path] from what backward returned, or Problems saying why not."""
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        what = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        wrong = Problem(f"backward returned {what}, expected a tuple (dx, grads) with grads a dict",
                        "return dx, grads")
        return [wrong] * (len(paths) + 1)
    dx, grads = result
    out = [dx]
    for path in paths:
        if path not in grads:
            out.append(Problem(f"grads has no entry {path!r}; it has {sorted(grads)}",
                               "one entry per piece and parameter, keyed '<piece name>/<key>'"))
        else:
            out.append(grads[path])
    return out


def model_gradients(cls: type) -> Report:
    """Finite differences of the loss of a 3-layer chain, against (dx, grads) from backward."""
    from ..losses import BinaryCrossentropy

    layers = chain_layers()
    keys = [(layer, k) for layer in layers for k in layer.params]
    paths = [f"{layer.name}/{k}" for layer, k in keys]
    rng = np.random.default_rng(11)
    x, y = rng.random((5, 6)), rng.random((5, 6))
    model, loss = cls(layers), BinaryCrossentropy()

    def put(arrays):
        for (layer, k), a in zip(keys, arrays[1:]):
            layer.params[k][...] = a
        return arrays[0]

    def run_forward(x_):
        h = x_
        for layer in layers:
            h = layer.forward(h)
        return h

    def f(*arrays):
        return loss.forward(run_forward(put(arrays)), y)

    def grad(*arrays):
        out = model.forward(put(arrays))
        loss.forward(out, y)
        return _unpack(model.backward(loss.backward()), paths)

    def kinks(*arrays):
        run_forward(put(arrays))
        return np.sign(layers[0].logits)

    f.__name__ = "model"
    # h = 1e-4, as check_model: the loss is a mean over N*D, its gradients small, and round-off
    # in the loss (about 1e-16 / h) matters more than truncation (about h^2)
    rep = gradcheck.check_function(f, grad, x, *[layer.params[k].copy() for layer, k in keys],
                                   kinks=kinks, h=1e-4)
    names = [("model", "x")] + [(layer.name, k) for layer, k in keys]
    for r in rep.rows:
        if r.tensor == "x" or r.tensor.startswith("arg"):
            i = 0 if r.tensor == "x" else int(r.tensor[3:])
            if r.problem:
                said = "dx" if i == 0 else f"grads[{paths[i - 1]!r}]"
                r.problem = r.problem.replace(f"the gradient of {r.tensor} (returned by grad)", said)
            r.layer, r.tensor = names[i]
        elif r.how == "raised":
            r.layer = "model"
    rep.title = "model backward: 3 Dense layers (6-4-3-6), BCE, against finite differences"
    rep.located = next((r for r in rep.rows if not r.ok), None)
    return rep


class _HandPiece:
    """y = scale * w * x + c, with w and c parameters if given; records every backward call."""

    def __init__(self, name: str, log: list, scale: float = 1.0, w: float | None = None,
                 c: float | None = None) -> None:
        self.name, self.log, self.scale = name, log, scale
        self.params = {k: np.array([v]) for k, v in (("w", w), ("c", c)) if v is not None}
        self.grads = {k: np.zeros(1) for k in self.params}

    def _w(self) -> float:
        return float(self.params["w"][0]) if "w" in self.params else 1.0

    def forward(self, x):
        self.x = x
        return self.scale * self._w() * x + (self.params["c"][0] if "c" in self.params else 0.0)

    def backward(self, dy):
        self.log.append((self.name, np.array(dy, dtype=np.float64, copy=True)))
        if "w" in self.params:
            self.grads["w"][...] = (self.scale * self.x * dy).sum()
        if "c" in self.params:
            self.grads["c"][...] = np.sum(dy)
        dx = self.scale * self._w() * dy
        self.log[-1] += (np.array(dx, copy=True),)
        return dx


# By hand: double (y = 2x), scale (y = w x, w = 3), affine (y = 0.5 x + c, c = 0.25); x = [[2]]:
#   forward  2 -> 4 -> 12 -> 6.25;  backward from dy = [[1]], in reverse:
#   affine:  dc = 1, hands back 0.5;   scale: dw = 4 * 0.5 = 2, hands back 3 * 0.5 = 1.5
#   double:  hands back 2 * 1.5 = 3 = dL/dx
HAND_ANSWER = {"x": np.array([[3.0]]), "scale/w": np.array([2.0]), "affine/c": np.array([1.0])}
HAND_ORDER = ["affine", "scale", "double"]


def model_by_hand(cls: type) -> Report:
    log: list = []
    pieces = [_HandPiece("double", log, scale=2.0), _HandPiece("scale", log, w=3.0),
              _HandPiece("affine", log, scale=0.5, c=0.25)]
    label = "model (by hand)"
    rows: list[Row] = []
    try:
        model = cls(pieces)
        model.forward(np.array([[2.0]]))
        result = model.backward(np.array([[1.0]]))
    except Exception as exc:
        rows.append(raised_row(label, "backward", exc))
        result = None
    order = [name for name, *_ in log]
    ok = order == HAND_ORDER
    rows.append(Row(label, "order", (3,), 3, 3, "all", 0.0 if ok else 1.0, problem=None if ok else (
        f"backward calls, in order: {order or 'none'}; expected {HAND_ORDER} (each piece once, the "
        "last piece first)"), hint=None if ok else Hint("order", "call the pieces' backward in "
                                                         "reverse order, each once: the last piece first")))
    handed = [entry[1] for entry in log]
    returned = [entry[2] for entry in log if len(entry) > 2]
    chained = len(handed) == 3 and len(returned) >= 2 and np.array_equal(handed[0], [[1.0]]) and all(
        np.array_equal(handed[i + 1], returned[i]) for i in range(2))
    rows.append(Row(label, "chain", (3,), 3, 3, "all", 0.0 if chained else 1.0,
                    problem=None if chained else (
                        f"the pieces were handed, call by call: {[float(np.ravel(h)[0]) for h in handed]}; "
                        "each call must get what the call before it returned (dy for the first: "
                        "[1.0, 0.5, 1.5] here)"),
                    hint=None if chained else Hint("chain", "hand each piece the gradient returned by "
                                                            "the piece after it, not the loss's dy")))
    if result is not None:
        got = _unpack(result, ["scale/w", "affine/c"])
        for (tensor, want), value in zip(HAND_ANSWER.items(), got):
            if isinstance(value, Problem):
                rows.append(Row(label, tensor, want.shape, 0, want.size, "structure", 1.0,
                                hint=Hint("structure", value.hint), problem=value.message))
            else:
                rows.append(compare(label, tensor, value, want,
                                    "pieces double, scale (w = 3), affine (c = 0.25), x = [[2]], dy = [[1]]"))
    rep = Report("model by hand: pieces double, scale (w = 3), affine (c = 0.25)", rows)
    rep.located = next((r for r in rows if not r.ok), None)
    return rep


MODEL_PARTS: dict[str, Part] = {"gradients": model_gradients, "by hand": model_by_hand}
