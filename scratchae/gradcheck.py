"""Gradient checking: compare a hand-written backward with central finite differences.

The core, used by the tests of every piece:

    numerical_gradient(f, x, h)   dL/dx by central differences, one element at a time, in float64
    rel_error(a, n)               |a - n| / max(|a| + |n|, tiny), elementwise
    check_piece(piece, x, ...)    worst relative error of dL/dx and of every parameter gradient,
                                  for L = sum(piece.forward(x) * dy) with a random upstream dy

The teaching checker, built on the same idea, returns a `Report` (`.ok`, `.worst`, `.rows`,
and a table as its `str()`):

    check_layer(layer, x)              one piece: activation, Dense, regularizer
    check_loss(loss, y_pred, y_true)   a loss
    check_model(model, x, y)           a whole compiled model on a batch, penalties included;
                                       on failure each layer is checked alone and the first
                                       wrong one is named
    check_function(f, grad, *arrays)   any scalar f(*arrays) with its claimed gradient
    check_optimizer(optimizer)         a known-answer check (optimizers have no gradient)

What it does beyond printing two columns:
  * float64 always: a float32 layer or model is checked on a float64 deep copy; yours is untouched
  * small tensors are checked element by element, large ones on a seeded sample of k elements,
    or with one random direction (mode="direction": (f(t+hv) - f(t-hv)) / 2h against <grad, v>)
  * kinks: a difference that straddles ReLU's or |h|'s kink (the sign of a pre-activation or of
    an L1 input changes between t-h and t+h) is not a bug; such an element is re-sampled (the
    input nudged away, or another element picked) and counted in the row
  * hints: a failing tensor gets a likely mistake (factor 2, missing 1/N, sign, transpose, mask,
    missing upstream multiply), see `scratchae.gradcheck_hints`

Why a *random* dy and not ones: with dy = 1 every output counts the same, so a gradient that
sums the wrong axis or uses a transposed kernel can still come out right. Random weights tell
the outputs apart.

How small is small (CS231n's bands, float64, h = 1e-5):
    < 1e-7   good
    < 1e-4   acceptable (expected only near a kink)
    < 1e-2   suspect (look closer; not counted as a failure)
    > 1e-2   wrong

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> numerical_gradient(lambda: float((x ** 3).sum()), x).round(6)     # 3 x^2
    array([ 3., 12.])
    >>> check_function(lambda x: (x ** 3).sum(), lambda x: 3 * x ** 2, x).ok
    True
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .gradcheck_hints import Hint, diagnose

TINY = 1e-12


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h for every element i of x.

    `f` takes no argument and reads `x`, which is changed in place and restored after each
    element. `x` must be float64: float32 rounding (about 1e-7 relative) divided by a step of
    1e-5 would swamp the comparison.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays (float32 is too coarse), got {x.dtype}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)   # views of x and grad
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = f()
        flat[i] = old - h
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """Elementwise |a - n| / max(|a| + |n|, tiny): 0 when both are 0, at most 1."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), TINY)


def check_piece(piece, x: np.ndarray, *extra: np.ndarray, dy: np.ndarray | None = None,
                seed: int = 0, h: float = 1e-5) -> dict[str, float]:
    """Worst relative error per tensor ('x' and each key of piece.params) of one piece.

    A piece whose forward returns an array (activation, Dense) is checked on
    L = sum(forward(x) * dy) + piece.penalty (the activity penalty, if it has one), dy random (seeded) unless given; backward(dy) must return dL/dx.
    A piece whose forward returns a scalar (loss, regularizer; `extra` holds a loss's target)
    is checked on L = forward(x, *extra), with backward() returning dL/dx.
    """
    out = piece.forward(x, *extra)
    scalar = np.ndim(out) == 0
    if not scalar and dy is None:
        dy = np.random.default_rng(seed).standard_normal(np.shape(out))

    def loss() -> float:
        y = piece.forward(x, *extra)
        # a layer with an activity regularizer adds its penalty to the loss, and its backward
        # adds the penalty's gradient: check both together
        return float(y) if scalar else float(np.sum(y * dy)) + getattr(piece, "penalty", 0.0)

    loss()
    dx = piece.backward() if scalar else piece.backward(dy)
    analytic = {"x": np.array(dx, dtype=np.float64)}
    analytic.update({k: g.copy() for k, g in getattr(piece, "grads", {}).items()})
    numeric = {"x": numerical_gradient(loss, x, h)}
    for k, p in getattr(piece, "params", {}).items():
        numeric[k] = numerical_gradient(loss, p, h)
    return {k: float(rel_error(analytic[k], numeric[k]).max(initial=0.0)) for k in analytic}


