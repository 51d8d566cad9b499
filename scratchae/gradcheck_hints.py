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


def _scale_hint(k: float, sizes: dict[str, int]) -> Hint:
    if abs(k + 1) <= _CLOSE:
        return Hint("sign", "sign flipped: analytic = -numeric (a minus sign lost or added?)")
    if abs(k - 2) <= 2 * _CLOSE:
        return Hint("scale", "analytic = 2 x numeric: an extra factor 2 (a term counted twice, "
                             "or the 2 of d(x^2) applied where there is no square?)")
    if abs(k - 0.5) <= 0.5 * _CLOSE:
        return Hint("scale", "analytic = numeric / 2: a factor 2 missing (the 2 of d(x^2)?)")
    for label, s in sizes.items():
        if s > 2 and abs(k - s) <= s * _CLOSE:
            return Hint("scale", f"analytic = {s} x numeric, the {label}: "
                                 f"missing 1/{s} in the loss mean? (forward divides, backward must too)")
        if s > 2 and abs(k - 1 / s) <= _CLOSE / s:
            return Hint("scale", f"analytic = numeric / {s}, the {label}: "
                                 "divided by it twice (an extra 1/N in backward)?")
    return Hint("scale", f"analytic = {k:.4g} x numeric everywhere: a constant factor is wrong "
                         "(a learning-rate-free scale, a mean vs sum, or a stray constant)")


def diagnose(analytic: np.ndarray, idx: np.ndarray, numeric: np.ndarray, *,
             sizes: dict[str, int] | None = None, dy: np.ndarray | None = None,
             floor: float = 1e-12) -> Hint:
    """Name the likely mistake behind a failing tensor.

    analytic  the full analytic gradient (any shape)
    idx       flat indices of the checked elements
    numeric   the numeric gradient at those indices
    sizes     named sizes a scale could come from, e.g. {"batch size N": 4, ...}
    dy        the upstream gradient, when the tensor is the input of an elementwise piece
    floor     magnitudes below this count as zero (the check's noise level)
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
            return _scale_hint(k, sizes)
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
        return Hint("mask", "matches the numeric gradient where it is non-zero but is non-zero where "
                            "it is zero: a mask is missing (ReLU's x > 0, or a clipped region)")
    if dy is not None:
        d = np.asarray(dy, dtype=np.float64).reshape(-1)[idx]
        ok = np.abs(d) > 1e-12
        if ok.sum() >= 1 and _close(a[ok], n[ok] / d[ok]):
            return Hint("upstream", "analytic = numeric / dy: the upstream gradient dy was never "
                                    "multiplied in (missing upstream multiply?)")
    return Hint("formula", "not a constant factor, sign, transpose, mask or missing dy: the local "
                           "derivative itself is wrong (re-derive it; e.g. sigmoid' must use the "
                           "output y: y (1 - y), not the input x)")
