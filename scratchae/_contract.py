"""What a backward must hand back, checked in one place (the trainer and the checker share it).

The contract of every piece (see `scratchae.layers`): `backward(dy)` returns dL/dx, a float
NumPy array of exactly x's shape, and leaves in `piece.grads[key]` a float array of exactly
`piece.params[key]`'s shape for every key. `gradient_problem` says what is wrong with one
gradient, with a hint that names the usual mistake:

    >>> import numpy as np
    >>> x = np.zeros((1, 3))
    >>> gradient_problem(np.zeros((3, 1)), x).hint
    'transposed? dL/dx has the shape of x, (N, features): keep the batch axis first'
    >>> gradient_problem(np.zeros(3), x).message
    'expected shape (1, 3), got shape (3,)'
    >>> gradient_problem(np.ones((1, 3)), x) is None
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Problem:
    """What is wrong with one gradient: a plain `message` and a `hint` at the likely mistake."""

    message: str
    hint: str


class ContractError(ValueError):
    """A backward broke the contract: names the piece, the tensor, what was expected and got."""

    def __init__(self, piece: str, tensor: str, problem: Problem) -> None:
        self.piece, self.tensor, self.problem = piece, tensor, problem
        super().__init__(f"{piece}: gradient of {tensor}: {problem.message} (hint: {problem.hint})")


def describe(a: Any) -> str:
    """'float64 array of shape (3, 2)', 'None', 'list', ... for messages."""
    if a is None:
        return "None"
    if isinstance(a, np.ndarray):
        return f"{a.dtype} array of shape {a.shape}"
    return type(a).__name__


def gradient_problem(got: Any, like: np.ndarray, *, returned: bool = True,
                     finite: bool = True) -> Problem | None:
    """None if `got` is a valid gradient for the array `like`, else what is wrong with it.

    returned: True for dL/dx (handed back by backward), False for a parameter gradient
    (written into grads), which only changes the wording of the hints.
    finite:   also look for NaN and inf (one pass over the array; the trainer skips it, a
              non-finite gradient shows up as a non-finite loss one step later).
    """
    if got is None:
        hint = ("forgot to `return dx` at the end of backward?" if returned
                else "the gradient was never written into grads?")
        return Problem("expected an array, got None", hint)
    if not isinstance(got, np.ndarray):
        return Problem(f"expected a NumPy array, got {type(got).__name__}",
                       "build it with NumPy operations (or np.asarray) so it is an ndarray")
    if got.dtype.kind != "f":                    # float16/32/64: np.floating, cheaply
        return Problem(f"expected a float array, got dtype {got.dtype}",
                       "an integer or boolean array (a mask returned without multiplying dy?)")
    if got.shape != like.shape:
        return Problem(f"expected shape {like.shape}, got shape {got.shape}",
                       _shape_hint(got.shape, like.shape, returned))
    if finite and not np.all(np.isfinite(got)):
        bad = int(got.size - np.count_nonzero(np.isfinite(got)))
        return Problem(f"{bad} of {got.size} values are NaN or infinite",
                       "a division by zero or a log of 0 (divide by p (1 - p) where p hits 0 or 1?)")
    return None


def _shape_hint(got: tuple, want: tuple, returned: bool = True) -> str:
    n_got, n_want = int(np.prod(got)), int(np.prod(want))
    if n_got == n_want:
        if len(want) == 2 and got == want[::-1]:
            if not returned:
                return ("transposed? a parameter's gradient has exactly the parameter's shape "
                        "(x^T . dz, not dz^T . x)")
            return "transposed? dL/dx has the shape of x, (N, features): keep the batch axis first"
        if len(got) == 1 and len(want) > 1:
            return "raveled? the gradient was flattened to 1-D: keep the shape of what it differentiates"
        return "reshaped? the right number of values in the wrong shape: axes swapped somewhere?"
    if len(want) == 2 and got == want[1:]:
        return ("a sum or a single row over the batch? the gradient of a batch input keeps one row per "
                "sample (only a bias gradient sums over the batch)")
    if len(want) == 2 and got in ((1, want[1]), (want[0],)):
        return "one row, or one value per sample: a sum over an axis that should stay?"
    if len(want) == 2 and len(got) == 2 and got[0] == want[0]:
        return "the right batch size, the wrong width: multiplied by the wrong matrix (kernel vs kernel^T)?"
    if len(got) == 2 and len(want) == 2 and got[::-1][0] == want[0]:
        return "the product in the wrong order (dz^T . x instead of x^T . dz)?"
    return "check every shape against the forward pass: a gradient has the shape of what it differentiates"


def check_backward(piece: Any, name: str, dx: Any, x: np.ndarray, *, params: bool = True,
                   finite: bool = False, tensor: str = "x") -> np.ndarray:
    """dx if it is a valid dL/dx for the input x of `piece` (named `name`), else ContractError.

    params=True: also check that every entry of `piece.params` has a gradient of its shape in
    `piece.grads` (the trainer leaves that to its parameter buffers, see `scratchae.models`).
    """
    problem = gradient_problem(dx, x, finite=finite)
    if problem is not None:
        raise ContractError(name, tensor, problem)
    if not params:
        return dx
    params = getattr(piece, "params", None) or {}
    grads = getattr(piece, "grads", None)
    for key, p in params.items():
        problem = param_gradient_problem(grads, key, p, finite=finite)
        if problem is not None:
            raise ContractError(name, key, problem)
    return dx


def param_gradient_problem(grads: Any, key: str, param: np.ndarray, *,
                           finite: bool = True) -> Problem | None:
    """None if `grads[key]` is a valid gradient for the parameter `param`, else what is wrong.

    `grads` is the piece's `grads` attribute (a dict, or anything else when it is missing):

        >>> param_gradient_problem({}, "bias", np.zeros(4)).message
        "grads has no entry 'bias' (params has)"
    """
    if not (isinstance(grads, dict) and key in grads):
        return Problem(f"grads has no entry {key!r} (params has)",
                       f"write self.grads[{key!r}] in backward")
    return gradient_problem(grads[key], param, returned=False, finite=finite)
