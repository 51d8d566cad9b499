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


def l1(l1: float = 0.01) -> L1:
    """Keras's lower-case alias: `activity_regularizer=l1(1e-5)`."""
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """Keras's lower-case alias: `activity_regularizer=l2(1e-4)`."""
    return L2(l2)


def from_config(config: dict | None) -> Regularizer | None:
    """Rebuild a regularizer from `get_config()` output (used by load_model); None stays None."""
    if config is None:
        return None
    return _from_config("regularizer", config, {"L1": L1, "L2": L2})


def get(identifier: str | Regularizer | None) -> Regularizer | None:
    """A regularizer from a Keras name ('l1', 'l2': factor 0.01), an instance, or None."""
    if identifier is None:
        return None
    return lookup("activity_regularizer", identifier, {"l1": L1, "l2": L2}, Regularizer)
