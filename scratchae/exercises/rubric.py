"""Scoring, in the grader's process: the raw records of a run against the exact answers.

Each exercise is worth 10 points over the checks in `RUBRICS`, graded one by one. Every check
reads the records of the calls the grader asked (`plans.py`), decoded and validated by
`channel.py`, and compares them with answers computed here (`exact.py`): no comparison, score
or message is ever made by the submission's process. The kinds of check:

    forward     every call's forward equals the template's forward on the same inputs
    contract    no exception, float arrays of the right shapes, and the inputs (x, dy, p, ...)
                left as they were handed (a backward that writes into dy breaks its caller)
    tensor      one gradient: half its points on the first call, half on every later call of
                the same instance (a value kept from the first call fails only the second half)
    sign        the first call's gradient has the exact one's sign, element by element
    scale       it is the exact one times a constant (a lost 1/N passes this, a wrong formula not)
    values      the first call, exact;  every: the later calls, exact
    extreme     the call at |z| of several hundred: finite and exact
    kink        exactly 0 where the input is exactly 0 (the templates' convention); the kink
                elements are left out of every other check, so the convention is charged once
    accumulate  Dense's backward adds into grads (the layer contract's +=; the model zeroes them
                at the start of each step): the same call twice, grads zeroed, then filled with
                a known G0; after the second, grads must hold G0 plus what the first left, in
                the same arrays. Judged against the submission's own gradient, not the exact
                one, so a wrong formula is charged by the tensor checks alone; every other check
                runs on zeroed grads, so a backward that writes (=) loses this check only
    by hand     a small case whose answer is worked out below, tensor by tensor

"Exact" means within `RTOL` elementwise (relative to the larger of the two values, with a
floor of 1e-6 of the largest exact value). Two things void the gradient checks of a piece,
with a message saying why: a forward changed from the template's (the question would change),
and a backward that calls forward (finite differences of one's own forward answer nothing).
Adam and the model's backward have checks of their own (`_adam`, `_model`), and so do the
VAE's two, sampling and gaussian-kl, whose forward the learner writes (`rubric_vae.py`). The convolutional two,
conv2d and maxpool, are scored here (as Dense and the one-tensor pieces); their cases by hand
and the hints that name their mistakes are in `rubric_conv.py`. The model's
pieces add into their grads, as scratchae's layers do, and start each call holding a step
before's gradients: `zeroes` asks the model to clear them before the backward, and `params`
is judged against what each piece held plus the exact gradient, so forgetting to zero costs
that one point.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..gradcheck.checks import adam_closed_form
from ..gradcheck.hints import Hint, diagnose
from . import exact
from .channel import Other, Records, error, say, value
from .rubric_conv import CASES as CONV_CASES, CONV_HAND, MAXPOOL_HAND, hint as conv_hint

RTOL = 1e-8              # a derived float64 backward: 1e-13 or better; finite differences: ~1e-7
# Adam's closed form, at gradients of 0.3 to 20 (the paper's form is within 1e-5 of Keras's
# there, and is told apart by the `tiny` part alone; a missing bias correction is 30x off)
ADAM_RTOL = 1e-4


@dataclass(frozen=True)
class Item:
    """One graded check: `name` (a table column), `title` (what it checks), its points, what
    kind of check it is (see the module's docstring) and, for a gradient, which tensor."""

    name: str
    title: str
    weight: float
    kind: str
    tensor: str | None = None


@dataclass
class Check:
    """One graded check of one submission: points earned of `weight`, and why."""

    name: str
    title: str
    weight: float
    score: float
    message: str

    @property
    def passed(self) -> bool:
        return self.score >= self.weight - 1e-9


# -- the exercises -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """How a piece exercise is called and what its forward is."""

    tensor: str                      # the input whose gradient backward returns: 'x', 'y_pred', 'h', 'z'
    label: str                       # how a learner writes that gradient: 'dL/dx', 'dL/dp', ...
    forward: Callable[..., Any]      # (inputs, params, init) -> the template's output, complex-safe
    params: tuple[str, ...] = ()
    scalar: bool = False             # a loss or penalty: backward() takes no dy
    kinks: bool = False
    hint_piece: str | None = None    # the hints' name for it
    reduction: str | None = None     # 'mean' for a loss, 'sum' for a penalty summed over the batch


SPECS: dict[str, Spec] = {
    "dense": Spec("x", "dL/dx", lambda i, p, a: exact.dense(i[0], p["kernel"], p["bias"]),
                  ("kernel", "bias"), hint_piece="dense"),
    "relu": Spec("x", "dL/dx", lambda i, p, a: exact.relu(i[0]), kinks=True, hint_piece="relu"),
    "sigmoid": Spec("x", "dL/dx", lambda i, p, a: exact.sigmoid(i[0]), hint_piece="sigmoid"),
    "bce": Spec("y_pred", "dL/dp", lambda i, p, a: exact.bce(i[0], i[1]), scalar=True,
                hint_piece="bce", reduction="mean"),
    "mse": Spec("y_pred", "dL/dp", lambda i, p, a: exact.mse(i[0], i[1]), scalar=True, reduction="mean"),
    "l1": Spec("h", "dL/dh", lambda i, p, a: exact.l1(i[0], a[0]), scalar=True, kinks=True,
               hint_piece="l1", reduction="sum"),
    "kl": Spec("h", "dL/dh", lambda i, p, a: exact.kl(i[0], a[0], a[1]), scalar=True),
    "bce-logits": Spec("z", "dL/dz", lambda i, p, a: exact.bce_logits(i[0], i[1]), scalar=True,
                       reduction="mean"),
    "conv2d": Spec("x", "dL/dx", lambda i, p, a: exact.conv2d(i[0], p["kernel"], p["bias"]), ("kernel", "bias")),
    "maxpool": Spec("x", "dL/dx", lambda i, p, a: exact.maxpool(i[0])),
}


def _one_tensor(label: str, *, kink: bool = False, extreme: bool = False) -> tuple[Item, ...]:
    # forward 1, contract 1, sign 0.5, scale 1.5 (a lost sign is nearer the answer than a wrong
    # formula), by hand 2, kink or extreme 2: the rest on the values
    values = (10 - 6 - (2 if kink or extreme else 0)) / 2
    items = [Item("forward", "forward unchanged from the template", 1, "forward"),
             Item("contract", "float arrays of the right shape, no exception, inputs left unchanged", 1,
                  "contract"),
             Item("sign", f"{label}: the right sign, element by element", 0.5, "sign"),
             Item("scale", f"{label}: the exact gradient up to one constant factor", 1.5, "scale"),
             Item(label, f"{label} exact on the first call", values, "values"),
             Item("every call", f"{label} exact on later calls of the same instance (other batch sizes)",
                  values, "every")]
    if kink:
        items.append(Item("kink", "the convention at exactly 0: gradient 0", 2, "kink"))
    if extreme:
        items.append(Item("extreme", f"{label} finite and exact at |z| of several hundred", 2, "extreme"))
    return tuple(items) + (Item("by hand", "a known answer worked by hand", 2, "hand"),)


_DENSE_LIKE = (
    Item("forward", "forward unchanged from the template", 1, "forward"),
    Item("contract", "float arrays of the right shapes, no exception, inputs left unchanged", 1, "contract"),
    Item("dL/dkernel", "dL/dkernel exact, on the first call and the later ones", 2, "tensor", "kernel"),
    Item("dL/dbias", "dL/dbias exact, on the first call and the later ones", 1, "tensor", "bias"),
    Item("dL/dx", "dL/dx exact, on the first call and the later ones", 2, "tensor", "x"),
    Item("accumulates", "backward adds into grads (+=): grads filled with a known array before a "
         "call hold it plus the call's gradient, in the same arrays", 1, "accumulate"),
    Item("by hand", "a known answer worked by hand", 2, "hand"))
RUBRICS: dict[str, tuple[Item, ...]] = {
    "dense": (Item("forward", "forward unchanged from the template", 1, "forward"),
              Item("contract", "float arrays of the right shapes, no exception, inputs left unchanged", 1,
                   "contract"),
              Item("dL/dkernel", "dL/dkernel exact, on the first call and the later ones", 2, "tensor", "kernel"),
              Item("dL/dbias", "dL/dbias exact, on the first call and the later ones", 1, "tensor", "bias"),
              Item("dL/dx", "dL/dx exact, on the first call and the later ones", 2, "tensor", "x"),
              Item("accumulates", "backward adds into grads (+=): grads filled with a known array before a "
                   "call hold it plus the call's gradient, in the same arrays", 1, "accumulate"),
              Item("by hand", "a known answer worked by hand", 2, "hand")),
    "relu": _one_tensor("dL/dx", kink=True),
    "sigmoid": _one_tensor("dL/dx", extreme=True),
    "bce": _one_tensor("dL/dp"),
    "mse": _one_tensor("dL/dp"),
    "l1": _one_tensor("dL/dh", kink=True),
    "kl": _one_tensor("dL/dh"),
    "bce-logits": _one_tensor("dL/dz", extreme=True),
    "adam": (Item("in place", "apply updates the caller's arrays in place and leaves the grads as they were",
                  1, "in place"),
             Item("by hand", "the first step, worked by hand", 2, "adam by hand"),
             Item("closed form", "5 steps of one parameter against the closed form", 4, "closed form"),
             Item("epsilon hat", "Keras's form: epsilon added to sqrt(v), not to sqrt(v_hat)", 1, "epsilon"),
             Item("two params", "two parameters in one apply: each its own m and v, one step count", 2,
                  "two params")),
    "model": (Item("contract", "returns (dx, grads): float arrays of the right shapes, every key, "
                   "no exception, inputs left unchanged", 1, "model contract"),
              Item("dL/dx", "dL/dx exact, on two calls", 2, "model dx"),
              Item("params", "every parameter gradient exact, on two calls", 3, "model params"),
              Item("zeroes", "every piece's grads set to zero before its backward (the pieces add into "
                   "them)", 1, "model zeroes"),
              Item("copies", "the grads returned are copies: a later backward leaves them as they were", 1,
                   "copies"),
              Item("by hand", "order, chaining and values on hand-made pieces", 2, "model by hand")),
    # the VAE's two (scored in rubric_vae.py): the learner writes the forward too, so it is graded
    # for what it means (its z replayed and its moments; the KL's value and reduction)
    "sampling": (Item("z", "forward: z = mu + exp(0.5 log_var) eps for the eps drawn from self.rng, on every call",
                      2, "replay"),
                 Item("moments", "forward: over 10000 draws at 4 (mu, log_var) pairs, the mean and variance of z "
                      "within 5 standard errors of mu and exp(log_var)", 2, "moments"),
                 Item("contract", "backward returns (dL/dmu, dL/dlog_var), float arrays of mu's shape; no "
                      "exception, inputs left unchanged", 1, "contract"),
                 Item("dL/dmu", "dL/dmu exact, on the first call and the later ones", 1.5, "tensor", "mu"),
                 Item("dL/dlog_var", "dL/dlog_var exact (with the forward's eps), on the first call and the later "
                      "ones", 2, "tensor", "log_var"),
                 Item("by hand", "z and both gradients on a case worked by hand (eps given)", 1.5, "hand")),
    "gaussian-kl": (Item("KL", "forward: the KL summed over the latent units and averaged over the rows, exact on "
                         "the first call and the later ones", 2, "value"),
                    Item("contract", "forward returns a float, backward (dKL/dmu, dKL/dlog_var) float arrays of "
                         "mu's shape; no exception, inputs left unchanged", 1, "contract"),
                    Item("dKL/dmu", "dKL/dmu exact, on the first call and the later ones", 2, "tensor", "mu"),
                    Item("dKL/dlog_var", "dKL/dlog_var exact, on the first call and the later ones", 2, "tensor",
                         "log_var"),
                    Item("sign", "both gradients: the right sign, element by element", 0.5, "sign"),
                    Item("scale", "both gradients: the exact ones times one constant factor (a reduction off, "
                         "not the formula)", 1.5, "scale"),
                    Item("by hand", "the KL and both gradients on a case worked by hand", 1, "hand")),
    # the convolutional two (hints and cases by hand in rubric_conv.py): conv2d is graded as Dense
    # is, maxpool as the one-tensor pieces, its tie rule in the case by hand (the random inputs
    # have no ties)
    "conv2d": _DENSE_LIKE,
    "maxpool": _one_tensor("dL/dx")[:-1] + (Item("by hand", "a known answer worked by hand, with ties: the "
                                                 "first max in row-major window order gets it all", 2, "hand"),),
}

# the known answers (worked by hand; docs/backprop.md derives each formula)
HAND: dict[str, dict[str, np.ndarray]] = {
    # dkernel = x^T dy, dbias = sum over the rows of dy, dx = dy kernel^T
    "dense": {"kernel": np.array([[1.0, 0.0, -1.0], [0.0, -1.0, -2.0]]), "bias": np.array([3.0, 1.0, -1.0]),
              "x": np.array([[-1.0, -1.0], [2.0, -1.0]])},
    # dy where x > 0, else 0
    "relu": {"x": np.array([[0.0, 2.0, 3.0], [4.0, 0.0, 0.0]])},
    # y = [[1/2, 3/4], [1/4, 1/2]] at x = [[0, ln 3], [-ln 3, 0]]; y (1 - y) dy
    "sigmoid": {"x": np.array([[0.25, 0.375], [0.75, -0.5]])},
    # (p - y) / (p (1 - p)) / (N D), N D = 4
    "bce": {"y_pred": np.array([[-0.5, 1.25], [1.0 / 3.0, 0.0]])},
    # 2 (p - y) / (N D), N D = 4
    "mse": {"y_pred": np.array([[0.5, -1.0], [0.0, -0.25]])},
    # factor 0.5: 0.5 sign(h)
    "l1": {"h": np.array([[0.5, -0.5], [-0.5, 0.5]])},
    # rho 0.2, beta 3, N 2: rho_hat = [0.2, 0.4]; dKL/dq = [0, 5/6]; times beta / N = 1.5
    "kl": {"h": np.array([[0.0, 1.25], [0.0, 1.25]])},
    # p = sigmoid(z) = [[1/2, 3/4], [1/4, 1/2]]; (p - y) / (N D), N D = 4
    "bce-logits": {"z": np.array([[-0.125, 0.1875], [0.0625, 0.0]])},
    "conv2d": CONV_HAND,
    "maxpool": MAXPOOL_HAND,
}
# Adam by hand, learning rate 0.1, p = [1, -1], g = [0.3, -20]: at t = 1, m = 0.1 g, v = 0.001 g^2,
# a_1 = 0.1 sqrt(0.001) / 0.1, so the step is -0.1 sqrt(0.001) 0.1 g / (0.1 (sqrt(0.001) |g| + 1e-7))
ADAM_FIRST_STEP = np.array([-0.09999894591855767, 0.09999998418861426])
# the model by hand: double (y = 2x), scale (y = w x, w = 3), affine (y = 0.5 x + c, c = 0.25),
# x = [[2]]: forward 2 -> 4 -> 12 -> 6.25; backward from dy = [[1]], in reverse: affine: dc = 1,
# hands back 0.5; scale: dw = 4 * 0.5 = 2, hands back 3 * 0.5 = 1.5; double: 2 * 1.5 = 3 = dL/dx
MODEL_HAND = {"x": np.array([[3.0]]), "scale/w": np.array([2.0]), "affine/c": np.array([1.0])}
MODEL_ORDER = ["affine", "scale", "double"]
ADAM = dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)      # the template's defaults


