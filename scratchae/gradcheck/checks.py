"""The public checks: check_layer, check_loss, check_function, check_model, and the
known-answer check_optimizer (an optimizer has no backward to difference)."""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from ..layers import Dense
from .core import rel_error
from .engine import (_as64, _check_options, _failed, _finish, _kink_row, _model64,
                     _piece64, _run)
from .hints import diagnose
from .problems import (_FunctionProblem, _ModelProblem, _PieceProblem, _kinked_at_zero,
                       model_pieces, part_inputs)
from .report import _NO_NUMBERS, Report, Row
from .structure import _Raised, _raised_row


# -- public API -------------------------------------------------------------------------------
_REPLAYED = ("{} stochastic: run with training=True, the same noise replayed at every forward "
             "(its generator put back to one saved state)")


def _inputs64(x: Any, who: str) -> Any:
    """x as a float64 copy (a list of them for a list of inputs), each non-empty and finite."""
    many = isinstance(x, (list, tuple))
    xs = [_as64(a) for a in (x if many else [x])]
    if many and not xs:
        raise ValueError(f"{who} needs at least one input array, got an empty list")
    for k, a in enumerate(xs):
        if a.size == 0 or not np.all(np.isfinite(a)):
            what = f"x[{k}]" if many else "x"
            raise ValueError(f"{who} needs a non-empty, finite {what}")
    return xs if many else xs[0]


def _shapes(x: Any) -> str:
    if isinstance(x, list):
        return "inputs " + ", ".join(str(tuple(a.shape)) for a in x)
    return f"x {tuple(x.shape)}"


