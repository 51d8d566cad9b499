"""Deliberately wrong backward passes: what a failing gradient check looks like.

Each class subclasses a real scratchae piece and changes only its backward with one classic
mistake. `scratchae gradcheck --broken NAME` swaps one of the article's five pieces into an
article model; the mistakes of the later exercises (mse, kl, bce-logits, adam, model, sampling,
gaussian-kl, conv2d, maxpool: `model` None below; the last four's are small classes of the exercise's interface,
each with its one mistake) are checked alone, as the exercise checks a learner's file, since they have the
exercise's interface. Either way the checker must fail, name the piece and tensor, and give
the hint listed in `BROKEN`. They are the checker's and the grader's negative controls too
(tests/test_exercises.py, tests/test_grading.py).

`LAYERS_BROKEN` holds the mistakes of layers beyond the exercises (tied weights, the
contractive penalty, the VAE's sampling and KL), each with the check that catches it. Five of
them a gradient check *passes*: their forward computes the wrong quantity and their backward
is its honest gradient, so only a check of what the forward means can see them
(`scratchae.contractive.check_contractive`, which measures the Jacobian by finite
differences; `scratchae.gradcheck.sampling`'s moment, KL and reduction tests). The sampling
layer's fourth, noise drawn twice, is the other way round: its forward is right, and only the
gradient check, with the noise replayed, sees that its backward used other noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activations import ReLU, Sigmoid
from ..contractive import ContractiveDense
from ..layers import Dense
from ..losses import BinaryCrossentropy, MeanSquaredError
from ..optimizers import Adam
from ..regularizers import L1, KLSparsity
from ..tied import DenseTranspose
from ..vae import Sampling


class TransposedKernelDense(Dense):
    """dL/dkernel computed as dz^T . x (units, input_dim), then forced into the kernel's shape."""

    def backward(self, dy):
        dx = super().backward(dy)
        right = self.grads["kernel"]                 # x^T . dz, (input_dim, units)
        wrong = right.T.copy()                       # dz^T . x, (units, input_dim)
        right[...] = wrong.reshape(right.shape)      # "fixed" by a reshape: no error, wrong numbers
        return dx


class DoubleBiasDense(Dense):
    """The bias gradient summed twice over the batch: 2 * sum_n dz[n]."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["bias"] *= 2
        return dx


class ZeroInputGradDense(Dense):
    """Fills the parameter gradients but hands back zeros instead of dz . kernel^T."""

    def backward(self, dy):
        dx = super().backward(dy)
        return np.zeros_like(dx)


class NoMaskReLU(ReLU):
    """Forgets the mask: dL/dx = dy everywhere, as if ReLU were the identity."""

    def backward(self, dy):
        self._check_dy(dy, self._cached())
        return dy.copy()


class SigmoidNoUpstream(Sigmoid):
    """Returns the local derivative y (1 - y) and forgets to multiply by dy."""

    def backward(self, dy):
        y = self._cached()
        self._check_dy(dy, y)
        return y * (1 - y)


class SigmoidDerivativeFromX(Sigmoid):
    """Uses the input x instead of the output y: dy * x * (1 - x)."""

    def forward(self, x):
        self._input = x
        return super().forward(x)

    def backward(self, dy):
        self._check_dy(dy, self._cached())
        return dy * self._input * (1 - self._input)


class NoMeanBCE(BinaryCrossentropy):
    """The BCE gradient without its 1/(N*D): the gradient of a sum, for a loss that is a mean."""

    def _backward(self, cache):
        return super()._backward(cache) * cache[0].size


class SignFlippedL1(L1):
    """Gradient of factor * sum|h| with the wrong sign: -factor * sign(h)."""

    def gradient(self, h):
        return -np.sign(h) * self.l1


class NoTwoMSE(MeanSquaredError):
    """The MSE gradient without the 2 of the square: (p - y) / (N D)."""

    def _backward(self, cache):
        return super()._backward(cache) / 2


class NoMeanKL(KLSparsity):
    """KL sparsity's gradient without the 1/N of rho_hat's mean: N times too large."""

    def gradient(self, h):
        return super().gradient(h) * h.shape[0]


class ExtraSigmoidBCE(BinaryCrossentropy):
    """BCE from logits whose gradient is multiplied by the sigmoid's p (1 - p) once more."""

    def __init__(self, from_logits: bool = True) -> None:
        super().__init__(from_logits=from_logits)

    def _backward(self, cache):
        p = cache[0]
        return super()._backward(cache) * p * (1 - p)