# -- comparing one array with its answer -------------------------------------------------------------
def _fmt(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a, dtype=np.float64), precision=6, separator=", ",
                           suppress_small=True).replace("\n", "")


def _where(i: tuple) -> str:
    return f"element {i}" if i else "the value"


def structure(got: Any, want: np.ndarray, what: str) -> str | None:
    """Why `got` cannot be compared with `want` (a float array of its shape), or None."""
    expected = f"expected a float array of shape {want.shape}"
    if got is None:
        return f"{what}: got None, {expected} (hint: return dx, or add the gradient into self.grads: +=)"
    if isinstance(got, Other):
        return f"{what}: got {got}, {expected}"
    if isinstance(got, float):
        return f"{what}: got the number {got:g}, {expected}"
    if not isinstance(got, np.ndarray):
        return f"{what}: got a {type(got).__name__}, {expected}"
    if got.dtype.kind != "f":
        return (f"{what}: got an array of dtype {got.dtype}, expected floats (hint: an integer or boolean "
                "mask returned as it is? multiply it by dy)")
    if got.shape != want.shape:
        how = ""
        if got.shape == want.shape[::-1] and len(want.shape) == 2:
            how = " (hint: transposed? the gradient has the shape of what it differentiates)"
        elif got.size == want.size:
            how = " (hint: raveled or reshaped? the gradient has the shape of what it differentiates)"
        return f"{what}: got shape {got.shape}, {expected}{how}"
    return None


def errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| / max(|got| + |want|, floor), floor 1e-6 of the largest |want| (NaN -> 1)."""
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    floor = max(1e-6 * float(np.abs(w).max(initial=0.0)), 1e-300)
    with np.errstate(all="ignore"):
        err = np.abs(g - w) / np.maximum(np.abs(g) + np.abs(w), floor)
    both = (g == w)                                              # equal infinities, and zeros
    err = np.where(both, 0.0, err)
    return np.where(np.isnan(err), 1.0, err)


@dataclass
class Verdict:
    ok: bool
    problem: str = ""


def judge(got: Any, want: np.ndarray, what: str, *, mask: np.ndarray | None = None,
          rtol: float = RTOL, derived: bool = True) -> Verdict:
    """`got` against the exact `want` at the elements of `mask` (all if None)."""
    bad = structure(got, want, what)
    if bad:
        return Verdict(False, bad)
    keep = np.ones(want.shape, bool) if mask is None else mask
    err = np.where(keep, errors(got, want), 0.0)
    if not err.size or float(err.max()) <= rtol:
        return Verdict(True)
    i = tuple(int(j) for j in np.unravel_index(int(np.argmax(err)), err.shape))
    g, w = float(got[i]), float(want[i])
    wrong = int(np.count_nonzero(err > rtol))
    if not np.isfinite(g):
        return Verdict(False, f"{what} is {'NaN' if np.isnan(g) else g} at {_where(i)}, where the exact value is {w:.6g} "
                              f"({wrong} of {int(keep.sum())} elements wrong)")
    if derived and err.max() < 1e-4:
        return Verdict(False, f"{what} agrees only to {err.max():.0e} (at {_where(i)}: yours {g:.10g}, "
                              f"exact {w:.10g}); a backward derived by hand, in float64, agrees to 1e-13: "
                              "finite differences, or float32 arithmetic?")
    return Verdict(False, f"{what} is wrong at {wrong} of {int(keep.sum())} elements, the worst at "
                          f"{_where(i)}: yours {g:.6g}, exact {w:.6g}")


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    return float(np.linalg.norm(a - b)) <= 1e-6 * scale


def _hint(got: Any, want: np.ndarray, *, spec: Spec | None, dy: np.ndarray | None,
          sizes: dict[str, int], factor: float | None = None, piece: str = "",
          inputs: list | None = None) -> str:
    if not isinstance(got, np.ndarray) or got.shape != want.shape or got.dtype.kind != "f" \
            or not np.all(np.isfinite(got)):
        return ""
    n = sizes.get("batch size N", 0)
    if piece == "kl" and n > 1 and _close(got, n * want):
        return (f" (hint: yours = {n} x exact, the batch size N: rho_hat[j] is a mean over the N rows, so "
                "d rho_hat[j] / d h[n, j] = 1/N: the 1/N of the mean is missing)")
    if piece == "bce-logits" and inputs is not None:
        p = np.real(exact.sigmoid(inputs[0]))
        if _close(got, want * p * (1 - p)):
            return (" (hint: yours = exact x p (1 - p): the sigmoid's derivative is multiplied in on top "
                    "of the fused gradient; in dL/dp * dp/dz the p (1 - p) cancels BCE's denominator, "
                    "so it must not appear in dL/dz)")
    h = _exact_words(diagnose(got, np.arange(want.size), want.reshape(-1), sizes=sizes, dy=dy,
                 piece=spec.hint_piece if spec else None, reduction=spec.reduction if spec else None,
                 factor=factor, factor_name="factor"))
    return f" (hint: {h.text})"


def _exact_words(h: Hint) -> Hint:
    """The checker's hint in the grader's words: yours against the exact gradient."""
    text = (h.text.replace("analytic gradient", "your gradient").replace("the numeric one", "the exact one")
            .replace("analytic", "yours").replace("numeric", "exact"))
    return Hint(h.kind, text)


# -- a run's records, decoded -------------------------------------------------------------------------
@dataclass(eq=False)
class Call:
    """One call of a piece: what was asked, what came back, and the exact answers."""

    index: int
    asked: dict
    role: str
    record: dict | None
    exact_out: Any = None
    exact: dict | None = None
    returned: dict | None = None            # tensor -> what the submission gave for it
    error: dict | None = None
    forward_calls: int = 0


def _piece_calls(piece: str, part: dict, got: Any) -> list[Call]:
    spec = SPECS[piece]
    out = []
    for i, asked in enumerate(part["calls"]):
        inputs, params = asked["inputs"], asked.get("params") or {}
        init = part.get("init", [])
        call = Call(i, asked, asked.get("role", "later"), got.calls.get(i) if got else None)
        dy = asked.get("dy")
        with np.errstate(all="ignore"):
            call.exact_out = np.real(spec.forward(inputs, params, init))

        def loss(**a):
            ins = [a.get(spec.tensor, inputs[0])] + list(inputs[1:])
            ps = {k: a.get(k, params.get(k)) for k in params}
            y = spec.forward(ins, ps, init)
            return y if spec.scalar else np.sum(y * dy)

        call.exact = exact.gradients(loss, {spec.tensor: inputs[0], **{k: params[k] for k in spec.params}})
        rec = call.record
        if rec is not None:
            call.error = rec.get("error_clean")
            call.forward_calls = rec.get("forward_calls") if isinstance(rec.get("forward_calls"), int) else 0
            grads = value(rec["grads"]) if "grads" in rec else None
            call.returned = {spec.tensor: value(rec["backward"]) if "backward" in rec else None}
            for k in spec.params:
                if not isinstance(grads, dict):
                    call.returned[k] = Other("no self.grads dict")
                else:
                    call.returned[k] = grads.get(k, Other(f"no entry {k!r} in self.grads (it has {sorted(grads)})"))
        out.append(call)
    return out


# -- scoring ---------------------------------------------------------------------------------------------
@dataclass
class Context:
    piece: str
    filename: str
    plan: list[dict]
    records: Records
    missing: str                      # why a part that did not report did not


def _part(ctx: Context, name: str) -> dict:
    return next(p for p in ctx.plan if p["name"] == name)


def _unreported(ctx: Context, name: str) -> str | None:
    """Why part `name` has no usable records (or None when it has them)."""
    got = ctx.records.parts.get(name)
    if got is None or not got.calls:
        if got is not None and got.error is not None:
            return say(got.error, ctx.filename)
        return ctx.missing
    return None


def score(piece: str, plan: list[dict], records: Records, *, filename: str, missing: str,
          void: str | None = None) -> list[Check]:
    """The rubric's checks for one run. `void`: a reason to give no points at all (a file the
    grader refused to run, a channel written to by the submission)."""
    for part in records.parts.values():
        for rec in part.calls.values():
            rec["error_clean"] = error(rec.get("error"))
    items = RUBRICS[piece]
    if void:
        return [Check(i.name, i.title, i.weight, 0.0, f"not graded: {void}") for i in items]
    ctx = Context(piece, filename, plan, records, missing)
    if piece == "adam":
        return _adam(ctx, items)
    if piece == "model":
        return _model(ctx, items)
    if piece in ("sampling", "gaussian-kl"):
        from .rubric_vae import score_vae
        return score_vae(ctx, items)
    return _pieces(ctx, items)


def _check(item: Item, frac: float, message: str) -> Check:
    frac = min(max(frac, 0.0), 1.0)
    return Check(item.name, item.title, item.weight, round(item.weight * frac, 4), message)


def _pieces(ctx: Context, items: tuple[Item, ...]) -> list[Check]:
    spec = SPECS[ctx.piece]
    calls = _piece_calls(ctx.piece, _part(ctx, "calls"), ctx.records.parts.get("calls"))
    hand = _piece_calls(ctx.piece, _part(ctx, "by hand"), ctx.records.parts.get("by hand"))
    init = _part(ctx, "calls").get("init", [])
    factor = init[0] if ctx.piece == "l1" else None
    why_calls, why_hand = _unreported(ctx, "calls"), _unreported(ctx, "by hand")

    def not_run(c: Call) -> str:
        return (why_calls if c in calls else why_hand) or ctx.missing

    # the forward, on every call that reported one
    fwd_bad = []
    for c in calls + hand:
        if c.record is None or "forward" not in c.record:
            continue
        got = value(c.record["forward"])
        want = np.asarray(c.exact_out, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64) if isinstance(got, float) else got
        v = judge(got, want, "forward's output", rtol=1e-9)
        if not v.ok:
            fwd_bad.append(v.problem)
    reported_fwd = [c for c in calls + hand if c.record is not None and "forward" in c.record]
    forward_ok = bool(reported_fwd) and not fwd_bad
    # backward calling forward: finite differences of one's own forward
    fd = max((c.forward_calls for c in calls + hand), default=0)
    gate = None
    if fd:
        gate = (f"not counted: your backward called forward {fd} time{'s' if fd > 1 else ''} in one call: "
                "a backward works from what forward cached and never runs forward again; calling it with "
                "nudged inputs is finite differences, the check's method, not an answer")
    elif reported_fwd and not forward_ok:
        gate = ("not counted: your forward differs from the template's, and the gradients are graded "
                "for the template's forward: restore it")

    def mask_for(c: Call, tensor: str) -> np.ndarray | None:
        if spec.kinks and tensor == spec.tensor:
            return c.asked["inputs"][0] != 0
        return None

    def verdict(c: Call, tensor: str, mask_kinks: bool = True) -> Verdict:
        label = _label(spec, tensor)
        if c.record is None:
            return Verdict(False, f"{label}: not graded: {not_run(c)}")
        got = c.returned.get(tensor) if c.returned else None
        if got is None and c.error is not None and tensor == spec.tensor:
            return Verdict(False, f"{label}: not returned: backward raised {say(c.error, ctx.filename)}")
        if got is None and c.error is not None:
            return Verdict(False, f"{label}: not written: {c.error['phase'] or 'the call'} raised "
                                  f"{say(c.error, ctx.filename)}")
        want = c.exact[tensor]
        v = judge(got, want, label, mask=mask_for(c, tensor) if mask_kinks else None)
        if not v.ok and isinstance(got, np.ndarray):
            n = c.asked["inputs"][0].shape[0]
            x0 = c.asked["inputs"][0]
            sizes = {"batch size N": n, "number of elements N*D": int(x0.size)}
            if x0.ndim == 2:
                sizes["number of columns D"] = int(x0.shape[1])
            dy = c.asked.get("dy")
            dy = dy if dy is not None and np.shape(dy) == want.shape else None
            if ctx.piece in CONV_CASES:
                v.problem += conv_hint(ctx.piece, tensor, got, want, c.asked)
                return v
            v.problem += _hint(got, want, spec=spec, dy=dy,
                               sizes=sizes, factor=factor, piece=ctx.piece, inputs=c.asked["inputs"])
        return v

    checks = []
    first = [c for c in calls if c.role == "first"]
    later = [c for c in calls if c.role == "later"]
    extreme = [c for c in calls if c.role == "extreme"]
    for item in items:
        if item.kind == "forward":
            if forward_ok:
                checks.append(_check(item, 1, "forward equals the template's on every call"))
            elif fwd_bad:
                checks.append(_check(item, 0, f"{fwd_bad[0]}: keep the template's forward"))
            else:
                checks.append(_check(item, 0, f"not graded: {why_calls or ctx.missing}"))
            continue
        if item.kind == "contract":
            checks.append(_contract(item, ctx, spec, calls + hand))
            continue
        if gate is not None:
            checks.append(_check(item, 0, gate))
            continue
        if item.kind == "tensor":
            a = [verdict(c, item.tensor) for c in first]
            b = [verdict(c, item.tensor) for c in later + extreme]
            checks.append(_halves(item, a, b))
        elif item.kind in ("values", "every", "extreme"):
            group = {"values": first, "every": later, "extreme": extreme}[item.kind]
            vs = [verdict(c, spec.tensor) for c in group]
            bad = [v for v in vs if not v.ok]
            if item.kind == "every" and bad and all(v.ok for v in (verdict(c, spec.tensor) for c in first)):
                k = next(c.index for c, v in zip(group, vs) if not v.ok)
                msg = (f"right on the first call, wrong on call {k + 1} of the same instance (other batch "
                       f"size and values): something kept from an earlier call and reused (a cached "
                       f"x.T, y (1 - y), a denominator)? compute it from this call's forward. {bad[0].problem}")
            else:
                msg = bad[0].problem if bad else f"exact on {len(vs)} call{'s' if len(vs) > 1 else ''}"
            checks.append(_check(item, 0 if bad or not vs else 1, msg))
        elif item.kind in ("sign", "scale"):
            checks.append(_shape_of(item, first, spec, verdict))
        elif item.kind == "kink":
            checks.append(_kink(item, calls, spec, not_run))
        elif item.kind == "accumulate":
            checks.append(_accumulate(item, ctx))
        elif item.kind == "hand":
            checks.append(_hand(item, hand, spec, ctx, not_run))
    return checks


def _label(spec: Spec, tensor: str) -> str:
    return spec.label if tensor == spec.tensor else f"dL/d{tensor}"


def _halves(item: Item, first: list[Verdict], later: list[Verdict]) -> Check:
    a = bool(first) and all(v.ok for v in first)
    b = bool(later) and all(v.ok for v in later)
    if a and b:
        return _check(item, 1, f"exact on all {len(first) + len(later)} calls")
    if a:
        bad = next(v for v in later if not v.ok)
        return _check(item, 0.5, "right on the first call, wrong on a later call of the same instance "
                                 "(other batch size, weights and values): something kept from an earlier "
                                 f"call and reused (a cached x.T, a kernel read once)? {bad.problem}")
    bad = next((v for v in first + later if not v.ok), Verdict(False, "not graded"))
    return _check(item, 0.5 if b else 0, bad.problem)


def _shape_of(item: Item, first: list[Call], spec: Spec, verdict) -> Check:
    """sign: every element's sign right; scale: the exact gradient times one constant."""
    if not first or first[0].record is None:
        return _check(item, 0, verdict(first[0], spec.tensor).problem if first else "not graded")
    c = first[0]
    got = c.returned.get(spec.tensor) if c.returned else None
    want = c.exact[spec.tensor]
    mask = c.asked["inputs"][0] != 0 if spec.kinks else np.ones(want.shape, bool)
    bad = structure(got, want, spec.label)
    if bad or not np.all(np.isfinite(got[mask])):
        return _check(item, 0, bad or f"{spec.label} is not finite")
    g, w = got[mask].astype(np.float64), want[mask]
    big = np.abs(w) > 1e-6 * max(float(np.abs(w).max(initial=0.0)), 1e-300)
    if item.kind == "sign":
        wrong = int(np.count_nonzero(np.sign(g[big]) != np.sign(w[big])))
        if wrong == 0:
            return _check(item, 1, "every element has the exact gradient's sign")
        return _check(item, 0, f"{wrong} of {int(big.sum())} elements have the wrong sign "
                               "(a minus sign lost, or p - y written y - p?)")
    ww = float(w @ w)
    k = float(g @ w) / ww if ww > 0 else 0.0
    off = float(np.linalg.norm(g - k * w)) if ww > 0 else float(np.linalg.norm(g))
    if ww > 0 and k != 0 and off <= 1e-6 * float(np.linalg.norm(g)):
        note = "" if abs(k - 1) <= 1e-6 else f": yours is {k:.6g} x the exact one (a constant factor off)"
        return _check(item, 1, "the exact gradient up to one constant factor" + note)
    return _check(item, 0, f"{spec.label} is not the exact gradient times any constant: the formula "
                           "itself differs, not only a factor or a sign")


