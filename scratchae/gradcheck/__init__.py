"""Gradient checking: compare a hand-written backward with central finite differences.

Read `core.py` first (about a hundred lines); the rest of the package is the teaching checker
built on it: `report.py` (rows, verdicts, the table), `structure.py` (shapes and exceptions
before numbers), `problems.py` (what is checked, and kinks), `engine.py` (the differences),
`hints.py` (the likely mistake), `checks.py` (the public checks).

The core, used by the tests of every piece:

    numerical_gradient(f, x, h)   dL/dx by central differences, one element at a time, in float64
    rel_error(a, n)               |a - n| / max(|a| + |n|, tiny), elementwise
    check_piece(piece, x, ...)    worst relative error of dL/dx and of every parameter gradient,
                                  for L = sum(piece.forward(x) * dy) with a random upstream dy

The teaching checker, built on the same idea, returns a `Report` (`.ok`, `.worst`, `.rows`,
and a table as its `str()`):

    check_layer(layer, x)              one piece: activation, regularizer, any Layer (Dense or
                                       yours); x a list for a layer called on a list, each
                                       dL/dinputs[k] checked
    check_loss(loss, y_pred, y_true)   a loss
    check_model(model, x, y)           a whole compiled model on a batch, loss terms included;
                                       on failure each layer is checked alone and the first
                                       wrong one is named
    check_model(model, x)              any model, several inputs (x a list) or outputs: on
                                       L = sum_k sum(output_k * dy_k), dy_k random and seeded
    check_function(f, grad, *arrays)   any scalar f(*arrays) with its claimed gradient
    check_optimizer(optimizer)         a known-answer check (optimizers have no gradient)

What a gradient check cannot see, a VAE's sampling layer (`sampling.py`; a forward that
computes the wrong thing with a backward that is its honest gradient passes any gradient
check), each returning a `StatReport` that prints as these reports do:

    check_moments(layer)               the sample mean and variance of z at fixed mu, log_var
                                       equal mu and exp(log_var), within 5 standard errors
    check_kl(layer)                    the closed-form KL equals a Monte Carlo estimate of
                                       E_q[log q(z) - log p(z)] over the layer's own draws
    check_kl_reduction(layer)          the KL summed over the latent units, averaged over the
                                       rows; any other reduction is named
    check_sampling(layer)              the three together

What it does beyond printing two columns:
  * structure before numbers (as torch.autograd.gradcheck does): every gradient handed back
    (dL/dx, each grads[key], a loss's dL/dy_pred, grad's results, a model's parameter
    gradients) must be a finite float ndarray of exactly the shape of what it differentiates,
    with every key present; if not, a STRUCTURE row says what was expected and what came back
    (`scratchae._contract.gradient_problem`), and its numbers are not compared
  * an exception from the checked code is an ERROR row naming the piece and where it was
    raised (`describe_raised`), never a traceback out of the checker; `Report.ok` is False
  * the layer contract only (`scratchae.layers`): L adds every layer's `loss_terms()`, the
    gradients are zeroed before every analytic backward (backward adds into them), kinks come
    from `kink_signs()` (or `kink_at_zero` for a bare piece), and a `stochastic` layer runs
    with training=True with its noise replayed (its generator reset to one saved state before
    every forward), so the check of a dropout layer is exact
  * kink convention (check_layer(..., kink_convention=True)): ReLU-like and L1-like pieces
    must also give exactly 0 at inputs exactly at 0, a known-answer row after the differences
  * float64 always: a float32 layer or model is checked on a float64 deep copy; yours is untouched
  * small tensors are checked element by element, large ones on a seeded sample of k elements,
    or with one random direction (mode="direction": (f(t+hv) - f(t-hv)) / 2h against <grad, v>)
  * kinks: a difference that straddles a kink (a sign of `kink_signs()`, such as that of a
    pre-activation under a ReLU or of an L1 input, changes between t-h and t+h) is not a bug;
    such an element is re-sampled (the input nudged away, or another element picked) and
    counted in the row
  * hints: a failing tensor gets a likely mistake (factor 2, a mean where a sum belongs or the
    reverse, a wrong L1 factor, sign, transpose, mask, missing upstream multiply), in the
    words of the piece checked, see `scratchae.gradcheck.hints`

Why a *random* dy and not ones: with dy = 1 every output counts the same, so a gradient that
sums the wrong axis or uses a transposed kernel can still come out right. Random weights tell
the outputs apart.

How small is small (CS231n's bands, float64, h = 1e-5):
    < 1e-7   good
    < 1e-4   acceptable (expected only near a kink)
    < 1e-2   suspect (look closer; not counted as a failure)
    > 1e-2   wrong

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> numerical_gradient(lambda: float((x ** 3).sum()), x).round(6)     # 3 x^2
    array([ 3., 12.])
    >>> check_function(lambda x: (x ** 3).sum(), lambda x: 3 * x ** 2, x).ok
    True
"""
from .checks import check_function, check_layer, check_loss, check_model, check_optimizer
from .core import central_difference, check_piece, numerical_gradient, rel_error
from .report import BANDS, Report, Row, verdict
from .sampling import StatReport, StatRow, check_kl, check_kl_reduction, check_moments, check_sampling
from .structure import describe_raised

__all__ = ["check_function", "check_layer", "check_loss", "check_model", "check_optimizer",
           "central_difference", "check_piece", "numerical_gradient", "rel_error", "BANDS",
           "Report", "Row", "verdict", "describe_raised", "check_moments", "check_kl",
           "check_kl_reduction", "check_sampling", "StatReport", "StatRow"]