# =========================================================================================
# The teaching checker: reports, kinks, sampling, localisation, hints
# =========================================================================================
EPS = float(np.finfo(np.float64).eps)
BANDS = ((1e-7, "good"), (1e-4, "acceptable"), (1e-2, "suspect"))


def verdict(error: float) -> str:
    """CS231n's bands: good < 1e-7 <= acceptable (kinks) < 1e-4 <= suspect < 1e-2 <= wrong."""
    for limit, name in BANDS:
        if error < limit:
            return name
    return "wrong"


@dataclass
class Row:
    """One checked tensor: where it is, how much of it was checked, how wrong it is."""

    layer: str
    tensor: str
    shape: tuple
    checked: int                  # elements (or directions) compared
    total: int                    # elements in the tensor
    how: str                      # "all", "sample" or "direction"
    error: float                  # max relative error over what was checked
    worst: tuple | None = None    # index of the worst element (None in direction mode)
    analytic: float = 0.0         # at the worst element (or <grad, v>)
    numeric: float = 0.0
    kinks: int = 0                # differences that straddled a kink (re-sampled)
    hint: Hint | None = None

    @property
    def verdict(self) -> str:
        return verdict(self.error)

    @property
    def ok(self) -> bool:
        return self.verdict != "wrong"

    @property
    def name(self) -> str:
        return f"{self.layer}/{self.tensor}"

    def _checked_text(self) -> str:
        if self.how == "direction":
            return "1 direction"
        if self.how == "sample":
            return f"{self.checked} of {self.total} *"
        return f"all {self.total}" if self.checked == self.total else f"{self.checked} of {self.total}"


