"""Activity penalties: a number added to the loss, computed from a layer's output h.

A regularizer is a differentiable piece like the others, from an array to a scalar:

    value = reg.forward(h)        caches h; returns the penalty (a float)
    dh    = reg.backward()        dL/dh of the penalty, shape of h (times an upstream scalar)

`Dense(..., activity_regularizer=l1(1e-5))` applies it to the layer's output, after the
activation, and the model adds the value to the loss it reports and trains on.

The arithmetic, and a trap when porting
---------------------------------------
scratchae follows the article's Keras 2.0: the penalty is summed over the whole batch and
every unit,

    L1:  penalty = factor * sum_{n,j} |h[n, j]|        dpenalty/dh = factor * sign(h)   (0 at h == 0)
    L2:  penalty = factor * sum_{n,j} h[n, j]^2        dpenalty/dh = 2 * factor * h

and one penalty that is not elementwise, the sparse autoencoder of the UFLDL notes:

    KL:  rho_hat[j] = (1/N) sum_n h[n, j]             the mean activation of unit j over the batch
         penalty = beta * sum_j KL(rho || rho_hat[j])
                 = beta * sum_j [ rho log(rho / rho_hat[j]) + (1 - rho) log((1 - rho) / (1 - rho_hat[j])) ]
         dpenalty/dh[n, j] = (beta / N) * ( -rho / rho_hat[j] + (1 - rho) / (1 - rho_hat[j]) )

KL reads rho_hat[j] as the probability that unit j fires, so it needs activations in [0, 1]:
a sigmoid code layer (see `KLSparsity`).

Newer Keras (tf.keras, and Keras >= 3.14) divides the activity penalty by the batch size, so the
same `l1(1e-5)` there is 32 times weaker at batch size 32. To reproduce that behaviour here,
divide the factor by your batch size yourself.

    >>> import numpy as np
    >>> reg = l1(0.5)
    >>> reg.forward(np.array([[1.0, -2.0], [0.0, 3.0]]))       # 0.5 * (1 + 2 + 0 + 3)
    3.0
    >>> reg.backward()
    array([[ 0.5, -0.5],
           [ 0. ,  0.5]])
"""
from __future__ import annotations

import numpy as np

from . import config
from ._registry import from_config as _from_config, lookup
from ._validate import finite_float


