"""Exercise: the backward pass of a 2-D convolution layer (Keras's Conv2D, channels last).

Check it with:   scratchae gradcheck --exercise conv2d THIS_FILE.py
"""
import numpy as np


class Conv2D:
    """y[n, i, j, k] = sum_{p, q, c} x[n, i + p, j + q, c] kernel[p, q, c, k] + bias[k]

    x (N, H, W, C_in), kernel (kh, kw, C_in, C_out), bias (C_out,), y (N, H - kh + 1, W - kw + 1,
    C_out): stride 1 and 'valid' padding only (no strides, no 'same': the window never leaves x).
    As in Keras (and every deep-learning library) this is a cross-correlation: the kernel is
    not flipped in the forward.
    """

    def __init__(self, in_channels, filters, kernel_size=3, seed=0):
        rng = np.random.default_rng(seed)
        shape = (kernel_size, kernel_size, in_channels, filters)
        limit = np.sqrt(6.0 / (kernel_size * kernel_size * (in_channels + filters)))
        self.params = {"kernel": rng.uniform(-limit, limit, shape),
                       "bias": rng.uniform(-0.1, 0.1, filters)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x = None

    def forward(self, x):
        self.x = x                                   # backward needs the input
        kernel = self.params["kernel"]
        kh, kw = kernel.shape[:2]
        ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        y = np.zeros((x.shape[0], ho, wo, kernel.shape[3]))
        for p in range(kh):                          # one kernel cell at a time, every position at once
            for q in range(kw):
                y += x[:, p:p + ho, q:q + wo, :] @ kernel[p, q]
        return y + self.params["bias"]

    def backward(self, dy):
        """dy = dL/dy, shape (N, Ho, Wo, C_out). ADD this call's gradients into
        self.grads["kernel"] and self.grads["bias"] (+=, shapes as the params, as Dense does:
        the model zeroes grads before each step) and return dL/dx, shape (N, H, W, C_in).
        Loops or vectorised, as you like.

        To derive, apply the chain rule to the forward's formula, index by index:
            dL/dbias[k]         = sum over n, i, j of dy[n, i, j, k]              -> which axes?
            dL/dkernel[p, q, c, k] = sum_{n, i, j} x[n, i + p, j + q, c] dy[n, i, j, k]
            dL/dx[n, a, b, c]   = sum_{p, q, k} dy[n, a - p, b - q, k] kernel[p, q, c, k]
                                  (only where 0 <= a - p < Ho and 0 <= b - q < Wo)
        The last one is a "full" convolution of dy with the kernel FLIPPED (p -> kh - 1 - p):
        correlating a zero-padded dy with the unflipped kernel is the classic mistake. It sums
        over the OUTPUT channels k, for each input channel c on its own. Check every shape.
        """
        raise NotImplementedError("write Conv2D.backward")