def _kink(item: Item, calls: list[Call], spec: Spec, not_run) -> Check:
    seen = 0
    for c in calls:
        zero = c.asked["inputs"][0] == 0
        if not zero.any():
            continue
        if c.record is None:
            return _check(item, 0, f"not graded: {not_run(c)}")
        got = c.returned.get(spec.tensor) if c.returned else None
        bad = structure(got, c.exact[spec.tensor], spec.label)
        if bad:
            return _check(item, 0, bad)
        seen += int(zero.sum())
        if np.any(got[zero] != 0):
            i = tuple(int(j) for j in np.argwhere(zero & (got != 0))[0])
            return _check(item, 0, f"{spec.label} is {float(got[i]):.6g} at element {i}, where the input is "
                                   "exactly 0; the convention is 0 there (hint: the mask taken with >= 0 "
                                   "where > 0 belongs? np.sign gives 0 at 0)")
    return _check(item, 1 if seen else 0, f"0 at all {seen} inputs that are exactly 0" if seen
                  else "not graded: no call reported")


def _hand(item: Item, hand: list[Call], spec: Spec, ctx: Context, not_run) -> Check:
    want = HAND[ctx.piece]
    c = hand[0]
    if c.record is None:
        return _check(item, 0, f"not graded: {not_run(c)}")
    rows = []
    for tensor, answer in want.items():
        got = c.returned.get(tensor) if c.returned else None
        label = _label(spec, tensor)
        bad = structure(got, answer, label)
        if bad:
            rows.append((False, bad if c.error is None else f"{label}: {say(c.error, ctx.filename)}"))
            continue
        ok = float(errors(got, answer).max(initial=0.0)) <= 1e-9
        more = conv_hint(ctx.piece, tensor, got, answer, c.asked) if not ok and ctx.piece in CONV_CASES else ""
        rows.append((ok, "" if ok else f"{label}: expected {_fmt(answer)}, got {_fmt(got)}{more}"))
    good = sum(ok for ok, _ in rows)
    bad = [m for ok, m in rows if not ok]
    case = _case(ctx.piece)
    return _check(item, good / len(rows), f"{case}: " + ("; ".join(bad) if bad else "every value as worked by hand"))


