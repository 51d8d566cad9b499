"""Structure before numbers: what the checked code handed back, and what it raised.

Every gradient a piece returns or writes must be a finite float ndarray of exactly the shape of
what it differentiates (`scratchae._contract`); an exception from the checked code becomes an
ERROR row that says where it was raised (`describe_raised`), never a traceback out of the checker.
"""
from __future__ import annotations

import linecache
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .._contract import ContractError, Problem, describe, gradient_problem, param_gradient_problem
from .hints import Hint
from .report import Row

if TYPE_CHECKING:
    from .problems import _Problem

_HERE = Path(__file__).resolve().parent          # the checker's own frames are never the culprit


# -- structure before numbers: what the checked code handed back ---------------------------
_MISSING = object()          # a parameter with no entry in grads


class _Raised(Exception):
    """An exception from the checked code, and the call it came from ('forward', 'backward', ...)."""

    def __init__(self, phase: str, exc: Exception) -> None:
        super().__init__(phase)
        self.phase, self.exc = phase, exc


def _call(phase: str, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), with any exception it raises wrapped as _Raised(phase, exc)."""
    try:
        return fn(*args)
    except Exception as exc:
        raise _Raised(phase, exc) from exc


def _structure_problem(got: Any, like: np.ndarray, returned: bool) -> Problem | None:
    """What is wrong with one gradient before any number is compared, or None."""
    if isinstance(got, Problem):
        return got
    if got is _MISSING:
        return param_gradient_problem(None, "?", like)
    return gradient_problem(got, like, returned=returned, finite=True)


def _structure_row(p: "_Problem", name: str, got: Any, like: np.ndarray, problem: Problem) -> Row:
    """A STRUCTURE row: the piece, the tensor, what was expected and what came back, a hint."""
    piece, what = p.describe(name)
    if isinstance(got, Problem):
        detail = got.message
    elif got is _MISSING:
        key = name.rsplit("/", 1)[-1]
        detail = f"grads has no entry {key!r} (params has): expected a float array of shape {like.shape}"
        problem = Problem(detail, f"write self.grads[{key!r}] in backward")
    elif (isinstance(got, np.ndarray) and got.shape == like.shape
          and np.issubdtype(got.dtype, np.floating)):
        detail = f"expected finite values, got a {describe(got)} in which {problem.message}"
    else:
        detail = f"expected a float array of shape {like.shape}, got {describe(got)}"
    return Row(p.label, name, like.shape, 0, like.size, "structure", 1.0,
               hint=Hint("structure", problem.hint), problem=f"{piece}: {what}: {detail}")


def _culprit(exc: BaseException, pieces: dict[int, str]) -> str | None:
    """The label of the innermost checked piece (a `self` in `pieces`) the exception passed through."""
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        obj = frame.f_locals.get("self")
        if obj is not None and id(obj) in pieces:
            found = pieces[id(obj)]
    return found


def _arrays_in(frame: Any, limit: int = 10) -> list[str]:
    """'name (shape)' for the NumPy arrays among a frame's locals, then among self's attributes."""
    out = [f"{k} {v.shape}" for k, v in frame.f_locals.items()
           if isinstance(v, np.ndarray) and k != "self"]
    obj = frame.f_locals.get("self")
    for attr, v in (vars(obj).items() if hasattr(obj, "__dict__") else ()):
        if isinstance(v, np.ndarray):
            out.append(f"self.{attr} {v.shape}")
        elif isinstance(v, dict):
            out += [f"self.{attr}[{k!r}] {a.shape}" for k, a in v.items() if isinstance(a, np.ndarray)]
    return out[:limit]


def describe_raised(exc: BaseException, in_file: str | Path | None = None) -> str:
    """One line about an exception raised by checked code: where, what, and the arrays there.

    The frame described is the innermost one in `in_file` (a learner's file) if given, else
    the innermost outside NumPy and this module. E.g. "my_dense.py, line 27, in backward
    (`return dy @ k`): ValueError: matmul: ...; arrays here: dy (5, 4), self.x (5, 3)".
    """
    what = f"{type(exc).__name__}: {str(exc).strip()}".replace("\n", " ")
    want = Path(in_file).resolve() if in_file is not None else None
    chosen = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        file = Path(frame.f_code.co_filename)
        if want is not None:
            hit = file.resolve() == want
        else:
            hit = _HERE not in file.resolve().parents and "numpy" not in file.parts
        if hit:
            chosen = (frame, line)
    if chosen is None:
        return what
    frame, line = chosen
    file = frame.f_code.co_filename
    code = linecache.getline(file, line).strip()
    arrays = _arrays_in(frame)
    return (f"{Path(file).name}, line {line}, in {frame.f_code.co_name}"
            + (f" (`{code}`)" if code else "") + f": {what}"
            + (f"; arrays here: {', '.join(arrays)}" if arrays else ""))


def _raised_row(label: str, phase: str, exc: Exception, pieces: dict[int, str] | None = None) -> Row:
    """An ERROR row for an exception from the checked code (a STRUCTURE row for a ContractError,
    which Model.backward raises when a piece hands back a wrong dL/dx)."""
    if isinstance(exc, ContractError):
        return Row(exc.piece, exc.tensor, (), 0, 0, "structure", 1.0,
                   hint=Hint("structure", exc.problem.hint),
                   problem=f"{exc.piece}: dL/d{exc.tensor} (returned by backward): {exc.problem.message}")
    who = _culprit(exc, pieces or {}) or label
    return Row(who, phase, (), 0, 0, "raised", 1.0,
               problem=f"{who}.{phase} raised: {describe_raised(exc)}", exception=exc)