@dataclass
class Report:
    """What a check found: `.ok`, `.worst`, `.rows`, `.located`; `str()` is the table."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parts: list["Report"] = field(default_factory=list)   # per-layer checks of a model
    located: Row | None = None                            # the first wrong piece found

    def all_rows(self) -> list[Row]:
        return self.rows + [r for p in self.parts for r in p.all_rows()]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.all_rows())

    @property
    def worst(self) -> Row | None:
        rows = self.all_rows()
        return max(rows, key=lambda r: r.error) if rows else None

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.all_rows() if not r.ok]

    def table(self) -> str:
        head = ("layer", "tensor", "shape", "checked", "max rel err", "kinks", "verdict")
        body = [(r.layer, r.tensor, str(tuple(r.shape)), r._checked_text(), f"{r.error:.2e}",
                 str(r.kinks), r.verdict.upper() if r.verdict == "wrong" else r.verdict)
                for r in self.rows]
        widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        fmt = "  ".join("{:<%d}" % w for w in widths)
        lines = [self.title, fmt.format(*head)] + [fmt.format(*b) for b in body]
        if any(r.how == "sample" for r in self.rows):
            lines.append("  * a seeded sample of the tensor's elements (large tensor)")
        for r in self.rows:
            if r.kinks:
                lines.append(f"  {r.name}: {r.kinks} difference(s) straddled a kink (ReLU/|h| at 0): "
                             "re-sampled, not counted as errors")
            if r.verdict in ("wrong", "suspect"):
                where = f"element {r.worst}" if r.worst is not None else "random direction"
                lines.append(f"  {r.name} {r.verdict.upper()}: {where}: analytic {r.analytic:.6g}, "
                             f"numeric {r.numeric:.6g}")
                if r.hint is not None:
                    lines.append(f"    hint: {r.hint.text}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render(top=True)

    def _render(self, top: bool) -> str:
        parts = [self.table()] + [p._render(top=False) for p in self.parts]
        worst = self.worst
        if top and self.located is not None:
            r = self.located
            parts.append(f"First wrong piece: {r.layer}, tensor {r.tensor}"
                         + (f" -- hint: {r.hint.text}" if r.hint else ""))
        status = "PASS" if self.ok else "FAIL"
        tail = f" (worst {worst.error:.2e} at {worst.name})" if worst is not None else ""
        parts.append(f"{status}: {self.title.split(':')[0]}{tail}")
        return "\n".join(parts)


# -- kinks ----------------------------------------------------------------------------------
def _kinked_at_zero(piece: Any) -> bool:
    """ReLU-like or L1-like: a piece with a non-differentiable point at 0."""
    from .activations import ReLU
    from .regularizers import L1
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
    place; analytic(): forward + backward, returns {name: gradient}; evaluate(): value at the
    current point; delta(plus, minus): f(+) - f(-); probe(): kink signature; nudge(): move
    input elements off a kink."""

    label = ""
    nudgeable: str | None = None
    sizes: dict[str, int] = {}
    dy: dict[str, np.ndarray] = {}

    def delta(self, plus, minus) -> float:
        return plus - minus

    def probe(self) -> list[np.ndarray]:
        return []

    def scale(self, value) -> float:
        return 1.0 + abs(value)


class _PieceProblem(_Problem):
    def __init__(self, piece, x, extra=(), dy=None, label="", input_name="x", seed=0):
        self.piece, self.x, self.extra, self.label = piece, x, tuple(extra), label
        self.input_name = input_name
        out = piece.forward(x, *self.extra)
        self.scalar = np.ndim(out) == 0
        if not self.scalar and dy is None:
            dy = np.random.default_rng(seed).standard_normal(np.shape(out))
        self.dy_out = dy
        self.names = list(getattr(piece, "params", {})) + [input_name]
        self.nudgeable = input_name if (self.scalar or not _is_dense_like(piece)) and _kinked_at_zero(piece) \
            else (input_name if _is_dense_like(piece) else None)
        n = x.shape[0] if x.ndim else 1
        self.sizes = {"batch size N": n, "number of elements N*D": x.size}
        if x.ndim == 2:
            self.sizes["width D"] = x.shape[1]
        elementwise = not self.scalar and not getattr(piece, "params", {}) and np.shape(out) == x.shape
        self.dy = {input_name: dy} if elementwise else {}

    def arrays(self):
        return {**getattr(self.piece, "params", {}), self.input_name: self.x}

    def analytic(self):
        self.piece.forward(self.x, *self.extra)
        dx = self.piece.backward() if self.scalar else self.piece.backward(self.dy_out)
        grads = {k: np.array(g, dtype=np.float64) for k, g in getattr(self.piece, "grads", {}).items()}
        return {**grads, self.input_name: np.array(dx, dtype=np.float64)}

    def evaluate(self):
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
            from .config import EPSILON
            return [(self.x > EPSILON) & (self.x < 1 - EPSILON)]
        return []

    def nudge(self, name, flat_idx, rng, h):
        flat = self.x.reshape(-1)
        for i in flat_idx:
            s = np.sign(flat[i]) or (1.0 if rng.random() < 0.5 else -1.0)
            flat[i] += s * 10 * h


