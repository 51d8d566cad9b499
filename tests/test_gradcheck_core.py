"""The gradient checker checks itself: numerical_gradient on functions with known gradients,
rel_error's edge cases, and check_piece failing on deliberately wrong backward passes."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from scratchae.activations import ReLU, Sigmoid
from scratchae.gradcheck import check_piece, numerical_gradient, rel_error
from scratchae.layers import Dense

from scratchae.exercises.broken import (NoMaskReLU, NoMeanBCE, SigmoidDerivativeFromX, SignFlippedL1,
                           TransposedKernelDense)

WRONG = 1e-2   # CS231n band: a relative error above this means the gradient is wrong


# -- numerical_gradient ---------------------------------------------------------------------
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)),
              elements=st.floats(-3, 3)))
def test_numerical_gradient_of_sum_of_cubes_is_three_x_squared(x):
    expected = 3 * x ** 2                       # d/dx_i sum x^3 = 3 x_i^2
    num = numerical_gradient(lambda: float((x ** 3).sum()), x)
    # central differences on a cubic: error is exactly h^2 * f'''/6 = 1e-10 per element
    np.testing.assert_allclose(num, expected, rtol=1e-7, atol=1e-8)


def test_numerical_gradient_known_values():
    x = np.array([1.0, 2.0, -0.5])
    num = numerical_gradient(lambda: float((x ** 3).sum()), x)
    np.testing.assert_allclose(num, [3.0, 12.0, 0.75], rtol=1e-8)   # 3*1, 3*4, 3*0.25


def test_numerical_gradient_of_quadratic_form():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))             # not symmetric on purpose
    x = rng.standard_normal(4)
    num = numerical_gradient(lambda: float(x @ A @ x), x)
    np.testing.assert_allclose(num, (A + A.T) @ x, rtol=1e-7, atol=1e-9)   # d(x^T A x) = (A + A^T) x


def test_numerical_gradient_restores_x_and_works_on_2d():
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    before = x.copy()
    num = numerical_gradient(lambda: float(np.sum(x * x)), x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(num, 2 * before, rtol=1e-8)            # d sum x^2 = 2x


def test_numerical_gradient_refuses_float32():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: float(x.sum()), x)


# -- rel_error ------------------------------------------------------------------------------
def test_rel_error_edge_cases():
    assert rel_error(np.array(0.0), np.array(0.0)) == 0.0             # both zero -> 0, not nan
    assert rel_error(np.array(2.0), np.array(-2.0)) == 1.0            # opposite signs -> 1
    assert rel_error(np.array(-3.0), np.array(1.0)) == 1.0            # |-3-1| / (3+1)
    np.testing.assert_allclose(rel_error(np.array(1.0), np.array(1.1)), 0.1 / 2.1)
    assert rel_error(np.array(5.0), np.array(5.0)) == 0.0


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_rel_error_is_between_zero_and_one(a, n):
    r = float(rel_error(np.array(a), np.array(n)))
    assert 0.0 <= r <= 1.0


# -- check_piece on right pieces, then on broken ones ---------------------------------------
def test_check_piece_passes_a_correct_dense():
    layer = Dense(3, activation="sigmoid", input_dim=4, dtype="float64", seed=0)
    x = np.random.default_rng(1).standard_normal((2, 4))
    errors = check_piece(layer, x)
    assert set(errors) == {"x", "kernel", "bias"}
    assert max(errors.values()) < 1e-7


def test_check_piece_catches_transposed_kernel_gradient():
    layer = TransposedKernelDense(4, input_dim=4, dtype="float64", seed=0)   # square kernel
    x = np.random.default_rng(1).standard_normal((3, 4))
    errors = check_piece(layer, x)
    assert errors["kernel"] > WRONG
    assert errors["x"] < 1e-7           # only the kernel gradient is broken, and the report says so


def test_check_piece_catches_missing_relu_mask():
    x = np.array([[-1.0, 0.5, -2.0], [1.5, -0.3, 0.7]])
    assert check_piece(NoMaskReLU(), x)["x"] > WRONG
    assert check_piece(ReLU(), x)["x"] < 1e-7          # the real one passes on the same input


def test_check_piece_catches_sign_flip_in_l1_gradient():
    h = np.array([[-1.0, 0.5], [2.0, -0.3]])
    assert check_piece(SignFlippedL1(0.1), h)["x"] > WRONG


def test_check_piece_catches_bce_gradient_missing_its_mean():
    p = np.array([[0.2, 0.7, 0.4], [0.9, 0.3, 0.6]])
    y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    assert check_piece(NoMeanBCE(), p, y)["x"] > WRONG     # off by a factor N*D = 6


def test_check_piece_catches_sigmoid_derivative_from_x():
    x = np.array([[-1.0, 0.5, 2.0], [1.5, -0.3, 0.7]])
    assert check_piece(SigmoidDerivativeFromX(), x)["x"] > WRONG
    assert check_piece(Sigmoid(), x)["x"] < 1e-7


@pytest.mark.parametrize("h", [0, 0.0, -1e-5, float("nan"), float("inf")])
def test_numerical_gradient_refuses_a_step_that_is_not_positive(h):
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="the step h must be a finite number > 0"):
        numerical_gradient(lambda: float(x.sum()), x, h=h)


def test_central_difference_puts_the_element_back_even_when_f_raises():
    from scratchae.gradcheck import central_difference
    x = np.array([1.0, 2.0])

    def f():
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        central_difference(f, x, 1, 1e-5)
    assert x.tolist() == [1.0, 2.0]
    plus, minus, step = central_difference(lambda: float(x[1] ** 2), x, 1, 1e-3)
    assert (plus - minus) / step == pytest.approx(4.0, rel=1e-9)      # d(x^2)/dx at 2


# -- never a pass on nothing ----------------------------------------------------------------------
def test_a_forward_that_draws_new_noise_each_call_fails_as_not_deterministic():
    """Noise drawn at each call, then a ReLU: the differences straddle the ReLU's kinks at random,
    and a checker that skipped them would pass a backward returning the constant 7.0."""
    from scratchae.activations import ReLU
    from scratchae.gradcheck import check_layer

    class Noisy(ReLU):
        rng = np.random.default_rng(0)

        def forward(self, x):
            return super().forward(x + self.rng.standard_normal(x.shape))

        def backward(self, dy):
            return np.full(dy.shape, 7.0)

    rep = check_layer(Noisy(), np.random.default_rng(1).standard_normal((16, 20)))
    assert not rep.ok and "forward is not deterministic" in str(rep)
    assert "nondeterministic" == rep.located.hint.kind


def test_a_tensor_with_nothing_compared_fails():
    from scratchae.gradcheck import check_layer
    from scratchae.layers import Dense

    d = Dense(4, activation="relu", input_dim=3, dtype="float64", seed=0)
    d.set_weights([np.zeros((3, 4)), np.zeros(4)])          # every logit exactly on the kink
    rep = check_layer(d, np.random.default_rng(1).standard_normal((5, 3)))
    bad = {r.tensor: r for r in rep.rows if not r.ok}
    assert set(bad) == {"kernel", "bias"} and all(r.checked == 0 for r in bad.values())
    assert "nothing compared" in bad["bias"].problem
    d.set_weights([np.random.default_rng(2).standard_normal((3, 4)), np.zeros(4)])
    assert check_layer(d, np.random.default_rng(1).standard_normal((5, 3))).ok     # off the kinks: passes


# -- check_piece on the layer contract: loss terms, gradients that accumulate --------------------
def test_check_piece_includes_loss_terms_and_zeroes_the_gradients():
    from scratchae.layers import Layer
    from scratchae.regularizers import l1

    class Energy(Layer):                       # y = x, loss term 0.3 sum(x^2): not a Dense
        def forward(self, x, training=False):
            self._x = x
            return x

        def loss_terms(self):
            return {"energy": 0.3 * float(np.sum(self._x ** 2))}

        def backward(self, dy):
            return dy + 0.6 * self._x

    class ForgetfulEnergy(Energy):
        def backward(self, dy):
            return dy

    x = np.random.default_rng(2).standard_normal((3, 4))
    assert check_piece(Energy(), x)["x"] < 1e-7
    assert check_piece(ForgetfulEnergy(), x)["x"] > WRONG      # the term counts in L
    # a layer whose grads hold an earlier batch's sum: checked on this backward alone
    layer = Dense(3, activation="relu", input_dim=4, dtype="float64", seed=0,
                  activity_regularizer=l1(0.05))
    layer.grads["kernel"] += 1.0
    errors = check_piece(layer, x)
    assert max(errors.values()) < 1e-7, errors
