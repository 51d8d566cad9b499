"""Likely-mistake hints: read the relationship between an analytic and a numeric gradient.

A failing gradient check says *that* a backward pass is wrong; the shape of the error often
says *why*. Given the analytic gradient (the whole array) and the numeric one at the checked
elements, `diagnose` tries, in order:

    zero        analytic ~ 0 where numeric is not          a term never back-propagated
    sign        analytic ~ -numeric                        sign flipped
    scale       analytic ~ k * numeric, k constant         k = 2, 1/2, N, 1/N, N*D, ...
    transpose   analytic ~ numeric^T (or reshaped-transposed, for a non-square kernel)
    mask        equal where numeric != 0, non-zero where numeric == 0     a mask left out
    upstream    analytic ~ numeric / dy                    the upstream gradient never multiplied in
    formula     none of the above: the local derivative itself is wrong

Told what is being checked (`piece`: 'relu', 'sigmoid', 'dense', 'l1', 'l2', 'bce', ...), the
hints speak of that piece only; told how its forward reduces (`reduction`: 'sum' or 'mean'), a
scale of N or 1/N is named as a mean where a sum belongs (or the reverse); told an L1
penalty's `factor`, a wrong constant is named with both values (kind 'factor').

Each test compares with tolerances far looser than the check's noise and far tighter than a
coincidence, so a hint is a strong suggestion, not a proof.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CLOSE = 1e-3      # relative tolerance for "equal" in the tests below


@dataclass(frozen=True)
class Hint:
    """A named guess (`kind`) with a sentence for the learner (`text`)."""

    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Whole vectors equal up to _CLOSE relative to their size."""
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    return float(np.linalg.norm(a - b)) <= _CLOSE * scale


def _scale_hint(k: float, sizes: dict[str, int], reduction: str | None = None,
                piece: str | None = None, factor: float | None = None,
                factor_name: str = "l1") -> Hint:
    if abs(k + 1) <= _CLOSE:
        return Hint("sign", "sign flipped: analytic = -numeric (a minus sign lost or added?)")
    for label, s in sizes.items():
        if s <= 2:
            continue
        if abs(k - s) <= s * _CLOSE:
            if reduction == "mean":
                return Hint("scale", f"analytic = {s} x numeric, the {label}: a sum where a mean "
                                     f"belongs: the forward divides by {s}, so its gradient must "
                                     f"too (missing 1/{s})")
            if reduction is None:
                return Hint("scale", f"analytic = {s} x numeric, the {label}: missing 1/{s} in "
                                     "the loss mean? (forward divides, backward must too)")
        if abs(k - 1 / s) <= _CLOSE / s:
            if reduction == "sum":
                return Hint("scale", f"analytic = numeric / {s}, the {label}: a mean where a sum "
                                     f"belongs: the forward sums over it, so the gradient must not "
                                     f"divide by {s} (sum, do not average)")
            return Hint("scale", f"analytic = numeric / {s}, the {label}: "
                                 "divided by it twice (an extra 1/N in backward)?")
    if piece == "l1" and factor is not None and factor > 0:
        yours = k * factor
        owner = "layer's l1" if factor_name == "l1" else f"penalty's {factor_name}"
        return Hint("factor", f"your factor is {yours:.4g}, the {owner} is "
                              f"{factor:.4g}: the gradient of {factor_name} * sum|h| is "
                              f"{factor_name} * sign(h), the same factor as in the forward")
    if abs(k - 2) <= 2 * _CLOSE:
        return Hint("scale", "analytic = 2 x numeric: an extra factor 2 (a term counted twice, "
                             "or the 2 of d(x^2) applied where there is no square?)")
    if abs(k - 0.5) <= 0.5 * _CLOSE:
        return Hint("scale", "analytic = numeric / 2: a factor 2 missing (the 2 of d(x^2)?)")
    for label, s in sizes.items():       # a sum piece scaled by N: say what the factor is
        if s > 2 and abs(k - s) <= s * _CLOSE:
            return Hint("scale", f"analytic = {s} x numeric, the {label}: an extra factor {s} "
                                 "(a sum taken twice, or a product with the wrong array?)")
    return Hint("scale", f"analytic = {k:.4g} x numeric everywhere: a constant factor is wrong "
                         "(a learning-rate-free scale, a mean vs sum, or a stray constant)")


