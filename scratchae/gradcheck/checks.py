"""The public checks: check_layer, check_loss, check_function, check_model, and the
known-answer check_optimizer (an optimizer has no backward to difference)."""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from ..regularizers import L1, L2
from .core import rel_error
from .engine import (_as64, _check_options, _failed, _finish, _kink_row, _model64,
                     _piece64, _run)
from .hints import diagnose
from .problems import _FunctionProblem, _ModelProblem, _PieceProblem, _is_dense_like, _kinked_at_zero
from .report import _NO_NUMBERS, Report, Row
from .structure import _Raised, _raised_row


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
    for layer in model.chain:
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
            for layer, h_in in zip(m.chain, inputs):
                rep.parts.append(check_layer(layer, h_in, **opts))
            last = m.chain[-1]
            if fused:
                rep.parts.append(check_loss(m.training_loss, last.logits, y64,
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