class Regularizer:
    """Base class: penalty(h) -> float with its gradient."""

    def __init__(self) -> None:
        self._cache: np.ndarray | None = None

    def __call__(self, h: np.ndarray) -> float:
        """The penalty of `h`, without caching (Keras's `regularizer(x)`)."""
        return self.value(h)

    def value(self, h: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, h: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, h: np.ndarray) -> float:
        self._cache = h
        return self.value(h)

    def backward(self, dvalue: float = 1.0) -> np.ndarray:
        """dL/dh = dvalue * dpenalty/dh; dvalue is the upstream gradient of the scalar penalty."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        g = self.gradient(self._cache)
        return g if dvalue == 1.0 else g * float(dvalue)

    def get_config(self) -> dict:
        raise NotImplementedError


class L1(Regularizer):
    """L1 activity penalty: factor * sum(|h|) over the whole batch and all units.

    Parameters
    ----------
    l1 : float
        The factor, >= 0 (Keras's name; the article uses l1(10e-6) == 1e-5).
    """

    kink_at_zero = True          # |h| is not differentiable at h == 0 (the checker's kink probe)

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__()
        self.l1 = finite_float("l1 factor", l1, minimum=0.0)

    def value(self, h: np.ndarray) -> float:
        return self.l1 * float(np.abs(h).sum())

    def gradient(self, h: np.ndarray) -> np.ndarray:
        """d/dh of factor * sum|h| = factor * sign(h), shape of h.

        h[n, j] appears in one term of the sum, factor * |h[n, j]|, so
        dpenalty/dh[n, j] = factor * sign(h[n, j]): elementwise, and no 1/N (the sum over the
        batch, as the article's Keras 2). |h| has a kink at 0; we take the subgradient 0 there
        (np.sign(0) == 0), as Keras does. Derived in docs/backprop.md#l1-penalty.
        """
        return np.sign(h) * self.l1

    def get_config(self) -> dict:
        return {"class_name": "L1", "l1": self.l1}

    def __repr__(self) -> str:
        return f"L1(l1={self.l1!r})"


class L2(Regularizer):
    """L2 activity penalty: factor * sum(h^2) over the whole batch and all units."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__()
        self.l2 = finite_float("l2 factor", l2, minimum=0.0)

    def value(self, h: np.ndarray) -> float:
        return self.l2 * float(np.square(h).sum())

    def gradient(self, h: np.ndarray) -> np.ndarray:
        """d/dh of factor * sum h^2 = 2 * factor * h, shape of h.

        h[n, j] appears in one term, factor * h[n, j]^2, whose derivative is 2 factor h[n, j].
        Derived in docs/backprop.md#l2-penalty.
        """
        return h * (2.0 * self.l2)

    def get_config(self) -> dict:
        return {"class_name": "L2", "l2": self.l2}

    def __repr__(self) -> str:
        return f"L2(l2={self.l2!r})"


class KLSparsity(Regularizer):
    """KL-divergence sparsity (the UFLDL notes' sparse autoencoder): beta * sum_j KL(rho || rho_hat_j).

    rho_hat_j = mean over the batch of unit j's activation, read as the probability that the
    unit fires; the penalty pulls every unit's mean towards the target `rho` (e.g. 0.05: each
    unit on for about 5% of the inputs). Unlike L1 it is not summed over the batch: rho_hat is
    a mean, so the penalty does not grow with the batch size, and each unit is pushed by how far
    its *mean* is from rho, not by each value (a unit already at rho gets no push at all).

        penalty  = beta * sum_j [ rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j)) ]
        dP/dh[n, j] = (beta / N) * ( -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j) )   (the same for every n)

    Derived in docs/backprop.md#kl-sparsity.

    Activations must be in [0, 1], a sigmoid code layer: a batch with any value outside
    [0, 1] is refused with a ValueError (a ReLU code, unbounded above, is refused as soon as
    one of its values exceeds 1; while a ReLU code stays within [0, 1], rho_hat is its mean
    activation, no longer a firing probability, and a unit at 0 for the whole batch sits on
    the clip below, with no gradient). rho_hat is clipped to [1e-7, 1 - 1e-7] before the
    logs, as binary cross-entropy clips p, and the gradient is 0 for a unit whose mean was
    clipped (the honest derivative of the clipped form). A NaN activation gives a NaN
    penalty, so training stops as for any diverged loss.

    Parameters
    ----------
    rho : float in (0, 1)
        The target mean activation of every unit (UFLDL: 0.05).
    beta : float >= 0
        The weight of the penalty (UFLDL: 3, with a squared error *summed* over the pixels;
        scratchae's losses are means over the pixels, so the same balance is about beta / D).

        >>> import numpy as np
        >>> reg = KLSparsity(rho=0.2, beta=3.0)
        >>> h = np.array([[0.1, 0.6], [0.3, 0.2]])           # rho_hat = [0.2, 0.4]
        >>> round(reg.forward(h), 6)                         # 3 * (0 + KL(0.2 || 0.4))
        0.274549
        >>> reg.backward()                                   # unit 0 is at rho: no push
        array([[0.  , 1.25],
               [0.  , 1.25]])
    """

    def __init__(self, rho: float = 0.05, beta: float = 3.0) -> None:
        super().__init__()
        self.rho = finite_float("rho", rho, strictly_positive=True)
        if self.rho >= 1.0:
            raise ValueError(f"rho must be < 1 (a target firing probability in (0, 1)), got {self.rho}")
        self.beta = finite_float("beta", beta, minimum=0.0)

    def _rho_hat(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(rho_hat clipped, inside-the-clip mask), float64, one per unit; None for a NaN batch."""
        if not isinstance(h, np.ndarray) or h.ndim != 2 or h.size == 0:
            raise ValueError(f"KLSparsity needs a non-empty (N, units) array of activations, got "
                             f"{getattr(h, 'shape', type(h).__name__)}")
        lo, hi = float(h.min()), float(h.max())
        if np.isnan(lo) or np.isnan(hi):
            return None
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"KLSparsity reads each unit's mean activation as a firing probability, so the "
                f"activations must be in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]"
                + (" (a ReLU code? give the code layer activation='sigmoid')" if hi > 1.0 else ""))
        mean = h.mean(axis=0, dtype=np.float64)
        eps = config.EPSILON
        return np.clip(mean, eps, 1 - eps), (mean > eps) & (mean < 1 - eps)

    def value(self, h: np.ndarray) -> float:
        found = self._rho_hat(h)
        if found is None:
            return float("nan")
        q, _ = found
        rho = self.rho
        kl = rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))
        return self.beta * float(kl.sum())

    def gradient(self, h: np.ndarray) -> np.ndarray:
        """d/dh of beta * sum_j KL(rho || rho_hat_j), shape of h.

        The penalty depends on h[n, j] only through rho_hat_j = (1/N) sum_m h[m, j], so by the
        chain rule dP/dh[n, j] = dP/drho_hat_j * (1/N), with
        dKL(rho || q)/dq = -rho / q + (1 - rho) / (1 - q). Every row n of unit j gets the same
        value: the penalty pushes on the unit's mean. Derived in docs/backprop.md#kl-sparsity.
        """
        found = self._rho_hat(h)
        if found is None:
            return np.full_like(h, np.nan)
        q, inside = found
        row = (self.beta / h.shape[0]) * (-self.rho / q + (1 - self.rho) / (1 - q)) * inside
        out = np.empty_like(h)
        out[...] = row
        return out

    def get_config(self) -> dict:
        return {"class_name": "KLSparsity", "rho": self.rho, "beta": self.beta}

    def __repr__(self) -> str:
        return f"KLSparsity(rho={self.rho!r}, beta={self.beta!r})"


def l1(l1: float = 0.01) -> L1:
    """Keras's lower-case alias: `activity_regularizer=l1(1e-5)`."""
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """Keras's lower-case alias: `activity_regularizer=l2(1e-4)`."""
    return L2(l2)


def kl_sparsity(rho: float = 0.05, beta: float = 3.0) -> KLSparsity:
    """The lower-case alias, like `l1`: `activity_regularizer=kl_sparsity(0.05, 3.0)`."""
    return KLSparsity(rho, beta)


def from_config(cfg: dict | None) -> Regularizer | None:
    """Rebuild a regularizer from `get_config()` output (used by load_model); None stays None."""
    if cfg is None:
        return None
    return _from_config("regularizer", cfg, {"L1": L1, "L2": L2, "KLSparsity": KLSparsity})


def get(identifier: str | Regularizer | None) -> Regularizer | None:
    """A regularizer from a Keras name ('l1', 'l2': factor 0.01), an instance, or None."""
    if identifier is None:
        return None
    return lookup("activity_regularizer", identifier, {"l1": L1, "l2": L2}, Regularizer)
