"""Exercise: the gradient of KL-divergence sparsity (the UFLDL notes' sparse autoencoder).

Check it with:   scratchae gradcheck --exercise kl THIS_FILE.py
"""
import numpy as np


class KLSparsity:
    """penalty = beta * sum_j KL(rho || rho_hat[j]),  rho_hat[j] = (1/N) sum_n h[n, j].

    h (N, J): a code layer's activations after a sigmoid, all in (0, 1); rho_hat[j] is unit j's
    mean activation over the batch, read as the probability that it fires; rho the target.
        KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q))
    """

    def __init__(self, rho, beta):
        self.rho, self.beta = rho, beta

    def forward(self, h):
        self.h = h                                   # backward needs the activations
        rho, q = self.rho, h.mean(axis=0)            # q = rho_hat, shape (J,)
        kl = rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))
        return self.beta * float(kl.sum())

    def backward(self):
        """Return d(penalty)/dh, shape (N, J), the same shape as h.

        To derive, the chain rule through rho_hat (the penalty sees h only through it):
            d penalty / d rho_hat[j]  = beta * dKL(rho || q)/dq  at q = rho_hat[j]
            d rho_hat[j] / d h[n, j]  = ?     (rho_hat[j] is a mean over the N rows)
        Every row n of unit j gets the same value: a (J,) vector broadcast to (N, J).
        """
        raise NotImplementedError("write KLSparsity.backward")
