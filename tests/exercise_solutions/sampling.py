"""Reference solution (tests only, not shipped). Exercise: the reparameterization trick, the sampling step of a variational autoencoder.

Check it with:   scratchae gradcheck --exercise sampling THIS_FILE.py
"""
import numpy as np


class Sampling:
    """z = mu + sigma * eps,  sigma = exp(0.5 * log_var),  eps ~ N(0, 1), elementwise.

    mu, log_var (N, J): the encoder's mean and log-variance for N rows of J latent units;
    log_var = log(sigma^2) is the log of the VARIANCE. eps is drawn once per forward from
    self.rng, the generator the model (here: the grader) sets before every forward, so the
    noise can be replayed; backward uses that same draw and never draws again.
    """

    def __init__(self):
        self.rng = None                                   # set before each forward

    def forward(self, mu, log_var):
        """Return z, shape (N, J). Keep what backward needs (sigma, and eps: self.eps).

        sigma is the standard deviation: exp(log_var) is sigma^2, the variance, so z drawn with
        exp(log_var) in sigma's place has the wrong spread (the grader measures it: the mean
        and variance of z over 10,000 draws must be mu and exp(log_var)).
        """
        self.eps = self.rng.standard_normal(mu.shape)     # this forward's one draw of eps
        self.sigma = np.exp(0.5 * log_var)                # the standard deviation
        return mu + self.sigma * self.eps

    def backward(self, dz):
        """dz = dL/dz, shape (N, J). Return (dL/dmu, dL/dlog_var), each of shape (N, J).

        To derive (z[n, j] depends on mu[n, j] and log_var[n, j] only, eps held fixed):
            dz/dmu      = ?
            dz/dlog_var = eps * d sigma / d log_var,  sigma = exp(0.5 log_var)  -> ?
        then multiply each by dz. Use the forward's eps (self.eps): new noise here would
        differentiate a z that forward never returned.
        """
        return dz.copy(), dz * 0.5 * self.sigma * self.eps
