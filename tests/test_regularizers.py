"""L1 and L2 activity penalties: known answers (sign(0) = 0), gradient checks, dtypes, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from scratchae import regularizers
from scratchae.gradcheck import check_piece
from scratchae.regularizers import L1, L2, l1, l2

GOOD = 1e-7
shapes = st.tuples(st.integers(1, 8), st.integers(1, 16))
H = np.array([[1.0, -2.0], [0.0, 3.0]])


@st.composite
def off_zero(draw, lo, hi):
    shape = draw(shapes)
    mag = draw(arrays(np.float64, shape, elements=st.floats(lo, hi)))
    return np.where(draw(arrays(np.bool_, shape)), -mag, mag)


# -- known answers --------------------------------------------------------------------------
def test_l1_known_value_and_gradient_with_sign_of_zero():
    reg = l1(0.5)
    assert reg.forward(H) == pytest.approx(0.5 * (1 + 2 + 0 + 3), rel=1e-15)     # 3.0
    # 0.5 * sign(h), with sign(0) = 0
    np.testing.assert_array_equal(reg.backward(), [[0.5, -0.5], [0.0, 0.5]])
    np.testing.assert_array_equal(reg.backward(2.0), [[1.0, -1.0], [0.0, 1.0]])   # upstream scalar


def test_l2_known_value_and_gradient():
    reg = l2(0.25)
    assert reg.forward(H) == pytest.approx(0.25 * (1 + 4 + 0 + 9), rel=1e-15)   # 3.5
    np.testing.assert_array_equal(reg.backward(), [[0.5, -1.0], [0.0, 1.5]])   # 2 * .25 * h


def test_penalty_is_summed_over_batch_not_averaged():
    # Keras 2.0 convention (the article's l1 sums over the batch): doubling the batch doubles the penalty
    h = np.array([[1.0, -1.0]])
    assert l1(1.0)(np.vstack([h, h])) == pytest.approx(2 * l1(1.0)(h))
    assert l1(1.0)(h) == 2.0


def test_the_articles_factor():
    assert l1(10e-6).l1 == pytest.approx(1e-5)
    assert isinstance(l1(0.1), L1) and isinstance(l2(0.1), L2)


# -- gradient checks ------------------------------------------------------------------------
@given(off_zero(0.01, 3.0), st.floats(0.01, 2.0))
def test_l1_gradient_check(h, factor):
    # |h| >= 0.01 is off the kink; piecewise linear, so central differences are exact for a
    # step of 1e-3 (which never crosses 0) up to rounding
    assert check_piece(L1(factor), h, h=1e-3)["x"] < GOOD


@given(off_zero(0.1, 3.0), st.floats(0.01, 2.0))
def test_l2_gradient_check(h, factor):
    # |h| >= 0.1 keeps the gradient 2 f h away from 0; a quadratic, so h = 1e-3 is exact
    assert check_piece(L2(factor), h, h=1e-3)["x"] < GOOD


# -- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [l1, l2])
def test_gradient_dtype_is_kept(make, dtype):
    reg = make(0.1)
    value = reg.forward(H.astype(dtype))
    assert isinstance(value, float)
    assert reg.backward().dtype == dtype
    assert reg.backward(3.0).dtype == dtype


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [L1, L2])
def test_backward_before_forward(cls):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        cls(0.1).backward()


@pytest.mark.parametrize("make, name", [(l1, "l1 factor"), (l2, "l2 factor")])
@pytest.mark.parametrize("bad, err, msg", [
    (-0.1, ValueError, "must be >= 0"),
    (math.inf, ValueError, "must be finite"),
    (math.nan, ValueError, "must be finite"),
    (True, TypeError, "must be a real number"),
    ("0.1", TypeError, "must be a real number"),
    (None, TypeError, "must be a real number"),
])
def test_bad_factor(make, name, bad, err, msg):
    with pytest.raises(err, match=f"{name} {msg}"):
        make(bad)


def test_zero_factor_is_allowed():
    assert l1(0.0).forward(H) == 0.0


def test_config_round_trip_and_bad_config():
    reg = regularizers.from_config(l1(0.25).get_config())
    assert isinstance(reg, L1) and reg.l1 == 0.25
    assert regularizers.from_config(None) is None
    with pytest.raises(ValueError, match="not a regularizer config"):
        regularizers.from_config({"class_name": "L3", "l3": 1.0})


def test_get_takes_keras_names_instances_and_none():
    from scratchae import regularizers
    assert regularizers.get(None) is None
    reg = L1(0.5)
    assert regularizers.get(reg) is reg
    assert isinstance(regularizers.get("l1"), L1) and regularizers.get("L2").l2 == 0.01
    with pytest.raises(ValueError, match=r"unknown activity_regularizer 'l3': expected one of \['l1', 'l2'\]"):
        regularizers.get("l3")
