"""Exercise: the gradient of mean squared error (mean over all elements).

Check it with:   scratchae gradcheck --exercise mse THIS_FILE.py
"""
import numpy as np


class MeanSquaredError:
    """L = (1 / (N D)) sum_{n,j} (p[n, j] - y[n, j])^2;  p = y_pred, y = y_true, both (N, D)."""

    def forward(self, y_pred, y_true):
        self.p, self.y = y_pred, y_true              # backward needs both
        return float(np.mean((y_pred - y_true) ** 2))

    def backward(self):
        """Return dL/dp, shape (N, D), the same shape as p.

        To derive: p[n, j] appears in one term of the sum; differentiate that one term (mind
        the order of p and y inside the square), then remember what the mean divides by.
        """
        raise NotImplementedError("write MeanSquaredError.backward")