def _case(piece: str) -> str:
    return {"dense": "x (2, 2), kernel (2, 3), dy (2, 3)", "relu": "x = [[-1, 0.5, 2], [3, -0.5, -2]], dy",
            "sigmoid": "x = [[0, ln 3], [-ln 3, 0]], dy", "bce": "p, y (2, 2)", "mse": "p, y (2, 2)",
            "l1": "factor 0.5, h (2, 2)", "kl": "rho 0.2, beta 3, h (2, 2)",
            "bce-logits": "z = [[0, ln 3], [-ln 3, 0]], y", **CONV_CASES}[piece]


def _grads_entry(rec: dict | None, key: str) -> Any:
    """What the submission's grads[key] held after the backward of this record."""
    if rec is None:
        return None
    grads = value(rec["grads"]) if "grads" in rec else None
    if not isinstance(grads, dict):
        return Other("no self.grads dict")
    return grads.get(key, Other(f"no entry {key!r} in self.grads (it has {sorted(grads)})"))


def _accumulate(item: Item, ctx: Context) -> Check:
    """Dense's backward adds into grads: each pair of calls is one call twice, grads zeroed and
    then filled with G0; the second must leave G0 + what the first left, in the arrays set."""
    why = _unreported(ctx, "accumulate")
    if why:
        return _check(item, 0, f"not graded: {why}")
    part, got = _part(ctx, "accumulate"), ctx.records.parts["accumulate"]
    rows = []
    for i in range(0, len(part["calls"]), 2):
        zeroed, filled = got.calls.get(i), got.calls.get(i + 1)
        for key, g0 in part["calls"][i + 1]["grads"].items():
            rows.append(_accumulated(key, zeroed, filled, g0, ctx))
    good = sum(ok for ok, _ in rows)
    bad = next((m for ok, m in rows if not ok), None)
    return _check(item, good / len(rows), bad or (
        f"grads filled with a known array before backward held it plus the call's gradient, in the "
        f"same arrays ({len(rows) // 2} calls, kernel and bias)"))


