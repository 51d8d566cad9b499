"""What each exercise checks, part by part; every part turns into rows of a gradcheck `Report`.

An exercise is checked in independent *parts*, each on a fresh instance of the learner's class,
so that one part failing (or raising, or hanging) never hides what the others find:

    forward        the template's forward is unchanged: the finite differences compare the
                   backward with *this* forward, so a changed forward would change the question
    gradients      the finite-difference checks of `scratchae.gradcheck` (structure first, then
                   every tensor, then the kink convention where there is one)
    by hand        a known answer worked by hand (the numbers are derived in the comments and in
                   docs/backprop.md); for Adam and the model, which have no gradient to
                   difference, these parts are the check: the closed form, and a chain of three
                   hand-made pieces

No reference solution is used: the gradients are compared with finite differences of the
learner's own forward, and the known answers are numbers. Each part is a function of the
learner's *class*, returning a `Report` (a table of rows).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .. import gradcheck
from .._contract import gradient_problem
from ..gradcheck import Report, Row
from ..gradcheck.core import numerical_gradient
from ..gradcheck.hints import Hint

Part = Callable[[type], Report]
LN3 = math.log(3.0)


# -- rows ---------------------------------------------------------------------------------------
def raised_row(label: str, phase: str, exc: BaseException) -> Row:
    """An ERROR row for an exception from the learner's code (`exception` kept for the caller)."""
    return Row(label, phase, (), 0, 0, "raised", 1.0,
               problem=f"{label}.{phase} raised: {gradcheck.describe_raised(exc)}", exception=exc)


def _fmt(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a, dtype=np.float64), precision=6, separator=", ",
                           suppress_small=True).replace("\n", "")


def compare(label: str, tensor: str, got: Any, expected: np.ndarray, case: str) -> Row:
    """A known-answer row: `got` against the hand-worked `expected` (structure first)."""
    expected = np.asarray(expected, dtype=np.float64)
    problem = gradient_problem(got, expected, finite=True)
    if problem is not None:
        return Row(label, tensor, expected.shape, 0, expected.size, "structure", 1.0,
                   hint=Hint("structure", problem.hint), problem=f"{case}; {tensor}: {problem.message}")
    a = np.asarray(got, dtype=np.float64)
    floor = 1e-9 * (1.0 + float(np.abs(expected).max(initial=0.0)))
    err = np.abs(a - expected) / np.maximum(np.abs(a) + np.abs(expected), floor)
    w = int(np.argmax(err))
    worst = tuple(int(j) for j in np.unravel_index(w, expected.shape))
    row = Row(label, tensor, expected.shape, expected.size, expected.size, "all", float(err.max()),
              worst, float(a.flat[w]), float(expected.flat[w]))
    if not row.ok:
        if expected.size <= 8:
            row.problem = f"{case}; {tensor}: expected {_fmt(expected)}, got {_fmt(a)}"
        else:
            wrong = int(np.count_nonzero(err >= 1e-2))
            row.problem = (f"{case}; {tensor}: {wrong} of {expected.size} values wrong, the worst at "
                           f"element {worst}: expected {expected.flat[w]:.6g}, got {a.flat[w]:.6g}")
    return row


def call_report(title: str, label: str, phase: str, fn: Callable[[], list[Row]]) -> Report:
    """A report of fn()'s rows, or of one ERROR row if the learner's code raised inside it."""
    try:
        rows = fn()
    except Exception as exc:
        rows = [raised_row(label, phase, exc)]
    rep = Report(title, rows)
    rep.located = next((r for r in rows if not r.ok), None)
    return rep


# -- forward unchanged ----------------------------------------------------------------------------
def forward_part(label: str, make: Callable[[type], Any], inputs: Callable[[], tuple],
                 reference: Callable[..., Any]) -> Part:
    """The learner's forward on fixed inputs against the template's formula (`reference`)."""

    def run(cls: type) -> Report:
        def rows() -> list[Row]:
            obj = make(cls)
            args = inputs()
            got = obj.forward(*args)
            want = np.asarray(reference(obj, *args), dtype=np.float64)
            got_arr = np.asarray(got, dtype=np.float64) if np.ndim(got) == 0 else got
            row = compare(label, "forward", got_arr, want, "the template's forward on a fixed input")
            if not row.ok:
                row.problem = ("forward differs from the template's, and the gradient checks compare "
                               "your backward with your forward: keep the template's forward "
                               f"({row.problem})")
                row.hint = Hint("forward", "restore the template's forward")
            return [row]
        return call_report(f"forward of {label}: the template's, on a fixed input", label, "forward", rows)
    return run


