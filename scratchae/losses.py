"""Losses: a scalar from predictions and targets, with its gradient.

Same contract as every piece, with the target as a second input:

    value  = loss.forward(y_pred, y_true)     caches; returns a Python float
    dpred  = loss.backward()                  dL/dy_pred, shape (N, D)
    value, dpred = loss.value_and_grad(y_pred, y_true)

Both losses are the mean over all N x D elements (Keras: mean over the last axis, then over
the batch; the same thing when every row has D entries).

The fused sigmoid + binary cross-entropy
----------------------------------------
When the last layer is a sigmoid, p = sigmoid(z), and the loss is BCE, the two derivatives
multiply to something much simpler:

    dL/dp = (p - y) / (p (1 - p)) / (N D)          (BCE)
    dp/dz = p (1 - p)                              (sigmoid)
    dL/dz = (p - y) / (N D)                        (their product: the p(1-p) cancels)

and the value can be computed from z without ever forming log(p):

    -[y log p + (1 - y) log(1 - p)] = softplus(z) - y z,   softplus(z) = max(z, 0) + log(1 + e^-|z|)

`BinaryCrossentropy(from_logits=True)` is that fused form: exact for any finite z, never NaN or
inf, with no clipping. The model uses it automatically when its last layer is a sigmoid and its
loss is BCE; the unfused pair (Sigmoid.backward then BinaryCrossentropy.backward) is kept for
teaching and is tested equal to it away from saturation.

    >>> import numpy as np
    >>> bce = BinaryCrossentropy()
    >>> round(bce.forward(np.array([[0.5, 0.9]]), np.array([[1.0, 1.0]])), 6)   # -(ln .5 + ln .9)/2
    0.399254
"""
from __future__ import annotations

import numpy as np

from . import config
from .activations import sigmoid