def _accumulated(key: str, zeroed: dict | None, filled: dict | None, g0: np.ndarray,
                 ctx: Context) -> tuple[bool, str]:
    label = f"grads[{key!r}]"
    if zeroed is None or filled is None:
        return False, f"{label}: not graded: {ctx.missing}"
    own, after = _grads_entry(zeroed, key), _grads_entry(filled, key)
    err = zeroed.get("error_clean") or filled.get("error_clean")
    bad = structure(own, g0, label) or structure(after, g0, label)
    if bad:
        return False, bad + (f" (backward raised {say(err, ctx.filename)})" if err else "")
    if not np.any(own):
        if err:
            return False, f"{label}: not graded: backward raised {say(err, ctx.filename)}"
        return False, (f"{label}: backward left it at zero from zeroed grads, so nothing can be seen "
                       "added (hint: add this call's gradient into it, +=)")
    want = np.asarray(g0, dtype=np.float64) + own
    v = judge(after, want, label, derived=False)
    replaced = filled.get("grads_replaced")
    replaced = isinstance(replaced, list) and key in replaced
    if v.ok and not replaced:
        return True, ""
    if v.ok:
        return False, (f"backward replaced {label} by a new array (self.grads[{key!r}] = self.grads[{key!r}] "
                       "+ ...): the sum is right, but a weight shared by two layers is one array in both "
                       "layers' grads, and the other layer's share stays in the old one (hint: add into "
                       f"it in place: self.grads[{key!r}] += ..., or np.add(a, b, out=a))")
    if judge(after, own, label, derived=False).ok:
        return False, (f"backward wrote {label} instead of adding to it: use += (the model zeroes grads "
                       "before each step, so a shared weight gets both paths); the grader filled it with a "
                       "known array before the call, and after it the array held this call's gradient alone")
    return False, (f"{label} was filled with a known array G0 before the call, and after it holds neither "
                   f"G0 plus the gradient your backward left from zeroed grads on the same call, nor that "
                   f"gradient alone: {v.problem.replace(', exact ', ', expected ')} (hint: add this call's gradient, and only it: the model "
                   "zeroes grads before each step, so keep no running sum of your own)")


def _contract(item: Item, ctx: Context, spec: Spec, calls: list[Call]) -> Check:
    reported = [c for c in calls if c.record is not None]
    if not reported:
        return _check(item, 0, f"not graded: {_unreported(ctx, 'calls') or ctx.missing}")
    for c in reported:
        if c.error is not None:
            stale = ""
            if c.index > 0 and c.role != "hand" and reported[0].error is None:
                stale = (" (call 1 ran; this call has another batch size and other values: something "
                         "kept from an earlier call, a shape or a cached array, and reused?)")
            return _check(item, 0, f"call {c.index + 1}: {c.error['phase'] or 'the call'} raised "
                                   f"{say(c.error, ctx.filename)}{stale}")
    for c in reported:
        for name, sent, after in _inputs(c, spec):
            problem = _changed(name, sent, after)
            if problem:
                return _check(item, 0, problem)
    for c in reported:
        if c.role == "extreme":
            continue
        for tensor in (spec.tensor,) + spec.params:
            bad = structure(c.returned.get(tensor), c.exact[tensor], _label(spec, tensor))
            if bad:
                return _check(item, 0, bad)
    return _check(item, 1, f"{len(reported)} calls: float arrays of the right shapes, inputs left unchanged")


def _inputs(c: Call, spec: Spec):
    names = ["x"] if not spec.scalar else [spec.label[4:], "y"][:len(c.asked["inputs"])]
    after = c.record.get("inputs_after") or []
    for name, sent, got in zip(names, c.asked["inputs"], after):
        yield name, sent, value(got)
    if c.asked.get("dy") is not None and "dy_after" in c.record:
        yield "dy", c.asked["dy"], value(c.record["dy_after"])


def _changed(name: str, sent: np.ndarray, after: Any) -> str | None:
    if isinstance(after, np.ndarray) and after.shape == sent.shape and np.array_equal(after, sent, equal_nan=True):
        return None
    if isinstance(after, np.ndarray) and after.shape == sent.shape:
        i = tuple(int(j) for j in np.argwhere(~((after == sent) | (np.isnan(after) & np.isnan(sent))))[0])
        return (f"the {name} handed in was changed in place (element {i} was {float(sent[i]):.6g}, is now "
                f"{float(after[i]):.6g}): the caller still needs it (a model hands the same array on); "
                f"compute into a new array (dy * mask, not dy[...] *= mask) (hint: leave your inputs alone)")
    return f"the {name} handed in was changed in place (now {after!r}): leave your inputs alone"


# -- Adam --------------------------------------------------------------------------------------------------
def _moves(part: dict, got) -> tuple[list[dict[str, Any]], list[str], list[dict]]:
    """Per step: {path: the step taken} as seen (in place, or the rebound array), the problems
    with in-place updating, and the errors."""
    before = {}
    for path, p0, _ in part["steps"][0]:
        before[path] = np.asarray(p0, dtype=np.float64)
    for step in part["steps"]:
        for path, p0, _ in step:
            before.setdefault(path, np.asarray(p0, dtype=np.float64))
    moves, place, errs = [], [], []
    for i, step in enumerate(part["steps"]):
        rec = got.calls.get(i) if got else None
        if rec is None:
            moves.append(None)
            continue
        if rec.get("error_clean"):
            errs.append(rec["error_clean"])
        params, rebound, grads_after = (_paths(rec.get(k)) for k in ("params", "rebound", "grads_after"))
        m = {}
        for path, _, g in step:
            after = params.get(path) if isinstance(params, dict) else None
            if not isinstance(after, np.ndarray) or after.shape != before[path].shape:
                m[path] = None
                continue
            if not np.array_equal(after, before[path]):
                m[path] = after - before[path]
                before[path] = after
            else:
                r = rebound.get(path) if isinstance(rebound, dict) else None
                ok = isinstance(r, np.ndarray) and r.shape == after.shape
                m[path] = (r - after) if ok else np.zeros_like(after)
                place.append(f"step {i + 1}: the caller's {path!r} did not move" + (
                    ": apply bound a new array to the name (param = param - ...), which the caller never "
                    "sees, so a model would not learn; write into it: param -= ..., or param[...] = ..."
                    if ok else ""))
            ga = grads_after.get(path) if isinstance(grads_after, dict) else None
            if not (isinstance(ga, np.ndarray) and ga.shape == g.shape and np.array_equal(ga, g)):
                place.append(f"step {i + 1}: the grad of {path!r} handed in was changed in place: leave it "
                             "as it was (the caller may use it again)")
        moves.append(m)
    return moves, place, errs


def _paths(obj: Any) -> dict[str, Any]:
    """{path: value} from a record's {path: encoded value}."""
    if not isinstance(obj, dict):
        return {}
    return {str(k): value(v) for k, v in list(obj.items())[:64]}


