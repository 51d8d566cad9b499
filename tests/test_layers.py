"""Dense: a known answer by hand, gradient checks over shapes and values, the backward contract
(writes, never accumulates; linear in dy), initialisation, dtypes and bad input."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra.numpy import arrays

from scratchae import config
from scratchae.gradcheck import check_piece
from scratchae.layers import Dense
from scratchae.regularizers import l1, l2

GOOD = 1e-7
ACTIVATIONS = ["linear", "relu", "sigmoid"]
REGULARIZERS = {None: None, "l1": lambda: l1(0.01), "l2": lambda: l2(0.01)}

# x (2, 3), kernel (3, 2), bias (2,), dy (2, 2), used by the hand-worked examples below
X = np.array([[1.0, 2.0, 3.0],
              [0.0, -1.0, 2.0]])
W = np.array([[1.0, -1.0],
              [2.0, 0.0],
              [0.0, 3.0]])
B = np.array([0.5, -1.0])
DY = np.array([[1.0, 2.0],
               [-1.0, 0.5]])


def hand_layer(activation=None, **kw):
    layer = Dense(2, activation=activation, input_dim=3, dtype="float64", **kw)
    layer.set_weights([W, B])
    return layer


@pytest.fixture
def floatx_restored():
    old = config.floatx()
    try:
        yield
    finally:
        config.set_floatx(old)


# -- known answers --------------------------------------------------------------------------
def test_dense_linear_known_answer():
    layer = hand_layer()
    y = layer.forward(X)
    # row 0: [1*1 + 2*2 + 3*0 + .5, 1*-1 + 2*0 + 3*3 - 1] = [5.5, 7]
    # row 1: [0*1 - 1*2 + 2*0 + .5, 0*-1 - 1*0 + 2*3 - 1] = [-1.5, 5]
    np.testing.assert_allclose(y, [[5.5, 7.0], [-1.5, 5.0]], rtol=1e-15)
    dx = layer.backward(DY)
    # dkernel = x^T dy: [1*1 + 0*-1, 1*2 + 0*.5] = [1, 2]; [2*1 + -1*-1, 2*2 + -1*.5] = [3, 3.5];
    #                   [3*1 + 2*-1, 3*2 + 2*.5] = [1, 7]
    np.testing.assert_allclose(layer.grads["kernel"], [[1.0, 2.0], [3.0, 3.5], [1.0, 7.0]],
                               rtol=1e-15)
    # dbias = column sums of dy: [1 - 1, 2 + .5]
    np.testing.assert_allclose(layer.grads["bias"], [0.0, 2.5], rtol=1e-15)
    # dx = dy kernel^T: row 0 [1*1 + 2*-1, 1*2 + 2*0, 1*0 + 2*3] = [-1, 2, 6]
    #                   row 1 [-1*1 + .5*-1, -1*2 + 0, 0 + .5*3]  = [-1.5, -2, 1.5]
    np.testing.assert_allclose(dx, [[-1.0, 2.0, 6.0], [-1.5, -2.0, 1.5]], rtol=1e-15)


def test_dense_relu_known_answer():
    layer = hand_layer("relu")
    # z as above; relu zeroes the -1.5
    np.testing.assert_allclose(layer.forward(X), [[5.5, 7.0], [0.0, 5.0]], rtol=1e-15)
    dx = layer.backward(DY)
    # dz = dy * [z > 0] = [[1, 2], [0, .5]]
    # dkernel = x^T dz: [1, 2]; [2, 4 - .5] = [2, 3.5]; [3, 6 + 1] = [3, 7]
    np.testing.assert_allclose(layer.grads["kernel"], [[1.0, 2.0], [2.0, 3.5], [3.0, 7.0]],
                               rtol=1e-15)
    np.testing.assert_allclose(layer.grads["bias"], [1.0, 2.5], rtol=1e-15)
    # dx row 1 = [0*1 + .5*-1, 0*2 + .5*0, 0*0 + .5*3]
    np.testing.assert_allclose(dx, [[-1.0, 2.0, 6.0], [-0.5, 0.0, 1.5]], rtol=1e-15)


def test_dense_relu_l1_activity_known_answer():
    layer = hand_layer("relu", activity_regularizer=l1(0.1))
    layer.forward(X)
    assert layer.penalty == pytest.approx(0.1 * (5.5 + 7.0 + 0.0 + 5.0))      # 1.75
    layer.backward(DY)
    # dy + 0.1 * sign(y) = [[1.1, 2.1], [-1 + 0, .6]] (sign(0) = 0), then the relu mask:
    # dz = [[1.1, 2.1], [0, .6]]; dkernel = x^T dz = [1.1, 2.1]; [2.2, 4.2 - .6]; [3.3, 6.3 + 1.2]
    np.testing.assert_allclose(layer.grads["kernel"], [[1.1, 2.1], [2.2, 3.6], [3.3, 7.5]],
                               rtol=1e-14)
    np.testing.assert_allclose(layer.grads["bias"], [1.1, 2.7], rtol=1e-14)


def test_dense_sigmoid_known_answer():
    layer = Dense(1, activation="sigmoid", input_dim=2, dtype="float64")
    layer.set_weights([np.array([[math.log(3.0)], [1.0]]), np.array([0.0])])
    y = layer.forward(np.array([[1.0, 0.0], [0.0, 0.0]]))
    # z = [ln 3, 0] -> sigmoid = [3/4, 1/2]
    np.testing.assert_allclose(y, [[0.75], [0.5]], rtol=1e-14)
    layer.backward(np.array([[1.0], [1.0]]))
    # dz = y(1-y) = [3/16, 1/4]; dkernel = x^T dz = [3/16, 0]; dbias = 3/16 + 1/4 = 7/16
    np.testing.assert_allclose(layer.grads["kernel"], [[0.1875], [0.0]], rtol=1e-14)
    np.testing.assert_allclose(layer.grads["bias"], [0.4375], rtol=1e-14)


# -- gradient checks ------------------------------------------------------------------------
@st.composite
def sign_structured_case(draw):
    """A Dense layer, input and dy where no gradient entry is a sum that cancels to ~0.

    x carries one sign per column, the kernel one sign per row, and dy > 0, so every term
    of x^T dz, sum_n dz and dz kernel^T has the same sign. (With fully random signs a few
    entries land near 0 by cancellation and their *relative* error is rounding noise.)
    """
    n, d, u = draw(st.integers(1, 8)), draw(st.integers(1, 16)), draw(st.integers(1, 16))
    act = draw(st.sampled_from(ACTIVATIONS))
    use_bias = draw(st.booleans())
    reg = draw(st.sampled_from(list(REGULARIZERS)))
    col_sign = np.where(draw(arrays(np.bool_, d)), -1.0, 1.0)
    row_sign = np.where(draw(arrays(np.bool_, d)), -1.0, 1.0)
    x = draw(arrays(np.float64, (n, d), elements=st.floats(0.1, 1.0))) * col_sign
    # kernel entries scaled by 1/d keep |z| <= 2: the sigmoid stays out of saturation, where
    # y(1-y) ~ 1e-5 would leave gradients no bigger than the rounding noise
    kernel = draw(arrays(np.float64, (d, u), elements=st.floats(0.1, 1.0))) * row_sign[:, None] / d
    bias = draw(arrays(np.float64, u, elements=st.floats(-1.0, 1.0)))
    dy = draw(arrays(np.float64, (n, u), elements=st.floats(0.5, 1.5)))
    return act, use_bias, reg, x, kernel, bias, dy


def _build(act, use_bias, reg, kernel, bias):
    d, u = kernel.shape
    layer = Dense(u, activation=act, use_bias=use_bias, input_dim=d, dtype="float64",
                  activity_regularizer=REGULARIZERS[reg]() if reg else None)
    layer.set_weights([kernel, bias] if use_bias else [kernel])
    return layer


@given(sign_structured_case())
def test_dense_gradient_check(case):
    act, use_bias, reg, x, kernel, bias, dy = case
    z = x @ kernel + (bias if use_bias else 0.0)
    if act == "relu" or reg == "l1":
        # off the kink: a step of h = 1e-5 moves z by at most 1e-5 * max(|x|, |kernel|, 1) = 1e-5
        assume(np.abs(z).min() > 1e-3)
    layer = _build(act, use_bias, reg, kernel, bias)
    errors = check_piece(layer, x, dy=dy)
    assert set(errors) == {"x", "kernel"} | ({"bias"} if use_bias else set())
    assert max(errors.values()) < GOOD, errors


@given(n=st.integers(1, 8), d=st.integers(1, 16), u=st.integers(1, 16),
       act=st.sampled_from(["linear", "relu"]), use_bias=st.booleans(),
       reg=st.sampled_from(list(REGULARIZERS)), seed=st.integers(0, 2**32 - 1))
def test_dense_gradient_check_random_signs(n, d, u, act, use_bias, reg, seed):
    """Fully random signs for the piecewise-linear (or quadratic, with l2) cases.

    The values come from a generator seeded by hypothesis: hand-picked "simple" values (an
    entry of 1e-12, or 1 and -1 meeting dy's 1 and -1) make exact or near cancellations whose
    relative error is pure rounding noise. Central differences are exact up to rounding for
    these pieces for any step, so a larger h = 1e-3 keeps that noise far below 1e-7.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, d))
    kernel = rng.uniform(-1.0, 1.0, (d, u))
    bias = rng.uniform(-1.0, 1.0, u)
    dy = rng.uniform(0.5, 1.5, (n, u)) * rng.choice([-1.0, 1.0], (n, u))
    z = x @ kernel + (bias if use_bias else 0.0)
    if act == "relu" or reg == "l1":
        assume(np.abs(z).min() > 1e-2)      # a step of 1e-3 moves z by at most 1e-3
    layer = _build(act, use_bias, reg, kernel, bias)
    errors = check_piece(layer, x, dy=dy, h=1e-3)
    assert max(errors.values()) < GOOD, errors


