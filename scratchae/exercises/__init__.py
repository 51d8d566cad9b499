"""Exercises for a backpropagation course: templates to complete, checked and graded.

    scratchae gradcheck --list                          the shipped wrong pieces
    scratchae gradcheck --broken relu-no-mask           what a failure looks like
    scratchae gradcheck --exercise dense --init my_dense.py     copy the template
    scratchae gradcheck --exercise dense my_dense.py            check your backward
    scratchae grade dense my_dense.py --json results.json       grade it (partial credit)
    scratchae gradcheck --exercise all --init class_pack        every template and a README
                                                                for learners (pack.py)

Fourteen exercises, in course order (docs/teaching.md): dense, relu, sigmoid, bce, mse, l1, kl,
bce-logits, adam, model, sampling, gaussian-kl, conv2d, maxpool. Each template
(`templates/<piece>.py`) has the shapes, the conventions and the formula to derive in its
docstrings. The first ten and the convolutional two (conv2d: Conv2D with stride 1 and 'valid'
padding; maxpool: 2x2 windows, stride 2, the first max on ties) have their forward written and
one method raising NotImplementedError. The VAE's two leave the forward to the learner as
well, since their classic bugs are forward bugs (exp(log_var) used as sigma, the KL's sign,
its reduction): `sampling` gives the forward's one draw of eps (from `self.rng`, set by the
grader, so it can replay the noise) and asks for z and the backward; `gaussian-kl` asks for
the KL's value and its gradient. Their forwards are graded for what they mean (z replayed and
its moments measured over 10,000 draws; the KL's value and reduction), not as unchanged. A
learner's check and a teacher's grade are one and the same run (`grading.py`): the file runs
in a process of its own through calls the grader draws (`plans.py`, run by `runner.py`), and
the grader scores what came back against exact answers
(`rubric.py`, `exact.py`). No solutions ship here.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from .._files import atomic_write


@dataclass(frozen=True)
class Exercise:
    """One exercise: the template's class, how `scratchae train --use` builds it, what it teaches."""

    piece: str
    class_name: str
    make: Callable[[type], Any]             # the learner's class -> an instance
    summary: str


def _chain_layers() -> list:
    from ..layers import Dense
    return [Dense(4, activation="relu", input_dim=6, dtype="float64", seed=1, name="dense"),
            Dense(3, activation="sigmoid", input_dim=4, dtype="float64", seed=2, name="dense_1"),
            Dense(6, activation="sigmoid", input_dim=3, dtype="float64", seed=3, name="dense_2")]


_plain = lambda cls: cls()
EXERCISES: dict[str, Exercise] = {e.piece: e for e in [
    Exercise("dense", "Dense", lambda cls: cls(3, 4, seed=0),
             "a fully connected layer: dL/dkernel, dL/dbias, dL/dx as matrix products"),
    Exercise("relu", "ReLU", _plain, "an elementwise piece with a kink: the mask, and the convention at 0"),
    Exercise("sigmoid", "Sigmoid", _plain,
             "a derivative written with the output y: y (1 - y), times the upstream dy"),
    Exercise("bce", "BinaryCrossentropy", _plain, "a loss: one denominator, and the mean's 1/(N D)"),
    Exercise("mse", "MeanSquaredError", _plain,
             "the simplest loss: the 2 of the square and the 1/(N D) of the mean"),
    Exercise("l1", "L1", lambda cls: cls(0.1),
             "a penalty summed over the batch: sign(h), and the convention at 0"),
    Exercise("kl", "KLSparsity", lambda cls: cls(0.1, 3.0),
             "a penalty on a mean: the chain rule through rho_hat, and its 1/N"),
    Exercise("bce-logits", "BCEFromLogits", _plain,
             "sigmoid and BCE fused: what cancels, and why the fused loss never overflows"),
    Exercise("adam", "Adam", _plain,
             "an optimizer: state per parameter, the bias correction, an in-place update"),
    Exercise("model", "Model", lambda cls: cls(_chain_layers()),
             "the whole backward pass: every piece in reverse, the gradients collected"),
    Exercise("sampling", "Sampling", _plain,
             "the VAE's reparameterization: sigma = exp(0.5 log_var), not exp(log_var), and a backward "
             "that reuses the forward's noise"),
    Exercise("gaussian-kl", "GaussianKL", _plain,
             "the VAE's KL term: its value and gradient, summed over the latent units, averaged over "
             "the batch"),
    Exercise("conv2d", "Conv2D", lambda cls: cls(3, 2, seed=0),
             "a convolution's backward: the kernel's correlation with dy, the bias summed over every position, "
             "dL/dx a full convolution with the flipped kernel, summed over the output channels"),
    Exercise("maxpool", "MaxPooling2D", _plain,
             "max pooling's backward: each dy to its window's arg-max only, the first max on ties"),
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


def run_exercise(piece: str, path: str | Path, **kwargs: Any):
    """Check a learner's file as the grader grades it (`grading.grade_submission`: the same
    process, calls and rubric) and return its Grade; FileNotFoundError for a missing file."""
    from .grading import grade_submission
    if piece not in EXERCISES:
        raise ValueError(f"unknown exercise {piece!r}: expected one of {sorted(EXERCISES)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (create it with --init {path})")
    return grade_submission(piece, path, **kwargs)
