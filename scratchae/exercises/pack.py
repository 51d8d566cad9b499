"""The class pack: every exercise's template and a README for learners, in one folder.

    scratchae gradcheck --exercise all --init FOLDER

writes `FOLDER/README.md` (the order of the exercises, the command that checks each, what the
check's verdict and score mean, how to hand a file in) and one file per exercise,
`FOLDER/<piece>.py`, each exactly its template (`templates/<piece>.py`). Nothing of the
reference solutions: they are not in the package (tests/exercise_solutions/ of the source
repository), and the pack is made from the package alone.

What is never lost: a folder that is not empty is refused (`FileExistsError`, naming what is
in it), unless `force=True`; then only the files that are missing are written, and every file
already there (a learner's work, a README the teacher edited) is kept as it is and reported.
Each file is written atomically (`scratchae._files.atomic_write`): an interrupted pack leaves
complete files only, and running again with `force=True` adds the rest.

The course order (`COURSE`) is docs/teaching.md's course path; the tests hold the two equal.
"""
from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .._files import atomic_write
from . import EXERCISES, template_text

README = "README.md"


@dataclass(frozen=True)
class Session:
    """One session of the course path: a title and its exercises, in order."""

    title: str
    pieces: tuple[str, ...]


#: The course path of docs/teaching.md: the pieces, the model and how it trains, the sparse
#: autoencoders' penalties, the variational autoencoder, the convolutional autoencoder.
COURSE: tuple[Session, ...] = (
    Session("the pieces: two losses, two activations, a dense layer",
            ("mse", "relu", "sigmoid", "bce", "dense")),
    Session("a whole model and how it trains", ("model", "bce-logits", "adam")),
    Session("the sparse autoencoders' penalties", ("l1", "kl")),
    Session("the variational autoencoder", ("sampling", "gaussian-kl")),
    Session("the convolutional autoencoder", ("conv2d", "maxpool")),
)

#: What the learner writes in each template (the rest is `backward()`).
TO_WRITE: dict[str, str] = {"adam": "apply()", "model": "Model.backward()",
                            "sampling": "forward()'s z and backward()",
                            "gaussian-kl": "forward() and backward()"}

#: The section of docs/backprop.md that derives each exercise (its heading).
DERIVATION: dict[str, str] = {
    "mse": "MSE", "relu": "ReLU", "sigmoid": "Sigmoid", "bce": "Binary cross-entropy",
    "dense": "Dense", "model": "The chain", "bce-logits": "Fused sigmoid and BCE", "adam": "Adam",
    "l1": "L1 penalty", "kl": "KL sparsity",
    "sampling": "The variational autoencoder's sampling and KL",
    "gaussian-kl": "The variational autoencoder's sampling and KL",
    "conv2d": "Conv2D", "maxpool": "MaxPooling2D and UpSampling2D",
}


def course_order() -> list[str]:
    """Every exercise once, in the course's order; a RuntimeError if COURSE and the registry
    (EXERCISES) disagree, so a new exercise cannot be left out of the pack's README."""
    order = [p for s in COURSE for p in s.pieces]
    missing, unknown = set(EXERCISES) - set(order), set(order) - set(EXERCISES)
    if missing or unknown or len(order) != len(set(order)):
        raise RuntimeError(f"the course path and the exercises disagree: not in the course "
                           f"{sorted(missing)}, not an exercise {sorted(unknown)}, order {order}")
    return order


def file_name(piece: str) -> str:
    """The pack's file for `piece`: 'dense.py', 'bce-logits.py', ..."""
    if piece not in EXERCISES:
        raise ValueError(f"unknown exercise {piece!r}: expected one of {sorted(EXERCISES)}")
    return f"{piece}.py"


def check_command(piece: str) -> str:
    """The command that checks the pack's file for `piece`, run in the pack's folder."""
    return f"scratchae gradcheck --exercise {piece} {file_name(piece)}"


