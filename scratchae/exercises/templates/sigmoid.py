"""Exercise: the backward pass of the logistic sigmoid.

Check it with:   scratchae gradcheck --exercise sigmoid THIS_FILE.py
"""
import numpy as np


class Sigmoid:
    """y = 1 / (1 + exp(-x)), elementwise."""

    def forward(self, x):
        y = 1.0 / (1.0 + np.exp(-x))
        self.y = y                                   # the derivative is cheapest from y
        return y

    def backward(self, dy):
        """dy = dL/dy (same shape as x). Return dL/dx.

        To derive: differentiate 1 / (1 + e^-x) and write the result in terms of y itself
        (not x); then apply the chain rule with the upstream gradient dy.
        """
        raise NotImplementedError("write Sigmoid.backward")
