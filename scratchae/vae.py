"""The variational autoencoder's sampling layer: `z = Sampling()([z_mean, z_log_var])`.

Called on a list of two tensors of one shape, the mean mu and the log-variance lv = log sigma^2
of a diagonal Gaussian code, as in Keras's VAE example. Elementwise, for row n and latent unit j:

    training=True    z = mu + exp(0.5 lv) * eps,   eps ~ N(0, 1)   (the reparameterization trick)
    training=False   z = mu                          (predict, evaluate; unless sample_in_predict=True)

eps is drawn once per sampling forward, from `self.rng` (the model's generator, set before a
training forward and held still by the checker), else from a generator made from `seed`, else
from the library generator, as the noise layers do (`scratchae.noise`); backward uses the draw
the forward cached, never a new one.

Its loss term is the KL divergence of N(mu, sigma^2) from the prior N(0, 1):

    KL = (1/N) sum_n sum_j -0.5 (1 + lv[n, j] - mu[n, j]^2 - exp(lv[n, j]))

summed over the J latent units, averaged over the N rows of the batch: nats per image.
`loss_terms()` is {"kl": kl_weight * KL}, computed at every forward (training or not: the KL
does not depend on eps, so `evaluate` reports the same term `fit` trains on); the model
records it as "<layer name>_kl". The unweighted KL of the last forward is `self.kl`.

Backward of z and of the weighted KL, w = kl_weight (derived in docs/backprop.md, section
"The variational autoencoder's sampling and KL"):

    dL/dmu = dz + w mu / N
    dL/dlv = dz * 0.5 exp(0.5 lv) eps + w 0.5 (exp(lv) - 1) / N       (no dz part when z = mu)

Choosing kl_weight. The negative ELBO per image is the reconstruction term summed over the 784
pixels plus KL: with a BCE summed over pixels, kl_weight = 1 gives it in nats per image.
scratchae's `binary_crossentropy` averages over the 784 pixels (as Keras's does), i.e. it is
the summed one divided by 784, so kl_weight = 1/784 keeps the ELBO's balance (the whole loss
is then the negative ELBO / 784). The default 1.0 is the plain KL, the formula as written; with
a pixel-averaged BCE it weighs the prior 784 times more than the ELBO does (a beta-VAE with
beta = 784), so pass kl_weight=1/784 for the ELBO.

    >>> import numpy as np
    >>> s = Sampling(dtype="float64")
    >>> mu, lv = np.array([[1.0, 0.0]]), np.zeros((1, 2))
    >>> s.forward([mu, lv]).tolist()                      # predict: z = mu
    [[1.0, 0.0]]
    >>> s.loss_terms()                                   # 0.5 * 1^2 for the first unit, 0 for the second
    {'kl': 0.5}
    >>> [g.tolist() for g in s.backward(np.ones((1, 2)))]
    [[[2.0, 1.0]], [[0.0, 0.0]]]
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import finite_float
from .layer import Layer, register_layer


def gaussian_kl(mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """KL(N(mu, sigma^2) || N(0, 1)) of each latent unit of each row, in nats, elementwise:
    -0.5 (1 + lv - mu^2 - exp(lv)); never negative, 0 only at mu = 0, lv = 0.

    Summed over the units and averaged over the rows, it is `Sampling`'s loss term; averaged
    over the rows alone, what each unit costs (a unit near 0 carries nothing: the prior).
    """
    return -0.5 * (1 + log_var - mu * mu - np.exp(log_var))


class Sampling(Layer):
    """z = mu + exp(0.5 log_var) * eps (training), z = mu (predict), plus the Gaussian KL
    as the loss term "kl" (see the module docstring for every reduction and for kl_weight).

    kl_weight: the factor w of the KL term (1.0: the KL in nats per image; 1/784 with
        scratchae's pixel-averaged BCE for the ELBO's weighting).
    sample_in_predict: also sample when training=False (a decoder fed fresh z in predict).
    seed: the generator used when the model gave none (`self.rng` is None).
    """

    stochastic = True

    def __init__(self, kl_weight: float = 1.0, sample_in_predict: bool = False,
                 seed: int | None = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.kl_weight = finite_float("kl_weight", kl_weight, minimum=0.0)
        if not isinstance(sample_in_predict, (bool, np.bool_)):
            raise TypeError(f"sample_in_predict must be True or False, got {sample_in_predict!r}")
        self.sample_in_predict = bool(sample_in_predict)
        self.keep_seed(seed)
        self._mu: np.ndarray | None = None    # the last forward's inputs,
        self._lv: np.ndarray | None = None
        self._sigma: np.ndarray | None = None  # exp(0.5 lv), and the draw (None: z = mu)
        self._eps: np.ndarray | None = None
        self.kl: float = 0.0                  # the unweighted KL of the last forward, nats per row

    # -- shapes ---------------------------------------------------------------------------------
    def compute_output_shape(self, input_shape: Any) -> tuple:
        """The shape of mu (= that of log_var); refuses anything but a list of two equal shapes."""
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or \
                not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self.name} is called on a list of two tensors, "
                             f"Sampling()([z_mean, z_log_var]); got {input_shape!r}")
        a, b = (tuple(s) for s in input_shape)
        if a != b:
            raise ValueError(f"{self.name}: z_mean and z_log_var must have one shape, got "
                             f"z_mean {(None, *a)} and z_log_var {(None, *b)}")
        return a

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    # -- forward and backward -------------------------------------------------------------------
    def _inputs(self, inputs: Any) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            got = f"a list of {len(inputs)}" if isinstance(inputs, (list, tuple)) else type(inputs).__name__
            raise ValueError(f"{self.name}.forward takes a list [z_mean, z_log_var], got {got}")
        mu, lv = (np.asarray(a) for a in inputs)
        if mu.ndim < 2 or lv.ndim < 2 or len(mu) != len(lv):
            raise ValueError(f"{self.name}: z_mean and z_log_var must be batches of one shape, "
                             f"got z_mean {mu.shape} and z_log_var {lv.shape}")
        shapes = [mu.shape[1:], lv.shape[1:]]
        if not self.built:
            self.build(shapes)
        else:
            self.compute_output_shape(shapes)
        return (mu if mu.dtype == self.dtype else mu.astype(self.dtype),
                lv if lv.dtype == self.dtype else lv.astype(self.dtype))

    def forward(self, inputs: list[np.ndarray], training: bool = False) -> np.ndarray:
        """z (one draw of eps, cached) in training or with sample_in_predict, else mu; and the
        KL of this batch into `self.kl` (both modes)."""
        mu, lv = self._inputs(inputs)
        self.kl = float(np.sum(gaussian_kl(mu, lv), dtype=np.float64) / len(mu))
        self._mu, self._lv = mu, lv
        if training or self.sample_in_predict:
            self._eps = self.generator().standard_normal(mu.shape).astype(self.dtype, copy=False)
            self._sigma = np.exp(0.5 * lv)
            return mu + self._sigma * self._eps
        self._eps = self._sigma = None
        return mu.copy()

    def loss_terms(self) -> dict[str, float]:
        """{"kl": kl_weight * KL} of the last forward, KL summed over latent units and averaged
        over the batch (the model records it as "<name>_kl")."""
        return {"kl": self.kl_weight * self.kl}

    def backward(self, dz: np.ndarray) -> list[np.ndarray]:
        """dz = dL/dz (N, J) -> [dL/dmu, dL/dlog_var], the KL's gradient added to both:

            dL/dmu = dz + w mu / N
            dL/dlv = dz * 0.5 sigma eps + w 0.5 (exp(lv) - 1) / N    (sigma = exp(0.5 lv))

        with the eps of the last forward; when that forward returned z = mu, dz/dlv = 0.
        """
        if self._mu is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward([mu, lv]) first")
        mu, lv = self._mu, self._lv
        if np.shape(dz) != mu.shape:
            raise ValueError(f"{self.name}: dz must have shape {mu.shape}, got {np.shape(dz)}")
        k = self.kl_weight / len(mu)
        dmu = dz + k * mu
        dlv = (0.5 * k) * (np.exp(lv) - 1)
        if self._eps is not None:
            dlv = dlv + dz * (0.5 * self._sigma) * self._eps
        return [np.asarray(dmu, dtype=self.dtype), np.asarray(dlv, dtype=self.dtype)]

    # -- saving ---------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {**super().get_config(), "kl_weight": self.kl_weight,
                "sample_in_predict": self.sample_in_predict, "seed": self.seed}


register_layer(Sampling)