class NoBiasCorrectionAdam(Adam):
    """Adam without its bias correction: a_t = learning_rate (m and v read as if unbiased)."""

    def step_size(self, t: int) -> float:
        return self.learning_rate


class ForwardOrderModel:
    """The model exercise's interface, with the pieces' backward called in forward order."""

    def __init__(self, pieces):
        self.pieces = list(pieces)

    def forward(self, x):
        for piece in self.pieces:
            x = piece.forward(x)
        return x

    def backward(self, dy):
        grads = {}
        for piece in self.pieces:                      # the pieces add into grads: start at 0
            for g in piece.grads.values():
                g[...] = 0
        for piece in self.pieces:                      # the mistake: not reversed
            dy = piece.backward(dy)
            for key in piece.params:
                grads[f"{piece.name}/{key}"] = piece.grads[key].copy()
        return dy, grads


class SigmaAsVarianceExercise:
    """The sampling exercise with exp(log_var) as sigma: z = mu + exp(log_var) eps, and the
    honest gradient of that z (dz exp(log_var) eps for log_var), so only what z is gives it away."""

    def __init__(self):
        self.rng = None

    def forward(self, mu, log_var):
        self.eps = self.rng.standard_normal(mu.shape)
        self.sigma = np.exp(log_var)                      # the mistake: the variance
        return mu + self.sigma * self.eps

    def backward(self, dz):
        return dz.copy(), dz * self.sigma * self.eps


class EpsRedrawnExercise:
    """The sampling exercise whose backward draws eps again from self.rng (noise drawn twice)."""

    def __init__(self):
        self.rng = None

    def forward(self, mu, log_var):
        self.eps = self.rng.standard_normal(mu.shape)
        self.sigma = np.exp(0.5 * log_var)
        return mu + self.sigma * self.eps

    def backward(self, dz):
        eps = self.rng.standard_normal(dz.shape)          # the mistake: not the forward's eps
        return dz.copy(), dz * 0.5 * self.sigma * eps


class NoHalfExercise:
    """The sampling exercise's dL/dlog_var without the 0.5 of d exp(0.5 log_var) / d log_var."""

    def __init__(self):
        self.rng = None

    def forward(self, mu, log_var):
        self.eps = self.rng.standard_normal(mu.shape)
        self.sigma = np.exp(0.5 * log_var)
        return mu + self.sigma * self.eps

    def backward(self, dz):
        return dz.copy(), dz * self.sigma * self.eps      # the mistake: no 0.5


class _KLTerms:
    """The gaussian-kl exercise's interface; `scale` is what the (wrong) reduction divides by."""

    def forward(self, mu, log_var):
        self.mu, self.log_var = mu, log_var
        return float(-0.5 * np.sum(1 + log_var - mu ** 2 - np.exp(log_var)) / self.scale())

    def scale(self):
        raise NotImplementedError

    def backward(self):
        s = self.scale()
        return self.mu / s, 0.5 * (np.exp(self.log_var) - 1) / s


class FlippedSignKL(_KLTerms):
    """The KL with its sign flipped, value and gradient alike: +0.5 sum(1 + lv - mu^2 - e^lv) / N."""

    def scale(self):
        return -self.mu.shape[0]


class MeanLatentsKL(_KLTerms):
    """The KL averaged over the latent units too (np.mean over every element), gradient alike."""

    def scale(self):
        return self.mu.size


class NoMeanGradKL(_KLTerms):
    """The KL's value right, its gradient without the 1/N of the batch mean."""

    def scale(self):
        return self.mu.shape[0]

    def backward(self):
        return self.mu.copy(), 0.5 * (np.exp(self.log_var) - 1)