def check_layer(layer: Any, x: Any, *, dy: np.ndarray | None = None, mode: str = "elements",
                k: int = 12, max_full: int = 200, seed: int = 0, h: float = 1e-5,
                name: str | None = None, parts: bool = True, kink_convention: bool = False) -> Report:
    """Check one piece's backward: an activation, a regularizer, or any `Layer` (Dense, or
    yours), on one input array or on a list of them (`check_layer(layer, [a, b])` for a layer
    called as `layer([a, b])`).

    First the structure of what backward hands back: dL/dx (for a list of inputs, a list with
    dL/dinputs[k] for each k) and every grads[key] must be a finite float array of exactly the
    shape of what it differentiates (a STRUCTURE row if not; an exception from the piece is an
    ERROR row). Then the numbers: array-valued pieces are checked on
    L = sum(forward(x) * dy) + sum(layer.loss_terms().values()), dy random and seeded;
    scalar-valued pieces (regularizers) on L = forward(x). The gradients are zeroed before
    every analytic backward (backward adds into them).
    A layer with `stochastic = True` runs with training=True and its noise is replayed: its
    generator `layer.rng` (a seeded one if it has none) is put back to the same state before
    every forward, so the differences and the backward see the same noise and the check is
    exact. Kinks are found by `layer.kink_signs()` (by the input's signs for a piece with
    `kink_at_zero`, such as a bare ReLU or L1).
    Tensors of at most `max_full` elements are checked element by element, larger ones on a
    seeded sample of `k`; mode="direction" compares one random directional derivative per
    tensor. For a Dense layer the activation and the regularizer are also checked alone, on
    the values they see (`parts=True`): a wrong penalty gradient hides behind a small factor
    (a layer of yours may list its parts with `gradcheck_parts(x)`, see `problems.py`).
    kink_convention=True (pieces with `kink_at_zero`): also check, on an input with elements
    exactly at 0, that the gradient there is exactly 0 (the convention at the kink).
    """
    _check_options(mode, k, h)
    x64 = _inputs64(x, "check_layer")
    piece, note = _piece64(layer)
    label = name or getattr(layer, "name", None) or type(layer).__name__.lower()
    if not isinstance(label, str) or label in ("activation", "loss"):
        label = type(layer).__name__.lower()
    kind = "Dense layer" if isinstance(piece, Dense) else type(layer).__name__
    title = f"check_layer {label}: {kind}, {_shapes(x64)}"
    try:
        p = _PieceProblem(piece, x64, dy=None if dy is None else _as64(dy), label=label, seed=seed)
    except _Raised as raised:
        return _failed(title, _raised_row(label, raised.phase, raised.exc, {id(piece): label}), note)
    opts = dict(mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    rows = _run(p, **opts)
    replayed = _REPLAYED.format(label) if p.noise is not None and p.noise.replaying else None
    input_ok = any(r.tensor == p.input_name and r.how not in _NO_NUMBERS for r in rows)
    if kink_convention and input_ok and not p.many and _kinked_at_zero(piece):
        rows.append(_kink_row(p))
    if parts:
        if p.noise is not None:
            p.noise.replay()
        try:
            found = part_inputs(piece, x64)
        except Exception:          # already reported by the rows above
            found = []
        for part_name, part, seen in found:
            part_label = f"{label} > {part_name}"
            if isinstance(seen, Exception):
                rows.append(_raised_row(part_label, "forward", seen))
                continue
            rows += check_layer(part, seen, name=part_label, parts=False,
                                kink_convention=kink_convention, **opts).rows
    rep = _finish(title, rows, [note, replayed])
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


def _node_inputs(model: Any, x: Any, pieces: dict) -> tuple[list, Any]:
    """What each layer of the model reads for the batch x (an array, or a list for a layer
    called on a list), and the model's output, from one training forward with `pieces`."""
    out = model.forward(x, training=True, pieces=pieces)
    at = lambda r: model._xs[-1 - r] if r < 0 else model._values[r]
    seen = []
    for node in model.nodes:
        args = [_as64(at(r)) for r in node.parents]
        seen.append(args if node.many else args[0])
    return seen, out


def _model_inputs(model: Any, x: Any) -> Any:
    """x as float64 (a list for a model with several inputs), each (N, D) with one N."""
    n_in = len(model._inputs)
    many = isinstance(x, (list, tuple))
    if n_in > 1 and not (many and len(x) == n_in):
        raise ValueError(f"model {model.name!r} has {n_in} inputs: give x as a list of {n_in} arrays")
    xs = [_as64(a) for a in (x if many else [x])]
    if many and len(xs) != n_in:
        raise ValueError(f"model {model.name!r} has {n_in} input(s), got a list of {len(xs)} arrays")
    for a in xs:
        if a.ndim != 2 or a.size == 0:
            raise ValueError(f"check_model needs inputs of shape (N, D), got {a.shape}")
    if len({len(a) for a in xs}) > 1:
        raise ValueError(f"the inputs must have the same number of samples, got {[len(a) for a in xs]}")
    return xs if many else xs[0]


def check_model(model: Any, x: Any, y: np.ndarray | None = None, *, dy: Any = None,
                mode: str = "elements", k: int = 12, max_full: int = 200, seed: int = 0,
                h: float = 1e-4, localize: str = "on-failure") -> Report:
    """Check a model's parameter gradients on one batch, every layer's loss terms included.

    x is one array, or a list of arrays for a model with several inputs. What is differentiated:

      * with targets y (a compiled model with one output): its training loss,
        L = loss(output, y) + every layer's loss terms, as `fit` computes it (`compute_loss`,
        the sigmoid and BCE fused from the logits when the model trains that way);
      * without y (a model with several outputs, which no loss of `compile` takes, or one
        without a loss): L = sum_k sum(output_k * dy_k) + every layer's loss terms, with dy_k
        random and seeded (or the arrays `dy`, a list for several outputs). A random dy, not
        ones: with ones every output element counts the same and a gradient summed over the
        wrong axis can still come out right. The forward runs with training=True, as in a step.

    Every distinct parameter array is checked once (a kernel two layers share, under its first
    holder's path, against the sum of both paths' gradients). Every parameter gradient must
    first be a finite float array of its parameter's shape, and a piece's backward that hands
    back a wrong dL/dx is named by Model.backward (STRUCTURE rows); an exception from a piece
    is an ERROR row naming it. The gradients are zeroed before every analytic backward; the
    noise of stochastic layers (model.rng, seeded if None) is replayed at every forward.
    The check runs on a float64 deep copy (the model is never changed). If it fails (or with
    localize="always") every layer is checked alone on what it reads in this batch, then the
    loss on the model's output (with y), and the first wrong piece is named (`report.located`).
    The default step is 1e-4: the loss is a mean over N*D elements, its gradients are small,
    and round-off in the loss (about 1e-16 / h) matters more here than truncation (about h^2).
    """
    _check_options(mode, k, h)
    if localize not in ("on-failure", "always", "never"):
        raise ValueError(f"localize must be 'on-failure', 'always' or 'never', got {localize!r}")
    n_out = len(getattr(model, "_outputs", ()) or ())
    if y is not None:
        if getattr(model, "loss", None) is None:
            raise ValueError("check_model needs a compiled model: call model.compile(loss=...) first "
                             "(or leave out y to check L = sum(output * dy) with a random dy)")
        if n_out > 1:
            raise ValueError(f"model {model.name!r} has {n_out} outputs and a loss takes one: leave "
                             "out y to check L = sum_k sum(output_k * dy_k) with random dy_k")
        if dy is not None:
            raise ValueError("give either targets y (the loss is checked) or dy (the upstream "
                             "gradients of the outputs), not both")
    m, note = _model64(model)
    x64 = _model_inputs(m, x)
    n = len(x64[0] if isinstance(x64, list) else x64)
    y64 = None
    if y is not None:
        y64 = _as64(y)
        if y64.ndim != 2 or len(y64) != n:
            raise ValueError(f"check_model needs x and y of shape (N, D) with the same N, got "
                             f"{_shapes(x64).split(' ', 1)[1]} and {y64.shape}")
    dy64 = None
    if dy is not None:
        dy64 = [_as64(d) for d in dy] if isinstance(dy, (list, tuple)) else [_as64(dy)]
        if len(dy64) != max(n_out, 1):
            raise ValueError(f"dy: the model has {n_out} output(s), got {len(dy64)} array(s)")
    what = "loss + penalties" if y64 is not None else "sum(output * dy) + penalties"
    title = f"check_model {m.name}: batch of {n}, {what}"
    try:
        p = _ModelProblem(m, x64, y64, dy=dy64, seed=seed)
    except _Raised as raised:
        return _failed(title, _raised_row(m.name, raised.phase, raised.exc, model_pieces(m)), note)
    rows = _run(p, mode=mode, k=k, max_full=max_full, seed=seed, h=h)
    for r in rows:
        if r.layer == m.name and "/" in r.tensor:      # 'dense_1/kernel' -> layer, tensor
            r.layer, r.tensor = r.tensor.rsplit("/", 1)
    fused = y64 is not None and m.fused
    if y64 is None:
        why = f"{n_out} outputs" if n_out > 1 else "no targets given"
        loss_note = (f"loss: L = sum_k sum(output_k * dy_k) + loss terms, dy_k random (seeded) "
                     f"({why})" if dy64 is None else "loss: L = sum_k sum(output_k * dy_k) + loss terms, dy given")
    elif fused:
        loss_note = "loss: sigmoid + binary cross-entropy fused from the logits (the model's training path)"
    else:
        loss_note = f"loss: {type(m.loss).__name__}, unfused"
    noisy = [l.name for l in m.chain if getattr(l, "stochastic", False)]
    replayed = _REPLAYED.format(", ".join(noisy)) if p.noise is not None and p.noise.replaying else None
    rep = Report(title, rows, [t for t in (note, loss_note, replayed) if t])
    if localize == "always" or (localize == "on-failure" and not rep.ok):
        from .. import speed

        opts = dict(mode=mode, k=k, max_full=max_full, seed=seed)
        try:
            if p.noise is not None:
                p.noise.replay()
            inputs, out = _node_inputs(m, x64, speed.training_pieces(m) if y64 is not None else {})
        except Exception:              # a forward that raises: already an ERROR row above
            inputs = None
        if inputs is not None:
            for layer, h_in in zip(m.chain, inputs):
                rep.parts.append(check_layer(layer, h_in, **opts))
            if y64 is not None:
                name = "loss (fused, from logits)" if fused else "loss"
                rep.parts.append(check_loss(m.training_loss, _as64(out), y64, name=name, **opts))
        rep.located = next((part.located for part in rep.parts if part.located is not None), None)
        if rep.located is None:
            rep.located = next((r for r in rows if r.how in _NO_NUMBERS), None)
        if rep.located is None and not all(r.ok for r in rows):
            rep.notes.append("every piece passes alone but the model does not: look at how the "
                             "model chains them (what is passed between layers)")
    return rep


# -- optimizers: a known answer instead of a gradient -------------------------------------
def adam_closed_form(lr: float, b1: float, b2: float, eps: float, p0: np.ndarray,
                     grads: list[np.ndarray]) -> list[np.ndarray]:
    """Adam's positions after each step, in Keras's form, written independently of
    scratchae.optimizers (also the known answer of the Adam exercise)."""
    p, m, v, out = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
        out.append(p.copy())
    return out


def _reference_updates(opt, p0, grads):
    """The closed forms, written independently of scratchae.optimizers."""
    p = p0.copy()
    out = []
    kind = type(opt).__name__
    if "Adam" in kind:
        out = adam_closed_form(opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon, p0, grads)
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
    if callable(getattr(opt, "reset", None)):
        opt.reset()                    # scratchae's optimizers: empty state, step count 0
    else:
        opt.iterations = 0             # a learner's class, checked as its constructor made it
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