class _ModelProblem(_Problem):
    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.label = model.name
        self.paths = [(l.name, k) for l in model._chain for k in l.params]
        self.names = [f"{l}/{k}" for l, k in self.paths]
        self.sizes = {"batch size N": x.shape[0], "number of elements N*D": y.size, "width D": y.shape[1]}
        self.dy = {}

    def arrays(self):
        return {f"{l.name}/{k}": l.params[k] for l in self.model._chain for k in l.params}

    def analytic(self):
        _, grads = self.model.compute_gradients(self.x, self.y)
        return grads

    def evaluate(self):
        return float(self.model.compute_loss(self.x, self.y))

    def probe(self):
        return [s for l in self.model._chain for s in _dense_probe(l)]


class _FunctionProblem(_Problem):
    def __init__(self, f, grad, arrays, kinks=None):
        self.f, self.grad, self.args, self.kinks = f, grad, arrays, kinks
        self.names = ["x"] if len(arrays) == 1 else [f"arg{i}" for i in range(len(arrays))]
        self.label = getattr(f, "__name__", "f")
        first = arrays[0]
        self.sizes = {"batch size N": first.shape[0] if first.ndim else 1, "number of elements": first.size}
        self.dy = {}

    def arrays(self):
        return dict(zip(self.names, self.args))

    def analytic(self):
        g = self.grad(*self.args)
        if len(self.args) == 1 and not isinstance(g, (tuple, list)):
            g = [g]
        if len(g) != len(self.args):
            raise ValueError(f"grad returned {len(g)} arrays for {len(self.args)} inputs")
        out = {}
        for name, a, gi in zip(self.names, self.args, g):
            gi = np.asarray(gi, dtype=np.float64)
            if gi.shape != a.shape:
                raise ValueError(f"grad for {name} has shape {gi.shape}, expected {a.shape}")
            out[name] = gi
        return out

    def evaluate(self):
        return float(self.f(*self.args))

    def probe(self):
        return [np.asarray(self.kinks(*self.args))] if self.kinks is not None else []


# -- the engine -------------------------------------------------------------------------------
def _difference(p: _Problem, flat: np.ndarray, i: int, step: float, base_sig) -> tuple[float, bool]:
    """Central difference along element i; True if it straddled a kink."""
    old = flat[i]
    flat[i] = old + step
    plus, s_plus = p.evaluate(), p.probe()
    hi = flat[i]
    flat[i] = old - step
    minus, s_minus = p.evaluate(), p.probe()
    lo = flat[i]
    flat[i] = old
    crossed = not (_same(base_sig, s_plus) and _same(base_sig, s_minus))
    return p.delta(plus, minus) / (hi - lo), crossed      # the realised step, not 2h


def _check_elements(p, name, arr, a, *, k, max_full, rng, h, base_sig, floor):
    flat = arr.reshape(-1)
    if not np.shares_memory(flat, arr):
        raise ValueError(f"{name}: gradient checks need a contiguous array")
    full = arr.size <= max_full
    order = range(arr.size) if full else rng.permutation(arr.size)
    want = arr.size if full else min(k, arr.size)
    idx, num, crossed = [], [], []
    for i in order:
        if len(idx) + (len(crossed) if full else 0) >= want:
            break
        n_i, kink = _difference(p, flat, int(i), h, base_sig)
        if kink:
            crossed.append(int(i))
            continue
        idx.append(int(i))
        num.append(n_i)
    idx_a = np.array(idx, dtype=np.intp)
    num_a = np.array(num, dtype=np.float64)
    a_s = a.reshape(-1)[idx_a]
    err = np.abs(a_s - num_a) / np.maximum(np.abs(a_s) + np.abs(num_a), floor)
    row = Row(p.label, name, arr.shape, len(idx), arr.size, "all" if full else "sample",
              float(err.max(initial=0.0)), kinks=len(crossed))
    if len(idx):
        w = int(np.argmax(err))
        row.worst = tuple(int(j) for j in np.unravel_index(idx_a[w], arr.shape))
        row.analytic, row.numeric = float(a_s[w]), float(num_a[w])
        if not row.ok or row.verdict == "suspect":
            row.hint = diagnose(a, idx_a, num_a, sizes=p.sizes, dy=p.dy.get(name), floor=floor)
    return row, (crossed if full else [])


