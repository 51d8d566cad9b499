"""Scoring the VAE's two exercises, `sampling` and `gaussian-kl`, in the grader's process.

In these two the learner writes the forward as well as the backward, so the forward is graded
for what it means instead of "unchanged from the template":

    sampling      z     the forward's z equals mu + exp(0.5 log_var) eps, eps the draw of the
                        generator the runner set as self.rng for that call (seeded by the
                        grader, which replays it; for the case by hand, eps given)
                  moments  one forward of 10,000 rows at four fixed (mu, log_var) pairs, log_var
                        far from 0: the moment test of `scratchae.gradcheck.sampling` on the
                        learner's draws (mean and variance within 5 standard errors of mu and
                        exp(log_var)), which names a sigma/variance mix-up even in a forward
                        whose noise the grader cannot replay
                  the two gradients, exact, with the forward's eps (half on the first call,
                  half on the later calls of the same instance); a backward that draws new
                  noise is named (its dL/dlog_var uses the generator's second draw)
    gaussian-kl   KL    the forward's value, exact; a wrong reduction or sign is named by the
                        reduction test's words (`gradcheck.sampling.reduction_problem`)
                  the two gradients, exact (halves as above); sign; scale (the exact
                  gradients times one constant: a reduction or a 1/N off, not the formula)

Both have a contract check (no exception, a tuple of two float arrays of mu's shape, inputs
left unchanged) and a case worked by hand (below). A backward that calls forward scores no
gradient points (finite differences of one's own forward answer nothing), as in `rubric.py`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..gradcheck.sampling import moment_rows, reduction_problem
from . import exact
from .channel import Other, say, value
from .plans import MOMENT_LOG_VAR, MOMENT_MU
from .rubric import (Check, Context, Item, Verdict, _changed, _check, _close, _fmt, _halves, _part,
                     _unreported, errors, judge, structure)

LN2 = math.log(2.0)
# sampling by hand: mu = [[1, 0], [-1, 2]], log_var = [[0, 2 ln 2], [-2 ln 2, 0]], so sigma =
# exp(0.5 log_var) = [[1, 2], [0.5, 1]]; eps = [[1, -1], [2, 0.5]], dz = [[1, 1], [2, -1]]:
#   z = mu + sigma eps             = [[1 + 1, 0 - 2], [-1 + 1, 2 + 0.5]]
#   dL/dmu = dz
#   dL/dlog_var = dz 0.5 sigma eps = [[0.5 * 1 * 1, 0.5 * 2 * -1], [2 * 0.5 * 0.5 * 2, -1 * 0.5 * 1 * 0.5]]
SAMPLING_HAND = {"z": np.array([[2.0, -2.0], [0.0, 2.5]]), "mu": np.array([[1.0, 1.0], [2.0, -1.0]]),
                 "log_var": np.array([[0.5, -1.0], [1.0, -0.25]])}
# gaussian-kl by hand: mu = [[1, 0], [0, 2]], log_var = [[0, ln 2], [0, 0]], N = 2; per element
# -0.5 (1 + lv - mu^2 - e^lv): 0.5, 0.5 (1 - ln 2), 0, 2; summed 3 - 0.5 ln 2, over N: 1.5 - 0.25 ln 2
#   dKL/dmu = mu / N = [[0.5, 0], [0, 1]];  dKL/dlog_var = 0.5 (e^lv - 1) / N = [[0, 0.25], [0, 0]]
KL_HAND = {"KL": 1.5 - 0.25 * LN2, "mu": np.array([[0.5, 0.0], [0.0, 1.0]]),
           "log_var": np.array([[0.0, 0.25], [0.0, 0.0]])}
LABELS = {"sampling": {"mu": "dL/dmu", "log_var": "dL/dlog_var"},
          "gaussian-kl": {"mu": "dKL/dmu", "log_var": "dKL/dlog_var"}}


@dataclass(eq=False)
class VCall:
    """One call: what was asked, what came back, the exact answers."""

    index: int
    asked: dict
    role: str
    record: dict | None
    out: Any = None                          # the exact z (sampling) or KL value (gaussian-kl)
    grads: dict | None = None                # tensor -> the exact gradient
    eps: np.ndarray | None = None
    eps2: np.ndarray | None = None           # the generator's second draw (a backward that redraws)
    got_out: Any = None
    got: dict | None = None                  # tensor -> what the backward returned for it
    shape_problem: str | None = None         # backward's result is not a pair of arrays
    error: dict | None = None
    forward_calls: int = 0


def _draws(call: dict) -> tuple[np.ndarray, np.ndarray | None]:
    shape = np.shape(call["inputs"][0])
    spec = call["rng"]
    if isinstance(spec, dict):
        return np.asarray(spec["fixed"][0], dtype=np.float64), None
    g = np.random.default_rng(int(spec))
    return g.standard_normal(shape), g.standard_normal(shape)


def _pair(result: Any, labels: dict[str, str]) -> tuple[dict, str | None]:
    names = " and ".join(labels.values())
    if isinstance(result, tuple) and len(result) == 2:
        return dict(zip(labels, result)), None
    what = ("nothing (None)" if result is None else f"a tuple of {len(result)}" if isinstance(result, tuple)
            else repr(result) if isinstance(result, Other) else type(result).__name__)
    return {}, f"backward returned {what}, expected a tuple of two arrays ({names}): return dmu, dlv"


def _calls(piece: str, part: dict, got: Any) -> list[VCall]:
    labels = LABELS[piece]
    out = []
    for i, asked in enumerate(part["calls"]):
        mu, lv = (np.asarray(a, dtype=np.float64) for a in asked["inputs"])
        c = VCall(i, asked, asked.get("role", "later"), got.calls.get(i) if got else None)
        if piece == "sampling":
            c.eps, c.eps2 = _draws(asked)
            dz = asked.get("dy")
            c.out = exact.sampling(mu, lv, c.eps)
            if dz is not None:
                c.grads = exact.gradients(lambda mu, log_var, eps=c.eps, dz=dz:
                                          np.sum(exact.sampling(mu, log_var, eps) * dz), {"mu": mu, "log_var": lv})
        else:
            c.out = float(np.real(exact.gaussian_kl(mu, lv)))
            c.grads = exact.gradients(exact.gaussian_kl, {"mu": mu, "log_var": lv})
        rec = c.record
        if rec is not None:
            c.error = rec.get("error_clean")
            c.forward_calls = rec.get("forward_calls") if isinstance(rec.get("forward_calls"), int) else 0
            c.got_out = value(rec["forward"]) if "forward" in rec else None
            if "backward" in rec:
                c.got, c.shape_problem = _pair(value(rec["backward"]), labels)
        out.append(c)
    return out


# -- hints: what a wrong array is, in words --------------------------------------------------------
def _z_hint(got: np.ndarray, c: VCall) -> str:
    mu, lv = (np.asarray(a, dtype=np.float64) for a in c.asked["inputs"])
    sigma = np.exp(0.5 * lv)
    if _close(got, mu + np.exp(lv) * c.eps):
        return (" (hint: yours is mu + exp(log_var) eps: exp(log_var) is the variance sigma^2, used as the "
                "standard deviation; sigma = exp(0.5 log_var))")
    if c.eps2 is not None and _close(got, mu + sigma * c.eps2):
        return (" (hint: yours is built from a second draw of self.rng, not from self.eps: the noise is drawn "
                "twice in forward, so backward's eps is not the one in z; draw once, keep it, use it)")
    if _close(got, mu):
        return " (hint: yours is mu: no noise added; z = mu + sigma * eps)"
    if _close(got, mu + np.sqrt(sigma) * c.eps):
        return " (hint: yours is mu + exp(0.25 log_var) eps: sigma = exp(0.5 log_var), the square root of exp(log_var))"
    return ""


def _sampling_grad_hint(tensor: str, got: np.ndarray, c: VCall) -> str:
    mu, lv = (np.asarray(a, dtype=np.float64) for a in c.asked["inputs"])
    dz = np.asarray(c.asked["dy"], dtype=np.float64)
    sigma = np.exp(0.5 * lv)
    if tensor == "log_var":
        if c.eps2 is not None and _close(got, dz * 0.5 * sigma * c.eps2):
            return (" (hint: yours is dz * 0.5 sigma eps' with eps' a new draw of self.rng: backward drew new "
                    "noise, so it differentiates a z the forward never returned; reuse the forward's self.eps)")
        for want, why in ((dz * np.exp(lv) * c.eps, "dz exp(log_var) eps, the derivative of exp(log_var) eps: "
                           "exp(log_var) taken as sigma; sigma = exp(0.5 log_var), d sigma/d log_var = 0.5 sigma"),
                          (dz * sigma * c.eps, "dz sigma eps: the 0.5 of d exp(0.5 log_var)/d log_var = 0.5 sigma is lost"),
                          (0.5 * sigma * c.eps, "0.5 sigma eps without dz: multiply by the upstream dz"),
                          (dz * 0.5 * sigma, "dz 0.5 sigma without eps: z = mu + sigma eps, so dz/dsigma = eps")):
            if _close(got, want):
                return f" (hint: yours is {why})"
        return " (hint: dz/dlog_var = eps * d sigma/d log_var, with sigma = exp(0.5 log_var); times dz)"
    if _close(got, np.ones_like(dz)):
        return " (hint: yours is dz/dmu = 1 without the upstream dz: dL/dmu = dz * 1)"
    if _close(got, dz * sigma * c.eps) or _close(got, dz * c.eps):
        return " (hint: mu enters z with coefficient 1: dL/dmu = dz)"
    return ""


def _kl_words(k: float, n: int, j: int) -> str:
    for factor, words in ((n, f"N = {n} x exact: the 1/N of the mean over the {n} rows is missing"),
                          (1 / j, f"exact / {j}: averaged over the J = {j} latent units where the KL sums them"),
                          (n / j, f"{n}/{j} x exact: averaged over the {j} latent units and summed over the {n} rows, "
                                  "where the KL sums over the units and averages over the rows"),
                          (-1.0, "-1 x exact: the sign is flipped (KL = -0.5 sum(1 + log_var - mu^2 - exp(log_var)) "
                                 "is >= 0)"),
                          (2.0, "2 x exact: the 0.5 of the KL lost?"), (0.5, "exact / 2: a 0.5 too many?")):
        if math.isclose(k, factor, rel_tol=1e-6):
            return words
    return ""


def _kl_grad_hint(tensor: str, got: np.ndarray, c: VCall) -> str:
    mu, lv = (np.asarray(a, dtype=np.float64) for a in c.asked["inputs"])
    n, j = mu.shape
    want = c.grads[tensor]
    for k in (n, 1 / j, n / j, -1.0, 2.0, 0.5):
        if _close(got, k * want):
            return f" (hint: yours = {_kl_words(k, n, j)})"
    if tensor == "log_var":
        if _close(got, (np.exp(2 * lv) - 1) / n):
            return (" (hint: yours is the gradient of a KL with exp(2 log_var): exp(log_var) taken as sigma; it is "
                    "the variance)")
        if _close(got, 0.5 * np.exp(lv) / n):
            return " (hint: yours misses the -0.5 of the log_var term: d(-0.5 (1 + lv))/d lv = -0.5)"
    return ""


def _kl_value_hint(got: float, c: VCall) -> str:
    mu, lv = (np.asarray(a, dtype=np.float64) for a in c.asked["inputs"])
    k = -0.5 * (1 + lv - mu * mu - np.exp(lv))
    problem = reduction_problem(got, k, rtol=1e-8)
    if problem and "formula itself differs" not in problem:
        return f" (hint: {problem})"
    sigma_std = float(-0.5 * np.sum(1 + 2 * lv - mu * mu - np.exp(2 * lv)) / len(mu))
    if math.isclose(got, sigma_std, rel_tol=1e-8):
        return (" (hint: yours is the KL with exp(2 log_var) and 2 log_var: exp(log_var) taken as sigma; it is the "
                "variance sigma^2, so log sigma^2 = log_var)")
    return " (hint: KL = -0.5 sum(1 + log_var - mu^2 - exp(log_var)) over the units, divided by N)"


# -- the checks ----------------------------------------------------------------------------------------
def score_vae(ctx: Context, items: tuple[Item, ...]) -> list[Check]:
    piece = ctx.piece
    labels = LABELS[piece]
    calls = _calls(piece, _part(ctx, "calls"), ctx.records.parts.get("calls"))
    hand = _calls(piece, _part(ctx, "by hand"), ctx.records.parts.get("by hand"))
    moments = None
    if piece == "sampling":
        moments = _calls(piece, _part(ctx, "moments"), ctx.records.parts.get("moments"))[0]
    why = {name: _unreported(ctx, name) or ctx.missing for name in ("calls", "by hand", "moments")}

    def not_run(c: VCall) -> str:
        return why["calls"] if c in calls else why["by hand"] if c in hand else why["moments"]

    fd = max((c.forward_calls for c in calls + hand), default=0)
    gate = None
    if fd:
        gate = (f"not counted: your backward called forward {fd} time{'s' if fd > 1 else ''} in one call: a "
                "backward works from what forward kept and never runs forward again; calling it with nudged "
                "inputs is finite differences, the check's method, not an answer")

    def out_verdict(c: VCall) -> Verdict:
        what = "z" if piece == "sampling" else "the KL"
        if c.record is None:
            return Verdict(False, f"{what}: not graded: {not_run(c)}")
        if "forward" not in c.record:
            return Verdict(False, f"{what}: forward raised {say(c.error, ctx.filename)}")
        got = c.got_out
        if piece == "sampling":
            v = judge(got, np.asarray(c.out), "z")
            if not v.ok and isinstance(got, np.ndarray) and got.shape == c.out.shape:
                v.problem += _z_hint(np.asarray(got, dtype=np.float64), c)
            return v
        if isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind == "f":
            got = float(got.reshape(-1)[0])
        if not isinstance(got, float):
            return Verdict(False, f"the KL: forward returned {got!r}, expected a float (return float(...))")
        v = judge(np.array(got), np.array(c.out), "the KL")
        if not v.ok:
            v.problem += _kl_value_hint(got, c)
        return v

    def grad_verdict(c: VCall, tensor: str) -> Verdict:
        label = labels[tensor]
        if c.record is None:
            return Verdict(False, f"{label}: not graded: {not_run(c)}")
        if c.got is None:
            return Verdict(False, f"{label}: not returned: {c.error['phase'] or 'the call'} raised "
                                  f"{say(c.error, ctx.filename)}" if c.error else f"{label}: not returned")
        if c.shape_problem:
            return Verdict(False, c.shape_problem)
        got, want = c.got[tensor], c.grads[tensor]
        v = judge(got, want, label)
        if not v.ok and isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype.kind == "f" \
                and np.all(np.isfinite(got)):
            g = got.astype(np.float64)
            v.problem += (_sampling_grad_hint(tensor, g, c) if piece == "sampling" else _kl_grad_hint(tensor, g, c))
        return v

    first = [c for c in calls if c.role == "first"]
    later = [c for c in calls if c.role != "first"]
    checks = []
    for item in items:
        if item.kind == "contract":
            checks.append(_contract(item, ctx, calls + hand + ([moments] if moments else []), labels, not_run))
        elif item.kind == "replay":
            vs = [out_verdict(c) for c in calls + hand]
            good = sum(v.ok for v in vs)
            bad = next((v.problem for v in vs if not v.ok), "")
            if bad and moments is not None and _moments_fine(moments):
                bad += (" (its mean and variance are right, see `moments`: the noise is not the eps drawn from "
                        "self.rng once per forward)")
            checks.append(_check(item, good / len(vs), bad or f"z as mu + exp(0.5 log_var) eps on all {len(vs)} "
                                 "calls, eps replayed"))
        elif item.kind == "moments":
            checks.append(_moments(item, moments, ctx, not_run))
        elif item.kind == "value":
            checks.append(_halves(item, [out_verdict(c) for c in first], [out_verdict(c) for c in later]))
        elif gate is not None:
            checks.append(_check(item, 0, gate))
        elif item.kind == "tensor":
            checks.append(_halves(item, [grad_verdict(c, item.tensor) for c in first],
                                  [grad_verdict(c, item.tensor) for c in later]))
        elif item.kind in ("sign", "scale"):
            checks.append(_sign_scale(item, first[0] if first else None, labels, grad_verdict))
        elif item.kind == "hand":
            checks.append(_hand(item, hand[0], piece, ctx, not_run, gate))
    return checks


def _moments_fine(c: VCall) -> bool:
    z = c.got_out if c.record is not None else None
    if not (isinstance(z, np.ndarray) and z.shape == np.shape(c.asked["inputs"][0]) and z.dtype.kind == "f"):
        return False
    return all(r.ok for r in moment_rows(z, np.array(MOMENT_MU), np.array(MOMENT_LOG_VAR)))


def _moments(item: Item, c: VCall, ctx: Context, not_run) -> Check:
    if c.record is None:
        return _check(item, 0, f"not graded: {not_run(c)}")
    if "forward" not in c.record:
        return _check(item, 0, f"forward raised {say(c.error, ctx.filename)}")
    want = np.asarray(c.asked["inputs"][0])
    bad = structure(c.got_out, want, "z")
    if bad:
        return _check(item, 0, bad)
    rows = moment_rows(c.got_out, np.array(MOMENT_MU), np.array(MOMENT_LOG_VAR))
    failed = [r for r in rows if not r.ok]
    if not failed:
        return _check(item, 1, f"mean and variance of z within 5 standard errors of mu and exp(log_var) at all "
                               f"{len(MOMENT_MU)} pairs, over {len(want)} draws")
    r = failed[0]
    return _check(item, 0, f"{len(failed)} of {len(rows)} statistics off; {r.what} at {r.at}: {r.problem}")


def _contract(item: Item, ctx: Context, calls: list[VCall], labels: dict, not_run) -> Check:
    reported = [c for c in calls if c.record is not None]
    if not reported:
        return _check(item, 0, f"not graded: {not_run(calls[0])}")
    for c in reported:
        if c.error is not None:
            stale = ""
            if c.index > 0 and c.role == "later" and reported[0].error is None:
                stale = (" (call 1 ran; this call has another batch size and other values: something kept from "
                         "an earlier call, a shape or a cached array, and reused?)")
            return _check(item, 0, f"{c.role if c.role in ('hand', 'moments') else 'call ' + str(c.index + 1)}: "
                                   f"{c.error['phase'] or 'the call'} raised {say(c.error, ctx.filename)}{stale}")
    for c in reported:
        after = c.record.get("inputs_after") or []
        for name, sent, got in zip(("mu", "log_var"), c.asked["inputs"], after):
            p = _changed(name, np.asarray(sent), value(got))
            if p:
                return _check(item, 0, p)
        if c.asked.get("dy") is not None and "dy_after" in c.record:
            p = _changed("dz", np.asarray(c.asked["dy"]), value(c.record["dy_after"]))
            if p:
                return _check(item, 0, p)
    for c in reported:
        if c.grads is None:                         # the moments call has no backward
            continue
        if c.shape_problem:
            return _check(item, 0, c.shape_problem)
        for tensor, label in labels.items():
            bad = structure(c.got.get(tensor) if c.got else None, c.grads[tensor], label)
            if bad:
                return _check(item, 0, bad)
    return _check(item, 1, f"{len(reported)} calls: float arrays of the right shapes, inputs left unchanged")


def _sign_scale(item: Item, c: VCall | None, labels: dict, grad_verdict) -> Check:
    if c is None or c.record is None or c.got is None or c.shape_problem:
        return _check(item, 0, (grad_verdict(c, "mu").problem if c is not None else "not graded"))
    gs, ws = [], []
    for tensor, label in labels.items():
        got, want = c.got.get(tensor), c.grads[tensor]
        bad = structure(got, want, label)
        if bad or not np.all(np.isfinite(got)):
            return _check(item, 0, bad or f"{label} is not finite")
        gs.append(got.astype(np.float64).reshape(-1))
        ws.append(want.reshape(-1))
    g, w = np.concatenate(gs), np.concatenate(ws)
    big = np.abs(w) > 1e-6 * max(float(np.abs(w).max(initial=0.0)), 1e-300)
    if item.kind == "sign":
        wrong = int(np.count_nonzero(np.sign(g[big]) != np.sign(w[big])))
        return _check(item, 0 if wrong else 1, f"{wrong} of {int(big.sum())} elements have the wrong sign "
                      "(the KL's sign flipped?)" if wrong else "every element has the exact gradient's sign")
    ww = float(w @ w)
    k = float(g @ w) / ww if ww > 0 else 0.0
    off = float(np.linalg.norm(g - k * w)) if ww > 0 else float(np.linalg.norm(g))
    if ww > 0 and k != 0 and off <= 1e-6 * float(np.linalg.norm(g)):
        n, j = np.shape(c.asked["inputs"][0])
        words = _kl_words(k, n, j)
        note = "" if abs(k - 1) <= 1e-6 else f": yours is {k:.6g} x the exact ones" + (f" ({words})" if words else "")
        return _check(item, 1, "the exact gradients up to one constant factor" + note)
    return _check(item, 0, "the gradients are not the exact ones times any one constant: the formula itself "
                           "differs, not only a reduction or a sign")


def _hand(item: Item, c: VCall, piece: str, ctx: Context, not_run, gate: str | None) -> Check:
    if c.record is None:
        return _check(item, 0, f"not graded: {not_run(c)}")
    answers = SAMPLING_HAND if piece == "sampling" else KL_HAND
    labels = LABELS[piece]
    rows = []
    for tensor, answer in answers.items():
        if tensor in ("z", "KL"):
            got = c.got_out
            if tensor == "KL" and isinstance(got, np.ndarray) and got.size == 1:
                got = float(got.reshape(-1)[0])
            if tensor == "KL":
                ok = isinstance(got, float) and math.isclose(got, answer, rel_tol=1e-9)
                rows.append((ok, f"KL: expected 1.5 - 0.25 ln 2 = {answer:.10g}, got {got!r}"))
                continue
            label = "z"
        else:
            if gate:
                rows.append((False, gate))
                continue
            got = c.got.get(tensor) if c.got else None
            label = labels[tensor]
            if c.shape_problem:
                rows.append((False, c.shape_problem))
                continue
        bad = structure(got, answer, label)
        if bad:
            rows.append((False, bad if c.error is None else f"{label}: {say(c.error, ctx.filename)}"))
            continue
        ok = float(errors(got, answer).max(initial=0.0)) <= 1e-9
        rows.append((ok, f"{label}: expected {_fmt(answer)}, got {_fmt(got)}"))
    good = sum(ok for ok, _ in rows)
    bad = [m for ok, m in rows if not ok]
    case = ("mu = [[1, 0], [-1, 2]], log_var = [[0, 2 ln 2], [-2 ln 2, 0]], eps = [[1, -1], [2, 0.5]], dz"
            if piece == "sampling" else "mu = [[1, 0], [0, 2]], log_var = [[0, ln 2], [0, 0]]")
    return _check(item, good / len(rows), f"{case}: " + ("; ".join(bad) if bad else "every value as worked by hand"))
