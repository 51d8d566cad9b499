"""t-SNE from scratch: a 2-D map of high-dimensional points that keeps neighbours together.

    from scratchae.manifold import TSNE, one_nn_accuracy, plot_embedding
    points = TSNE(n_components=2, perplexity=30.0, random_state=0).fit_transform(codes)
    print(one_nn_accuracy(points, y_test))       # how well the map keeps the digits apart
    plot_embedding(ax, points, y_test)           # onto a matplotlib Axes, one colour per digit

scikit-learn's names and attributes (`embedding_`, `kl_divergence_`, `n_iter_`), so a
`sklearn.manifold.TSNE(...)` line ports by changing its import. Only the exact method is
written here (scikit-learn's `method="exact"`); the Barnes-Hut approximation is not.

The method (van der Maaten and Hinton, "Visualizing Data using t-SNE", JMLR 2008):

1. Affinities in the input space. For each point i, a Gaussian on the squared distances
   d_ij = |x_i - x_j|^2:

       p_{j|i} = exp(-beta_i d_ij) / sum_{k != i} exp(-beta_i d_ik),      p_{i|i} = 0

   with beta_i = 1 / (2 sigma_i^2) found by bisection so that the row's entropy
   H_i = -sum_j p_{j|i} log2 p_{j|i} equals log2(perplexity): the perplexity 2^H is a smooth
   count of neighbours (`conditional_affinities`). Then symmetrised,
   p_ij = (p_{j|i} + p_{i|j}) / (2n), which sums to 1 over i != j (`joint_affinities`).
2. Similarities in the map, a Student t with one degree of freedom (heavy tails: points far
   apart in the input may sit far apart in the map without a large cost):

       w_ij = (1 + |y_i - y_j|^2)^-1,      q_ij = w_ij / Z,      Z = sum_{k != l} w_kl

3. The cost C = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij) and its gradient
   (derived by indices in docs/backprop.md#t-sne):

       dC/dy_i = 4 sum_j (p_ij - q_ij) w_ij (y_i - y_j)

4. Gradient descent with momentum and gains (Jacobs's delta-bar-delta): each coordinate's
   step is learning_rate * gain * gradient, the gain growing by 0.2 while the gradient keeps
   pointing against the last update and shrinking by x0.8 when it turns back (never below
   0.01); momentum 0.5 for the first `EXAGGERATION_ITER` iterations, 0.8 after (the update
   and the gains start afresh then, as in scikit-learn, which this matches step for step up
   to rounding when started from the same P and map). During those
   first iterations P is multiplied by `early_exaggeration` (12): clusters form tight and far
   apart while the map is still cheap to rearrange.

Memory: one n x n float64 matrix, P (8 n^2 bytes: 50 MB for 2,500 points, 800 MB for 10,000),
plus the input as float64 (and its centred copy for init="pca") and blocks of about
`BLOCK_ELEMENTS` numbers (measured: a 91 MB peak for 2,500 x 784); the distances, W and Q are
never held whole (each iteration goes over them a block of rows at a time, see
`kl_gradient`). `TSNE` refuses an n whose P would exceed `max_bytes` (default `MAX_BYTES`,
2 GiB: n <= 16,384) before allocating anything.

Time: O(n^2) per iteration, about a dozen passes over n^2 numbers; the perplexity search
another few dozen exp passes, once. Measured on a 2-core machine (benchmarks/tsne.py): 2,500
bundled digits x 1,000 iterations in 37 s of CPU time, 38 s wall when the machine is not
crowded (4 times the points, 16 times the time: 10,000 points take about 10 minutes).
"""
from __future__ import annotations

import math
import numbers
import sys
import time
from typing import Any, TextIO

import numpy as np

from ._validate import finite_float, int_at_least
from .utils import as_rng

__all__ = ["TSNE", "conditional_affinities", "joint_affinities", "kl_divergence", "kl_gradient",
           "matrix_bytes", "one_nn_accuracy", "plot_embedding", "MAX_BYTES"]

