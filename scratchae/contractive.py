"""The contractive autoencoder (Rifai, Vincent, Muller, Glorot and Bengio, ICML 2011): a code
layer penalised by how much its code moves when the input moves.

For a sigmoid code h = sigmoid(x . W + b), x (N, I), W (I, J), the Jacobian of one example's
code by its input is J_n[j, i] = dh[n, j]/dx[n, i] = h[n, j] (1 - h[n, j]) W[i, j], so its
squared Frobenius norm has a closed form, no Jacobian needed:

    ||J_n||_F^2 = sum_{j, i} (h[n, j] (1 - h[n, j]))^2 W[i, j]^2
                = sum_j s[n, j]^2 c[j]        s = h (1 - h) (N, J),  c[j] = sum_i W[i, j]^2 (J,)

`ContractiveDense(units, lam)` is a sigmoid `Dense` layer whose loss term is

    P = lam * (1/N) sum_n ||J_n||_F^2        loss_terms() -> {"contractive": P}

(`History.parts["<layer>_contractive"]`). P depends on the weights directly (through c) as well as
through the code, so the layer's backward adds dP/dW and dP/db to its gradients and dP/dx to
the input's gradient: derived in docs/backprop.md#the-contractive-penalty.

A gradient check compares a backward with its own forward. A penalty that computes the wrong
quantity *consistently* (1/(I J) of the Frobenius norm, a mean over the Jacobian's entries
where the sum belongs, forward and backward alike) passes it. `check_contractive(layer, x)`
is the check a gradient check cannot make: it measures ||dh/dx||_F^2 itself, by finite
differences of the layer's output h with respect to x, and compares the layer's term with it.

    >>> import numpy as np
    >>> layer = ContractiveDense(1, lam=1.0, input_dim=2, dtype="float64")
    >>> layer.set_weights([np.array([[1.0], [1.0]]), np.array([np.log(3.0)])])
    >>> h = layer.forward(np.array([[1.0, -1.0]]))   # z = 0 + ln 3: h = 3/4, s = 3/16
    >>> round(layer.loss_terms()["contractive"] * 128, 9)     # s^2 (1^2 + 1^2) = 9/128
    9.0
    >>> check_contractive(layer, np.array([[1.0, -1.0]])) is None
    True
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from ._validate import finite_float
from .dense import Dense, dense_arguments
from .layer import register_layer

#: The default weight of the penalty, for scratchae's BCE averaged over the pixels. Measured on
#: the bundled digits (784-32 sigmoid-784 sigmoid, 20 epochs, batch 32, Adam, seed 0; see the class).
DEFAULT_LAM = 0.003


class ContractiveDense(Dense):
    """A sigmoid Dense layer with the contractive penalty lam * mean_n ||dh_n/dx_n||_F^2.

    Parameters
    ----------
    units : int
        Width of the code.
    lam : float >= 0
        Weight of the penalty (default `DEFAULT_LAM` = 0.003).
    use_bias, kernel_initializer, bias_initializer, input_dim, input_shape, dtype, name, seed
        As for `Dense`. The activation is always the sigmoid: the closed form of the Jacobian
        above is the sigmoid's (its derivative h (1 - h)).

    The reduction: the squared Frobenius norm of each example's Jacobian, a sum over all its
    J * I entries, then the mean over the batch (`penalty_scale(N)` = lam / N). So P does not
    grow with the batch size, as the BCE does not (a mean over N*D), and it is the penalty of
    Rifai et al.'s equation for one example, lam ||J_f(x)||_F^2, averaged over the examples.

    Why lam = 0.003: scratchae's BCE is a mean over the 784 pixels, while ||J||_F^2 is a sum
    over the 784 * 32 entries of each Jacobian. On the bundled digits, at the start (Glorot's
    weights, every c[j] about 1.9, every s about 1/4), ||J||_F^2 is 3.5 on average and the BCE
    0.26 (the output starting at the mean image, see `autoencoders.contractive`): lam = 0.003
    makes the penalty 0.0105, 4% of the loss, and it stays a few percent of it while the code
    contracts. A penalty of that share shapes the code without drowning the reconstruction.
    Measured: `scratchae train contractive --dataset mnist-5k --lam LAM` (784-32-784, 20
    epochs, batch 32, Adam, seed 0); "||J||^2" is the mean ||dh/dx||_F^2 on the 1,000 test
    images, which the command prints:

        lam     train BCE   penalty   test BCE   ||J||^2   mean code
        0       0.1432      0         0.1455     10.4      0.50
        0.001   0.1442      0.0036    0.1456     3.73      0.49
        0.003   0.1510      0.0068    0.1519     2.31      0.50
        0.01    0.1741      0.0080    0.1747     0.80      0.61
        0.03    0.1845      0.0106    0.1850     0.35      0.77

    At 0.003 the penalty is 4.5% of the loss at the end, and the code's Jacobian is a fifth of
    the unpenalised one (2.31 against 10.4) for a test BCE 4% higher; 0.001 already divides it
    by 3 at no cost in BCE; from 0.01 the reconstruction pays 20% and more, and at 0.03 the
    code contracts by saturating (57% of the test codes below 0.01 or above 0.99, where s and so
    the Jacobian vanish, against 5% at 0.003 and 27% without the penalty). (Rifai et al.'s
    reconstruction cross-entropy is *summed* over the pixels; in scratchae's units, a mean over
    them, the same balance is their lam / 784.)
    """

    def __init__(self, units: int, lam: float = DEFAULT_LAM, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 input_dim: int | None = None, input_shape: tuple[int, ...] | None = None,
                 dtype: Any = None, name: str | None = None,
                 seed: int | np.random.Generator | None = None) -> None:
        self.lam = finite_float("lam", lam, minimum=0.0)
        super().__init__(units, activation="sigmoid", use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         input_dim=input_dim, input_shape=input_shape, dtype=dtype, name=name,
                         seed=seed)
        self._h: np.ndarray | None = None        # the code of the last forward
        self._s: np.ndarray | None = None        # s = h (1 - h), (N, J)
        self._c: np.ndarray | None = None        # c[j] = sum_i W[i, j]^2, (J,)

    def penalty_scale(self, n: int) -> float:
        """The factor in front of the batch's sum of squared Frobenius norms: lam / N (the
        mean over the batch). Forward and backward both use it."""
        return self.lam / n

    def loss_terms(self) -> dict[str, float]:
        """{"contractive": lam * mean_n ||dh_n/dx_n||_F^2} of the last forward."""
        return {"contractive": self.penalty}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """h = sigmoid(x . W + b), and the penalty of this batch into `self.penalty`:

            s = h (1 - h),  c = sum_i W[i, :]^2,  P = penalty_scale(N) * sum_{n, j} s^2 c
        """
        h = super().forward(x)
        kernel = self.params["kernel"]
        s = h * (1 - h)
        c = np.einsum("ij,ij->j", kernel, kernel)
        self._h, self._s, self._c = h, s, c
        self.penalty = float(self.penalty_scale(len(h)) * np.sum(s * s * c, dtype=np.float64))
        return h

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy = dL/dh (N, J) -> dL/dx (N, I); the penalty's gradient added on both routes.

        With k = penalty_scale(N) and P = k sum_{n, j} s[n, j]^2 c[j]:

            dP/dz[n, j] = k * 2 s c[j] * ds/dz = 2 k c[j] s^2 (1 - 2 h)    (ds/dh = 1 - 2h, dh/dz = s)
            dz          = dy * s + dP/dz                                  the sum rule, (N, J)
            grads["kernel"] += x^T . dz + 2 k W * sum_n s[n, :]^2           through z, and through c
            grads["bias"]   += dz summed over n
            dL/dx        = dz . W^T                                       P reaches x only through h

        Derived in docs/backprop.md#the-contractive-penalty.
        """
        if self._s is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(x) first")
        h, s, c = self._h, self._s, self._c
        k = self.penalty_scale(len(h))
        dz = self._dz(dy) + (2 * k) * c * (s * s) * (1 - 2 * h)
        kernel = self.params["kernel"]
        dx = self.backward_logits(dz)
        self.grads["kernel"] += (2 * k) * kernel * np.sum(s * s, axis=0)
        return dx

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["activation"], cfg["activity_regularizer"]
        return {**cfg, "lam": self.lam}

    @classmethod
    def from_config(cls, cfg: dict) -> "ContractiveDense":
        return cls(cfg["units"], lam=cfg["lam"], **dense_arguments(cfg))

    def __repr__(self) -> str:
        return f"ContractiveDense({self.units}, lam={self.lam:g}, name={self.name!r})"