def _check_direction(p, name, arr, a, *, rng, h, base_sig, floor):
    kinks = 0
    step = h
    for attempt in range(8):
        v = rng.standard_normal(arr.shape)
        v /= max(float(np.linalg.norm(v)), 1e-300)
        old = arr.copy()
        arr += step * v
        plus, s_plus = p.evaluate(), p.probe()
        arr[...] = old - step * v
        minus, s_minus = p.evaluate(), p.probe()
        arr[...] = old
        if _same(base_sig, s_plus) and _same(base_sig, s_minus):
            numeric = p.delta(plus, minus) / (2 * step)
            analytic = float(np.sum(a * v))
            err = abs(analytic - numeric) / max(abs(analytic) + abs(numeric), floor)
            row = Row(p.label, name, arr.shape, 1, arr.size, "direction", err, None, analytic,
                      numeric, kinks)
            if not row.ok:
                row.hint = Hint("direction", "the directional derivative disagrees; run the "
                                             "element-wise check (mode='elements') for a hint")
            return row
        kinks += 1
        if attempt >= 3:
            step /= 10                 # a different direction did not help: a smaller step
    return Row(p.label, name, arr.shape, 0, arr.size, "direction", 0.0, kinks=kinks)


def _run(p: _Problem, *, mode: str, k: int, max_full: int, seed: int, h: float) -> list[Row]:
    if mode not in ("elements", "direction"):
        raise ValueError(f"mode must be 'elements' or 'direction', got {mode!r}")
    if not (isinstance(k, int) and k > 0) or not (h > 0):
        raise ValueError(f"k must be a positive int and h > 0, got k={k!r}, h={h!r}")
    nudged: dict[str, int] = {}
    for round_ in range(4):
        analytic = p.analytic()
        base = p.evaluate()
        base_sig = p.probe()
        floor = max(1e4 * EPS * p.scale(base) / h, TINY)
        rows, to_nudge = [], []
        arrays = p.arrays()
        for t, name in enumerate(p.names):
            rng = np.random.default_rng([seed, t])
            if mode == "direction":
                row = _check_direction(p, name, arrays[name], analytic[name], rng=rng, h=h,
                                       base_sig=base_sig, floor=floor)
            else:
                row, crossed = _check_elements(p, name, arrays[name], analytic[name], k=k,
                                               max_full=max_full, rng=rng, h=h,
                                               base_sig=base_sig, floor=floor)
                if crossed and name == p.nudgeable:
                    to_nudge = crossed
            row.kinks += nudged.get(name, 0)
            rows.append(row)
        if not to_nudge or round_ == 3:
            return rows
        # full check of an input with elements on a kink: move them off it and check again
        p.nudge(p.nudgeable, to_nudge, np.random.default_rng([seed, 99, round_]), h)
        nudged[p.nudgeable] = nudged.get(p.nudgeable, 0) + len(to_nudge)
    return rows


# -- float64 copies -------------------------------------------------------------------------
def _as64(a: Any) -> np.ndarray:
    return np.array(a, dtype=np.float64, order="C", copy=True)


def _piece64(piece: Any) -> tuple[Any, str | None]:
    """A float64 deep copy of a piece (Dense, activation, regularizer, loss, learner's class)."""
    was = getattr(piece, "dtype", None)
    was = np.dtype(was) if was is not None else None
    c = copy.deepcopy(piece)
    if getattr(c, "params", None):
        for k_ in list(c.params):
            c.params[k_] = _as64(c.params[k_])
            if hasattr(c, "grads"):
                c.grads[k_] = np.zeros_like(c.params[k_])
    if was is not None:
        c.dtype = np.dtype(np.float64)
    note = None
    if was is not None and was != np.float64:
        note = f"{getattr(piece, 'name', type(piece).__name__)} is {was.name}: checked on a float64 copy (yours is unchanged)"
    return c, note


