"""What a gradient check cannot see in a sampling layer: what its forward *means*.

A gradient check compares a backward with its own forward. When the forward computes the wrong
thing and the backward is its honest gradient (numpy-ml's VAE samples with exp(log_var) as the
standard deviation and takes exp(log_var) as the variance in its KL), the two agree and the
check passes. Three checks look at the forward itself, for any layer called as
`layer.forward([mu, log_var], training=True)` that draws its noise from `layer.rng` and has a
loss term "kl" (`scratchae.vae.Sampling`, or yours):

    check_moments(layer)        at fixed mu and log_var, the sample mean and variance of z over
                                n draws equal mu and exp(log_var), each within `limit` standard
                                errors; a mismatch is named (exp(log_var) used as the standard
                                deviation, eps of the wrong scale or mean, log_var ignored)
    check_kl(layer)             the layer's closed-form KL equals a Monte Carlo estimate of
                                E_q[log q(z) - log p(z)], z drawn by the layer, q = N(mu,
                                exp(log_var)), p = N(0, 1), within `limit` standard errors
    check_kl_reduction(layer)   on known rows, the KL's reduction is named: summed over the
                                latent units and averaged over the rows is right; the other
                                three (summed over both, averaged over both, averaged over the
                                units and summed over the rows) and a flipped sign each fail
                                with their name
    check_sampling(layer)       the three, in one report

The standard errors, for n independent draws of a Gaussian z with standard deviation sigma:

    SE(sample mean)             = sigma / sqrt(n)     (the sample's deviation if larger: a wrong
                                                      variance is not also called a wrong mean)
    SE(sample variance, ddof=1) = sqrt(2 / (n - 1)) sigma^2

(the unbiased sample variance s^2 has (n - 1) s^2 / sigma^2 ~ chi^2 with n - 1 degrees of
freedom, whose variance is 2 (n - 1), so Var(s^2) = 2 sigma^4 / (n - 1)); and for the KL
estimate, the sample standard deviation of the per-row log q - log p over sqrt(n). At the
default 5 standard errors each statistic fails a correct layer for about one seed in 1.7
million (the two-sided normal tail); the draws come from a seeded generator, so a check's
result is the same at every run.

Every check runs on a float64 copy with kl_weight = 1 (the layer given is never changed) and
returns a `StatReport`: `.ok`, `.rows`, `.failures`, and a table as its `str()`, ending in
PASS or FAIL as the gradient checks' reports do.

    >>> from scratchae.vae import Sampling
    >>> check_sampling(Sampling()).ok
    True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .engine import _piece64

LIMIT = 5.0                     # standard errors
DRAWS = 20_000
# the moment and KL tests' (mu, log_var), one per latent unit: log_var far from 0 both ways (at
# log_var = 0 sigma and the variance are both 1, and the mix-up cannot be seen: unit 2 shows it)
MU = (0.5, -1.0, 0.0, 2.0)
LOG_VAR = (-3.0, 1.5, 0.0, 3.0)
# the reduction test's rows: N = 3, J = 5 (N != J, so the four reductions differ)
REDUCTION_MU = ((1.0, -0.5, 0.0, 2.0, 0.25), (0.0, 1.5, -1.0, 0.5, 0.0), (-2.0, 0.0, 0.5, 1.0, -0.75))
REDUCTION_LOG_VAR = ((0.0, 1.0, -1.0, 0.5, 2.0), (-0.5, 0.0, 1.5, -2.0, 0.0), (1.0, -1.0, 0.0, 0.25, -0.5))


@dataclass
class StatRow:
    """One statistic: what was measured where, against what, and how far off."""

    check: str                    # "moments", "kl" or "reduction"
    what: str                     # "mean", "variance", "KL", "reduction"
    at: str                       # the input, in words
    expected: float
    measured: float
    se: float | None              # its standard error (None: an exact comparison)
    problem: str | None = None    # why it fails, naming the likely bug (None: it passes)

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def z(self) -> float:
        """How many standard errors off (inf for an exact comparison that failed)."""
        if self.se is None or self.se == 0:
            return 0.0 if self.ok else math.inf
        return abs(self.measured - self.expected) / self.se


@dataclass
class StatReport:
    """What the checks found: `.ok`, `.rows`, `.failures`; `str()` is the table."""

    title: str
    rows: list[StatRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[StatRow]:
        return [r for r in self.rows if not r.ok]

    def __str__(self) -> str:
        head = ("check", "statistic", "at", "expected", "measured", "std err", "off by", "verdict")
        body = [(r.check, r.what, r.at, f"{r.expected:.6g}", f"{r.measured:.6g}",
                 "exact" if r.se is None else f"{r.se:.3g}",
                 "-" if r.se is None else f"{r.z:.1f} SE", "ok" if r.ok else "FAIL") for r in self.rows]
        widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        fmt = "  ".join("{:<%d}" % w for w in widths)
        lines = [self.title, fmt.format(*head).rstrip()] + [fmt.format(*b).rstrip() for b in body]
        for r in self.failures:
            lines.append(f"  {r.check} {r.what} at {r.at} FAIL: {r.problem}")
        lines += [f"  note: {n}" for n in self.notes]
        name = self.title.split(":")[0]
        if self.ok:
            lines.append(f"PASS: {name}")
        else:
            first = self.failures[0]
            lines.append(f"FAIL: {name} ({len(self.failures)} of {len(self.rows)} statistics; first: "
                         f"{first.check} {first.what} at {first.at})")
        return "\n".join(lines)


# -- drawing from the layer -------------------------------------------------------------------------
def _copy(layer: Any) -> Any:
    """A float64 copy with kl_weight 1 (the KL itself), the layer given untouched."""
    c, _ = _piece64(layer)
    if hasattr(c, "kl_weight"):
        c.kl_weight = 1.0
    return c


def _name(layer: Any) -> str:
    return str(getattr(layer, "name", None) or type(layer).__name__)


def _units(mu: Sequence[float] | None, log_var: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    mu = np.array(MU if mu is None else mu, dtype=np.float64)
    lv = np.array(LOG_VAR if log_var is None else log_var, dtype=np.float64)
    if mu.ndim != 1 or lv.shape != mu.shape or not mu.size:
        raise ValueError(f"mu and log_var must be two 1-D sequences of one length (one value per latent "
                         f"unit), got shapes {mu.shape} and {lv.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(lv))):
        raise ValueError("mu and log_var must be finite")
    return mu, lv


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n (the number of draws) must be an int >= 2, got {n!r}")
    return int(n)


def draw(layer: Any, mu: np.ndarray, log_var: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, float]:
    """n draws of z (n, J) from a float64 copy of `layer` at the rows mu, log_var repeated, its
    generator seeded with `seed`; and the copy's KL term on that batch (kl_weight 1)."""
    c = _copy(layer)
    c.rng = np.random.default_rng(seed)
    z = np.asarray(c.forward([np.tile(mu, (n, 1)), np.tile(log_var, (n, 1))], training=True),
                   dtype=np.float64)
    if z.shape != (n, len(mu)):
        raise ValueError(f"{_name(layer)}.forward returned shape {z.shape}, expected {(n, len(mu))}")
    return z, float(c.loss_terms()["kl"])


