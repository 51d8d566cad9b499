"""ReLU, Sigmoid, Linear: known values and derivatives, gradient checks, stability, dtypes, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from scratchae import activations
from scratchae.activations import Linear, ReLU, Sigmoid, sigmoid
from scratchae.losses import select_sigmoid
from scratchae.gradcheck import check_piece

GOOD = 1e-7
shapes = st.tuples(st.integers(1, 8), st.integers(1, 16))   # (batch, width)


@st.composite
def signed(draw, shape, lo, hi):
    """float64 array with |values| in [lo, hi] and random signs (lo > 0 keeps it off 0)."""
    mag = draw(arrays(np.float64, shape, elements=st.floats(lo, hi)))
    neg = draw(arrays(np.bool_, shape))
    return np.where(neg, -mag, mag)


@st.composite
def x_and_dy(draw, lo, hi):
    shape = draw(shapes)
    # upstream gradient bounded away from 0 so no element of dL/dx is a near-zero number
    # dominated by rounding (relative error of a ~0 entry says nothing)
    return draw(signed(shape, lo, hi)), draw(signed(shape, 0.5, 1.5))


# -- known answers --------------------------------------------------------------------------
def test_relu_known_values_and_derivatives():
    relu = ReLU()
    x = np.array([[-2.0, -0.0, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 0.0, 0.5, 3.0]])
    # derivative 1 where x > 0, 0 where x <= 0 (subgradient 0 at the kink)
    dx = relu.backward(np.array([[7.0, 7.0, 7.0, 7.0, -7.0]]))
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 0.0, 7.0, -7.0]])


def test_sigmoid_known_values_and_derivatives():
    s = Sigmoid()
    ln3, ln9 = math.log(3.0), math.log(9.0)
    x = np.array([[0.0, ln3, -ln3, ln9]])
    # sigmoid(0) = 1/2; sigmoid(ln 3) = 1/(1 + 1/3) = 3/4; sigmoid(-ln 3) = 1/(1+3) = 1/4;
    # sigmoid(ln 9) = 1/(1 + 1/9) = 9/10
    np.testing.assert_allclose(s.forward(x), [[0.5, 0.75, 0.25, 0.9]], rtol=1e-12)
    # derivative y(1-y): .5*.5 = .25, .75*.25 = .1875, .25*.75 = .1875, .9*.1 = .09
    np.testing.assert_allclose(s.backward(np.ones((1, 4))), [[0.25, 0.1875, 0.1875, 0.09]],
                               rtol=1e-12)
    # and the chain rule multiplies by dy
    np.testing.assert_allclose(s.backward(np.array([[2.0, -4.0, 1.0, 10.0]])),
                               [[0.5, -0.75, 0.1875, 0.9]], rtol=1e-12)


def test_linear_is_identity():
    lin = Linear()
    x = np.array([[-1.5, 0.0, 2.0]])
    np.testing.assert_array_equal(lin.forward(x), x)
    np.testing.assert_array_equal(lin.backward(np.array([[3.0, -1.0, 0.5]])), [[3.0, -1.0, 0.5]])


def test_sigmoid_extreme_limits():
    y = sigmoid(np.array([-1000.0, 1000.0, -40.0, 40.0]))
    # sigmoid(-1000) = e^-1000 underflows to 0; sigmoid(+-40) = 1/(1+e^-+40)
    np.testing.assert_array_equal(y[:2], [0.0, 1.0])
    np.testing.assert_allclose(y[2], math.exp(-40.0), rtol=1e-12)   # e^-40/(1+e^-40) ~ e^-40
    assert y[3] == 1.0                                              # 1 - 4e-18 rounds to 1


@given(arrays(np.float64, shapes, elements=st.floats(-30, 30)))
def test_sigmoid_matches_textbook_formula(x):
    ref = 1.0 / (1.0 + np.exp(-x))          # safe to write naively in [-30, 30]
    np.testing.assert_allclose(sigmoid(x), ref, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_branch_free_sigmoid_is_the_two_case_formula_bit_for_bit(dtype):
    # the loss on logits' select_sigmoid computes max(e, step) / d instead of choosing per
    # element, as activations.sigmoid (the learner's plain formula) does: both must give
    # exactly 1 / d where x >= 0 and exactly e / d where x < 0, on a mixed sign pattern, at
    # the signed zeros, the infinities and NaN
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((64, 50)) * 12).astype(dtype)
    x[0, :6] = [0.0, -0.0, np.inf, -np.inf, np.nan, np.finfo(dtype).tiny]
    e = np.exp(-np.abs(x))
    d = 1.0 + e
    two_case = np.where(x >= 0, 1.0 / d, e / d)
    for got in (sigmoid(x), select_sigmoid(e, d, (x >= 0).astype(dtype))):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, two_case)              # NaN where NaN, else equal bits
        assert got[0, 2] == 1.0 and got[0, 3] == 0.0 and np.isnan(got[0, 4])


# -- gradient checks ------------------------------------------------------------------------
@given(x_and_dy(1e-3, 3.0))                 # |x| >= 1e-3: off ReLU's kink (h = 1e-5)
def test_relu_gradient_check(args):
    x, dy = args
    assert check_piece(ReLU(), x, dy=dy)["x"] < GOOD


@given(x_and_dy(0.0, 4.0))
def test_sigmoid_gradient_check(args):
    x, dy = args
    assert check_piece(Sigmoid(), x, dy=dy)["x"] < GOOD


@given(x_and_dy(0.0, 10.0))
def test_linear_gradient_check(args):
    x, dy = args
    assert check_piece(Linear(), x, dy=dy)["x"] < GOOD


# -- stability -------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [32, 64])
@given(data=st.data())
def test_sigmoid_never_overflows_or_warns(width, data):
    dtype = np.float32 if width == 32 else np.float64
    x = data.draw(arrays(dtype, shapes, elements=st.floats(allow_nan=False, allow_infinity=False,
                                                           width=width)))
    s = Sigmoid()
    y = s.forward(x)                         # RuntimeWarnings are errors (setup.cfg)
    assert y.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    dx = s.backward(np.ones_like(x))
    assert dx.dtype == dtype and np.all(np.isfinite(dx))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_at_dtype_extremes(dtype):
    big = np.finfo(dtype).max
    x = np.array([[-big, -1000.0, 1000.0, big]], dtype=dtype)
    y = Sigmoid().forward(x)
    np.testing.assert_array_equal(y, np.array([[0.0, 0.0, 1.0, 1.0]], dtype=dtype))


# -- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Linear])
def test_dtype_is_preserved(cls, dtype):
    x = np.array([[-1.0, 0.5, 2.0]], dtype=dtype)
    piece = cls()
    y = piece.forward(x)
    dx = piece.backward(np.array([[1.0, -2.0, 0.5]], dtype=dtype))
    assert y.dtype == dtype and dx.dtype == dtype


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Linear])
def test_backward_before_forward(cls):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        cls().backward(np.ones((1, 2)))


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Linear])
def test_dy_of_wrong_shape(cls):
    piece = cls()
    piece.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 3\)"):
        piece.backward(np.ones((3, 2)))


def test_get_by_name_and_unknown_name():
    assert isinstance(activations.get("relu"), ReLU)
    assert isinstance(activations.get("SIGMOID"), Sigmoid)
    assert isinstance(activations.get(None), Linear)
    assert activations.get("relu") is not activations.get("relu")       # fresh pieces
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        activations.get("tanh")
    with pytest.raises(TypeError, match="activation must be a name"):
        activations.get(3)
