"""Gradient-checking exercises: shipped mistakes to look at, and templates to complete.

    scratchae gradcheck --list                          the shipped wrong backward passes
    scratchae gradcheck --broken relu-no-mask           what a failure looks like
    scratchae gradcheck --exercise dense --init my_dense.py     copy the template
    scratchae gradcheck --exercise dense my_dense.py            check your backward

Each template (`templates/<piece>.py`) has its forward written and its backward raising
NotImplementedError, with the formula to derive in a comment. `run_exercise` imports the
learner's file from its path, builds the piece and checks it with `scratchae.gradcheck`.
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


@dataclass(frozen=True)
class Exercise:
    piece: str
    class_name: str
    make: Callable[[type], Any]             # the learner's class -> an instance
    check: Callable[[Any], gradcheck.Report]


def _inputs(shape, seed, *, kinks=False):
    x = np.random.default_rng(seed).standard_normal(shape)
    if kinks:        # on and within the step size of 0: the checker must not cry wolf
        x.flat[:3] = [0.0, 3e-6, -4e-6]
    return x


def _check_bce(piece):
    rng = np.random.default_rng(3)
    return gradcheck.check_loss(piece, rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5)),
                                name="bce")


EXERCISES: dict[str, Exercise] = {e.piece: e for e in [
    Exercise("dense", "Dense", lambda cls: cls(3, 4, seed=0),
             lambda p: gradcheck.check_layer(p, _inputs((5, 3), 1), name="dense")),
    Exercise("relu", "ReLU", lambda cls: cls(),
             lambda p: gradcheck.check_layer(p, _inputs((4, 5), 2, kinks=True), name="relu",
                                                kink_convention=True)),
    Exercise("sigmoid", "Sigmoid", lambda cls: cls(),
             lambda p: gradcheck.check_layer(p, 2 * _inputs((4, 5), 4), name="sigmoid")),
    Exercise("bce", "BinaryCrossentropy", lambda cls: cls(), _check_bce),
    Exercise("l1", "L1", lambda cls: cls(0.1),
             lambda p: gradcheck.check_layer(p, _inputs((4, 5), 5, kinks=True), name="l1",
                                                kink_convention=True)),
]}


class ExerciseError(Exception):
    """The learner's file could not be checked (missing, broken, unfinished): a clear message."""


def template_text(piece: str) -> str:
    """The template for `piece` ('dense', 'relu', 'sigmoid', 'bce', 'l1')."""
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
    path.write_text(text, encoding="utf-8")
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
    name = f"_scratchae_exercise_{piece}"
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


def load_piece(piece: str, path: str | Path) -> Any:
    """Import the learner's file from its path and build the exercise's piece from it."""
    cls = load_class(piece, path)
    ex = EXERCISES[piece]
    try:
        return ex.make(cls)
    except Exception as exc:
        raise ExerciseError(f"{path}: {ex.class_name}(...) failed: {type(exc).__name__}: {exc}") from None


def run_exercise(piece: str, path: str | Path) -> gradcheck.Report:
    """Load the learner's piece and check it; ExerciseError if it cannot be checked yet."""
    obj = load_piece(piece, path)
    try:
        report = EXERCISES[piece].check(obj)
    except Exception as exc:
        raise ExerciseError(f"{path}: the check could not run: {type(exc).__name__}: {exc}") from None
    raised = [r for r in report.all_rows() if r.exception is not None]
    if any(isinstance(r.exception, NotImplementedError) for r in raised):
        raise ExerciseError(f"{path}: backward still raises NotImplementedError: derive the gradient "
                            "(the formula is in the comment) and write it")
    for r in raised:          # an exception in the learner's code: their file, line and arrays
        r.problem = f"{r.layer}.{r.tensor} raised: {gradcheck.describe_raised(r.exception, path)}"
    return report