def _expected(part: dict, form: str = "keras") -> list[dict[str, np.ndarray]]:
    """The closed form's step per step and path, for the hyperparameters the grader asked."""
    hp = {**ADAM, **part.get("init_kw", {})}
    lr, b1, b2, eps = hp["learning_rate"], hp["beta_1"], hp["beta_2"], hp["epsilon"]
    paths = {}
    for step in part["steps"]:
        for path, p0, g in step:
            paths.setdefault(path, (np.asarray(p0, dtype=np.float64), []))[1].append(np.asarray(g))
    out = [dict() for _ in part["steps"]]
    for path, (p0, gs) in paths.items():
        if form == "keras":
            pos = adam_closed_form(lr, b1, b2, eps, p0, gs)
        else:
            pos, p, m, v = [], p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
            for t, g in enumerate(gs, start=1):
                m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
                if form == "paper":
                    p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
                else:                             # no bias correction at all
                    p = p - lr * m / (np.sqrt(v) + eps)
                pos.append(p.copy())
        prev = p0
        for t, p in enumerate(pos):
            out[t][path] = p - prev
            prev = p
    return out


def _steps_match(moves, want, rtol=ADAM_RTOL) -> tuple[bool, str]:
    for t, (m, w) in enumerate(zip(moves, want)):
        if m is None:
            return False, f"step {t + 1} did not report"
        for path, step in w.items():
            got = m.get(path)
            v = judge(got, step, f"step {t + 1} of {path!r}", rtol=rtol, derived=False)
            if not v.ok:
                return False, v.problem
    return True, ""


def _adam_hint(part: dict, moves) -> str:
    for form, text in (("paper", "your steps are the paper's form, epsilon added to sqrt(v_hat); the "
                                 "graded form is Keras's: param -= a_t m / (sqrt(v) + epsilon), with "
                                 "a_t = learning_rate sqrt(1 - beta_2^t) / (1 - beta_1^t)"),
                       ("none", "the steps match Adam without its bias correction: m and v start at "
                                "zeros, so early on they are too small by (1 - beta_1^t) and "
                                "(1 - beta_2^t); the step size a_t must undo both")):
        if _steps_match(moves, _expected(part, form), 1e-6)[0]:
            return f" (hint: {text})"
    if len(part["steps"][0]) > 1:
        return (" (hint: each parameter keeps its own m and v, keyed by its path, zeros of its shape at "
                "first, and t counts the steps: once per apply, not once per parameter)")
    return (" (hint: check the step count t (1 at the first apply), the bias correction "
            "a_t = learning_rate sqrt(1 - beta_2^t) / (1 - beta_1^t), and that epsilon is added to sqrt(v))")


def _adam(ctx: Context, items: tuple[Item, ...]) -> list[Check]:
    results = {}
    place_all, errs_all = [], []
    for part in ctx.plan:
        got = ctx.records.parts.get(part["name"])
        moves, place, errs = _moves(part, got)
        results[part["name"]] = (part, moves)
        place_all += place
        errs_all += errs
    checks = []
    for item in items:
        if item.kind == "in place":
            why = _unreported(ctx, "steps")
            if why:
                checks.append(_check(item, 0, f"not graded: {why}"))
            elif errs_all:
                checks.append(_check(item, 0, f"apply raised {say(errs_all[0], ctx.filename)}"))
            else:
                checks.append(_check(item, 0 if place_all else 1, place_all[0] if place_all else
                                     "every step moved the caller's arrays and left the grads alone"))
            continue
        name = {"adam by hand": "by hand", "closed form": "steps", "epsilon": "tiny", "two params": "two"}[item.kind]
        part, moves = results[name]
        why = _unreported(ctx, name)
        if why:
            checks.append(_check(item, 0, f"not graded: {why}"))
            continue
        if item.kind == "adam by hand":
            m = moves[0]
            v = judge(m.get("w") if m else None, ADAM_FIRST_STEP, "the step", rtol=ADAM_RTOL, derived=False)
            msg = ("one step at learning_rate 0.1 from p = [1, -1] with g = [0.3, -20]: " +
                   ("as worked by hand" if v.ok else f"expected {_fmt(ADAM_FIRST_STEP)}; {v.problem}"))
            checks.append(_check(item, 1 if v.ok else 0, msg + ("" if v.ok else _adam_hint(part, moves))))
            continue
        ok, problem = _steps_match(moves, _expected(part), ADAM_RTOL if item.kind != "epsilon" else 1e-6)
        if ok:
            checks.append(_check(item, 1, f"{len(moves)} steps as the closed form"))
        else:
            checks.append(_check(item, 0, problem + _adam_hint(part, moves)))
    return checks


# -- the model's backward --------------------------------------------------------------------------------
def _model_exact(part: dict, call: dict) -> dict[str, np.ndarray]:
    names = [p["name"] for p in part["pieces"]]
    acts = {p["name"]: p["activation"] for p in part["pieces"]}
    params = call["params"]
    arrays = {"x": call["x"]}
    for n in names:
        arrays[f"{n}/kernel"], arrays[f"{n}/bias"] = params[n]["kernel"], params[n]["bias"]

    def loss(**a):
        layers = [(a[f"{n}/kernel"], a[f"{n}/bias"], acts[n]) for n in names]
        return np.sum(exact.chain(a["x"], layers) * call["dy"])

    return exact.gradients(loss, arrays)


def _unpack(result: Any) -> tuple[Any, Any, str | None]:
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        what = f"a tuple of {len(result)}" if isinstance(result, tuple) else (
            "missing" if result is None else repr(result) if isinstance(result, Other) else type(result).__name__)
        return None, None, f"backward returned {what}, expected a tuple (dx, grads) with grads a dict"
    return result[0], result[1], None


