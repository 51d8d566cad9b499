"""Losses: a scalar from predictions and targets, with its gradient.

Same contract as every piece, with the target as a second input:

    value  = loss.forward(y_pred, y_true)     caches; returns a Python float
    dpred  = loss.backward()                  dL/dy_pred, shape (N, D)
    value, dpred = loss.value_and_grad(y_pred, y_true)

Both losses are the mean over all N x D elements (Keras: mean over the last axis, then over
the batch; the same thing when every row has D entries), or, with `reduction="sum_over_pixels"`,
summed over each image's D pixels and averaged over the N images: the reconstruction term of a
variational autoencoder's negative ELBO, in nats per image (the mean times D; every 1/(N D)
below becomes 1/N).

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
inf, with no clipping (Keras's `from_logits=True`, PyTorch's `BCEWithLogitsLoss`). A model whose
last layer is scratchae's own sigmoid and whose loss is scratchae's own BCE trains on it by
default, on the last layer's logits (`Model.compile(fuse_sigmoid_bce=False)` turns that off;
`summary()` says which one runs); the unfused pair (Sigmoid.backward, then
BinaryCrossentropy.backward) gives the same numbers away from saturation, and is tested to.

    >>> import numpy as np
    >>> bce = BinaryCrossentropy()
    >>> round(bce.forward(np.array([[0.5, 0.9]]), np.array([[1.0, 1.0]])), 6)   # -(ln .5 + ln .9)/2
    0.399254
"""
from __future__ import annotations

import math

import numpy as np

from . import config
from ._registry import from_config as _from_config, lookup