# -- finite differences, with hints in the exercise's own words ----------------------------------
def gradient_part(check: Callable[[Any], gradcheck.Report], make: Callable[[type], Any],
                  refine: Callable[[type, list[Row]], None] | None = None,
                  rename: dict[str, str] | None = None) -> Part:
    """The gradcheck report of the piece's backward, its input tensor renamed if asked."""

    def run(cls: type) -> Report:
        rep = check(make(cls))
        rows = rep.rows
        for old, new in (rename or {}).items():
            rep.title = rep.title.replace(old, new)
            for r in rows:
                if r.tensor == old:
                    r.tensor = new
        if refine is not None and any(not r.ok for r in rows):
            try:
                refine(cls, rows)
            except Exception:           # a refinement is a better hint, never a new failure
                pass
        return rep
    return run


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    return float(np.linalg.norm(a - b)) <= 1e-3 * scale


def refine_kl(n: int) -> Callable[[type, list[Row]], None]:
    """KL: a gradient N times too large is the mean's 1/N forgotten: say so in KL's words."""

    def refine(cls: type, rows: list[Row]) -> None:
        for r in rows:
            if not r.ok and r.hint is not None and r.hint.kind == "scale" and r.numeric \
                    and abs(r.analytic / r.numeric - n) <= 1e-3 * n:
                r.hint = Hint("scale", f"analytic = {n} x numeric, the batch size N: rho_hat[j] is a "
                                       f"mean over the N rows, so d rho_hat[j] / d h[n, j] = 1/N: the "
                                       "1/N of the mean is missing")
    return refine


def refine_logits(make: Callable[[type], Any], z: np.ndarray, y: np.ndarray):
    """BCE from logits: the sigmoid's derivative multiplied in again (it cancels in the fused form)."""

    def refine(cls: type, rows: list[Row]) -> None:
        obj = make(cls)
        zz = z.copy()
        obj.forward(zz, y)
        a = np.asarray(obj.backward(), dtype=np.float64)
        n = numerical_gradient(lambda: float(obj.forward(zz, y)), zz)
        p = 1.0 / (1.0 + np.exp(-z))
        if a.shape == z.shape and _close(a, n * p * (1 - p)):
            for r in rows:
                if not r.ok and r.tensor == "z":
                    r.hint = Hint("extra-sigmoid", "analytic = numeric x p (1 - p): the sigmoid's "
                                  "derivative is multiplied in on top of the fused gradient; in dL/dp "
                                  "* dp/dz the p (1 - p) cancels BCE's denominator, so it must not "
                                  "appear in dL/dz")
    return refine


# -- known answers worked by hand -------------------------------------------------------------------
def by_hand_part(label: str, case: str, make: Callable[[type], Any],
                 run_case: Callable[[Any], dict[str, Any]], expected: dict[str, np.ndarray]) -> Part:
    """Run `run_case(piece)` -> {tensor: what the piece handed back}; compare with `expected`."""

    def run(cls: type) -> Report:
        def rows() -> list[Row]:
            got = run_case(make(cls))
            return [compare(f"{label} (by hand)", t, got.get(t), e, case) for t, e in expected.items()]
        return call_report(f"{label} by hand: {case}", f"{label} (by hand)", "backward", rows)
    return run


def set_dense(obj: Any, kernel: np.ndarray, bias: np.ndarray) -> None:
    """Write the hand-worked weights into the learner's Dense (its own arrays, in place)."""
    for key, value in (("kernel", kernel), ("bias", bias)):
        have = obj.params.get(key) if isinstance(getattr(obj, "params", None), dict) else None
        if not isinstance(have, np.ndarray) or have.shape != value.shape:
            raise ValueError(f"Dense(2, 3).params[{key!r}] should be an array of shape {value.shape}, "
                             f"got {getattr(have, 'shape', type(have).__name__)}")
        have[...] = value


