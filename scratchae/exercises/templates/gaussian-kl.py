"""Exercise: the KL term of a variational autoencoder, its value and its gradient.

Check it with:   scratchae gradcheck --exercise gaussian-kl THIS_FILE.py
"""
import numpy as np


class GaussianKL:
    """KL = (1/N) sum_n sum_j -0.5 (1 + log_var[n, j] - mu[n, j]^2 - exp(log_var[n, j]))

    the KL divergence of the code's distribution q = N(mu, exp(log_var)) from the prior
    N(0, 1): SUMMED over the J latent units and AVERAGED over the N rows of the batch (nats per
    image, as the ELBO counts it). mu, log_var (N, J): the encoder's mean and log-variance,
    log_var = log(sigma^2).
    """

    def forward(self, mu, log_var):
        """Return the KL, a float (every reduction is in the class docstring)."""
        self.mu, self.log_var = mu, log_var               # backward needs both
        raise NotImplementedError("write GaussianKL.forward: the KL, a float")

    def backward(self):
        """Return (dKL/dmu, dKL/dlog_var), each of shape (N, J), the shape of mu.

        To derive, one element at a time: mu[n, j] and log_var[n, j] appear in one term only,
        -0.5 (1 + log_var[n, j] - mu[n, j]^2 - exp(log_var[n, j])) / N, so
            dKL/dmu[n, j]      = ?
            dKL/dlog_var[n, j] = ?
        (the 1/N of the mean over the batch stays in both).
        """
        raise NotImplementedError("write GaussianKL.backward")