def frobenius_norms(layer: ContractiveDense, x: np.ndarray) -> np.ndarray:
    """||dh_n/dx_n||_F^2 for every row n of x from the closed form sum_j s[n, j]^2 c[j], in
    float64 (a forward of the layer in predict mode; its caches then hold x)."""
    h = np.asarray(layer.forward(x), dtype=np.float64)
    kernel = np.asarray(layer.params["kernel"], dtype=np.float64)
    s = h * (1 - h)
    return (s * s) @ np.einsum("ij,ij->j", kernel, kernel)


def jacobian_norms(layer: Any, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """||dy_n/dx_n||_F^2 for every row n of x, by central differences of the layer's output y
    with respect to its input (float64, on a copy of the layer: yours is not touched).

    Column i of x moves in every row at once (row n's output depends on row n only), so a
    batch of width I costs 2 I forwards.
    """
    c = _copy64(layer)
    x64 = np.array(x, dtype=np.float64, copy=True)
    if x64.ndim != 2 or x64.size == 0 or not np.all(np.isfinite(x64)):
        raise ValueError(f"x must be a non-empty finite (N, features) array, got shape {x64.shape}")
    sq = np.zeros(len(x64))
    for i in range(x64.shape[1]):
        plus, minus = x64.copy(), x64.copy()
        plus[:, i] += h
        minus[:, i] -= h
        step = (plus[:, i] - minus[:, i])[:, None]          # the step as the floats hold it
        col = (np.asarray(c.forward(plus), dtype=np.float64)
               - np.asarray(c.forward(minus), dtype=np.float64)) / step
        sq += np.sum(col * col, axis=1)
    return sq


def check_contractive(layer: Any, x: np.ndarray, *, h: float = 1e-5, rtol: float = 1e-5) -> str | None:
    """None if the layer's contractive term is lam * mean_n ||dh_n/dx_n||_F^2 on the batch x,
    with the Jacobian measured by finite differences (`jacobian_norms`); else a sentence
    saying by how much it differs, naming the likely mistake.

    This checks the forward's *meaning*, which a gradient check does not: a term and a
    gradient that are wrong together (a mean where the Frobenius sum belongs) agree with each
    other and pass it.
    """
    c = _copy64(layer)
    x64 = np.array(x, dtype=np.float64, copy=True)
    out = np.asarray(c.forward(x64))
    terms = c.loss_terms()
    if "contractive" not in terms:
        raise ValueError(f"{getattr(layer, 'name', layer)!r} has no 'contractive' loss term")
    lam = float(getattr(c, "lam"))
    term = float(terms["contractive"])
    frob = float(jacobian_norms(c, x64, h=h).mean())
    expected = lam * frob
    if math.isclose(term, expected, rel_tol=rtol, abs_tol=1e-300):
        return None
    n, width = x64.shape
    units = out.shape[1]
    name = getattr(layer, "name", type(layer).__name__)
    head = (f"{name}: the penalty is {term:.6g}, but lam * mean_n ||dh/dx||_F^2 is {expected:.6g} "
            f"(lam = {lam:g}, ||dh/dx||_F^2 measured by finite differences of h in x)")
    if expected == 0 or term == 0:
        return head
    ratio = term / expected
    suspects = [
        (1 / (width * units), f"1/({width}*{units})", "a mean where the Frobenius sum belongs? (the "
         f"term is divided by the {width * units} entries of each Jacobian)"),
        (1 / width, f"1/{width}", "a mean over the inputs i where the Frobenius norm sums them?"),
        (1 / units, f"1/{units}", "a mean over the code units j where the Frobenius norm sums them?"),
        (float(n), f"{n} (the batch size)", "a sum over the batch where the mean belongs?"),
        (1 / lam if lam else math.inf, "1/lam", "lam left out?"),
        (2.0, "2", "a factor 2 (the 2 of a derivative in the forward?)"),
        (0.5, "1/2", "a factor 1/2 in the forward?"),
    ]
    for factor, shown, why in suspects:
        if factor != 1 and math.isclose(ratio, factor, rel_tol=1e-4):
            return f"{head}: the penalty is {shown} of it: {why}"
    kernel = getattr(c, "params", {}).get("kernel")
    if isinstance(kernel, np.ndarray) and kernel.shape == (width, units):
        s = out * (1 - out)
        summed_first = lam * float(np.mean((s * s) @ (kernel.sum(axis=0) ** 2)))
        if math.isclose(term, summed_first, rel_tol=1e-4):
            return (f"{head}: the penalty uses (sum_i W[i, j])^2 where sum_i W[i, j]^2 belongs: "
                    "the weights summed, then squared?")
    return f"{head}: {ratio:.4g} times it"


def _copy64(layer: Any) -> Any:
    """A float64 deep copy of a layer (its parameters converted, its gradients zeroed)."""
    c = copy.deepcopy(layer)
    params = getattr(c, "params", None)
    if isinstance(params, dict):
        for key in list(params):
            params[key] = np.array(params[key], dtype=np.float64)
            if isinstance(getattr(c, "grads", None), dict):
                c.grads[key] = np.zeros_like(params[key])
    if getattr(c, "dtype", None) is not None:
        c.dtype = np.dtype(np.float64)
    return c


register_layer(ContractiveDense)