#: The largest n x n float64 matrix TSNE agrees to allocate, in bytes (2 GiB: n <= 16,384).
MAX_BYTES = 2 * 1024 ** 3
#: Rows are processed in blocks of about this many numbers (rows x n): 512 KB of float64,
#: small enough to stay in a CPU cache through the dozen operations of one block.
BLOCK_ELEMENTS = 1 << 16
#: Iterations with early exaggeration and momentum 0.5 (scikit-learn's and the paper's 250).
EXAGGERATION_ITER = 250
#: How often (in iterations) the KL divergence is computed, printed and checked for progress.
CHECK_EVERY = 50
#: The perplexity search: entropy tolerance in nats, and the most bisection steps per row.
ENTROPY_TOL = 1e-5
SEARCH_STEPS = 100
MIN_GAIN = 0.01


def matrix_bytes(n: int) -> int:
    """Bytes of one n x n float64 matrix, the affinities P that t-SNE keeps: 8 n^2."""
    return 8 * int(n) * int(n)


def _block_rows(n: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    return max(1, block_elements // max(n, 1))


def _squared_distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray, out: np.ndarray | None = None
                       ) -> np.ndarray:
    """|a_i - b_j|^2 as |a_i|^2 + |b_j|^2 - 2 a_i.b_j, clipped at 0 (rounding can go below)."""
    d = np.matmul(a * -2.0, b.T, out=out)
    d += b_sq[None, :]
    d += np.einsum("ij,ij->i", a, a)[:, None]
    return np.maximum(d, 0.0, out=d)


def _as_points(X: Any, name: str = "X") -> np.ndarray:
    if isinstance(X, (list, tuple)):
        X = np.asarray(X)
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (n_samples, n_features), "
                        f"got {type(X).__name__}")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n_samples, n_features) with at least 2 "
                         f"samples and 1 feature, got shape {X.shape}")
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} holds {int(X.size - np.isfinite(X).sum())} NaN or infinite value(s)")
    return X