def _model64(model: Any) -> tuple[Any, str | None]:
    memo = {id(model.optimizer): model.optimizer}          # shared, never touched by a check
    for attr in ("_buffers", "history"):
        if getattr(model, attr, None) is not None:
            memo[id(getattr(model, attr))] = None
    c = copy.deepcopy(model, memo)
    c._buffers = None
    for layer in c._layers:
        layer.dtype = np.dtype(np.float64)
        for k_ in list(layer.params):
            layer.params[k_] = _as64(layer.params[k_])
            layer.grads[k_] = np.zeros_like(layer.params[k_])
    was = np.dtype(model.dtype)
    note = None if was == np.float64 else \
        f"model is {was.name}: checked on a float64 copy (your model's weights and dtype are unchanged)"
    return c, note


def _finish(title: str, rows: list[Row], notes: list) -> Report:
    return Report(title, rows, [n for n in notes if n])


# -- public API -------------------------------------------------------------------------------
def check_layer(layer: Any, x: np.ndarray, *, dy: np.ndarray | None = None, mode: str = "elements",
                k: int = 12, max_full: int = 200, seed: int = 0, h: float = 1e-5,
                name: str | None = None, parts: bool = True) -> Report:
    """Check one piece's backward: an activation, a Dense layer or a regularizer.

    Array-valued pieces are checked on L = sum(forward(x) * dy) (+ the layer's activity
    penalty), dy random and seeded; scalar-valued pieces (regularizers) on L = forward(x).
    Tensors of at most `max_full` elements are checked element by element, larger ones on a
    seeded sample of `k`; mode="direction" compares one random directional derivative per
    tensor. For a Dense layer the activation and the regularizer are also checked alone, on
    the values they see (`parts=True`): a wrong penalty gradient hides behind a small factor.
    """
    x64 = _as64(x)
    if x64.size == 0 or not np.all(np.isfinite(x64)):
        raise ValueError("check_layer needs a non-empty, finite x")
    piece, note = _piece64(layer)
    label = name or getattr(layer, "name", None) or type(layer).__name__.lower()
    if not isinstance(label, str) or label in ("activation", "loss"):
        label = type(layer).__name__.lower()
    out = piece.forward(x64)
    input_name = "h" if np.ndim(out) == 0 else "x"
    p = _PieceProblem(piece, x64, dy=None if dy is None else _as64(dy), label=label,
                      input_name=input_name, seed=seed)
    opts = dict(mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    rows = _run(p, **opts)
    if parts and _is_dense_like(piece):
        piece.forward(x64)
        act, reg = piece.activation, getattr(piece, "activity_regularizer", None)
        z = _as64(piece.logits)
        if type(act).__name__ != "Linear":
            rows += check_layer(act, z, name=f"{label} > {getattr(act, 'name', 'activation')}",
                                parts=False, **opts).rows
        if reg is not None:
            y = _as64(act.forward(z))
            from .regularizers import L1, L2
            reg_name = "l1" if isinstance(reg, L1) else "l2" if isinstance(reg, L2) else type(reg).__name__.lower()
            rows += check_layer(reg, y, name=f"{label} > {reg_name}", parts=False, **opts).rows
    kind = "Dense layer" if _is_dense_like(piece) else type(layer).__name__
    title = f"check_layer {label}: {kind}, x {tuple(x64.shape)}"
    rep = _finish(title, rows, [note])
    # a wrong activation or penalty makes the whole layer wrong: name the part first
    rep.located = next((r for r in rows if not r.ok and " > " in r.layer),
                       next((r for r in rows if not r.ok), None))
    return rep


def check_loss(loss: Any, y_pred: np.ndarray, y_true: np.ndarray, *, mode: str = "elements",
               k: int = 12, max_full: int = 200, seed: int = 0, h: float = 1e-5,
               name: str | None = None) -> Report:
    """Check a loss's backward() against d forward(y_pred, y_true) / d y_pred."""
    yp, yt = _as64(y_pred), _as64(y_true)
    piece, note = _piece64(loss)
    label = name or getattr(loss, "name", None) or type(loss).__name__.lower()
    p = _PieceProblem(piece, yp, extra=(yt,), label=label, input_name="y_pred", seed=seed)
    rows = _run(p, mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    rep = _finish(f"check_loss {label}: y_pred {tuple(yp.shape)}", rows, [note])
    rep.located = next((r for r in rows if not r.ok), None)
    return rep


def check_function(f: Callable[..., float], grad: Callable[..., Any], *arrays: np.ndarray,
                   mode: str = "elements", k: int = 12, max_full: int = 200, seed: int = 0,
                   h: float = 1e-5, kinks: Callable[..., np.ndarray] | None = None) -> Report:
    """Check grad(*arrays) (one gradient per input) against the scalar f(*arrays).

    Your arrays are copied to float64 and never changed. `kinks`, if given, maps the arrays to
    an array whose change between t-h and t+h marks a non-differentiable point crossed
    (e.g. lambda x: np.sign(x) for sum(|x|)).
    """
    if not arrays:
        raise ValueError("check_function needs at least one array")
    args = [_as64(a) for a in arrays]
    p = _FunctionProblem(f, grad, args, kinks)
    rows = _run(p, mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    rep = _finish(f"check_function {p.label}: " + ", ".join(str(a.shape) for a in args), rows, [])
    rep.located = next((r for r in rows if not r.ok), None)
    return rep


def _layer_inputs(model, x):
    """The input each layer of the chain sees for the batch x (float64 model copy)."""
    inputs, h = [], x
    for layer in model._chain:
        inputs.append(_as64(h))
        h = layer.forward(h)
    return inputs, h


def check_model(model: Any, x: np.ndarray, y: np.ndarray, *, mode: str = "elements", k: int = 12,
                max_full: int = 200, seed: int = 0, h: float = 1e-4,
                localize: str = "on-failure") -> Report:
    """Check a compiled model's gradients on one batch: its loss, activity penalties included.

    The check runs on a float64 deep copy (the model is never changed). If it fails (or with
    localize="always") every layer is checked alone on the activations it sees in this batch,
    then the loss on the model's output, and the first wrong piece is named (`report.located`).
    The default step is 1e-4: the loss is a mean over N*D elements, its gradients are small,
    and round-off in the loss (about 1e-16 / h) matters more here than truncation (about h^2).
    """
    if getattr(model, "loss", None) is None:
        raise ValueError("check_model needs a compiled model: call model.compile(loss=...) first")
    if localize not in ("on-failure", "always", "never"):
        raise ValueError(f"localize must be 'on-failure', 'always' or 'never', got {localize!r}")
    m, note = _model64(model)
    x64, y64 = _as64(x), _as64(y)
    if x64.ndim != 2 or y64.ndim != 2 or len(x64) != len(y64) or x64.size == 0:
        raise ValueError(f"check_model needs x and y of shape (N, D) with the same N, got {x64.shape}, {y64.shape}")
    p = _ModelProblem(m, x64, y64)
    rows = _run(p, mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    for r in rows:
        r.layer, r.tensor = r.tensor.split("/")
    fused = m.fused
    notes = [note, "loss: sigmoid + binary cross-entropy fused from the logits (the model's training path)"
             if fused else f"loss: {type(m.loss).__name__}, unfused"]
    rep = Report(f"check_model {m.name}: batch of {len(x64)}, loss + penalties", rows,
                 [n for n in notes if n])
    if localize == "always" or (localize == "on-failure" and not rep.ok):
        opts = dict(mode=mode, k=k, max_full=max_full, seed=seed)
        inputs, out = _layer_inputs(m, x64)
        for layer, h_in in zip(m._chain, inputs):
            rep.parts.append(check_layer(layer, h_in, **opts))
        last = m._chain[-1]
        if fused:
            from .losses import BinaryCrossentropy
            rep.parts.append(check_loss(BinaryCrossentropy(from_logits=True), last.logits, y64,
                                        name="loss (fused, from logits)", **opts))
        else:
            rep.parts.append(check_loss(m.loss, out, y64, name="loss", **opts))
        rep.located = next((part.located for part in rep.parts if part.located is not None), None)
        if rep.located is None and not all(r.ok for r in rows):
            rep.notes.append("every piece passes alone but the model does not: look at how the "
                             "model chains them (what is passed between layers)")
    return rep


# -- optimizers: a known answer instead of a gradient -------------------------------------
def _reference_updates(opt, p0, grads):
    """The closed forms, written independently of scratchae.optimizers."""
    p = p0.copy()
    out = []
    kind = type(opt).__name__
    if "Adam" in kind:
        lr, b1, b2, eps = opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon
        m = np.zeros_like(p)
        v = np.zeros_like(p)
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            a_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            p = p - a_t * m / (np.sqrt(v) + eps)
            out.append(p.copy())
    elif "SGD" in kind:
        lr, mu = opt.learning_rate, getattr(opt, "momentum", 0.0)
        vel = np.zeros_like(p)
        for g in grads:
            vel = mu * vel - lr * g
            p = p + vel
            out.append(p.copy())
    else:
        raise TypeError(f"no closed form known for {kind}; check_optimizer knows Adam and SGD")
    return out


def check_optimizer(optimizer: Any, *, steps: int = 5, seed: int = 0) -> Report:
    """Known-answer check of an optimizer (Adam or SGD) against its closed form.

    A fresh copy of `optimizer` (same settings, empty state) takes `steps` steps on a fixed
    float64 array with fixed gradients; after each step the array is compared with the closed
    form computed here independently. Optimizers have no backward pass, so this replaces the
    finite-difference check.
    """
    if not callable(getattr(optimizer, "apply", None)):
        raise TypeError(f"check_optimizer needs a scratchae optimizer (Adam or SGD), got {type(optimizer).__name__}")
    opt = copy.deepcopy(optimizer)
    opt.iterations = 0
    for slot in getattr(opt, "_slots", ()):
        setattr(opt, slot, {})
    if hasattr(opt, "_scratch"):
        opt._scratch = {}
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-3, 2) for _ in range(steps)]
    expected = _reference_updates(opt, p0, grads)
    p = p0.copy()
    label = type(optimizer).__name__
    rows, prev, prev_e = [], p0.copy(), p0.copy()
    for t, (g, e) in enumerate(zip(grads, expected), start=1):
        opt.apply([("p", p, g.copy())])
        err = rel_error(p - prev, e - prev_e)           # compare the steps, not the positions
        w = int(np.argmax(err))
        row = Row(label, f"step {t}", p.shape, p.size, p.size, "all", float(err.max()),
                  tuple(int(j) for j in np.unravel_index(w, p.shape)),
                  float((p - prev).flat[w]), float((e - prev_e).flat[w]))
        if not row.ok:
            row.hint = diagnose(p - prev, np.arange(p.size), (e - prev_e).reshape(-1))
        rows.append(row)
        prev, prev_e = p.copy(), e.copy()
    rep = Report(f"check_optimizer {label}: {steps} steps against the closed form", rows,
                 ["a known-answer check: optimizers have no backward pass to finite-difference; "
                  "'analytic' is the optimizer's step, 'numeric' the closed form's"])
    rep.located = next((r for r in rows if not r.ok), None)
    return rep