# -- the moment test -----------------------------------------------------------------------------------
def _near(value: float, target: float, se: float, limit: float) -> bool:
    return abs(value - target) <= limit * se + 1e-12 * max(abs(target), 1.0)


def _at(j: int, mu: float, lv: float) -> str:
    return f"unit {j} (mu={mu:g}, log_var={lv:g})"


def moment_rows(z: np.ndarray, mu: np.ndarray, log_var: np.ndarray, *, limit: float = LIMIT) -> list[StatRow]:
    """The moment test on draws already made: z (n, J), column j drawn at (mu[j], log_var[j]).
    One row for the mean and one for the variance of each column; a failing row names the
    likely mistake. (The grader of the `sampling` exercise calls this on a learner's draws.)"""
    z = np.asarray(z, dtype=np.float64)
    mu, lv = np.asarray(mu, dtype=np.float64), np.asarray(log_var, dtype=np.float64)
    n = len(z)
    var = np.exp(lv)
    sigma = np.sqrt(var)
    with np.errstate(all="ignore"):
        mean, svar = z.mean(axis=0), z.var(axis=0, ddof=1)
    # the mean's standard error with the sample's deviation where that is larger, so a wrong
    # variance is named as such and not also as a wrong mean
    se_mean = np.maximum(sigma, np.sqrt(np.where(np.isfinite(svar), svar, 0.0))) / math.sqrt(n)
    c = math.sqrt(2.0 / (n - 1))

    def var_close(target: np.ndarray, j: int) -> bool:        # the variance against another target
        return bool(_near(svar[j], target[j], c * target[j], limit))

    # eps of a wrong scale: one ratio s^2 / exp(log_var) for every unit, not 1
    ratio = svar / var
    common = float(np.median(ratio))
    rows = []
    for j in range(len(mu)):
        at = _at(j, mu[j], lv[j])
        problem = None
        if not np.isfinite(mean[j]):
            problem = "z is not finite"
        elif not _near(mean[j], mu[j], se_mean[j], limit):
            shift = (mean[j] - mu[j]) / sigma[j]
            problem = (f"the mean of z is {mean[j]:.6g}, {abs(mean[j] - mu[j]) / se_mean[j]:.1f} standard errors "
                       f"from mu = {mu[j]:g}: eps has mean {shift:.3g}, not 0 (eps ~ N(0, 1): "
                       "standard_normal, not random() or uniform())")
        rows.append(StatRow("moments", "mean", at, float(mu[j]), float(mean[j]), float(se_mean[j]), problem))
        problem = None
        se_var = c * var[j]
        if not np.isfinite(svar[j]):
            problem = "z is not finite"
        elif not _near(svar[j], var[j], se_var, limit):
            head = (f"the variance of z is {svar[j]:.6g} where exp(log_var) = {var[j]:.6g} "
                    f"({abs(svar[j] - var[j]) / se_var:.1f} standard errors off)")
            if var_close(np.exp(2 * lv), j):
                problem = (f"{head}: it is exp(2 log_var) = {math.exp(2 * lv[j]):.6g}: exp(log_var) is used as "
                           "the standard deviation, where it is the variance: sigma = exp(0.5 log_var)")
            elif var_close(np.exp(0.5 * lv), j):
                problem = (f"{head}: it is exp(0.5 log_var) = {math.exp(0.5 * lv[j]):.6g}: the standard "
                           "deviation exp(0.5 log_var) is used as the variance (z = mu + exp(0.25 log_var) eps?)")
            elif var_close(np.ones_like(var), j):
                problem = f"{head}: it is 1: eps is not scaled by sigma = exp(0.5 log_var) (z = mu + eps?)"
            elif var_close(np.zeros_like(var) + 1e-300, j) or svar[j] == 0:
                problem = f"{head}: z does not vary: no noise drawn (z = mu in training?)"
            elif abs(common - 1) > 0.05 and np.all(np.abs(ratio / common - 1) < 10 * c * limit):
                problem = (f"{head}: every unit's variance is {common:.3g} x exp(log_var): eps has variance "
                           f"{common:.3g} (standard deviation {math.sqrt(common):.3g}), not 1: draw it from "
                           "N(0, 1) (standard_normal)")
            else:
                problem = f"{head}: z is not mu + exp(0.5 log_var) eps with eps ~ N(0, 1)"
        rows.append(StatRow("moments", "variance", at, float(var[j]), float(svar[j]), float(se_var), problem))
    return rows


