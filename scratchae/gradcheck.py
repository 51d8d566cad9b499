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
  * structure before numbers (as torch.autograd.gradcheck does): every gradient handed back
    (dL/dx, each grads[key], a loss's dL/dy_pred, grad's results, a model's parameter
    gradients) must be a finite float ndarray of exactly the shape of what it differentiates,
    with every key present; if not, a STRUCTURE row says what was expected and what came back
    (`scratchae._contract.gradient_problem`), and its numbers are not compared
  * an exception from the checked code is an ERROR row naming the piece and where it was
    raised (`describe_raised`), never a traceback out of the checker; `Report.ok` is False
  * kink convention (check_layer(..., kink_convention=True)): ReLU-like and L1-like pieces
    must also give exactly 0 at inputs exactly at 0, a known-answer row after the differences
  * float64 always: a float32 layer or model is checked on a float64 deep copy; yours is untouched
  * small tensors are checked element by element, large ones on a seeded sample of k elements,
    or with one random direction (mode="direction": (f(t+hv) - f(t-hv)) / 2h against <grad, v>)
  * kinks: a difference that straddles ReLU's or |h|'s kink (the sign of a pre-activation or of
    an L1 input changes between t-h and t+h) is not a bug; such an element is re-sampled (the
    input nudged away, or another element picked) and counted in the row
  * hints: a failing tensor gets a likely mistake (factor 2, a mean where a sum belongs or the
    reverse, a wrong L1 factor, sign, transpose, mask, missing upstream multiply), in the
    words of the piece checked, see `scratchae.gradcheck_hints`

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
import linecache
import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._contract import ContractError, Problem, describe, gradient_problem, param_gradient_problem
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
    problem: str | None = None    # what is wrong, in words, for a row that has no numbers to
                                  # compare (how="structure" or "raised") or a failed kink row
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def verdict(self) -> str:
        """'good', 'acceptable', 'suspect' or 'wrong'; always 'wrong' for a structural failure
        or an exception (no numbers were compared)."""
        if self.how in _NO_NUMBERS:
            return "wrong"
        return verdict(self.error)

    @property
    def flag(self) -> str:
        """The verdict column: STRUCTURE (a gradient of the wrong type, shape or values, or
        missing), ERROR (the piece raised), WRONG, or the verdict in lower case."""
        if self.how == "structure":
            return "STRUCTURE"
        if self.how == "raised":
            return "ERROR"
        v = self.verdict
        return v.upper() if v == "wrong" else v

    @property
    def ok(self) -> bool:
        return self.verdict != "wrong"

    @property
    def name(self) -> str:
        return f"{self.layer}/{self.tensor}"

    def _checked_text(self) -> str:
        if self.how in _NO_NUMBERS:
            return "-"
        if self.how == "kink":
            return f"{self.checked} (convention)"
        if self.how == "direction":
            return "1 direction"
        if self.how == "sample":
            return f"{self.checked} of {self.total} *"
        return f"all {self.total}" if self.checked == self.total else f"{self.checked} of {self.total}"


