"""Reference solution (tests only, not shipped). Exercise: the gradient of binary cross-entropy (mean over all elements).

Check it with:   scratchae gradcheck --exercise bce THIS_FILE.py
"""
import numpy as np


class BinaryCrossentropy:
    """L = -(1 / (N D)) sum_{n,j} [ y log p + (1 - y) log(1 - p) ],  p = y_pred in (0, 1)."""

    def forward(self, y_pred, y_true):
        self.p, self.y = y_pred, y_true              # backward needs both
        per = -(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
        return float(per.mean())

    def backward(self):
        """Return dL/dp, same shape as p.

        To derive: differentiate one term -[y log p + (1 - y) log(1 - p)] with respect to p,
        put it over one denominator, and do not forget what the mean divides by.
        """
        return (self.p - self.y) / (self.p * (1 - self.p)) / self.p.size
