"""The grader's answers: the templates' forwards, differentiated exactly, in the grader's process.

No backward is written here. Each exercise's forward is written once more (`FORWARDS`), so
that it accepts complex numbers, and `gradient` differentiates it by the complex step
(Squire and Trapp, 1998; Martins et al., 2003): for a function analytic along the real axis,

    df/dx_i = Im f(x + i h e_i) / h,   h = 1e-30,

with no difference of two nearby values, so no cancellation: the result is exact to rounding
(about 1e-16 relative), where central differences give about 1e-8. That is what lets the
grader hold a backward to 1e-8 (`rubric.RTOL`): a derived backward in float64 agrees to 1e-13
or better, and one that takes finite differences of its forward is about 1e-7 off.

Kinks are written as branches on the real part (`np.where(x.real > 0, x, 0)`), so the derivative
at exactly 0 is the templates' convention (0), and within 1e-5 of it the exact 1 or -1 that
central differences would blur.

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> gradient(lambda x: (x ** 3).sum(), x)          # 3 x^2, exactly
    array([ 3., 12.])
"""
from __future__ import annotations

from typing import Callable

import numpy as np

H = 1e-30


def gradient(f: Callable[[np.ndarray], complex], x: np.ndarray) -> np.ndarray:
    """dL/dx of the scalar L = f(x), element by element, by the complex step."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    flat = out.reshape(-1)
    with np.errstate(all="ignore"):
        for i in range(x.size):
            z = x.astype(np.complex128)
            z.reshape(-1)[i] += 1j * H
            flat[i] = np.imag(f(z)) / H
    return out


def gradients(f: Callable[..., complex], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The exact gradient of L = f(**arrays) with respect to each array, the others held."""
    out = {}
    for name, a in arrays.items():
        def one(z, name=name):
            return f(**{**arrays, name: z})
        out[name] = gradient(one, a)
    return out


# -- the templates' forwards, complex-safe -----------------------------------------------------------
def sigmoid(x):
    """1 / (1 + e^-x), by the branch that cannot overflow (the same value for real x)."""
    with np.errstate(all="ignore"):
        pos = 1.0 / (1.0 + np.exp(-x))
        neg = np.exp(x) / (1.0 + np.exp(x))
    return np.where(np.real(x) >= 0, pos, neg)


def relu(x):
    return np.where(np.real(x) > 0, x, 0.0 * x)


def softplus(z):
    with np.errstate(all="ignore"):
        return np.where(np.real(z) > 0, z + np.log1p(np.exp(-z)), np.log1p(np.exp(z)))


def dense(x, kernel, bias):
    return x @ kernel + bias


def bce(p, y):
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def mse(p, y):
    return np.mean((p - y) ** 2)


def l1(h, factor):
    return factor * np.sum(np.where(np.real(h) > 0, h, np.where(np.real(h) < 0, -h, 0.0 * h)))


def kl(h, rho, beta):
    q = np.mean(h, axis=0)
    return beta * np.sum(rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q)))


def bce_logits(z, y):
    return np.mean(softplus(z) - y * z)


def chain(x, layers: list[tuple[np.ndarray, np.ndarray, str]]):
    """The model exercise's pieces: Dense layers, each relu or sigmoid."""
    for kernel, bias, act in layers:
        x = x @ kernel + bias
        x = relu(x) if act == "relu" else sigmoid(x)
    return x


def sampling(mu, log_var, eps):
    """The sampling exercise's z = mu + exp(0.5 log_var) eps, for the eps the grader replays."""
    return mu + np.exp(0.5 * log_var) * eps


def gaussian_kl(mu, log_var):
    """The gaussian-kl exercise's KL: -0.5 (1 + lv - mu^2 - exp(lv)) summed over the latent
    units (axis 1), averaged over the rows."""
    return -0.5 * np.sum(1 + log_var - mu * mu - np.exp(log_var)) / mu.shape[0]


def conv2d(x, kernel, bias):
    """The conv2d exercise's forward: stride 1, 'valid', channels last, no flip (a correlation)."""
    kh, kw = kernel.shape[:2]
    ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    y = bias + 0 * x[:, :ho, :wo, :1]
    for p in range(kh):
        for q in range(kw):
            y = y + np.einsum("nijc,ck->nijk", x[:, p:p + ho, q:q + wo, :], kernel[p, q])
    return y


def maxpool(x):
    """The maxpool exercise's forward (2x2, stride 2, 'valid'): each window's first max in
    row-major order, chosen on the real part, so the complex step sends the whole derivative
    to that one input (the tie rule) and 0 to the others."""
    n, h, w, c = x.shape
    ho, wo = h // 2, w // 2
    cells = x[:, :2 * ho, :2 * wo, :].reshape(n, ho, 2, wo, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, ho, wo, c, 4)
    win = np.argmax(np.real(cells), axis=-1)[..., None]
    return np.take_along_axis(cells, win, axis=-1)[..., 0]