class Loss:
    """Base class for losses."""

    name = "loss"

    def __init__(self) -> None:
        self._cache: tuple | None = None

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Keras's argument order: loss(y_true, y_pred) -> value (no cache)."""
        return self._value(*self._check(y_pred, y_true))

    def forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        return self.forward_trusted(*self._check(y_pred, y_true))

    def forward_trusted(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        """forward without the input checks: for callers that validated the data once already
        (a model checks its whole dataset when `fit` starts, not every batch)."""
        self._cache = (y_pred, y_true)
        return self._value(y_pred, y_true)

    def backward(self, dvalue: float = 1.0) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        g = self._grad(*self._cache)
        return g if dvalue == 1.0 else g * float(dvalue)

    def value_and_grad(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[float, np.ndarray]:
        value = self.forward(y_pred, y_true)
        return value, self.backward()

    # subclasses fill these in
    def _value(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        raise NotImplementedError

    def _grad(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(y_pred, np.ndarray) or not isinstance(y_true, np.ndarray):
            raise TypeError("y_pred and y_true must be NumPy arrays")
        if y_pred.shape != y_true.shape:
            raise ValueError(f"y_pred and y_true must have the same shape, got {y_pred.shape} and {y_true.shape}")
        if y_pred.size == 0:
            raise ValueError("y_pred and y_true are empty")
        for name, a in (("y_pred", y_pred), ("y_true", y_true)):
            if not np.issubdtype(a.dtype, np.floating):
                raise TypeError(f"{name} must hold floats, got dtype {a.dtype}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} holds NaN or infinite values")
        if y_true.dtype != y_pred.dtype:
            y_true = y_true.astype(y_pred.dtype)
        return y_pred, y_true

    def get_config(self) -> dict:
        return {"class_name": type(self).__name__}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, mean over all elements.

        L = -(1 / (N D)) * sum_{n,j} [ y log p + (1 - y) log(1 - p) ]

    from_logits=False: y_pred are probabilities, clipped to [1e-7, 1 - 1e-7] first (Keras).
    from_logits=True:  y_pred are logits z and p = sigmoid(z); the fused, exact form above.
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        super().__init__()
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
        self.from_logits = from_logits

    def _check(self, y_pred, y_true):
        y_pred, y_true = super()._check(y_pred, y_true)
        lo, hi = float(y_true.min()), float(y_true.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"binary cross-entropy needs targets y_true in [0, 1], got values in [{lo:g}, {hi:g}]")
        if not self.from_logits and (float(y_pred.min()) < 0 or float(y_pred.max()) > 1):
            raise ValueError("y_pred must be probabilities in [0, 1] (or use from_logits=True for logits)")
        return y_pred, y_true

    def _value(self, y_pred, y_true):
        if self.from_logits:
            z = y_pred
            # sum of softplus(z) - y z, with softplus(z) = max(z, 0) + log(1 + exp(-|z|)): exp
            # of a non-positive number never overflows. log(1 + e) instead of log1p(e): for
            # e < epsilon it gives 0 instead of ~e, an absolute error below the dtype's
            # epsilon, and NumPy's float32 log is about 4x faster than its log1p.
            total = (float(np.maximum(z, 0).sum()) + float(np.log(1 + np.exp(-np.abs(z))).sum())
                     - float(np.vdot(y_true, z)))
            return total / z.size
        eps = config.EPSILON
        p = np.clip(y_pred, eps, 1 - eps)
        per = -(y_true * np.log(p) + (1 - y_true) * np.log1p(-p))
        return float(per.mean(dtype=np.float64))

    def _grad(self, y_pred, y_true):
        """dL/dy_pred, shape (N, D).

        from_logits=False (the honest, unfused derivative of the clipped form):
            dL/dp = (p - y) / (p (1 - p)) / (N D)    where eps < p < 1 - eps
                  = 0                                where p was clipped (the clip is flat there)
        from_logits=True (fused with the sigmoid, see the module docstring):
            dL/dz = (sigmoid(z) - y) / (N D)
        """
        n_elements = y_pred.size
        if self.from_logits:
            return (sigmoid(y_pred) - y_true) / n_elements
        eps = config.EPSILON
        p = np.clip(y_pred, eps, 1 - eps)
        inside = (y_pred > eps) & (y_pred < 1 - eps)
        return (p - y_true) / (p * (1 - p)) * inside / n_elements

    def get_config(self) -> dict:
        return {"class_name": "BinaryCrossentropy", "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"BinaryCrossentropy(from_logits={self.from_logits})"


class MeanSquaredError(Loss):
    """Mean squared error, L = (1 / (N D)) * sum (y_pred - y)^2."""

    name = "mean_squared_error"

    def _value(self, y_pred, y_true):
        return float(np.square(y_pred - y_true).mean(dtype=np.float64))

    def _grad(self, y_pred, y_true):
        """dL/dy_pred = 2 (y_pred - y) / (N D), shape (N, D)."""
        return (y_pred - y_true) * (2.0 / y_pred.size)


def sigmoid_bce_from_logits(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """p = sigmoid(z) and the mean BCE of p against y, sharing one exponential.

    The training fast path of a model whose last layer is a sigmoid (see `scratchae.models`);
    the same numbers as `activations.sigmoid(z)` and `BinaryCrossentropy(from_logits=True)`,
    which compute them separately and stay the readable reference (tested equal):

        e = exp(-|z|),  d = 1 + e,  r = 1 / d = sigmoid(|z|)
        p = r where z >= 0, else e r                  (sigmoid, stable for any finite z)
        L = [ sum max(z, 0) + sum log d - sum y z ] / (N D)
    """
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)                               # e = exp(-|z|), in (0, 1]
    d = e + 1
    total = float(np.maximum(z, 0).sum()) + float(np.log(d).sum()) - float(np.vdot(y, z))
    np.reciprocal(d, out=d)                        # r = sigmoid(|z|)
    e *= d                                         # e r = sigmoid(-|z|)
    p = np.where(z >= 0, d, e)
    return p, total / z.size


def fused_sigmoid_bce_grad(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dz of the fused sigmoid + BCE, (p - y) / (N D), given p = sigmoid(z) already computed.

    The same number as `BinaryCrossentropy(from_logits=True).backward()`, without computing the
    sigmoid a second time (a model's last layer has just computed it). Tested equal to it.
    """
    g = p - y
    g *= 1.0 / p.size
    return g


_NAMES = {
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier: str | Loss) -> Loss:
    """A loss from a Keras name ('binary_crossentropy', 'mse', ...) or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        try:
            return _NAMES[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown loss {identifier!r}: expected one of {sorted(_NAMES)}") from None
    raise TypeError(f"loss must be a name or a scratchae Loss, got {type(identifier).__name__}")


def from_config(config_: dict) -> Loss:
    kinds = {"BinaryCrossentropy": BinaryCrossentropy, "MeanSquaredError": MeanSquaredError}
    try:
        cls = kinds[config_["class_name"]]
    except (KeyError, TypeError):
        raise ValueError(f"not a loss config: {config_!r}") from None
    kwargs = {k: v for k, v in config_.items() if k != "class_name"}
    return cls(**kwargs)