def check_moments(layer: Any, mu: Sequence[float] | None = None, log_var: Sequence[float] | None = None, *,
                  n: int = DRAWS, seed: int = 0, limit: float = LIMIT) -> StatReport:
    """The moment test: n draws of z at one (mu[j], log_var[j]) per latent unit (default:
    `MU`, `LOG_VAR`), their mean and variance within `limit` standard errors of mu and
    exp(log_var) (see the module's docstring for the standard errors)."""
    mu, lv = _units(mu, log_var)
    n = _check_n(n)
    z, _ = draw(layer, mu, lv, n, seed)
    title = (f"check_moments {_name(layer)}: {n} draws of z at {len(mu)} (mu, log_var) pairs, mean and "
             f"variance within {limit:g} standard errors of mu and exp(log_var)")
    return StatReport(title, moment_rows(z, mu, lv, limit=limit))


# -- the KL test -----------------------------------------------------------------------------------------
def gaussian_kl(mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """KL(N(mu, exp(log_var)) || N(0, 1)) per element: -0.5 (1 + log_var - mu^2 - exp(log_var))."""
    mu, lv = np.asarray(mu, dtype=np.float64), np.asarray(log_var, dtype=np.float64)
    return -0.5 * (1.0 + lv - mu * mu - np.exp(lv))


def log_ratio(z: np.ndarray, mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """log q(z) - log p(z) per element, q = N(mu, exp(log_var)), p = N(0, 1) (the log 2 pi cancel)."""
    return -0.5 * log_var - 0.5 * (z - mu) ** 2 / np.exp(log_var) + 0.5 * z * z


def check_kl(layer: Any, mu: Sequence[float] | None = None, log_var: Sequence[float] | None = None, *,
             n: int = DRAWS, seed: int = 1, limit: float = LIMIT) -> StatReport:
    """The KL test: the layer's KL term on n rows of (mu, log_var) against the Monte Carlo
    estimate (1/n) sum_m sum_j [log q(z_mj) - log p(z_mj)], z the layer's own n draws, within
    `limit` standard errors of the estimate. It fails for a wrong closed form (a flipped sign,
    a wrong reduction) and for sampling that does not draw from the q the KL is of."""
    mu, lv = _units(mu, log_var)
    n = _check_n(n)
    z, closed = draw(layer, mu, lv, n, seed)
    s = log_ratio(z, mu, lv).sum(axis=1)                       # per row, summed over the units
    est = float(s.mean())
    se = float(s.std(ddof=1) / math.sqrt(n))
    exact = float(gaussian_kl(mu, lv).sum())
    at = f"{len(mu)} units, {n} rows"
    title = (f"check_kl {_name(layer)}: the closed-form KL against a Monte Carlo estimate of "
             f"E_q[log q(z) - log p(z)] over {n} draws, within {limit:g} standard errors")
    problem = None
    if not np.isfinite(closed):
        problem = f"the KL is {closed}"
    elif not _near(closed, est, se, limit):
        head = (f"the KL is {closed:.6g}, the Monte Carlo estimate {est:.6g} +- {se:.3g} "
                f"({abs(closed - est) / max(se, 1e-300):.1f} standard errors off)")
        moments = moment_rows(z, mu, lv, limit=limit)
        sigma_std = any(r.problem and "standard deviation, where it is the variance" in r.problem for r in moments)
        if _near(-closed, est, se, limit):
            problem = (f"{head}: it is minus the estimate: the KL's sign is flipped (KL = "
                       "-0.5 sum(1 + log_var - mu^2 - exp(log_var)) is >= 0; minimizing the flipped one "
                       "pushes q away from the prior)")
        elif sigma_std and _near(closed, exact, 1e-9 * max(abs(exact), 1.0), 1.0):
            problem = (f"{head}: the closed form is right for variance exp(log_var), but the layer samples "
                       "with exp(log_var) as the standard deviation: sampling and KL disagree on q "
                       "(numpy-ml's mix-up; the moment test names it)")
        elif _near(closed * len(mu), est, se * len(mu), limit):
            problem = (f"{head}: it is the estimate / {len(mu)}: the KL is averaged over the {len(mu)} latent "
                       "units where it is summed (the reduction test names it)")
        elif any(not r.ok for r in moments):
            problem = f"{head}: the draws are not N(mu, exp(log_var)) (see check_moments)"
        elif closed < 0:
            problem = f"{head}: a KL is never negative"
        else:
            problem = f"{head}: the closed form is not the KL of N(mu, exp(log_var)) from N(0, 1)"
    rows = [StatRow("kl", "KL", at, est, closed, se, problem)]
    return StatReport(title, rows, [f"the closed form at these (mu, log_var): -0.5 sum(1 + log_var - mu^2 - exp(log_var)) = {exact:.6g} "
                                    "(what both should be near)"])


# -- the reduction test -----------------------------------------------------------------------------------
def reductions(k: np.ndarray) -> list[tuple[float, str]]:
    """The candidate reductions of per-element KL terms k (N, J): (value, how it was reduced),
    the right one first."""
    n, j = k.shape
    total = float(k.sum())
    return [(total / n, "right"),
            (total, f"the KL is summed over the {n} rows of the batch: it should be averaged over them "
                    "(nats per image)"),
            (total / (n * j), f"the KL is averaged over the {j} latent units: it should be summed over them "
                              f"(averaged over the {n} rows too, which is right: np.mean over every element)"),
            (total / j, f"the KL is averaged over the {j} latent units and summed over the {n} rows: it should "
                        "be summed over the units and averaged over the rows")]


def reduction_problem(term: float, k: np.ndarray, *, rtol: float = 1e-9) -> str | None:
    """None if `term` is k summed over the latent units (axis 1) and averaged over the rows;
    else the reduction it is, by name (and its sign, if flipped)."""
    if not np.isfinite(term):
        return f"the KL is {term}"
    right = reductions(k)[0][0]
    for value, how in reductions(k):
        for sign, word in ((1.0, ""), (-1.0, " and its sign is flipped")):
            if math.isclose(term, sign * value, rel_tol=rtol, abs_tol=1e-300):
                if how == "right":
                    return None if sign > 0 else ("the KL's sign is flipped: it is "
                                                  "+0.5 sum(1 + log_var - mu^2 - exp(log_var)); a KL is >= 0")
                return how + word
    ratio = term / right if right else math.inf
    return (f"the KL is {term:.6g}, {ratio:.4g} x the right {right:.6g}, and no reduction of the per-element "
            "-0.5 (1 + log_var - mu^2 - exp(log_var)) gives it: the formula itself differs (see check_kl)")


def check_kl_reduction(layer: Any, mu: Any = None, log_var: Any = None) -> StatReport:
    """The reduction test: the layer's KL term on known rows (default `REDUCTION_MU`,
    `REDUCTION_LOG_VAR`: 3 rows, 5 units) must be the per-element KL summed over the latent
    units and averaged over the rows; otherwise the reduction it uses is named."""
    mu = np.array(REDUCTION_MU if mu is None else mu, dtype=np.float64)
    lv = np.array(REDUCTION_LOG_VAR if log_var is None else log_var, dtype=np.float64)
    if mu.ndim != 2 or lv.shape != mu.shape or min(mu.shape) < 2 or mu.shape[0] == mu.shape[1]:
        raise ValueError(f"mu and log_var must be (N, J) of one shape, N, J >= 2 and N != J (so the "
                         f"reductions differ), got {mu.shape} and {lv.shape}")
    c = _copy(layer)
    c.rng = np.random.default_rng(0)
    c.forward([mu.copy(), lv.copy()], training=True)
    term = float(c.loss_terms()["kl"])
    k = gaussian_kl(mu, lv)
    n, j = mu.shape
    title = (f"check_kl_reduction {_name(layer)}: the KL on {n} known rows of {j} units, summed over the "
             "units and averaged over the rows")
    row = StatRow("reduction", "KL", f"{n} rows x {j} units", reductions(k)[0][0], term, None,
                  reduction_problem(term, k))
    return StatReport(title, [row])


def check_sampling(layer: Any, *, n: int = DRAWS, seed: int = 0, limit: float = LIMIT) -> StatReport:
    """The moment, KL and reduction tests in one report."""
    parts = [check_moments(layer, n=n, seed=seed, limit=limit), check_kl(layer, n=n, seed=seed + 1, limit=limit),
             check_kl_reduction(layer)]
    title = (f"check_sampling {_name(layer)}: moments of z, KL against Monte Carlo ({n} draws each, "
             f"{limit:g} standard errors), the KL's reduction")
    return StatReport(title, [r for p in parts for r in p.rows], [n for p in parts for n in p.notes])


__all__ = ["StatRow", "StatReport", "check_moments", "check_kl", "check_kl_reduction", "check_sampling",
           "moment_rows", "gaussian_kl", "log_ratio", "reductions", "reduction_problem", "draw",
           "LIMIT", "DRAWS"]
