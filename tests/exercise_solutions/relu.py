"""Reference solution (tests only, not shipped). Exercise: the backward pass of ReLU.

Check it with:   scratchae gradcheck --exercise relu THIS_FILE.py
"""
import numpy as np


class ReLU:
    """y = max(x, 0), elementwise."""

    def forward(self, x):
        self.x = x                                   # backward needs to know where x > 0
        return np.maximum(x, 0)

    def backward(self, dy):
        """dy = dL/dy (same shape as x). Return dL/dx.

        To derive: dy/dx = 1 where x > 0, 0 where x < 0 (at x == 0 pick 0, as Keras does);
        then dL/dx = dy * (that local derivative). Which elements let the gradient through?
        The convention is graded: at exactly x == 0, dL/dx must be 0.
        """
        return dy * (self.x > 0)