_NO_NUMBERS = ("structure", "raised")     # rows where nothing could be compared


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
        body = [(r.layer, r.tensor, "-" if r.how in _NO_NUMBERS and not r.total else str(tuple(r.shape)),
                 r._checked_text(),
                 "-" if r.how in _NO_NUMBERS else f"{r.error:.2e}", str(r.kinks), r.flag)
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
            if r.problem is not None:
                lines.append(f"  {r.name} {r.flag}: {r.problem}")
                if r.hint is not None:
                    lines.append(f"    hint: {r.hint.text}")
            elif r.verdict in ("wrong", "suspect"):
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
            what = f"{r.tensor} raised {type(r.exception).__name__}" if r.how == "raised" \
                else f"tensor {r.tensor}" + (" (structure)" if r.how == "structure" else "")
            parts.append(f"First wrong piece: {r.layer}, {what}"
                         + (f" -- hint: {r.hint.text}" if r.hint else ""))
        status = "PASS" if self.ok else "FAIL"
        broken = next((r for r in self.all_rows() if r.how in _NO_NUMBERS), None)
        if broken is not None:
            tail = f" ({broken.flag} at {broken.name})"
        else:
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


# -- structure before numbers: what the checked code handed back ---------------------------
_MISSING = object()          # a parameter with no entry in grads


class _Raised(Exception):
    """An exception from the checked code, and the call it came from ('forward', 'backward', ...)."""

    def __init__(self, phase: str, exc: Exception) -> None:
        super().__init__(phase)
        self.phase, self.exc = phase, exc


def _call(phase: str, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), with any exception it raises wrapped as _Raised(phase, exc)."""
    try:
        return fn(*args)
    except Exception as exc:
        raise _Raised(phase, exc) from exc


def _structure_problem(got: Any, like: np.ndarray, returned: bool) -> Problem | None:
    """What is wrong with one gradient before any number is compared, or None."""
    if isinstance(got, Problem):
        return got
    if got is _MISSING:
        return param_gradient_problem(None, "?", like)
    return gradient_problem(got, like, returned=returned, finite=True)


def _structure_row(p: "_Problem", name: str, got: Any, like: np.ndarray, problem: Problem) -> Row:
    """A STRUCTURE row: the piece, the tensor, what was expected and what came back, a hint."""
    piece, what = p.describe(name)
    if isinstance(got, Problem):
        detail = got.message
    elif got is _MISSING:
        key = name.rsplit("/", 1)[-1]
        detail = f"grads has no entry {key!r} (params has): expected a float array of shape {like.shape}"
        problem = Problem(detail, f"write self.grads[{key!r}] in backward")
    elif (isinstance(got, np.ndarray) and got.shape == like.shape
          and np.issubdtype(got.dtype, np.floating)):
        detail = f"expected finite values, got a {describe(got)} in which {problem.message}"
    else:
        detail = f"expected a float array of shape {like.shape}, got {describe(got)}"
    return Row(p.label, name, like.shape, 0, like.size, "structure", 1.0,
               hint=Hint("structure", problem.hint), problem=f"{piece}: {what}: {detail}")


def _culprit(exc: BaseException, pieces: dict[int, str]) -> str | None:
    """The label of the innermost checked piece (a `self` in `pieces`) the exception passed through."""
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        obj = frame.f_locals.get("self")
        if obj is not None and id(obj) in pieces:
            found = pieces[id(obj)]
    return found


def _arrays_in(frame: Any, limit: int = 10) -> list[str]:
    """'name (shape)' for the NumPy arrays among a frame's locals, then among self's attributes."""
    out = [f"{k} {v.shape}" for k, v in frame.f_locals.items()
           if isinstance(v, np.ndarray) and k != "self"]
    obj = frame.f_locals.get("self")
    for attr, v in (vars(obj).items() if hasattr(obj, "__dict__") else ()):
        if isinstance(v, np.ndarray):
            out.append(f"self.{attr} {v.shape}")
        elif isinstance(v, dict):
            out += [f"self.{attr}[{k!r}] {a.shape}" for k, a in v.items() if isinstance(a, np.ndarray)]
    return out[:limit]


def describe_raised(exc: BaseException, in_file: str | Path | None = None) -> str:
    """One line about an exception raised by checked code: where, what, and the arrays there.

    The frame described is the innermost one in `in_file` (a learner's file) if given, else
    the innermost outside NumPy and this module. E.g. "my_dense.py, line 27, in backward
    (`return dy @ k`): ValueError: matmul: ...; arrays here: dy (5, 4), self.x (5, 3)".
    """
    what = f"{type(exc).__name__}: {str(exc).strip()}".replace("\n", " ")
    want = Path(in_file).resolve() if in_file is not None else None
    chosen = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        file = Path(frame.f_code.co_filename)
        if want is not None:
            hit = file.resolve() == want
        else:
            hit = file.resolve() != Path(__file__).resolve() and "numpy" not in file.parts
        if hit:
            chosen = (frame, line)
    if chosen is None:
        return what
    frame, line = chosen
    file = frame.f_code.co_filename
    code = linecache.getline(file, line).strip()
    arrays = _arrays_in(frame)
    return (f"{Path(file).name}, line {line}, in {frame.f_code.co_name}"
            + (f" (`{code}`)" if code else "") + f": {what}"
            + (f"; arrays here: {', '.join(arrays)}" if arrays else ""))


def _raised_row(label: str, phase: str, exc: Exception, pieces: dict[int, str] | None = None) -> Row:
    """An ERROR row for an exception from the checked code (a STRUCTURE row for a ContractError,
    which Model.backward raises when a piece hands back a wrong dL/dx)."""
    if isinstance(exc, ContractError):
        return Row(exc.piece, exc.tensor, (), 0, 0, "structure", 1.0,
                   hint=Hint("structure", exc.problem.hint),
                   problem=f"{exc.piece}: dL/d{exc.tensor} (returned by backward): {exc.problem.message}")
    who = _culprit(exc, pieces or {}) or label
    return Row(who, phase, (), 0, 0, "raised", 1.0,
               problem=f"{who}.{phase} raised: {describe_raised(exc)}", exception=exc)


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
    from .activations import ReLU, Sigmoid
    from .losses import BinaryCrossentropy
    from .regularizers import L1, L2
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
        from .losses import Loss
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
            from .config import EPSILON
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
        self.paths = [(l.name, k) for l in model._chain for k in l.params]
        self.names = [f"{l}/{k}" for l, k in self.paths]
        self.sizes = {"batch size N": x.shape[0], "number of elements N*D": y.size, "width D": y.shape[1]}
        self.dy = {}

    def arrays(self):
        return {f"{l.name}/{k}": l.params[k] for l in self.model._chain for k in l.params}

    def analytic(self):
        m = self.model
        _call("forward", m.compute_loss, self.x, self.y)
        _call("backward", lambda: m.backward(m.training_loss.backward()))
        out = {}
        for layer in m._chain:
            grads = getattr(layer, "grads", None)
            for k in layer.params:
                g = grads[k] if isinstance(grads, dict) and k in grads else _MISSING
                out[f"{layer.name}/{k}"] = g.copy() if isinstance(g, np.ndarray) else g
        return out

    def evaluate(self):
        return _call("forward", lambda: float(self.model.compute_loss(self.x, self.y)))

    def probe(self):
        return [s for l in self.model._chain for s in _dense_probe(l)]

    def describe(self, name):
        layer, key = name.rsplit("/", 1)
        return layer, f"grads[{key!r}]"

    def pieces(self):
        out = {}
        for layer in self.model._chain:
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


# -- the engine -------------------------------------------------------------------------------
def _difference(p: _Problem, flat: np.ndarray, i: int, step: float, base_sig) -> tuple[float, bool]:
    """Central difference along element i; True if it straddled a kink."""
    old = flat[i]
    try:
        flat[i] = old + step
        plus, s_plus = p.evaluate(), p.probe()
        hi = flat[i]
        flat[i] = old - step
        minus, s_minus = p.evaluate(), p.probe()
        lo = flat[i]
    finally:
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
            factor, factor_name = p.factor or (None, "l1")
            row.hint = diagnose(a, idx_a, num_a, sizes=p.sizes, dy=p.dy.get(name), floor=floor,
                                piece=p.kind, reduction=p.reduction.get(name), factor=factor,
                                factor_name=factor_name)
    return row, (crossed if full else [])


def _check_direction(p, name, arr, a, *, rng, h, base_sig, floor):
    kinks = 0
    step = h
    for attempt in range(8):
        v = rng.standard_normal(arr.shape)
        v /= max(float(np.linalg.norm(v)), 1e-300)
        old = arr.copy()
        try:
            arr += step * v
            plus, s_plus = p.evaluate(), p.probe()
            arr[...] = old - step * v
            minus, s_minus = p.evaluate(), p.probe()
        finally:
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
    """Check every tensor of `p`: its structure first, then its numbers (only if the structure
    is right). An exception from the checked code becomes one ERROR (or STRUCTURE) row."""
    _check_options(mode, k, h)
    try:
        return _rounds(p, mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    except _Raised as raised:
        return [_raised_row(p.label, raised.phase, raised.exc, p.pieces())]


def _rounds(p: _Problem, *, mode: str, k: int, max_full: int, seed: int, h: float) -> list[Row]:
    nudged: dict[str, int] = {}
    rows: list[Row] = []
    for round_ in range(4):
        raw = p.analytic()
        arrays = p.arrays()
        analytic, broken = {}, {}
        for name in p.names:
            got = raw.get(name, _MISSING)
            problem = _structure_problem(got, arrays[name], name in p.returned)
            if problem is None:
                analytic[name] = np.array(got, dtype=np.float64)
            else:
                broken[name] = _structure_row(p, name, got, arrays[name], problem)
        base = p.evaluate()
        base_sig = p.probe()
        floor = max(1e4 * EPS * p.scale(base) / h, TINY)
        rows, to_nudge = [], []
        for t, name in enumerate(p.names):
            if name in broken:                 # no numbers for a gradient of the wrong structure
                rows.append(broken[name])
                continue
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


_KINK_HINTS = {"relu": "pick 0 at x == 0: let the gradient through where x > 0, not x >= 0",
               "l1": "pick 0 at h == 0: np.sign(h) gives exactly that (np.sign(0) == 0)"}


def _kink_row(p: _PieceProblem) -> Row:
    """The known answer at the kink: with inputs exactly at 0 (every other element, one of
    them -0.0), a ReLU-like or L1-like piece's gradient must be exactly 0 there."""
    xk = p.x.copy()
    flat = xk.reshape(-1)
    on = np.arange(0, flat.size, 2)
    flat[on] = 0.0
    if on.size > 1:
        flat[on[1]] = -0.0
    name = p.input_name
    try:
        _call("forward", p.piece.forward, xk, *p.extra)
        got = _call("backward", p.piece.backward) if p.scalar else \
            _call("backward", p.piece.backward, p.dy_out.copy())
    except _Raised as raised:
        return _raised_row(p.label, raised.phase, raised.exc, p.pieces())
    problem = gradient_problem(got, xk, finite=True)
    if problem is not None:
        return _structure_row(p, name, got, xk, problem)
    a = np.asarray(got, dtype=np.float64).reshape(-1)[on]
    err = rel_error(a, np.zeros_like(a))
    w = int(np.argmax(err))
    worst = tuple(int(j) for j in np.unravel_index(on[w], xk.shape))
    row = Row(p.label, f"{name} at 0", xk.shape, on.size, xk.size, "kink", float(err.max(initial=0.0)),
              worst, float(a[w]), 0.0)
    if not row.ok:
        wrong = int(np.count_nonzero(a))
        row.problem = (f"kink convention: at exactly {name} == 0 the gradient must be 0 (this "
                       f"piece's convention, stated in the template), but {wrong} of {on.size} "
                       f"such elements are not: {a[w]:.6g} at element {worst}")
        row.hint = Hint("kink", _KINK_HINTS.get(p.kind or "", "pick 0 at exactly 0, as the piece's convention says"))
    return row


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


def _failed(title: str, row: Row, note: str | None) -> Report:
    """A report of one row that stopped the check (the piece raised before any gradient)."""
    rep = _finish(title, [row], [note])
    rep.located = row
    return rep


def _check_options(mode: str, k: int, h: float) -> None:
    if mode not in ("elements", "direction"):
        raise ValueError(f"mode must be 'elements' or 'direction', got {mode!r}")
    if not (isinstance(k, int) and k > 0) or not (h > 0):
        raise ValueError(f"k must be a positive int and h > 0, got k={k!r}, h={h!r}")


# -- public API -------------------------------------------------------------------------------
def check_layer(layer: Any, x: np.ndarray, *, dy: np.ndarray | None = None, mode: str = "elements",
                k: int = 12, max_full: int = 200, seed: int = 0, h: float = 1e-5,
                name: str | None = None, parts: bool = True, kink_convention: bool = False) -> Report:
    """Check one piece's backward: an activation, a Dense layer or a regularizer.

    First the structure of what backward hands back: dL/dx and every grads[key] must be a
    finite float array of exactly the shape of what it differentiates (a STRUCTURE row if not;
    an exception from the piece is an ERROR row). Then the numbers: array-valued pieces are
    checked on L = sum(forward(x) * dy) (+ the layer's activity penalty), dy random and
    seeded; scalar-valued pieces (regularizers) on L = forward(x).
    Tensors of at most `max_full` elements are checked element by element, larger ones on a
    seeded sample of `k`; mode="direction" compares one random directional derivative per
    tensor. For a Dense layer the activation and the regularizer are also checked alone, on
    the values they see (`parts=True`): a wrong penalty gradient hides behind a small factor.
    kink_convention=True (ReLU-like and L1-like pieces): also check, on an input with elements
    exactly at 0, that the gradient there is exactly 0 (the convention at the kink).
    """
    _check_options(mode, k, h)
    x64 = _as64(x)
    if x64.size == 0 or not np.all(np.isfinite(x64)):
        raise ValueError("check_layer needs a non-empty, finite x")
    piece, note = _piece64(layer)
    label = name or getattr(layer, "name", None) or type(layer).__name__.lower()
    if not isinstance(label, str) or label in ("activation", "loss"):
        label = type(layer).__name__.lower()
    kind = "Dense layer" if _is_dense_like(piece) else type(layer).__name__
    title = f"check_layer {label}: {kind}, x {tuple(x64.shape)}"
    try:
        p = _PieceProblem(piece, x64, dy=None if dy is None else _as64(dy), label=label, seed=seed)
    except _Raised as raised:
        return _failed(title, _raised_row(label, raised.phase, raised.exc, {id(piece): label}), note)
    opts = dict(mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    rows = _run(p, **opts)
    input_ok = any(r.tensor == p.input_name and r.how not in _NO_NUMBERS for r in rows)
    if kink_convention and input_ok and _kinked_at_zero(piece):
        rows.append(_kink_row(p))
    if parts and _is_dense_like(piece):
        try:
            piece.forward(x64)
            z = _as64(piece.logits)
        except Exception:          # already reported by the rows above
            z = None
        act, reg = piece.activation, getattr(piece, "activity_regularizer", None)
        if z is not None and type(act).__name__ != "Linear":
            rows += check_layer(act, z, name=f"{label} > {getattr(act, 'name', 'activation')}",
                                parts=False, kink_convention=kink_convention, **opts).rows
        if z is not None and reg is not None:
            from .regularizers import L1, L2
            reg_name = "l1" if isinstance(reg, L1) else "l2" if isinstance(reg, L2) else type(reg).__name__.lower()
            try:
                y = _as64(act.forward(z))
            except Exception as exc:
                rows.append(_raised_row(f"{label} > {getattr(act, 'name', 'activation')}", "forward", exc))
            else:
                rows += check_layer(reg, y, name=f"{label} > {reg_name}", parts=False,
                                    kink_convention=kink_convention, **opts).rows
    rep = _finish(title, rows, [note])
    # a wrong activation or penalty makes the whole layer wrong: name the part first
    rep.located = next((r for r in rows if not r.ok and " > " in r.layer),
                       next((r for r in rows if not r.ok), None))
    return rep


def check_loss(loss: Any, y_pred: np.ndarray, y_true: np.ndarray, *, mode: str = "elements",
               k: int = 12, max_full: int = 200, seed: int = 0, h: float = 1e-5,
               name: str | None = None) -> Report:
    """Check a loss's backward() against d forward(y_pred, y_true) / d y_pred: first that it
    hands back a finite float array of y_pred's shape, then its numbers."""
    _check_options(mode, k, h)
    yp, yt = _as64(y_pred), _as64(y_true)
    piece, note = _piece64(loss)
    label = name or getattr(loss, "name", None) or type(loss).__name__.lower()
    title = f"check_loss {label}: y_pred {tuple(yp.shape)}"
    try:
        p = _PieceProblem(piece, yp, extra=(yt,), label=label, input_name="y_pred", seed=seed)
    except _Raised as raised:
        return _failed(title, _raised_row(label, raised.phase, raised.exc, {id(piece): label}), note)
    rows = _run(p, mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    rep = _finish(title, rows, [note])
    rep.located = next((r for r in rows if not r.ok), None)
    return rep


def check_function(f: Callable[..., float], grad: Callable[..., Any], *arrays: np.ndarray,
                   mode: str = "elements", k: int = 12, max_full: int = 200, seed: int = 0,
                   h: float = 1e-5, kinks: Callable[..., np.ndarray] | None = None) -> Report:
    """Check grad(*arrays) (one gradient per input) against the scalar f(*arrays).

    Each gradient must first be a finite float array of its input's shape (a STRUCTURE row if
    not); an exception from f or grad is an ERROR row. Your arrays are copied to float64 and never changed. `kinks`, if given, maps the arrays to
    an array whose change between t-h and t+h marks a non-differentiable point crossed
    (e.g. lambda x: np.sign(x) for sum(|x|)).
    """
    if not arrays:
        raise ValueError("check_function needs at least one array")
    _check_options(mode, k, h)
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

    Every parameter gradient must first be a finite float array of its parameter's shape, and
    a piece's backward that hands back a wrong dL/dx is named by Model.backward (STRUCTURE
    rows); an exception from a piece is an ERROR row naming it.
    The check runs on a float64 deep copy (the model is never changed). If it fails (or with
    localize="always") every layer is checked alone on the activations it sees in this batch,
    then the loss on the model's output, and the first wrong piece is named (`report.located`).
    The default step is 1e-4: the loss is a mean over N*D elements, its gradients are small,
    and round-off in the loss (about 1e-16 / h) matters more here than truncation (about h^2).
    """
    if getattr(model, "loss", None) is None:
        raise ValueError("check_model needs a compiled model: call model.compile(loss=...) first")
    _check_options(mode, k, h)
    if localize not in ("on-failure", "always", "never"):
        raise ValueError(f"localize must be 'on-failure', 'always' or 'never', got {localize!r}")
    m, note = _model64(model)
    x64, y64 = _as64(x), _as64(y)
    if x64.ndim != 2 or y64.ndim != 2 or len(x64) != len(y64) or x64.size == 0:
        raise ValueError(f"check_model needs x and y of shape (N, D) with the same N, got {x64.shape}, {y64.shape}")
    p = _ModelProblem(m, x64, y64)
    rows = _run(p, mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    for r in rows:
        if r.layer == m.name and "/" in r.tensor:      # 'dense_1/kernel' -> layer, tensor
            r.layer, r.tensor = r.tensor.rsplit("/", 1)
    fused = m.fused
    notes = [note, "loss: sigmoid + binary cross-entropy fused from the logits (the model's training path)"
             if fused else f"loss: {type(m.loss).__name__}, unfused"]
    rep = Report(f"check_model {m.name}: batch of {len(x64)}, loss + penalties", rows,
                 [n for n in notes if n])
    if localize == "always" or (localize == "on-failure" and not rep.ok):
        opts = dict(mode=mode, k=k, max_full=max_full, seed=seed)
        try:
            inputs, out = _layer_inputs(m, x64)
        except Exception:              # a forward that raises: already an ERROR row above
            inputs = None
        if inputs is not None:
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
        if rep.located is None:
            rep.located = next((r for r in rows if r.how in _NO_NUMBERS), None)
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