# Dense, by hand: x (2, 2), kernel (2, 3) (not square, so a transposed product shows), dy (2, 3)
#   dkernel = x^T dy = [[1*1 + 0*2, 1*0 + 0*1, 1*-1 + 0*0], [2*1 - 1*2, 2*0 - 1*1, 2*-1 - 1*0]]
#   dbias   = sum over the rows of dy = [3, 1, -1]
#   dx      = dy kernel^T = [[1*1 + 0*0 - 1*2, -1*1 + 0*1 + 0], [2*1 + 0 + 0, -2 + 1 + 0]]
DENSE_CASE = dict(x=np.array([[1.0, 2.0], [0.0, -1.0]]), kernel=np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0]]),
                  bias=np.array([0.5, -0.5, 0.0]), dy=np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]))
DENSE_ANSWER = {"kernel": np.array([[1.0, 0.0, -1.0], [0.0, -1.0, -2.0]]), "bias": np.array([3.0, 1.0, -1.0]),
                "x": np.array([[-1.0, -1.0], [2.0, -1.0]])}


def dense_case(obj: Any) -> dict[str, Any]:
    c = DENSE_CASE
    set_dense(obj, c["kernel"], c["bias"])
    obj.forward(c["x"].copy())
    dx = obj.backward(c["dy"].copy())
    return {"kernel": obj.grads.get("kernel"), "bias": obj.grads.get("bias"), "x": dx}


# ReLU: dy where x > 0, else 0 (x == 0 included: the convention)
RELU_CASE = dict(x=np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.0]]), dy=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
RELU_ANSWER = {"x": np.array([[0.0, 0.0, 3.0], [4.0, 0.0, 0.0]])}
# sigmoid: y = [[1/2, 3/4], [1/4, 1/2]] at x = [[0, ln 3], [-ln 3, 0]]; y (1 - y) = [[1/4, 3/16], [3/16, 1/4]]
SIGMOID_CASE = dict(x=np.array([[0.0, LN3], [-LN3, 0.0]]), dy=np.array([[1.0, 2.0], [4.0, -2.0]]))
SIGMOID_ANSWER = {"x": np.array([[0.25, 0.375], [0.75, -0.5]])}
# BCE: (p - y) / (p (1 - p)) / (N D), N D = 4: [[-0.5/0.25, 0.8/0.16], [0.25/0.1875, 0]] / 4
BCE_CASE = dict(p=np.array([[0.5, 0.8], [0.25, 0.5]]), y=np.array([[1.0, 0.0], [0.0, 0.5]]))
BCE_ANSWER = {"y_pred": np.array([[-0.5, 1.25], [1.0 / 3.0, 0.0]])}
# L1, factor 0.5: 0.5 sign(h), sign(0) = 0
L1_CASE = dict(h=np.array([[1.0, -2.0], [0.0, 3.0]]))
L1_ANSWER = {"h": np.array([[0.5, -0.5], [0.0, 0.5]])}
# MSE: 2 (p - y) / (N D), N D = 4: 2 [[1, -2], [0, -0.5]] / 4
MSE_CASE = dict(p=np.array([[1.0, 2.0], [0.0, 0.5]]), y=np.array([[0.0, 4.0], [0.0, 1.0]]))
MSE_ANSWER = {"y_pred": np.array([[0.5, -1.0], [0.0, -0.25]])}
# KL, rho = 0.2, beta = 3, N = 2: rho_hat = [0.2, 0.4]; dKL/dq = [-1 + 1, -0.5 + 0.8/0.6] = [0, 5/6];
# times beta / N = 1.5: [0, 1.25] in both rows (docs/backprop.md#kl-sparsity)
KL_CASE = dict(h=np.array([[0.1, 0.6], [0.3, 0.2]]))
KL_ANSWER = {"h": np.array([[0.0, 1.25], [0.0, 1.25]])}
# BCE from logits: p = sigmoid(z) = [[1/2, 3/4], [1/4, 1/2]]; (p - y) / (N D), N D = 4
LOGITS_CASE = dict(z=np.array([[0.0, LN3], [-LN3, 0.0]]), y=np.array([[1.0, 0.0], [0.0, 0.5]]))
LOGITS_ANSWER = {"z": np.array([[-0.125, 0.1875], [0.0625, 0.0]])}


def elementwise_case(obj: Any, x: np.ndarray, dy: np.ndarray) -> dict[str, Any]:
    obj.forward(x.copy())
    return {"x": obj.backward(dy.copy())}


def scalar_case(obj: Any, name: str, *inputs: np.ndarray) -> dict[str, Any]:
    obj.forward(*(a.copy() for a in inputs))
    return {name: obj.backward()}