# -- the backward contract ------------------------------------------------------------------
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_backward_accumulates_into_grads_and_zero_grads_clears_them(act):
    """The contract: backward adds (+=) into grads; the model zeroes them at each step."""
    layer = Dense(4, activation=act, input_dim=3, dtype="float64", seed=0)
    layer.forward(X)
    dx1 = layer.backward(np.ones((2, 4)))
    first = {k: g.copy() for k, g in layer.grads.items()}
    assert any(np.any(g != 0) for g in first.values())
    dx2 = layer.backward(np.ones((2, 4)))
    for k in first:
        np.testing.assert_array_equal(layer.grads[k], 2 * first[k])      # the second call added
    np.testing.assert_array_equal(dx1, dx2)
    layer.zero_grads()
    assert all(not np.any(g) for g in layer.grads.values())
    layer.backward(np.ones((2, 4)))
    for k in first:
        np.testing.assert_array_equal(layer.grads[k], first[k])


@pytest.mark.parametrize("use_bias", [True, False])
def test_params_and_grads_are_twins(use_bias):
    layer = Dense(5, input_dim=3, use_bias=use_bias, seed=0)
    assert list(layer.params) == list(layer.grads) == (["kernel", "bias"] if use_bias else ["kernel"])
    assert layer.params["kernel"].shape == (3, 5)          # (input_dim, units)
    for k in layer.params:
        assert layer.grads[k].shape == layer.params[k].shape
        assert layer.grads[k].dtype == layer.params[k].dtype
    if use_bias:
        np.testing.assert_array_equal(layer.params["bias"], np.zeros(5))   # bias starts at zero