# -- 1. affinities in the input space -------------------------------------------------------
def _search_rows(d: np.ndarray, own: np.ndarray, target: float, tol: float, steps: int
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Bisection on beta for a block of rows at once. d: (b, n) squared distances, row r's own
    column `own[r]`. Returns the rows' p_{j|i} (b, n), their betas, and how many rows did not
    reach the tolerance within `steps` bisections.

    Each row is shifted by its smallest distance to another point (exp(-beta (d - d_min))
    cannot underflow to all zeros; the shift cancels in the normalisation), and its entropy in
    nats is H = log s + beta sum_j p_j d_j, with s = sum_j exp(-beta d_j) and p_j = e_j / s.
    """
    b = len(d)
    r = np.arange(b)
    d[r, own] = np.inf
    d -= d.min(axis=1, keepdims=True)
    d[r, own] = 0.0
    beta, lo, hi = np.ones(b), np.zeros(b), np.full(b, np.inf)
    active = r
    p = np.empty_like(d)
    for _ in range(steps):
        e = np.exp(d[active] * -beta[active, None])
        e[np.arange(len(active)), own[active]] = 0.0
        s = e.sum(axis=1)
        e /= s[:, None]
        h = np.log(s) + beta[active] * np.einsum("ij,ij->i", e, d[active])
        p[active] = e
        done = np.abs(h - target) <= tol
        too_flat = h > target                     # entropy too high: narrow the Gaussian
        a, lo_a, hi_a = beta[active], lo[active], hi[active]
        lo_a = np.where(too_flat, a, lo_a)
        hi_a = np.where(too_flat, hi_a, a)
        new = np.where(np.isinf(hi_a), a * 2.0, (lo_a + hi_a) / 2.0)
        beta[active] = np.where(done, a, new)
        lo[active], hi[active] = lo_a, hi_a
        active = active[~done]
        if not len(active):
            break
    return p, beta, len(active)


def conditional_affinities(X: Any, perplexity: float = 30.0, *, tol: float = ENTROPY_TOL,
                           steps: int = SEARCH_STEPS, out: np.ndarray | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(p, beta): p[i, j] = p_{j|i}, shape (n, n), each row summing to 1 with p[i, i] = 0, and
    beta[i] = 1 / (2 sigma_i^2), shape (n,), such that each row's entropy in bits is
    log2(perplexity) to within `tol` nats (`tol / ln 2` bits).

    Bisection per row, all the rows of a block at once: beta doubles (or halves) until the
    entropy is bracketed, then the bracket halves, at most `steps` times. A row still off by
    more than `tol` after that (duplicated points can make a perplexity unreachable) keeps its
    last beta. `out`, if given, is the (n, n) float64 array to fill.
    """
    p, beta, _ = _conditional(X, perplexity, tol, steps, out)
    return p, beta


def _conditional(X: Any, perplexity: float, tol: float, steps: int, out: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    X = _as_points(X)
    n = len(X)
    perplexity = _perplexity(perplexity, n)
    target = math.log(perplexity)
    p = np.empty((n, n)) if out is None else out
    beta = np.empty(n)
    x_sq = np.einsum("ij,ij->i", X, X)
    rows, missed = _block_rows(n), 0
    for s in range(0, n, rows):
        e = min(s + rows, n)
        d = _squared_distances(X[s:e], X, x_sq)
        p[s:e], beta[s:e], k = _search_rows(d, np.arange(s, e), target, tol, steps)
        missed += k
    return p, beta, missed


def _perplexity(perplexity: Any, n: int) -> float:
    perplexity = finite_float("perplexity", perplexity, strictly_positive=True)
    if perplexity >= n:
        raise ValueError(f"perplexity must be less than the number of samples, got perplexity "
                         f"{perplexity:g} for {n} samples (scikit-learn's rule; try "
                         f"{max(1, (n - 1) // 3)})")
    return perplexity


def _symmetrise(p: np.ndarray) -> np.ndarray:
    """p <- (p + p^T) / (2n) in place, one pair of blocks at a time (no second n x n array)."""
    n = len(p)
    k = max(1, int(math.sqrt(BLOCK_ELEMENTS)))
    for s in range(0, n, k):
        for t in range(s, n, k):
            a = p[s:s + k, t:t + k] + p[t:t + k, s:s + k].T
            a /= 2.0 * n
            p[s:s + k, t:t + k] = a
            p[t:t + k, s:s + k] = a.T
    return p


def joint_affinities(X: Any, perplexity: float = 30.0) -> np.ndarray:
    """P, shape (n, n): p_ij = (p_{j|i} + p_{i|j}) / (2n), symmetric, zero diagonal, sum 1."""
    return _symmetrise(conditional_affinities(X, perplexity)[0])


# -- 2. and 3. the map's similarities, the cost and its gradient ---------------------------
def _map_pass(P: np.ndarray, Y: np.ndarray, exaggeration: float = 1.0, want_kl: bool = False,
              block_elements: int = BLOCK_ELEMENTS, p_log_p: float | None = None
              ) -> tuple[np.ndarray, float]:
    """One pass over the pairs, a block of rows at a time: the gradient of the cost with
    P times `exaggeration`, and (want_kl) the KL divergence of the plain P, else nan.

    With w_ij = (1 + d_ij)^-1 (w_ii = 0) and Z = sum w, (p_ij - q_ij) w_ij = p_ij w_ij - w_ij^2 / Z,
    so the gradient needs only row sums and products with Y of A = P * W and B = W * W:

        dC/dy_i = 4 [ (a_i - b_i / Z) y_i - ((A Y)_i - (B Y)_i / Z) ],   a_i = sum_j A_ij

    and KL = sum p log p - sum p log w + (sum p) log Z: Z is known only at the end of the pass
    (sum p log p, a constant of the descent, may be given as `p_log_p`). No BLAS dot products
    on the blocks: a multithreaded ddot on a loaded machine cost 20 times the plain sum.
    """
    n, c = Y.shape
    rows = _block_rows(n, block_elements)
    y_sq1 = np.einsum("ij,ij->i", Y, Y) + 1.0
    y1 = np.hstack([Y, np.ones((n, 1))])             # one product gives A Y and A's row sums
    ay, by = np.empty((n, c + 1)), np.empty((n, c + 1))
    z = p_log_w = 0.0
    buf, a_buf = np.empty((rows, n)), np.empty((rows, n))
    for s in range(0, n, rows):
        e = min(s + rows, n)
        w, a = buf[:e - s], a_buf[:e - s]
        _squared_distances(Y[s:e], Y, y_sq1 - 1.0, out=w)
        w += 1.0
        np.reciprocal(w, out=w)                      # w_ii = 1 here: log w_ii = 0 below
        if want_kl:
            np.log(w, out=a)
            a *= P[s:e]
            p_log_w += float(a.sum())
        w[np.arange(e - s), np.arange(s, e)] = 0.0
        z += float(w.sum())
        np.multiply(P[s:e], w, out=a)
        np.matmul(a, y1, out=ay[s:e])
        np.multiply(w, w, out=w)
        np.matmul(w, y1, out=by[s:e])
    coef = exaggeration * ay[:, c] - by[:, c] / z
    grad = 4.0 * (coef[:, None] * Y - (exaggeration * ay[:, :c] - by[:, :c] / z))
    kl = math.nan
    if want_kl:
        kl = ((_p_log_p(P) if p_log_p is None else p_log_p) - p_log_w
              + float(P.sum()) * math.log(z))
    return grad, kl


def _p_log_p(P: np.ndarray) -> float:
    total, rows = 0.0, _block_rows(len(P))
    for s in range(0, len(P), rows):
        b = P[s:s + rows]
        pos = b[b > 0]
        total += float((pos * np.log(pos)).sum())
    return total


def _check_p_y(P: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    P, Y = np.asarray(P, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or len(Y) < 2:
        raise ValueError(f"Y must have shape (n, n_components) with n >= 2, got {Y.shape}")
    if P.shape != (len(Y), len(Y)):
        raise ValueError(f"P must have shape (n, n) = {(len(Y), len(Y))} for Y of shape "
                         f"{Y.shape}, got {P.shape}")
    if (P < 0).any() or np.diagonal(P).any() or not np.isfinite(P).all():
        raise ValueError("P must be finite and non-negative with a zero diagonal (p_ii = 0)")
    return P, Y


def kl_divergence(P: Any, Y: Any) -> float:
    """C = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij), Q the Student-t similarities of the
    map Y (n, n_components); terms with p_ij = 0 count 0."""
    P, Y = _check_p_y(P, Y)
    return _map_pass(P, Y, want_kl=True)[1]


def kl_gradient(P: Any, Y: Any, *, block_elements: int = BLOCK_ELEMENTS) -> np.ndarray:
    """dC/dY, shape (n, n_components): dC/dy_i = 4 sum_j (p_ij - q_ij) (1 + |y_i - y_j|^2)^-1
    (y_i - y_j), derived in docs/backprop.md#t-sne. `block_elements` sets the block size
    (rows x n) of the pass over the pairs; the result does not depend on it."""
    P, Y = _check_p_y(P, Y)
    return _map_pass(P, Y, block_elements=block_elements)[0]


# -- 4. the optimiser ----------------------------------------------------------------------
def _pca_start(X: np.ndarray, k: int) -> np.ndarray:
    """The first k principal components of X (signs fixed: each direction's largest entry
    positive), scaled so that the first column's standard deviation is 1e-4 (scikit-learn's
    init="pca")."""
    centred = X - X.mean(axis=0)
    if X.shape[1] <= len(X):                     # eigenvectors of the D x D covariance
        vals, vecs = np.linalg.eigh(centred.T @ centred)
        vt = vecs[:, ::-1][:, :k].T
    else:
        vt = np.linalg.svd(centred, full_matrices=False)[2][:k]
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    y = centred @ (vt * np.where(signs == 0, 1.0, signs)[:, None]).T
    if y.shape[1] < k:
        y = np.hstack([y, np.zeros((len(y), k - y.shape[1]))])
    std = float(y[:, 0].std())
    return y / std * 1e-4 if std > 0 else y


class TSNE:
    """Exact t-SNE (van der Maaten and Hinton 2008) with scikit-learn's names.

        TSNE(n_components=2, perplexity=30.0, early_exaggeration=12.0, learning_rate="auto",
             n_iter=1000, random_state=None).fit_transform(X) -> (n, n_components)

    n_components      dimensions of the map
    perplexity        the smooth number of neighbours each point's Gaussian covers (< n)
    early_exaggeration  P is multiplied by it for the first `EXAGGERATION_ITER` iterations
    learning_rate     a number, or "auto": max(n / early_exaggeration / 4, 50) (scikit-learn's)
    n_iter / max_iter the number of iterations (scikit-learn 1.5 renamed n_iter to max_iter;
                      either name works, both must agree); default 1000
    n_iter_without_progress  stop when the KL divergence (checked every `CHECK_EVERY`
                      iterations after the exaggeration) has not improved for this many
    min_grad_norm     stop when the gradient's norm falls below it
    init              "pca" (scikit-learn's default: the first principal components, scaled to
                      a standard deviation of 1e-4), "random" (N(0, 1e-4^2), from
                      random_state), or an (n, n_components) array
    random_state      an int, a numpy Generator or None (the library generator); only
                      init="random" draws from it
    verbose           0: silent; 1: a line for the affinities and every `CHECK_EVERY`
                      iterations (KL divergence, gradient norm, time); `stream` receives them
    method            "exact" only (scikit-learn's default "barnes_hut" is not written here)
    max_bytes         the largest n x n float64 matrix allowed (default `MAX_BYTES`, 2 GiB);
                      fit refuses a larger n with a ValueError before allocating

    After fit: `embedding_` (n, n_components), `kl_divergence_` (KL(P || Q) of the final map,
    without exaggeration), `n_iter_` (iterations run; scikit-learn reports the index of the
    last one, one less), and beyond scikit-learn `betas_` (each point's 1 / (2 sigma^2)).

    Memory: 8 n^2 bytes for P, a copy or two of X, and blocks of `BLOCK_ELEMENTS` numbers.
    Time: O(n^2) per iteration; 2,500 points x 1,000 iterations take about 37 s of CPU time on
    a 2-core machine (benchmarks/tsne.py).
    """

    def __init__(self, n_components: int = 2, *, perplexity: float = 30.0,
                 early_exaggeration: float = 12.0, learning_rate: float | str = "auto",
                 n_iter: int | None = None, max_iter: int | None = None,
                 n_iter_without_progress: int = 300, min_grad_norm: float = 1e-7,
                 init: str | np.ndarray = "pca", verbose: int = 0,
                 random_state: int | np.random.Generator | None = None, method: str = "exact",
                 max_bytes: int = MAX_BYTES, stream: TextIO | None = None) -> None:
        self.n_components = int_at_least("n_components", n_components, 1, "a positive integer")
        self.perplexity = finite_float("perplexity", perplexity, strictly_positive=True)
        self.early_exaggeration = finite_float("early_exaggeration", early_exaggeration, minimum=1.0)
        if isinstance(learning_rate, str):
            if learning_rate != "auto":
                raise ValueError(f"learning_rate must be a positive number or 'auto', got {learning_rate!r}")
            self.learning_rate: float | str = "auto"
        else:
            self.learning_rate = finite_float("learning_rate", learning_rate, strictly_positive=True)
        if n_iter is not None and max_iter is not None and n_iter != max_iter:
            raise ValueError(f"n_iter and max_iter are two names for one setting; got n_iter="
                             f"{n_iter!r} and max_iter={max_iter!r}")
        iters = max_iter if max_iter is not None else n_iter if n_iter is not None else 1000
        self.max_iter = self.n_iter = int_at_least("max_iter", iters, 1, "a positive integer")
        self.n_iter_without_progress = int_at_least("n_iter_without_progress",
                                                    n_iter_without_progress, 1, "a positive integer")
        self.min_grad_norm = finite_float("min_grad_norm", min_grad_norm, minimum=0.0)
        if isinstance(init, str) and init not in ("pca", "random"):
            raise ValueError(f"init must be 'pca', 'random' or an array, got {init!r}")
        if not isinstance(init, (str, np.ndarray)):
            raise TypeError(f"init must be 'pca', 'random' or an array, got {type(init).__name__}")
        self.init = init
        self.verbose = int_at_least("verbose", verbose, 0, "a non-negative integer")
        if method != "exact":
            raise ValueError(f"method must be 'exact' (the O(n^2) t-SNE written here; "
                             f"Barnes-Hut is not), got {method!r}")
        self.method = method
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, numbers.Real) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.random_state = random_state
        self.stream = stream

    def __repr__(self) -> str:
        return (f"TSNE(n_components={self.n_components}, perplexity={self.perplexity:g}, "
                f"early_exaggeration={self.early_exaggeration:g}, learning_rate={self.learning_rate!r}, "
                f"max_iter={self.max_iter}, init={self.init if isinstance(self.init, str) else 'array'!r})")

    def _say(self, text: str) -> None:
        if self.verbose:
            stream = self.stream if self.stream is not None else sys.stdout
            print(f"[t-SNE] {text}", file=stream, flush=True)

    def _refuse_if_too_big(self, shape: tuple) -> None:
        """Before any allocation: P needs 8 n^2 bytes."""
        if len(shape) != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got shape {tuple(shape)}")
        n = int(shape[0])
        need = matrix_bytes(n)
        if need > self.max_bytes:
            top = int(math.isqrt(int(self.max_bytes) // 8))
            raise ValueError(
                f"TSNE refuses n = {n:,} points: its n x n float64 affinity matrix needs "
                f"{need:,} bytes ({need / 2 ** 30:.1f} GiB), over the limit max_bytes = "
                f"{int(self.max_bytes):,} bytes ({self.max_bytes / 2 ** 30:.1f} GiB), which allows "
                f"n <= {top:,}. Use a random subset of the points, or raise max_bytes if the "
                f"memory is there (time grows as n^2 too).")

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit the map to X (n_samples, n_features) and return `embedding_`. y is ignored."""
        self.fit(X)
        return self.embedding_

    def fit(self, X: Any, y: Any = None) -> "TSNE":
        """Compute P, then run the gradient descent; sets embedding_, kl_divergence_, n_iter_."""
        self._refuse_if_too_big(np.shape(X))
        X = _as_points(X)
        n, k = len(X), self.n_components
        perplexity = _perplexity(self.perplexity, n)
        start = time.perf_counter()
        self._say(f"{n:,} points of {X.shape[1]:,} dimensions; P takes {matrix_bytes(n) / 1e6:.1f} MB")
        P, beta, missed = _conditional(X, perplexity, ENTROPY_TOL, SEARCH_STEPS, None)
        _symmetrise(P)
        self.betas_ = beta
        sigma = float(np.mean(np.sqrt(1.0 / (2.0 * beta))))
        self._say(f"affinities for perplexity {perplexity:g} in {time.perf_counter() - start:.1f} s: "
                  f"mean sigma {sigma:.4g}" + (f"; {missed} row(s) missed the entropy tolerance"
                                               if missed else ""))
        Y = self._start(X)
        del X
        lr = (max(n / self.early_exaggeration / 4.0, 50.0) if self.learning_rate == "auto"
              else float(self.learning_rate))
        self.learning_rate_ = lr
        update, gains = np.zeros_like(Y), np.ones_like(Y)
        p_log_p = _p_log_p(P)
        best, best_at, kl, it = math.inf, 0, math.nan, 0
        exaggerated = min(EXAGGERATION_ITER, self.max_iter)
        tick = time.perf_counter()
        for it in range(1, self.max_iter + 1):
            early = it <= exaggerated
            if it == exaggerated + 1:            # a fresh start for the second phase, as
                update[:], gains[:] = 0.0, 1.0   # scikit-learn does (the paper keeps them)
            check = it % CHECK_EVERY == 0 or it == self.max_iter or it == exaggerated
            grad, kl = _map_pass(P, Y, self.early_exaggeration if early else 1.0, want_kl=check,
                                 p_log_p=p_log_p)
            same_way = update * grad < 0.0         # the gradient still opposes the last step
            gains = np.where(same_way, gains + 0.2, gains * 0.8)
            np.maximum(gains, MIN_GAIN, out=gains)
            update = (0.5 if early else 0.8) * update - lr * gains * grad
            Y += update
            grad_norm = float(np.linalg.norm(grad))
            if check:
                now = time.perf_counter()
                self._say(f"iteration {it}: KL divergence {kl:.4f}, gradient norm {grad_norm:.2e}"
                          f" ({now - tick:.1f} s)" + (" [early exaggeration]" if early else ""))
                tick = now
                if not early:
                    if kl < best:
                        best, best_at = kl, it
                    elif it - best_at >= self.n_iter_without_progress:
                        self._say(f"no progress for {it - best_at} iterations: stopped")
                        break
            if grad_norm <= self.min_grad_norm:
                self._say(f"gradient norm {grad_norm:.2e} <= min_grad_norm: stopped at {it}")
                break
        self.embedding_ = Y
        self.kl_divergence_ = _map_pass(P, Y, want_kl=True, p_log_p=p_log_p)[1]
        self.n_iter_ = it
        self._say(f"done: {it} iterations, KL divergence {self.kl_divergence_:.4f}, "
                  f"{time.perf_counter() - start:.1f} s in all")
        return self

    def _start(self, X: np.ndarray) -> np.ndarray:
        n, k = len(X), self.n_components
        if isinstance(self.init, np.ndarray):
            Y = np.array(self.init, dtype=np.float64)
            if Y.shape != (n, k) or not np.isfinite(Y).all():
                raise ValueError(f"init must be a finite array of shape (n_samples, n_components) "
                                 f"= {(n, k)}, got shape {Y.shape}")
            return Y
        if self.init == "pca":
            return _pca_start(X, k)
        return 1e-4 * as_rng(self.random_state).standard_normal((n, k))


# -- how well a map keeps the classes apart, and drawing it ---------------------------------
def one_nn_accuracy(points: Any, labels: Any) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy: the fraction of points whose nearest other
    point (Euclidean, the first on a tie) has the same label. 1.0 when every class sits in
    clusters of its own; about the largest class's share (1/10 for digits) when the map
    keeps nothing. Works in any dimension; used on 2-D maps (t-SNE, PCA)."""
    x = _as_points(points, "points")
    labels = np.asarray(labels).ravel()
    if len(labels) != len(x):
        raise ValueError(f"points and labels differ in length: {len(x)} vs {len(labels)}")
    x_sq = np.einsum("ij,ij->i", x, x)
    nearest = np.empty(len(x), dtype=np.intp)
    rows = _block_rows(len(x))
    for s in range(0, len(x), rows):
        e = min(s + rows, len(x))
        d = _squared_distances(x[s:e], x, x_sq)
        d[np.arange(e - s), np.arange(s, e)] = np.inf
        nearest[s:e] = np.argmin(d, axis=1)
    return float(np.mean(labels[nearest] == labels))


def plot_embedding(ax: Any, points: Any, labels: Any, *, title: str | None = None,
                   size: float | None = None, legend: bool = True) -> Any:
    """Draw a 2-D map onto a matplotlib Axes, one dot per point coloured by its label (C0-C9,
    as `figures_code.code_space` colours the PCA), with the 1-NN accuracy in the title.
    Returns the Axes."""
    from .figures_code import scatter_by_label

    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    size = size if size is not None else (8 if len(pts) <= 2000 else 3)
    labels = scatter_by_label(ax, pts, labels, size=size, legend=legend)
    accuracy = one_nn_accuracy(pts, labels)
    head = f"{title}\n" if title else ""
    ax.set_title(f"{head}{len(pts):,} points, 1-NN accuracy in 2-D {accuracy:.1%}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
