"""Exercises for a backpropagation course: templates to complete, checked and graded.

    scratchae gradcheck --list                          the shipped wrong pieces
    scratchae gradcheck --broken relu-no-mask           what a failure looks like
    scratchae gradcheck --exercise dense --init my_dense.py     copy the template
    scratchae gradcheck --exercise dense my_dense.py            check your backward
    scratchae grade dense my_dense.py --json results.json       grade it (partial credit)

Ten exercises, in course order (docs/teaching.md): dense, relu, sigmoid, bce, mse, l1, kl,
bce-logits, adam, model. Each template (`templates/<piece>.py`) has its forward written and one
method raising NotImplementedError, with the shapes, the conventions and the formula to derive
in its docstring. `run_exercise` imports the learner's file from its path and checks it in
independent parts (`checks.py`, `adam_model.py`): the forward unchanged, the finite-difference
checks of `scratchae.gradcheck`, and a known answer worked by hand. `grading.py` turns those
parts into a score, running the file in a separate process with a time limit.
No solutions ship here.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import gradcheck
from .._files import atomic_write
from ..gradcheck import Report
from . import checks as C
from .adam_model import ADAM_PARTS, MODEL_PARTS, chain_layers


@dataclass(frozen=True)
class Exercise:
    """One exercise: the template's class, how to build it, and the parts it is checked in.

    `parts` maps a part's name to a function of the learner's class returning a Report;
    `main` is the part whose rows are the report's own (the others are its sub-reports).
    """

    piece: str
    class_name: str
    make: Callable[[type], Any]             # the learner's class -> an instance
    parts: dict[str, C.Part]
    main: str
    summary: str


def _inputs(shape, seed, *, kinks=False):
    x = np.random.default_rng(seed).standard_normal(shape)
    if kinks:        # on and within the step size of 0: the checker must not cry wolf
        x.flat[:3] = [0.0, 3e-6, -4e-6]
    return x


def _uniform(lo, hi, shape, seed):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def _bce_pair():
    rng = np.random.default_rng(3)
    return rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5))


def _pair(seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (4, 5)), rng.uniform(0, 1, (4, 5))


def _logits_pair():
    rng = np.random.default_rng(8)
    return 2.0 * rng.standard_normal((4, 5)), rng.uniform(0, 1, (4, 5))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _bce(p, y):
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def _kl(rho, beta, h):
    q = h.mean(axis=0)
    return beta * float((rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))).sum())


def _piece(piece, class_name, make, check, forward, by_hand, summary, refine=None, rename=None,
           hand_make=None):
    label = piece
    parts = {"forward": C.forward_part(label, make, *forward),
             "gradients": C.gradient_part(check, make, refine, rename),
             "by hand": C.by_hand_part(label, by_hand[0], hand_make or make, by_hand[1], by_hand[2])}
    return Exercise(piece, class_name, make, parts, "gradients", summary)


_dense = lambda cls: cls(3, 4, seed=0)
_dense_hand = lambda cls: cls(2, 3, seed=0)
_relu = _sig = _bce_make = _mse = _logits = lambda cls: cls()
_l1 = lambda cls: cls(0.1)
_kl_make = lambda cls: cls(0.1, 3.0)
_LZ, _LY = _logits_pair()

EXERCISES: dict[str, Exercise] = {e.piece: e for e in [
    _piece("dense", "Dense", _dense,
           lambda p: gradcheck.check_layer(p, _inputs((5, 3), 1), name="dense"),
           (lambda: (_inputs((5, 3), 1),), lambda o, x: x @ o.params["kernel"] + o.params["bias"]),
           ("x (2, 2), kernel (2, 3), dy (2, 3)", C.dense_case, C.DENSE_ANSWER),
           "a fully connected layer: dL/dkernel, dL/dbias, dL/dx as matrix products",
           hand_make=_dense_hand),
    _piece("relu", "ReLU", _relu,
           lambda p: gradcheck.check_layer(p, _inputs((4, 5), 2, kinks=True), name="relu",
                                           kink_convention=True),
           (lambda: (_inputs((4, 5), 2),), lambda o, x: np.maximum(x, 0)),
           ("x with zeros, dy", lambda o: C.elementwise_case(o, **C.RELU_CASE), C.RELU_ANSWER),
           "an elementwise piece with a kink: the mask, and the convention at 0"),
    _piece("sigmoid", "Sigmoid", _sig,
           lambda p: gradcheck.check_layer(p, 2 * _inputs((4, 5), 4), name="sigmoid"),
           (lambda: (2 * _inputs((4, 5), 4),), lambda o, x: _sigmoid(x)),
           ("x = [[0, ln 3], [-ln 3, 0]], dy", lambda o: C.elementwise_case(o, **C.SIGMOID_CASE),
            C.SIGMOID_ANSWER),
           "a derivative written with the output y: y (1 - y), times the upstream dy"),
    _piece("bce", "BinaryCrossentropy", _bce_make,
           lambda p: gradcheck.check_loss(p, *_bce_pair(), name="bce"),
           (_bce_pair, lambda o, p, y: _bce(p, y)),
           ("p, y (2, 2)", lambda o: C.scalar_case(o, "y_pred", C.BCE_CASE["p"], C.BCE_CASE["y"]),
            C.BCE_ANSWER),
           "a loss: one denominator, and the mean's 1/(N D)"),
    _piece("mse", "MeanSquaredError", _mse,
           lambda p: gradcheck.check_loss(p, *_pair(6), name="mse"),
           (lambda: _pair(6), lambda o, p, y: float(np.mean((p - y) ** 2))),
           ("p, y (2, 2)", lambda o: C.scalar_case(o, "y_pred", C.MSE_CASE["p"], C.MSE_CASE["y"]),
            C.MSE_ANSWER),
           "the simplest loss: the 2 of the square and the 1/(N D) of the mean"),
    _piece("l1", "L1", _l1,
           lambda p: gradcheck.check_layer(p, _inputs((4, 5), 5, kinks=True), name="l1",
                                           kink_convention=True),
           (lambda: (_inputs((4, 5), 5),), lambda o, h: 0.1 * float(np.abs(h).sum())),
           ("factor 0.5, h with a 0", lambda o: C.scalar_case(o, "h", C.L1_CASE["h"]), C.L1_ANSWER),
           "a penalty summed over the batch: sign(h), and the convention at 0",
           hand_make=lambda cls: cls(0.5)),
    _piece("kl", "KLSparsity", _kl_make,
           lambda p: gradcheck.check_layer(p, _uniform(0.05, 0.95, (4, 5), 7), name="kl"),
           (lambda: (_uniform(0.05, 0.95, (4, 5), 7),), lambda o, h: _kl(0.1, 3.0, h)),
           ("rho 0.2, beta 3, h (2, 2)", lambda o: C.scalar_case(o, "h", C.KL_CASE["h"]), C.KL_ANSWER),
           "a penalty on a mean: the chain rule through rho_hat, and its 1/N",
           refine=C.refine_kl(4), hand_make=lambda cls: cls(0.2, 3.0)),
    _piece("bce-logits", "BCEFromLogits", _logits,
           lambda p: gradcheck.check_loss(p, _LZ, _LY, name="bce-logits"),
           (_logits_pair, lambda o, z, y: _bce(_sigmoid(z), y)),
           ("z = [[0, ln 3], [-ln 3, 0]], y", lambda o: C.scalar_case(o, "z", C.LOGITS_CASE["z"],
                                                                     C.LOGITS_CASE["y"]), C.LOGITS_ANSWER),
           "sigmoid and BCE fused: what cancels, and why the fused loss never overflows",
           refine=C.refine_logits(_logits, _LZ, _LY), rename={"y_pred": "z"}),
    Exercise("adam", "Adam", lambda cls: cls(), ADAM_PARTS, "closed form",
             "an optimizer: state per parameter, the bias correction, an in-place update"),
    Exercise("model", "Model", lambda cls: cls(chain_layers()), MODEL_PARTS, "gradients",
             "the whole backward pass: every piece in reverse, the gradients collected"),
]}


class ExerciseError(Exception):
    """The learner's file could not be checked (missing, broken, unfinished): a clear message."""


