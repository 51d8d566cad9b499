"""Exercise: the gradient of an L1 activity penalty.

Check it with:   scratchae gradcheck --exercise l1 THIS_FILE.py
"""
import numpy as np


class L1:
    """penalty = factor * sum |h| over the whole batch and every unit (Keras 2.0's l1)."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, h):
        self.h = h
        return self.factor * float(np.abs(h).sum())

    def backward(self):
        """Return d(penalty)/dh, same shape as h.

        To derive: d|h|/dh is +1 for h > 0 and -1 for h < 0; |h| has a kink at 0, where we
        pick 0 (as Keras does). Which NumPy function gives exactly that?
        The convention is graded: at exactly h == 0, the gradient must be 0.
        """
        raise NotImplementedError("write L1.backward")