def select_sigmoid(e: np.ndarray, d: np.ndarray, step: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sigmoid(z) from e = exp(-|z|), d = 1 + e and step = 1 where z >= 0, else 0 (in z's
    float type): 1 / d where z >= 0, e / d where z < 0, as `activations.sigmoid` writes it.

    Computed as max(e, step) / d. Since e <= 1, the numerator max(e, step) is exactly 1 where
    z >= 0 and exactly e elsewhere, so the result is bit for bit the two-case formula, and NaN
    stays NaN. It is arithmetic rather than `np.where` because choosing per element
    mispredicts on a mixed sign pattern (docs/performance.md has the figures). `out` may be e.
    """
    top = np.maximum(e, step, out=out)
    return np.divide(top, d, out=top)


#: How a loss reduces its per-element terms to one number.
REDUCTIONS = ("mean", "sum_over_pixels")


class Loss:
    """Base class for losses: `forward(y_pred, y_true) -> float`, `backward() -> dL/dy_pred`.

    Subclasses write `_forward(y_pred, y_true) -> (value, cache)` and `_backward(cache) ->
    gradient`; this class checks the inputs and keeps the cache between the two.

    reduction: "mean" (the default, Keras's): the mean over every element, divided by N D;
        "sum_over_pixels": summed over each sample's elements (every axis but the first) and
        averaged over the N samples, divided by N. The divisor is `divisor(y_pred)`.
    """

    name = "loss"

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}, got {reduction!r}")
        self.reduction = reduction
        self._cache: tuple | None = None

    def divisor(self, y_pred: np.ndarray) -> int:
        """What the sum of the per-element terms is divided by: N D ("mean") or N."""
        return y_pred.size if self.reduction == "mean" else len(y_pred)

    def _config(self) -> dict:
        """The reduction, written only when it is not the default (older files have none)."""
        return {} if self.reduction == "mean" else {"reduction": self.reduction}

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Keras's argument order: loss(y_true, y_pred) -> value (nothing cached)."""
        return self._forward(*self._check(y_pred, y_true))[0]

    def forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        """The loss value (a Python float); caches what backward needs."""
        value, self._cache = self._forward(*self._check(y_pred, y_true))
        return value

    def backward(self, dvalue: float = 1.0) -> np.ndarray:
        """dL/dy_pred, shape (N, D), times the upstream gradient `dvalue` of the scalar loss."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        g = self._backward(self._cache)
        return g if dvalue == 1.0 else g * float(dvalue)

    def value_and_grad(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[float, np.ndarray]:
        value = self.forward(y_pred, y_true)
        return value, self.backward()

    # subclasses fill these in
    def _forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[float, tuple]:
        raise NotImplementedError

    def _backward(self, cache: tuple) -> np.ndarray:
        raise NotImplementedError

    def _check(self, y_pred: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float arrays of one shape, finite targets; y_true cast to y_pred's float type.

        Predictions are not searched for NaN or inf: a non-finite prediction gives a
        non-finite loss (as in Keras and PyTorch), which is how a model notices divergence
        and stops with an error naming the epoch and batch. The targets' min and max (where
        NaN and inf both show) are kept in `self._target_range` for subclasses' range checks.
        """
        if not isinstance(y_pred, np.ndarray) or not isinstance(y_true, np.ndarray):
            raise TypeError("y_pred and y_true must be NumPy arrays")
        if y_pred.shape != y_true.shape:
            raise ValueError(f"y_pred and y_true must have the same shape, got {y_pred.shape} and {y_true.shape}")
        if y_pred.size == 0:
            raise ValueError("y_pred and y_true are empty")
        for name, a in (("y_pred", y_pred), ("y_true", y_true)):
            if a.dtype.kind != "f":                  # not np.floating
                raise TypeError(f"{name} must hold floats, got dtype {a.dtype}")
        lo, hi = float(y_true.min()), float(y_true.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError("y_true holds NaN or infinite values")
        self._target_range = (lo, hi)
        if y_true.dtype != y_pred.dtype:
            y_true = y_true.astype(y_pred.dtype)
        return y_pred, y_true

    def check_target_range(self, lo: float, hi: float) -> None:
        """Refuse targets whose values span [lo, hi] if this loss cannot take them (a model
        calls it once on the whole dataset, before training). Every value is fine here."""

    def get_config(self) -> dict:
        return {"class_name": type(self).__name__, **self._config()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'' if self.reduction == 'mean' else f'reduction={self.reduction!r}'})"


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, mean over all elements (or summed over pixels, see `reduction`).

        L = -(1 / (N D)) * sum_{n,j} [ y log p + (1 - y) log(1 - p) ]     reduction="mean"
        L = -(1 / N)     * sum_{n,j} [ y log p + (1 - y) log(1 - p) ]     reduction="sum_over_pixels"

    The second is the Bernoulli negative log-likelihood of an image in nats, averaged over
    the images: D times the first.

    from_logits=False: y_pred are probabilities, clipped to [1e-7, 1 - 1e-7] first (Keras).
    from_logits=True:  y_pred are logits z and p = sigmoid(z); the fused, exact form above.

    Derived in docs/backprop.md#binary-cross-entropy and docs/backprop.md#fused-sigmoid-and-bce.
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
        self.from_logits = from_logits

    def _check(self, y_pred, y_true):
        y_pred, y_true = super()._check(y_pred, y_true)
        self.check_target_range(*self._target_range)
        if not self.from_logits and (float(y_pred.min()) < 0 or float(y_pred.max()) > 1):
            raise ValueError("y_pred must be probabilities in [0, 1] (or use from_logits=True for logits)")
        return y_pred, y_true

    def check_target_range(self, lo: float, hi: float) -> None:
        """Targets must be in [0, 1]: images, divided by 255."""
        if lo < 0 or hi > 1:
            raise ValueError(
                f"binary cross-entropy needs targets y_true in [0, 1], got values in [{lo:g}, {hi:g}]"
                + (" (images scaled to 0-255? divide by 255)" if hi > 1 else ""))

    def _forward(self, y_pred, y_true):
        if self.from_logits:
            return self._forward_logits(y_pred, y_true)
        eps = config.EPSILON
        p = np.clip(y_pred, eps, 1 - eps)
        per = -(y_true * np.log(p) + (1 - y_true) * np.log1p(-p))
        if self.reduction == "mean":
            return float(per.mean(dtype=np.float64)), (y_pred, y_true)
        return float(per.sum(dtype=np.float64)) / len(per), (y_pred, y_true)

    def _forward_logits(self, z, y):
        """Value from the logits z, and p = sigmoid(z) for backward, from one exponential:

            e = exp(-|z|) in (0, 1]  (never overflows),  d = 1 + e
            softplus(z) = max(z, 0) + log d,   L = [ sum softplus(z) - sum y z ] / (N D)  (or / N)
            p = 1 / d where z >= 0, else e / d  (the stable sigmoid of `activations.sigmoid`)

        sum max(z, 0) is the dot product of z with step = 1[z >= 0], the same step that picks
        p's case (`select_sigmoid`); no per-element branch anywhere. log(d) rather
        than log1p(e): for e below the dtype's epsilon it gives 0 instead of ~e, an absolute
        error under epsilon, and NumPy's float32 log is faster (docs/performance.md).
        """
        step = (z >= 0).astype(z.dtype)
        e = np.abs(z)
        np.negative(e, out=e)
        np.exp(e, out=e)
        d = e + 1
        total = float(np.vdot(step, z)) + float(np.log(d).sum()) - float(np.vdot(y, z))
        p = select_sigmoid(e, d, step, out=e)
        return total / self.divisor(z), (p, y)

    def _backward(self, cache):
        """dL/dy_pred, shape (N, D).

        Each p[n, j] appears in one term of the sum, with weight 1/(N D) (1/N when summed
        over pixels: read N for N D below), and
        d/dp -[y log p + (1 - y) log(1 - p)] = -y/p + (1 - y)/(1 - p) = (p - y) / (p (1 - p)).
        From the logits, times the sigmoid's dp/dz = p (1 - p): the denominator cancels.

        from_logits=False (the honest, unfused derivative of the clipped form):
            dL/dp = (p - y) / (p (1 - p)) / (N D)    where eps < p < 1 - eps
                  = 0                                where p was clipped (the clip is flat there)
        from_logits=True (fused with the sigmoid, see the module docstring):
            dL/dz = (sigmoid(z) - y) / (N D)          sigmoid(z) kept by forward

        Derived in docs/backprop.md#binary-cross-entropy and docs/backprop.md#fused-sigmoid-and-bce.
        """
        if self.from_logits:
            p, y_true = cache
            g = p - y_true
            g *= 1.0 / self.divisor(p)
            return g
        y_pred, y_true = cache
        eps = config.EPSILON
        p = np.clip(y_pred, eps, 1 - eps)
        inside = (y_pred > eps) & (y_pred < 1 - eps)
        return (p - y_true) / (p * (1 - p)) * inside / self.divisor(y_pred)

    def get_config(self) -> dict:
        return {"class_name": "BinaryCrossentropy", "from_logits": self.from_logits, **self._config()}

    def __repr__(self) -> str:
        more = "" if self.reduction == "mean" else f", reduction={self.reduction!r}"
        return f"BinaryCrossentropy(from_logits={self.from_logits}{more})"


class MeanSquaredError(Loss):
    """Mean squared error, L = (1 / (N D)) * sum (y_pred - y)^2 (1 / N with
    reduction="sum_over_pixels"). Derived in docs/backprop.md#mse."""

    name = "mean_squared_error"

    def _forward(self, y_pred, y_true):
        diff = y_pred - y_true
        if self.reduction == "mean":
            return float(np.square(diff).mean(dtype=np.float64)), (diff,)
        return float(np.square(diff).sum(dtype=np.float64)) / len(diff), (diff,)

    def _backward(self, cache):
        """dL/dy_pred = 2 (y_pred - y) / (N D), shape (N, D).

        y_pred[n, j] appears in one term, (1/(N D)) (y_pred[n, j] - y[n, j])^2, whose derivative
        is 2 (y_pred[n, j] - y[n, j]) / (N D): elementwise, no sum left. Derived in
        docs/backprop.md#mse.
        """
        (diff,) = cache
        return diff * (2.0 / self.divisor(diff))


_NAMES = {
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier: str | Loss) -> Loss:
    """A loss from a Keras name ('binary_crossentropy', 'mse', ...) or an instance."""
    return lookup("loss", identifier, _NAMES, Loss)


def from_config(config_: dict) -> Loss:
    """The inverse of `Loss.get_config()` (used by load_model)."""
    return _from_config("loss", config_, {"BinaryCrossentropy": BinaryCrossentropy,
                                          "MeanSquaredError": MeanSquaredError})
