"""The engine: differences element by element or along a random direction, re-sampled away
from kinks, compared with the analytic gradient after its structure check; float64 copies of
what is checked so the user's objects are never touched."""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .._contract import gradient_problem
from .core import TINY, central_difference, rel_error
from .hints import Hint, diagnose
from .problems import _PieceProblem, _Problem, _same
from .report import EPS, Report, Row
from .structure import (_MISSING, _call, _Raised, _raised_row, _structure_problem,
                        _structure_row)


# -- the engine -------------------------------------------------------------------------------
def _difference(p: _Problem, flat: np.ndarray, i: int, step: float, base_sig) -> tuple[float, bool]:
    """Central difference along element i; True if it straddled a kink."""
    (plus, s_plus), (minus, s_minus), realised = central_difference(
        lambda: (p.evaluate(), p.probe()), flat, i, step)
    crossed = not (_same(base_sig, s_plus) and _same(base_sig, s_minus))
    return p.delta(plus, minus) / realised, crossed


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
    if arr.size and not idx:
        return _nothing_compared(row, len(crossed)), (crossed if full else [])
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
    return _nothing_compared(Row(p.label, name, arr.shape, 0, arr.size, "direction", 1.0, kinks=kinks), kinks)


def _nothing_compared(row: Row, straddled: int) -> Row:
    """A tensor none of whose differences could be compared: a FAIL, never a pass on nothing."""
    row.error = 1.0
    row.problem = (f"{row.name}: nothing compared: all {straddled} differences straddled a kink or "
                   "changed which side of one the pieces were on, so no number was checked")
    row.hint = Hint("nothing-compared", "move the point off the kinks (other inputs or weights), or "
                                        "check a forward that gives the same output for the same input")
    return row


def _same_value(p: _Problem, a, b) -> bool:
    d = p.delta(a, b)
    return d == 0 or bool(np.isnan(d))


def _nondeterministic(p: _Problem, a, b) -> Row:
    """One FAIL row: the loss differs between two evaluations at the same point."""
    d = float(p.delta(a, b))
    return Row(p.label, "forward", (), 0, 0, "structure", 1.0,
               hint=Hint("nondeterministic", "draw the noise from self.rng and say stochastic = True "
                                             "(the checker then replays it at every forward), or "
                                             "check the layer without its noise"),
               problem=(f"{p.label}: forward is not deterministic: the loss at the same point differs "
                        f"by {d:.3g} between two evaluations (noise drawn at every call?), so finite "
                        "differences of it measure the noise, not the gradient"))


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
        again = p.evaluate()
        if not _same_value(p, base, again):
            return [_nondeterministic(p, base, again)]
        floor = max(1e4 * EPS * p.scale(base) / h, TINY)
        rows, to_nudge = [], {}
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
                if crossed and name in p.nudgeable:
                    to_nudge[name] = crossed
            row.kinks += nudged.get(name, 0)
            rows.append(row)
        if not to_nudge or round_ == 3:
            return rows
        # full check of an input with elements on a kink: move them off it and check again
        for j, (name, crossed) in enumerate(to_nudge.items()):
            p.nudge(name, crossed, np.random.default_rng([seed, 99, round_, j]), h)
            nudged[name] = nudged.get(name, 0) + len(crossed)
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
        _call("forward", p.forward, xk)
        got = p.backward()
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


def _to64(holders: list, converted: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
    """Give every (params, grads) twin pair of `holders` float64 parameters and zero gradients,
    in place. An array held by several entries (a tied kernel) becomes one float64 array, held
    by all of them, with one gradient array (`converted`: id of the old array -> the new pair);
    an array that is already float64 and C-contiguous is kept (a deep copy already), so an
    attribute of the layer that names the same array still names it."""
    for params, grads in holders:
        for key in list(params):
            old = params[key]
            if id(old) not in converted:
                new = old if (isinstance(old, np.ndarray) and old.dtype == np.float64
                              and old.flags.c_contiguous) else _as64(old)
                converted[id(old)] = (new, np.zeros_like(new))
            params[key] = converted[id(old)][0]
            if grads is not None:
                grads[key] = converted[id(old)][1]


def _retarget(obj: Any, converted: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
    """An attribute of `obj` that was one of the converted arrays now names its float64 twin."""
    for attr, v in list(vars(obj).items()) if hasattr(obj, "__dict__") else ():
        if isinstance(v, np.ndarray) and id(v) in converted and attr not in ("params", "grads"):
            setattr(obj, attr, converted[id(v)][0])


def _piece64(piece: Any) -> tuple[Any, str | None]:
    """A float64 deep copy of a piece (Dense, any Layer, activation, regularizer, loss, a
    learner's class)."""
    was = getattr(piece, "dtype", None)
    was = np.dtype(was) if was is not None else None
    c = copy.deepcopy(piece)
    if isinstance(getattr(c, "params", None), dict) and c.params:
        grads = c.grads if isinstance(getattr(c, "grads", None), dict) else None
        converted: dict = {}
        _to64([(c.params, grads)], converted)
        _retarget(c, converted)
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
    was = np.dtype(model.dtype)
    c = copy.deepcopy(model, memo)
    c._buffers = None
    converted: dict = {}
    _to64([(layer.params, layer.grads) for layer in c._layers], converted)
    for layer in c._layers:
        layer.dtype = np.dtype(np.float64)
        _retarget(layer, converted)
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