@given(data=st.data(), act=st.sampled_from(ACTIVATIONS),
       a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_backward_is_linear_in_dy(data, act, a, b):
    n, d, u = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 16)), data.draw(st.integers(1, 16))
    x = data.draw(arrays(np.float64, (n, d), elements=st.floats(-2, 2)))
    dy1 = data.draw(arrays(np.float64, (n, u), elements=st.floats(-2, 2)))
    dy2 = data.draw(arrays(np.float64, (n, u), elements=st.floats(-2, 2)))
    layer = Dense(u, activation=act, input_dim=d, dtype="float64", seed=1)
    layer.forward(x)
    dx1 = layer.backward(dy1); g1 = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grads()
    dx2 = layer.backward(dy2); g2 = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grads()
    dx = layer.backward(a * dy1 + b * dy2)
    np.testing.assert_allclose(dx, a * dx1 + b * dx2, rtol=1e-9, atol=1e-9)
    for k in g1:
        np.testing.assert_allclose(layer.grads[k], a * g1[k] + b * g2[k], rtol=1e-9, atol=1e-9)


# -- initialisation -------------------------------------------------------------------------
def test_glorot_uniform_bounds_and_spread():
    fan_in, fan_out = 500, 300
    layer = Dense(fan_out, input_dim=fan_in, seed=0, dtype="float64")
    k = layer.params["kernel"]
    limit = math.sqrt(6.0 / (fan_in + fan_out))          # 0.0866
    assert np.abs(k).max() <= limit
    assert k.max() > 0.99 * limit and k.min() < -0.99 * limit     # the whole range is used
    # U(-L, L) has mean 0 and std L / sqrt(3); 150,000 draws pin both to well under 1%
    assert abs(k.mean()) < 0.01 * limit
    assert k.std() == pytest.approx(limit / math.sqrt(3.0), rel=0.01)