def _model(ctx: Context, items: tuple[Item, ...]) -> list[Check]:
    part = _part(ctx, "calls")
    got = ctx.records.parts.get("calls")
    why = _unreported(ctx, "calls")
    verdicts = {"dx": [], "params": []}
    problems, fd = [], 0
    firsts = {}
    zeroed: list[tuple[bool, str]] = []
    for i, call in enumerate(part["calls"]):
        rec = got.calls.get(i) if got else None
        if rec is None:
            problems.append(f"call {i + 1}: not graded: {why or ctx.missing}")
            verdicts["dx"].append(Verdict(False, f"not graded: {why or ctx.missing}"))
            continue
        fd = max(fd, rec.get("forward_calls") if isinstance(rec.get("forward_calls"), int) else 0)
        want = _model_exact(part, call)
        held = _held_at_backward(rec)
        zeroed += _zeroed(i, part, held, rec, ctx)
        if rec.get("error_clean"):
            problems.append(f"call {i + 1}: backward raised {say(rec['error_clean'], ctx.filename)}")
        result = value(rec["backward"]) if "backward" in rec else None
        dx, grads, bad = _unpack(result)
        if bad:
            problems.append(bad if not rec.get("error_clean") else problems[-1])
        verdicts["dx"].append(judge(dx, want["x"], "dx") if not bad else Verdict(False, problems[-1]))
        for path in want:
            if path == "x":
                continue
            if bad:
                verdicts["params"].append(Verdict(False, problems[-1]))
                continue
            if path not in grads:
                v = Verdict(False, f"grads has no entry {path!r}; it has {sorted(grads)} (one entry per piece "
                                   "and parameter, keyed '<piece name>/<key>')")
                problems.append(v.problem)
            else:
                # the pieces add into their grads: judged against what the piece held when its
                # backward ran plus the exact gradient (stale grads not zeroed cost `zeroes` only)
                name, key = path.split("/", 1)
                base = held.get(name, {}).get(key)
                base = base if isinstance(base, np.ndarray) and base.shape == want[path].shape else 0.0
                v = judge(grads[path], want[path] + base, f"grads[{path!r}]")
                s = structure(grads[path], want[path], f"grads[{path!r}]")
                if s:
                    problems.append(s)
                if i == 0 and isinstance(grads[path], np.ndarray):
                    firsts[path] = grads[path]
            verdicts["params"].append(v)
        for name, sent, after in (("x", call["x"], value(rec["inputs_after"][0]) if rec.get("inputs_after") else None),
                                  ("dy", call["dy"], value(rec["dy_after"]) if "dy_after" in rec else None)):
            p = _changed(name, sent, after)
            if p:
                problems.append(p)
    log_hint = _order_hint(ctx)
    gate = None
    if fd:
        gate = (f"not counted: backward called forward {fd} times: the model's backward calls each piece's "
                "backward once, in reverse; running forward again (finite differences of the whole model) "
                "is the check's method, not an answer")
    checks = []
    for item in items:
        if item.kind == "model contract":
            checks.append(_check(item, 0 if problems else 1, problems[0] if problems else
                                 "(dx, grads) on both calls, every key, inputs left unchanged"))
        elif gate and item.kind != "model by hand":
            checks.append(_check(item, 0, gate))
        elif item.kind in ("model dx", "model params"):
            vs = verdicts["dx" if item.kind == "model dx" else "params"]
            good = sum(v.ok for v in vs)
            bad = next((v.problem for v in vs if not v.ok), "")
            hint = log_hint or (" (hint: dx is what the first piece's backward returned, the last call of "
                                "the loop)" if item.kind == "model dx" else
                                " (hint: after piece.backward(...), copy piece.grads[key] into "
                                "grads['<name>/<key>'] for every key of piece.params)")
            checks.append(_check(item, good / len(vs) if vs else 0,
                                 f"exact on {good} of {len(vs)}" if not bad else bad + hint))
        elif item.kind == "model zeroes":
            if not zeroed:
                checks.append(_check(item, 0, f"not graded: {why or ctx.missing}"))
                continue
            good = sum(ok for ok, _ in zeroed)
            bad = next((m for ok, m in zeroed if not ok), "")
            checks.append(_check(item, good / len(zeroed), bad or
                                 f"every piece's grads were zero when its backward ran, on {len(part['calls'])} "
                                 "calls that started from a step before's gradients"))
        elif item.kind == "copies":
            later = got.later if got else None
            _, grads_later, bad = _unpack(later)
            if not firsts or bad:
                checks.append(_check(item, 0, "not graded: the first call returned no grads to look at again"))
                continue
            moved = [p for p, a in firsts.items() if not (isinstance(grads_later.get(p), np.ndarray)
                                                          and np.array_equal(grads_later[p], a))]
            checks.append(_check(item, 0 if moved else 1, (
                f"grads[{moved[0]!r}] returned by the first backward changed when backward ran again: it "
                "is the piece's own array, not a copy (hint: grads[...] = piece.grads[key].copy(); the "
                "model zeroes the piece's grads and the piece adds into them at the next backward)") if moved else
                "the first call's grads were left as they were by the second"))
        elif item.kind == "model by hand":
            checks.append(_model_hand(item, ctx) if not gate else _check(item, 0, gate))
    return checks


def _held_at_backward(rec: dict) -> dict[str, dict[str, Any]]:
    """{piece name: {key: what its grads held when its backward was first called}}, from the log."""
    out: dict[str, dict[str, Any]] = {}
    for e in rec.get("log", []):
        if isinstance(e, list) and len(e) >= 4 and isinstance(e[0], str) and e[0] not in out:
            held = value(e[3])
            out[e[0]] = held if isinstance(held, dict) else {}
    return out


def _zeroed(i: int, part: dict, held: dict, rec: dict, ctx: Context) -> list[tuple[bool, str]]:
    """Per piece of call i: were its grads all zero when its backward ran?"""
    rows = []
    for p in part["pieces"]:
        name = p["name"]
        if name not in held:
            err = rec.get("error_clean")
            rows.append((False, f"call {i + 1}: piece {name!r}: its backward was not called" +
                         (f" (backward raised {say(err, ctx.filename)})" if err else "")))
            continue
        stale = [k for k, a in held[name].items() if not (isinstance(a, np.ndarray) and not np.any(a))]
        if stale:
            k = stale[0]
            rows.append((False, f"call {i + 1}: piece {name!r} still held the gradients of a step before in "
                                f"grads[{k!r}] when its backward was called, and its backward adds into them "
                                "(hint: at the start of backward, set every piece's grads to zero in place: "
                                "for g in piece.grads.values(): g[...] = 0)"))
        else:
            rows.append((True, ""))
    return rows


def _order_hint(ctx: Context) -> str:
    got = ctx.records.parts.get("by hand")
    rec = got.calls.get(0) if got else None
    if rec is None:
        return ""
    order = [str(e[0]) for e in rec.get("log", []) if isinstance(e, list) and e]
    if order != MODEL_ORDER:
        return " (hint: call the pieces' backward in reverse order, each once: the last piece first)"
    return ""


def _model_hand(item: Item, ctx: Context) -> Check:
    got = ctx.records.parts.get("by hand")
    rec = got.calls.get(0) if got else None
    if rec is None:
        return _check(item, 0, f"not graded: {_unreported(ctx, 'by hand') or ctx.missing}")
    log = [e for e in rec.get("log", []) if isinstance(e, list) and len(e) >= 3]
    order = [str(e[0]) for e in log]
    handed = [value(e[1]) for e in log]
    returned = [value(e[2]) for e in log]
    rows = []
    rows.append((order == MODEL_ORDER, f"backward calls, in order: {order or 'none'}; expected {MODEL_ORDER} "
                 "(hint: each piece once, the last piece first)"))
    chained = len(handed) == 3 and all(isinstance(h, np.ndarray) for h in handed + returned) and \
        np.array_equal(handed[0], [[1.0]]) and all(np.array_equal(handed[i + 1], returned[i]) for i in range(2))
    shown = [float(np.ravel(h)[0]) if isinstance(h, np.ndarray) and h.size else h for h in handed]
    rows.append((chained, f"the pieces were handed, call by call: {shown}; each call gets what the call "
                          "before it returned (dy for the first: [1.0, 0.5, 1.5] here) (hint: hand each "
                          "piece what the piece after it returned, not the loss's dy)"))
    dx, grads, bad = _unpack(value(rec["backward"]) if "backward" in rec else None)
    for tensor, want in MODEL_HAND.items():
        g = dx if tensor == "x" else (grads.get(tensor) if isinstance(grads, dict) else None)
        s = structure(g, want, "dx" if tensor == "x" else f"grads[{tensor!r}]")
        ok = s is None and float(errors(g, want).max()) <= 1e-9
        rows.append((ok, bad or s or f"{tensor}: expected {_fmt(want)}, got {_fmt(g)}"))
    good = sum(ok for ok, _ in rows)
    bad_rows = [m for ok, m in rows if not ok]
    return _check(item, good / len(rows), "pieces double, scale (w = 3), affine (c = 0.25), x = [[2]], dy = [[1]]: "
                  + (bad_rows[0] if bad_rows else "order, chain and values as worked by hand"))
