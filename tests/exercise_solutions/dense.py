"""Reference solution (tests only, not shipped). Exercise: the backward pass of a fully connected layer.

Check it with:   scratchae gradcheck --exercise dense THIS_FILE.py
"""
import numpy as np


class Dense:
    """y = x . kernel + bias;  x (N, input_dim), kernel (input_dim, units), bias (units,)."""

    def __init__(self, input_dim, units, seed=0):
        rng = np.random.default_rng(seed)
        limit = np.sqrt(6.0 / (input_dim + units))
        self.params = {"kernel": rng.uniform(-limit, limit, (input_dim, units)),
                       "bias": rng.uniform(-0.1, 0.1, units)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x = None

    def forward(self, x):
        self.x = x                                   # backward needs the input
        return x @ self.params["kernel"] + self.params["bias"]

    def backward(self, dy):
        """dy = dL/dy, shape (N, units). ADD this call's gradients into self.grads["kernel"]
        and self.grads["bias"] (+=, shapes as the params) and return dL/dx, shape (N, input_dim).

        Why add, not assign: the model sets every grads array to zero at the start of each
        training step, then runs the backward passes. A weight used in two places (a decoder
        that reuses the encoder's kernel) is one array in both layers' grads, so each layer
        adds its own share and the array ends up holding their sum: that weight's gradient.
        So never assign grads (=, or [...] =) and never zero them here: add into them (+=).
        (The check puts known numbers in grads before some calls and expects those numbers
        plus this call's gradient after them.)

        To derive (write y[n, j] = sum_i x[n, i] kernel[i, j] + bias[j], apply the chain rule):
            dL/dkernel[i, j] = sum_n x[n, i] dy[n, j]      -> as a matrix product?
            dL/dbias[j]      = sum_n dy[n, j]              -> sum over which axis?
            dL/dx[n, i]      = sum_j dy[n, j] kernel[i, j] -> as a matrix product?
        Check every shape against the comment above.
        """
        self.grads["kernel"] += self.x.T @ dy
        self.grads["bias"] += dy.sum(axis=0)
        return dy @ self.params["kernel"].T