def test_same_seed_same_weights():
    a = Dense(7, input_dim=4, seed=42).params["kernel"]
    b = Dense(7, input_dim=4, seed=42).params["kernel"]
    c = Dense(7, input_dim=4, seed=43).params["kernel"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_set_weights_validates_and_sets_nothing_on_error():
    layer = hand_layer()
    with pytest.raises(ValueError, match="expects a list of 2 weight arrays, got 1"):
        layer.set_weights([W])
    with pytest.raises(ValueError, match=r"kernel: expected shape \(3, 2\), got \(2, 3\)"):
        layer.set_weights([W.T, B])
    with pytest.raises(ValueError, match="finite"):
        layer.set_weights([W, np.array([np.nan, 0.0])])
    with pytest.raises(ValueError, match="finite"):
        layer.set_weights([W + 1, np.array([np.inf, 0.0])])
    np.testing.assert_array_equal(layer.params["kernel"], W)    # untouched by the failed calls
    np.testing.assert_array_equal(layer.params["bias"], B)


# -- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype, act):
    layer = Dense(4, activation=act, input_dim=3, dtype=dtype, seed=0,
                  activity_regularizer=l1(0.01))
    x = X.astype(dtype)
    y = layer.forward(x)
    dx = layer.backward(np.ones((2, 4), dtype=dtype))
    assert y.dtype == dtype and dx.dtype == dtype
    for k in layer.params:
        assert layer.params[k].dtype == dtype and layer.grads[k].dtype == dtype


def test_default_dtype_follows_floatx(floatx_restored):
    assert Dense(2, input_dim=2).params["kernel"].dtype == np.float32
    config.set_floatx("float64")
    assert Dense(2, input_dim=2).params["kernel"].dtype == np.float64
    assert Dense(2, input_dim=2, dtype="float32").params["kernel"].dtype == np.float32   # own dtype wins


# -- bad input -------------------------------------------------------------------------------
def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Dense(2, input_dim=3).backward(np.ones((1, 2), dtype=np.float32))


def test_width_not_matching_kernel():
    layer = Dense(2, input_dim=3)
    with pytest.raises(ValueError, match=r"expects inputs with 3 features .*got shape \(2, 4\)"):
        layer.forward(np.ones((2, 4), dtype=np.float32))


@pytest.mark.parametrize("shape", [(3,), (2, 3, 1)])
def test_non_2d_input(shape):
    with pytest.raises(ValueError, match="2-D input"):
        Dense(2, input_dim=3).forward(np.ones(shape, dtype=np.float32))


def test_non_array_input():
    with pytest.raises(TypeError, match="expects a NumPy array, got str"):
        Dense(2, input_dim=3).forward("1 2 3")
    with pytest.raises(ValueError, match="takes one input, got a list of 1"):
        Dense(2, input_dim=3).forward([[1.0, 2.0, 3.0]])


def test_dy_of_wrong_shape():
    layer = hand_layer()
    layer.forward(X)
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 2\), got \(2, 3\)"):
        layer.backward(np.ones((2, 3)))


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown activation 'softmaxx'"):
        Dense(2, activation="softmaxx")
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        Dense(2, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="unknown initializer 'one'"):
        Dense(2, bias_initializer="one")


@pytest.mark.parametrize("units, err, msg", [
    (0, ValueError, "units must be a positive integer, got 0"),
    (-3, ValueError, "units must be a positive integer"),
    ("3", TypeError, "units must be a positive integer, got '3'"),
    (True, TypeError, "units must be a positive integer, got True"),
    (2.0, TypeError, "units must be a positive integer"),
])
def test_bad_units(units, err, msg):
    with pytest.raises(err, match=msg):
        Dense(units)


def test_bad_arguments():
    with pytest.raises(TypeError, match="use_bias must be True or False"):
        Dense(2, use_bias="yes")
    with pytest.raises(TypeError, match="activity_regularizer must be a name or a scratchae Regularizer, got float"):
        Dense(2, activity_regularizer=0.01)
    with pytest.raises(TypeError, match="dtype must be one of"):
        Dense(2, dtype="int32")
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        Dense(2, input_dim=0)
    with pytest.raises(TypeError, match="input_dim must be a positive integer"):
        Dense(2, input_dim=True)