def readme_text() -> str:
    """The learners' README of the pack."""
    from .. import __version__
    order = course_order()
    lines = [
        "# Backpropagation exercises",
        "",
        f"{len(order)} exercises, one file each, made by scratchae {__version__}",
        "(`scratchae gradcheck --exercise all --init FOLDER`). In each you write the backward",
        "pass of one piece whose forward pass is already written (in `adam.py` the update, in",
        "`model.py` a whole model's backward loop; in `sampling.py` and `gaussian-kl.py`, the",
        "variational autoencoder's two, the forward as well). There are no solutions here: the",
        "check compares your numbers with exact answers.",
        "",
        "## How to do one",
        "",
        "1. Open its file and read the docstrings: the shapes, the conventions that are graded,",
        "   and the formula to derive.",
        "2. Replace each `raise NotImplementedError(...)` line with your code. Keep the class",
        "   name, the method names and the forward pass as they are (except where the docstring",
        "   asks you to write the forward).",
        "3. Check it, from this folder, as often as you like, with the command given below for",
        "   that exercise, for example",
        "",
        f"       {check_command('mse')}",
        "",
        "4. Use numpy and math only. A file that imports scratchae, os, sys, inspect or an",
        "   automatic-differentiation library, or uses eval or exec, is refused before it runs;",
        "   a backward that calls forward (finite differences) earns no gradient points.",
        "",
        "## The order",
        "",
        "Do them in this order: each uses what the ones before taught. Each names the section",
        "of docs/backprop.md (in scratchae's source) that derives it, step by step.",
    ]
    n = 0
    for k, session in enumerate(COURSE, start=1):
        lines += ["", f"Session {k}: {session.title}", ""]
        for piece in session.pieces:
            n += 1
            ex = EXERCISES[piece]
            lines += textwrap.wrap(f"{file_name(piece)} ({ex.class_name}): {ex.summary}.", 92,
                                   initial_indent=f"{n:2d}. ", subsequent_indent="    ")
            lines += [
                      f"    write:      {TO_WRITE.get(piece, 'backward()')}",
                      f"    check:      {check_command(piece)}",
                      f"    derivation: docs/backprop.md, section \"{DERIVATION[piece]}\""]
    lines += [
        "",
        "## What the check tells you",
        "",
        "Each exercise is worth 10 points, spread over checks graded one by one: a mistake costs",
        "the points of the checks it breaks, never the whole exercise. The check prints one line",
        "per check with its points (`dL/dx   0 / 2`); for a check that lost points, the element,",
        "your value, the exact one and a hint at the likely mistake; then the total",
        "(`total: 7.5 / 10`). Its last line is the verdict:",
        "",
        "* `Well done: every check passes, as the grader grades it (scratchae grade).`",
        "  You have 10 / 10: the file earns full marks when your teacher grades it, because the",
        "  grade is the same run with the same checks. The command exits with 0.",
        "* `Not yet: CHECK lost points: WHY.` The first check that lost points, and why; the",
        "  lines above it say the rest. The command exits with 1.",
        "* `Not yet: CLASS's method still raises NotImplementedError`: a `raise` line is still",
        "  there: replace it with your code.",
        "",
        "The inputs are drawn afresh for every run, so the elements a message names differ from",
        "run to run. A right answer passes them all (in `sampling`, the test of the mean and",
        "variance of 10,000 draws fails a right file about once in 200,000 runs: run it again).",
        "",
        "## Handing in",
        "",
        "Hand in each exercise's file as it is, one file per exercise, the way your teacher says",
        "(an upload per exercise on Gradescope, or your course's site). Its name does not matter;",
        "the class name inside it does. Your teacher grades it with `scratchae grade PIECE FILE`",
        "(for example `scratchae grade dense dense.py`), the check above with the points kept:",
        "what says `Well done` here gets 10 / 10 there.",
        "",
    ]
    return "\n".join(lines)


def pack_files() -> dict[str, str]:
    """Every file of the pack, name -> text: README.md, then the templates in course order."""
    return {README: readme_text(), **{file_name(p): template_text(p) for p in course_order()}}


@dataclass
class PackResult:
    """What `write_pack` did: the files written, and those already there and kept."""

    folder: Path
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)         # there before, left as they were
    kept_differing: list[str] = field(default_factory=list)   # ... and not what the pack has


def write_pack(folder: str | os.PathLike, *, force: bool = False) -> PackResult:
    """Write the class pack into `folder` (created if missing; its parent must exist).

    A folder that is not empty is refused with FileExistsError unless `force`; with `force`,
    only the missing files are written and every file already there is kept. NotADirectoryError
    when `folder` is a file, FileNotFoundError when its parent folder does not exist, TypeError
    and ValueError for what is not a folder name.
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a folder name (str or os.PathLike), got {type(folder).__name__}")
    if not os.fspath(folder):
        raise ValueError("folder is empty: expected a folder name such as 'class_pack'")
    path = Path(folder)
    files = pack_files()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder: the class pack is a folder of "
                                 f"{len(files)} files; give a new or empty folder")
    if not path.exists():
        parent = path.parent
        if not parent.is_dir():
            raise FileNotFoundError(f"folder {parent} does not exist: make it first, or give a "
                                    f"folder in one that exists")
        path.mkdir()
    there = sorted(os.listdir(path))
    if there and not force:
        shown = ", ".join(there[:5]) + (f", ... ({len(there)} in all)" if len(there) > 5 else "")
        raise FileExistsError(f"folder {path} is not empty ({shown}); not writing the pack into it. "
                              "Give a new or empty folder, or add --force to write only the files "
                              "that are missing (every file already there is kept as it is)")
    result = PackResult(path)
    for name, text in files.items():
        target = path / name
        if os.path.lexists(target):
            result.kept.append(name)
            if not _holds(target, text):
                result.kept_differing.append(name)
            continue
        atomic_write(target, lambda f, text=text: f.write(text), text=True)
        result.written.append(name)
    return result


def _holds(path: Path, text: str) -> bool:
    """Whether `path` is a regular file holding exactly `text`."""
    try:
        return path.is_file() and path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