# the fallback, in the words of the piece being checked
_FORMULA = {
    "sigmoid": "the local derivative itself is wrong: sigmoid' must use the output y: "
               "y (1 - y), not the input x",
    "relu": "ReLU's local derivative is 1 where x > 0 and 0 where x < 0, so dL/dx is dy where "
            "x > 0 and 0 elsewhere: is your mask taken on x, the right way round, and multiplied by dy?",
    "dense": "re-derive it from z[n, j] = sum_i x[n, i] kernel[i, j] + bias[j]: which of x, dy "
             "and the kernel (transposed?) enters this gradient, and which axis is summed?",
    "l1": "the gradient of factor * sum|h| is factor * sign(h), elementwise: re-derive it",
    "l2": "the gradient of factor * sum(h^2) is 2 * factor * h, elementwise: re-derive it",
    "bce": "re-derive d/dp of -[y log p + (1 - y) log(1 - p)] over one denominator, then the "
           "mean's 1/(N*D)",
}
_GENERIC = "the local derivative itself is wrong (re-derive it from the forward pass, one element at a time)"


def formula_hint(piece: str | None = None) -> Hint:
    """The fallback hint, naming only `piece` (None or unknown: no piece named)."""
    return Hint("formula", "not a constant factor, sign, transpose, mask or missing dy: "
                           + _FORMULA.get(piece or "", _GENERIC))


def diagnose(analytic: np.ndarray, idx: np.ndarray, numeric: np.ndarray, *,
             sizes: dict[str, int] | None = None, dy: np.ndarray | None = None,
             floor: float = 1e-12, piece: str | None = None, reduction: str | None = None,
             factor: float | None = None, factor_name: str = "l1") -> Hint:
    """Name the likely mistake behind a failing tensor.

    analytic   the full analytic gradient (any shape)
    idx        flat indices of the checked elements
    numeric    the numeric gradient at those indices
    sizes      named sizes a scale could come from, e.g. {"batch size N": 4, ...}
    dy         the upstream gradient, when the tensor is the input of an elementwise piece
    floor      magnitudes below this count as zero (the check's noise level)
    piece      what is checked: 'relu', 'sigmoid', 'dense', 'l1', 'l2', 'bce' or None
    reduction  'sum' if the forward sums over the batch into this tensor's gradient (a
               regularizer, a Dense layer's kernel and bias), 'mean' if it averages (a loss)
    factor     an L1 penalty's factor (with `factor_name`, its attribute's name)
    """
    sizes = sizes or {}
    a_full = np.asarray(analytic, dtype=np.float64)
    a = a_full.reshape(-1)[idx]
    n = np.asarray(numeric, dtype=np.float64)
    n_norm, a_norm = float(np.linalg.norm(n)), float(np.linalg.norm(a))

    if n_norm > floor and a_norm <= 1e-6 * n_norm:
        return Hint("zero", "analytic gradient is zero where the numeric one is not: "
                            "a term not back-propagated (missing upstream multiply? result not written?)")
    if n_norm > floor and a_norm > floor:
        k = float(a @ n) / float(n @ n)
        if _close(a, k * n) and abs(k - 1) > _CLOSE:
            return _scale_hint(k, sizes, reduction, piece, factor, factor_name)
    if a_full.ndim == 2:
        rows, cols = a_full.shape
        if rows == cols and _close(a_full.T.reshape(-1)[idx], n):
            return Hint("transpose", "analytic = numeric transposed: the gradient's axes are swapped "
                                     "(x^T . dz written as dz^T . x?)")
        if rows != cols and _close(a_full.reshape(cols, rows).T.reshape(-1)[idx], n):
            return Hint("transpose", "analytic = numeric transposed then reshaped to fit: the gradient "
                                     "was computed with its axes swapped (dz^T . x instead of x^T . dz?)")
    scale = max(float(np.abs(n).max(initial=0.0)), float(np.abs(a).max(initial=0.0)))
    off = np.abs(n) <= max(1e-6 * scale, floor)
    on = ~off
    if off.any() and on.any() and _close(a[on], n[on]) \
            and float(np.abs(a[off]).max()) > max(1e-3 * scale, floor):
        where = {"relu": "ReLU's x > 0", "bce": "the clipped region of p"}.get(piece or "",
                                                                         "ReLU's x > 0, or a clipped region")
        return Hint("mask", "matches the numeric gradient where it is non-zero but is non-zero where "
                            f"it is zero: a mask is missing ({where})")
    if dy is not None:
        d = np.asarray(dy, dtype=np.float64).reshape(-1)[idx]
        ok = np.abs(d) > 1e-12
        if ok.sum() >= 1 and _close(a[ok], n[ok] / d[ok]):
            return Hint("upstream", "analytic = numeric / dy: the upstream gradient dy was never "
                                    "multiplied in (missing upstream multiply?)")
    return formula_hint(piece)