class _ConvExercise:
    """The conv2d exercise's interface and forward (stride 1, 'valid'); each subclass's backward
    has one mistake (the right terms are written once, in `_grads`)."""

    def __init__(self, in_channels, filters, kernel_size=3, seed=0):
        rng = np.random.default_rng(seed)
        shape = (kernel_size, kernel_size, in_channels, filters)
        self.params = {"kernel": rng.uniform(-0.5, 0.5, shape), "bias": rng.uniform(-0.1, 0.1, filters)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        self.x = x
        k = self.params["kernel"]
        ho, wo = x.shape[1] - k.shape[0] + 1, x.shape[2] - k.shape[1] + 1
        y = np.zeros((x.shape[0], ho, wo, k.shape[3]))
        for p in range(k.shape[0]):
            for q in range(k.shape[1]):
                y += x[:, p:p + ho, q:q + wo, :] @ k[p, q]
        return y + self.params["bias"]

    def _grads(self, dy, kernel):
        """(dkernel, dbias, dx) for dy, dx taken against `kernel` (the right one: the params')."""
        kh, kw = kernel.shape[:2]
        ho, wo = dy.shape[1:3]
        dk, dx = np.zeros(kernel.shape), np.zeros(self.x.shape)
        for p in range(kh):
            for q in range(kw):
                dk[p, q] = np.einsum("nijc,nijk->ck", self.x[:, p:p + ho, q:q + wo, :], dy)
                dx[:, p:p + ho, q:q + wo, :] += dy @ kernel[p, q].T
        return dk, dy.sum(axis=(0, 1, 2)), dx


class ConvFlippedKernel(_ConvExercise):
    """dL/dx as dy zero-padded and correlated with the unflipped kernel (the flip forgotten)."""

    def backward(self, dy):
        k = self.params["kernel"]
        dk, db, _ = self._grads(dy, k)
        self.grads["kernel"] += dk
        self.grads["bias"] += db
        kh, kw = k.shape[:2]
        pad = np.pad(dy, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
        h, w = self.x.shape[1:3]
        dx = np.zeros(self.x.shape)
        for p in range(kh):
            for q in range(kw):
                dx += pad[:, p:p + h, q:q + w, :] @ k[p, q].T     # the mistake: k, not k[::-1, ::-1]
        return dx


class ConvWrongChannels(_ConvExercise):
    """dL/dx summed over the input channels as well as the output ones (np.sum with no axis)."""

    def backward(self, dy):
        k = self.params["kernel"]
        dk, db, _ = self._grads(dy, k)
        self.grads["kernel"] += dk
        self.grads["bias"] += db
        dx = np.zeros(self.x.shape)
        ho, wo = dy.shape[1:3]
        for n in range(dy.shape[0]):
            for i in range(ho):
                for j in range(wo):
                    for p in range(k.shape[0]):
                        for q in range(k.shape[1]):
                            dx[n, i + p, j + q, :] += np.sum(k[p, q] * dy[n, i, j])   # the mistake
        return dx


class ConvBiasMean(_ConvExercise):
    """dL/dbias averaged over N, Ho and Wo where it sums them."""

    def backward(self, dy):
        dk, db, dx = self._grads(dy, self.params["kernel"])
        self.grads["kernel"] += dk
        self.grads["bias"] += dy.mean(axis=(0, 1, 2))                  # the mistake
        return dx


class _PoolExercise:
    """The maxpool exercise's interface and forward (2x2, stride 2, 'valid')."""

    def forward(self, x):
        self.x = x
        n, h, w, c = x.shape
        return x[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

    def _spread(self, dy, share):
        dx = np.zeros(self.x.shape)
        ho, wo = dy.shape[1:3]
        dx[:, :2 * ho, :2 * wo, :] = np.repeat(np.repeat(dy, 2, axis=1), 2, axis=2) * share
        return dx


class PoolEveryInput(_PoolExercise):
    """The max's gradient sent to every input of its window (UpSampling2D's backward)."""

    def backward(self, dy):
        return self._spread(dy, 1.0)


class PoolAverage(_PoolExercise):
    """A quarter of dy to each input of the window (average pooling's backward)."""

    def backward(self, dy):
        return self._spread(dy, 0.25)


class PoolEveryTie(_PoolExercise):
    """dy to every input equal to its window's max (a mask x == max): right without ties, wrong
    on a tie, where the first max in row-major order alone gets it."""

    def backward(self, dy):
        y = self._max()
        return self._spread(dy, 1.0) * (self.x == self._spread(y, 1.0))

    def _max(self):
        n, h, w, c = self.x.shape
        return self.x[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class TiedAssignsKernelGradient(DenseTranspose):
    """Assigns its kernel gradient (`=`) where the contract adds (`+=`): grads["kernel"] becomes
    a new array holding the decoder's share alone, no longer the encoder's gradient array, so
    the two paths never meet in one sum (the model re-ties the arrays and drops this share;
    packing refuses the replaced array). Each part is right on its own: a check of this layer
    alone passes, a check of the whole model fails on the shared kernel."""

    def backward(self, dy):
        dz = self.activation.backward(dy)
        self.grads["kernel"] = dz.T @ self._x          # the mistake: = instead of +=
        if self.use_bias:
            self.grads["bias"] += dz.sum(axis=0)
        return dz @ self.params["kernel"]


class MeanFrobeniusContractive(ContractiveDense):
    """The contractive term divided by the I * J entries of each Jacobian: a mean where the
    squared Frobenius norm sums them (pylearn2's contractive penalty returned such a mean
    until its pull request #90). Forward and backward use the same scale, so the gradient is
    the true gradient of the wrong penalty: a gradient check passes it, the penalty is 784 * 32
    times too weak on MNIST, and only `check_contractive` names it."""

    def penalty_scale(self, n: int) -> float:
        return self.lam / (n * self.input_dim * self.units)


class SquaredSumContractive(ContractiveDense):
    """c[j] = (sum_i W[i, j])^2 where sum_i W[i, j]^2 belongs: the weights summed, then squared
    (pylearn2's pull request #142 fixed this misplaced parenthesis). Its backward is the honest
    gradient of that wrong term, so a gradient check passes it too."""

    def forward(self, x, training=False):
        h = Dense.forward(self, x)
        kernel = self.params["kernel"]
        s = h * (1 - h)
        c = kernel.sum(axis=0) ** 2                          # the mistake
        self._h, self._s, self._c = h, s, c
        self.penalty = float(self.penalty_scale(len(h)) * np.sum(s * s * c, dtype=np.float64))
        return h

    def backward(self, dy):
        h, s, c = self._h, self._s, self._c
        k = self.penalty_scale(len(h))
        dz = self._dz(dy) + (2 * k) * c * (s * s) * (1 - 2 * h)
        kernel = self.params["kernel"]
        dx = self.backward_logits(dz)
        # d/dW[i, j] of (sum_i W[i, j])^2 is 2 sum_i W[i, j], the same for every i
        self.grads["kernel"] += (2 * k) * kernel.sum(axis=0) * np.sum(s * s, axis=0)
        return dx


class SigmaAsVarianceSampling(Sampling):
    """Samples z = mu + exp(log_var) eps, exp(log_var) taken as the standard deviation, while the
    KL takes it as the variance (numpy-ml's VAE; keras#3283, #9970). Its backward is the honest
    gradient of that forward, dz/dlog_var = exp(log_var) eps, so a gradient check passes it; the
    moment test (the variance of z is exp(2 log_var)) and the KL test name it."""

    def forward(self, inputs, training=False):
        z = super().forward(inputs, training)
        if self._eps is None:
            return z
        self._sigma = np.exp(self._lv)                       # the mistake: the variance as sigma
        return self._mu + self._sigma * self._eps

    def backward(self, dz):
        dmu, dlv = super().backward(dz)                      # its dz part is dz * 0.5 sigma eps
        if self._eps is not None:
            dlv = dlv + dz * (0.5 * self._sigma) * self._eps     # d(exp(lv) eps)/dlv = sigma eps
        return [dmu, np.asarray(dlv, dtype=self.dtype)]


class FlippedSignKLSampling(Sampling):
    """The KL with its sign flipped, +0.5 sum(1 + log_var - mu^2 - exp(log_var)) (pytorch/examples
    #824, FluxML/model-zoo#147), and the honest gradient of that: a gradient check passes it; the
    KL test (minus the Monte Carlo estimate) and the reduction test name it."""

    def forward(self, inputs, training=False):
        z = super().forward(inputs, training)
        self.kl = -self.kl
        return z

    def backward(self, dz):
        dmu, dlv = super().backward(dz)
        k = self.kl_weight / len(self._mu)                   # take the KL's part away twice
        return [np.asarray(dmu - 2 * k * self._mu, dtype=self.dtype),
                np.asarray(dlv - k * (np.exp(self._lv) - 1), dtype=self.dtype)]


class MeanLatentsKLSampling(Sampling):
    """The KL averaged over the J latent units where it is summed (a mean over every element, as
    fast.ai's course does; keras#6015), with the honest gradient of that: a gradient check
    passes it; the reduction test names it ("averaged over the J latent units")."""

    def forward(self, inputs, training=False):
        z = super().forward(inputs, training)
        self.kl = self.kl / self._mu.shape[1]
        return z

    def backward(self, dz):
        dmu, dlv = super().backward(dz)
        k = self.kl_weight / len(self._mu) * (1 - 1 / self._mu.shape[1])   # keep 1/J of the KL's part
        return [np.asarray(dmu - k * self._mu, dtype=self.dtype),
                np.asarray(dlv - 0.5 * k * (np.exp(self._lv) - 1), dtype=self.dtype)]


class NoiseTwiceSampling(Sampling):
    """Draws eps again in backward: the forward's z is right (its moments and KL pass), but the
    backward's dz * 0.5 sigma eps uses other noise than the forward did. The gradient check,
    with the noise replayed for every forward, catches it on dL/dlog_var."""

    def backward(self, dz):
        if self._eps is not None:                            # the mistake: a fresh draw
            self._eps = self.generator().standard_normal(self._eps.shape).astype(self.dtype, copy=False)
        return super().backward(dz)


@dataclass(frozen=True)
class LayerBroken:
    """A shipped mistake in a layer beyond the exercises, and what catches it."""

    name: str
    cls: type
    layer: str            # the class it breaks
    caught_by: str        # "check_model", "check_layer", "check_contractive", "check_moments",
                          # "check_kl" or "check_kl_reduction"
    gradient_check: bool  # whether a gradient check catches it
    description: str


LAYERS_BROKEN: dict[str, LayerBroken] = {b.name: b for b in [
    LayerBroken("tied-assigns-gradient", TiedAssignsKernelGradient, "DenseTranspose", "check_model", True,
                "tied decoder assigns its kernel gradient instead of adding it to the encoder's"),
    LayerBroken("contractive-mean", MeanFrobeniusContractive, "ContractiveDense", "check_contractive", False,
                "contractive penalty a mean over the Jacobian's entries where the Frobenius sum belongs"),
    LayerBroken("contractive-sum-squared", SquaredSumContractive, "ContractiveDense", "check_contractive", False,
                "contractive penalty with the weights summed, then squared"),
    LayerBroken("vae-sigma-as-variance", SigmaAsVarianceSampling, "Sampling", "check_moments", False,
                "VAE sampling with exp(log_var) as the standard deviation, its KL taking it as the variance"),
    LayerBroken("vae-kl-sign", FlippedSignKLSampling, "Sampling", "check_kl", False,
                "VAE KL with its sign flipped"),
    LayerBroken("vae-kl-mean-latents", MeanLatentsKLSampling, "Sampling", "check_kl_reduction", False,
                "VAE KL averaged over the latent units where it is summed"),
    LayerBroken("vae-noise-twice", NoiseTwiceSampling, "Sampling", "check_layer", True,
                "VAE sampling whose backward draws the noise again"),
]}


@dataclass(frozen=True)
class Broken:
    """One shipped mistake: where it goes, what the checker should say."""

    name: str
    cls: type
    piece: str            # the exercise it belongs to: "dense", "relu", ..., "adam", "model"
    tensor: str           # the tensor whose gradient is wrong when the piece is checked alone
    hint: str             # the hint kind the checker should give
    model: str | None     # the article model it is shown on; None: checked alone, as the exercise
    description: str


BROKEN: dict[str, Broken] = {b.name: b for b in [
    Broken("dense-transposed", TransposedKernelDense, "dense", "kernel", "transpose", "vanilla",
           "Dense kernel gradient computed transposed (dz^T . x), reshaped to fit"),
    Broken("dense-bias-twice", DoubleBiasDense, "dense", "bias", "scale", "vanilla",
           "Dense bias gradient twice too large (factor 2)"),
    Broken("dense-zero-dx", ZeroInputGradDense, "dense", "x", "zero", "vanilla",
           "Dense passes a zero gradient down to the layer below"),
    Broken("relu-no-mask", NoMaskReLU, "relu", "x", "mask", "vanilla",
           "ReLU backward without its mask (dy passes everywhere)"),
    Broken("sigmoid-no-upstream", SigmoidNoUpstream, "sigmoid", "x", "upstream", "shallow",
           "sigmoid backward returns y(1-y) without multiplying by dy"),
    Broken("sigmoid-from-x", SigmoidDerivativeFromX, "sigmoid", "x", "formula", "shallow",
           "sigmoid derivative computed from the input x instead of the output y"),
    Broken("bce-no-mean", NoMeanBCE, "bce", "y_pred", "scale", "shallow",
           "binary cross-entropy gradient missing its 1/(N*D)"),
    Broken("l1-sign", SignFlippedL1, "l1", "h", "sign", "sparse",
           "L1 activity penalty gradient with its sign flipped"),
    Broken("mse-no-two", NoTwoMSE, "mse", "y_pred", "scale", None,
           "mean squared error gradient without the 2 of the square"),
    Broken("kl-no-mean", NoMeanKL, "kl", "h", "scale", None,
           "KL sparsity gradient without the 1/N of rho_hat's mean"),
    Broken("bce-logits-extra-sigmoid", ExtraSigmoidBCE, "bce-logits", "z", "extra-sigmoid", None,
           "fused sigmoid + BCE gradient multiplied by the sigmoid's p(1-p) again"),
    Broken("adam-no-bias-correction", NoBiasCorrectionAdam, "adam", "step 1", "bias-correction", None,
           "Adam without its bias correction (a_t = learning_rate)"),
    Broken("model-forward-order", ForwardOrderModel, "model", "order", "order", None,
           "model backward calling the pieces in forward order"),
    Broken("sampling-sigma-as-variance", SigmaAsVarianceExercise, "sampling", "z", "sigma-variance", None,
           "sampling with exp(log_var) as sigma, its backward the honest gradient of that z"),
    Broken("sampling-eps-redrawn", EpsRedrawnExercise, "sampling", "log_var", "noise", None,
           "sampling whose backward draws eps again"),
    Broken("sampling-no-half", NoHalfExercise, "sampling", "log_var", "scale", None,
           "sampling backward without the 0.5 of d exp(0.5 log_var) / d log_var"),
    Broken("gaussian-kl-sign", FlippedSignKL, "gaussian-kl", "KL", "sign", None,
           "VAE KL with its sign flipped, value and gradient"),
    Broken("gaussian-kl-mean-latents", MeanLatentsKL, "gaussian-kl", "KL", "reduction", None,
           "VAE KL averaged over the latent units too, value and gradient"),
    Broken("gaussian-kl-no-mean", NoMeanGradKL, "gaussian-kl", "mu", "scale", None,
           "VAE KL gradient without the 1/N of the batch mean"),
    Broken("conv2d-flipped-kernel", ConvFlippedKernel, "conv2d", "x", "flip", None,
           "Conv2D input gradient: dy correlated with the unflipped kernel"),
    Broken("conv2d-wrong-channels", ConvWrongChannels, "conv2d", "x", "channels", None,
           "Conv2D input gradient summed over the input channels as well as the output ones"),
    Broken("conv2d-bias-mean", ConvBiasMean, "conv2d", "bias", "scale", None,
           "Conv2D bias gradient averaged over N, Ho, Wo where it sums them"),
    Broken("maxpool-every-input", PoolEveryInput, "maxpool", "x", "every-input", None,
           "max pooling backward sending the max's gradient to every input of the window"),
    Broken("maxpool-average", PoolAverage, "maxpool", "x", "average", None,
           "max pooling backward giving a quarter of dy to each input (average pooling's)"),
    Broken("maxpool-every-tie", PoolEveryTie, "maxpool", "x", "ties", None,
           "max pooling backward sending dy to every input that ties with the max"),
]}


def install(broken: Broken, model) -> str:
    """Swap `broken` into `model` (the caller's own throw-away model); return the piece's label.

    Dense and ReLU mistakes go into the second Dense layer, sigmoid ones into the last, the L1
    one into the layer that has the regularizer. A model never fuses a subclass of Sigmoid or
    BinaryCrossentropy into a loss on logits, so the broken piece is what trains and is checked.
    """
    chain = model.chain
    if broken.piece == "dense":
        layer = chain[1] if len(chain) > 1 else chain[0]
        layer.__class__ = broken.cls
        return layer.name
    if broken.piece == "relu":
        layer = chain[1] if len(chain) > 2 else chain[0]
        layer.activation.__class__ = broken.cls
        return f"{layer.name} > relu"
    if broken.piece == "sigmoid":
        chain[-1].activation.__class__ = broken.cls
        return f"{chain[-1].name} > sigmoid"
    if broken.piece == "bce":
        model.loss = broken.cls()
        return "loss"
    if broken.piece == "l1":
        for layer in chain:
            if layer.activity_regularizer is not None:
                layer.activity_regularizer.__class__ = broken.cls
                return f"{layer.name} > l1"
        raise ValueError("the l1 mistake needs a model with an L1 activity regularizer (sparse)")
    raise ValueError(f"{broken.name} goes into no model: it is checked alone, as its exercise "
                     f"({broken.piece}) checks a learner's class")