def template_text(piece: str) -> str:
    """The template for `piece` (one of EXERCISES: 'dense', 'relu', ..., 'model')."""
    if piece not in EXERCISES:
        raise ValueError(f"unknown exercise {piece!r}: expected one of {sorted(EXERCISES)}")
    return (resources.files(__package__) / "templates" / f"{piece}.py").read_text(encoding="utf-8")


def write_template(piece: str, path: str | Path, *, force: bool = False) -> Path:
    """Copy the template for `piece` to `path` (never over an existing file unless force)."""
    path = Path(path)
    text = template_text(piece)
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; not overwriting it (use --force)")
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist")
    atomic_write(path, lambda f: f.write(text), text=True)
    return path


def load_class(piece: str, path: str | Path) -> type:
    """Import the learner's file from its path and return its class for `piece` (not built).

    ValueError for an unknown piece, FileNotFoundError for a missing file, ExerciseError when
    the file does not import or defines no class of the template's name.
    """
    ex = EXERCISES.get(piece)
    if ex is None:
        raise ValueError(f"unknown exercise {piece!r}: expected one of {sorted(EXERCISES)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (create it with --init {path})")
    name = f"_scratchae_exercise_{piece.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExerciseError(f"{path}: cannot be imported as Python (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ExerciseError(f"{path}, line {exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise ExerciseError(f"{path} failed while importing: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
    cls = getattr(module, ex.class_name, None)
    if not isinstance(cls, type):
        raise ExerciseError(f"{path} defines no class {ex.class_name!r} (the template's class name)")
    return cls


def load_piece(piece: str, path: str | Path, cls: type | None = None) -> Any:
    """Import the learner's file from its path (unless `cls` is given: its class already
    imported) and build the exercise's piece from it."""
    cls = cls if cls is not None else load_class(piece, path)
    ex = EXERCISES[piece]
    try:
        return ex.make(cls)
    except Exception as exc:
        raise ExerciseError(f"{path}: {ex.class_name}(...) failed: {type(exc).__name__}: {exc}") from None


def run_parts(piece: str, cls: type) -> dict[str, Report]:
    """Every part of the exercise on the learner's class, each on its own instance."""
    ex = EXERCISES[piece]
    return {name: part(cls) for name, part in ex.parts.items()}


def combine(piece: str, reports: dict[str, Report]) -> Report:
    """One report: the main part's rows, the other parts as its sub-reports."""
    ex = EXERCISES[piece]
    main = reports[ex.main]
    rest = [r for name, r in reports.items() if name != ex.main]
    rep = Report(main.title, main.rows, main.notes, parts=rest)
    # the first failure that comes with a hint (the main part's first), else the first failure
    hinted = [r for p in [main, *rest] for r in p.rows if not r.ok and r.hint is not None]
    rep.located = hinted[0] if hinted else main.located or next(
        (p.located for p in rest if p.located is not None), None)
    return rep


def run_exercise(piece: str, path: str | Path) -> Report:
    """Load the learner's piece and check it; ExerciseError if it cannot be checked yet."""
    cls = load_class(piece, path)
    load_piece(piece, path, cls)
    try:
        report = combine(piece, run_parts(piece, cls))
    except Exception as exc:
        raise ExerciseError(f"{path}: the check could not run: {type(exc).__name__}: {exc}") from None
    raised = [r for r in report.all_rows() if r.exception is not None]
    if any(isinstance(r.exception, NotImplementedError) for r in raised):
        name = EXERCISES[piece].class_name
        raise ExerciseError(f"{path}: {name}'s method still raises NotImplementedError: derive it "
                            "(the docstring says how) and write it")
    for r in raised:          # an exception in the learner's code: their file, line and arrays
        r.problem = f"{r.layer}.{r.tensor} raised: {gradcheck.describe_raised(r.exception, path)}"
    return report
