"""BinaryCrossentropy (plain and from_logits) and MeanSquaredError: known answers, gradient
checks, the fused sigmoid + BCE against the unfused chain, saturation, dtypes and bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from scratchae import losses
from scratchae.activations import Sigmoid
from scratchae.gradcheck import check_piece
from scratchae.losses import BinaryCrossentropy, MeanSquaredError

GOOD = 1e-7
shapes = st.tuples(st.integers(1, 8), st.integers(1, 16))


# -- known answers --------------------------------------------------------------------------
def test_bce_known_values_and_gradient():
    bce = BinaryCrossentropy()
    p = np.array([[0.5, 0.9]])
    y = np.array([[1.0, 0.0]])
    # -ln(0.5) = ln 2 and -ln(1 - 0.9) = ln 10, averaged over the 2 elements
    assert bce.forward(p, y) == pytest.approx((math.log(2) + math.log(10)) / 2, rel=1e-12)
    # (p - y) / (p (1 - p)) / 2:  (-.5 / .25) / 2 = -1;  (.9 / .09) / 2 = 5
    np.testing.assert_allclose(bce.backward(), [[-1.0, 5.0]], rtol=1e-12)
    # an upstream scalar multiplies the gradient
    np.testing.assert_allclose(bce.backward(3.0), [[-3.0, 15.0]], rtol=1e-12)


def test_bce_single_half_is_ln2():
    assert BinaryCrossentropy().forward(np.array([[0.5]]), np.array([[1.0]])) == pytest.approx(
        math.log(2), rel=1e-14)


def test_bce_clips_probabilities_like_keras():
    bce = BinaryCrossentropy()
    p = np.array([[0.0, 1.0]])
    y = np.array([[1.0, 1.0]])
    # p = 0 is clipped to 1e-7: -ln(1e-7) = 7 ln 10; p = 1 is clipped to 1 - 1e-7: -ln(1 - 1e-7) ~ 1e-7
    expected = (7 * math.log(10) + -math.log1p(-1e-7)) / 2
    assert bce.forward(p, y) == pytest.approx(expected, rel=1e-9)
    # the clip is flat where it bites: gradient 0 there, and finite
    np.testing.assert_array_equal(bce.backward(), [[0.0, 0.0]])


def test_bce_from_logits_known_values():
    bce = BinaryCrossentropy(from_logits=True)
    z = np.array([[0.0, math.log(3.0)]])
    y = np.array([[1.0, 0.0]])
    # softplus(z) - y z:  softplus(0) - 0 = ln 2;  softplus(ln 3) = ln(1 + 3) = ln 4
    assert bce.forward(z, y) == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-12)
    # (sigmoid(z) - y) / 2:  (.5 - 1)/2 = -.25;  (.75 - 0)/2 = .375
    np.testing.assert_allclose(bce.backward(), [[-0.25, 0.375]], rtol=1e-12)


def test_mse_known_values_and_gradient():
    mse = MeanSquaredError()
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    true = np.array([[0.0, 2.0], [5.0, 4.0]])
    # differences 1, 0, -2, 0 -> squares 1, 0, 4, 0 -> mean 5/4
    assert mse.forward(pred, true) == pytest.approx(1.25, rel=1e-15)
    # 2 (pred - true) / 4
    np.testing.assert_allclose(mse.backward(), [[0.5, 0.0], [-1.0, 0.0]], rtol=1e-15)


def test_keras_call_order_is_y_true_then_y_pred():
    # BCE is not symmetric: loss(y_true=[1], y_pred=[.25]) = -ln .25 = ln 4
    assert BinaryCrossentropy()(np.array([[1.0]]), np.array([[0.25]])) == pytest.approx(math.log(4))


def test_names():
    assert isinstance(losses.get("binary_crossentropy"), BinaryCrossentropy)
    assert isinstance(losses.get("MSE"), MeanSquaredError)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        losses.get("hinge")


# -- gradient checks ------------------------------------------------------------------------
@st.composite
def pred_and_target(draw, lo, hi, link=lambda v: v, margin=0.1):
    """(prediction, target) with every |link(prediction) - target| >= margin, so no element of
    the gradient is a near-zero number whose relative error is only rounding noise."""
    shape = draw(shapes)
    pred = draw(arrays(np.float64, shape, elements=st.floats(lo, hi)))
    y = draw(arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    q = link(pred)
    y = np.where(np.abs(q - y) < margin, np.where(q > 0.5, 0.0, 1.0), y)
    return pred, y


@given(pred_and_target(0.05, 0.95))
def test_bce_gradient_check(args):
    # p in [0.05, 0.95]: the clip is inactive, and the central-difference truncation error
    # h^2/6 * |d^3 L/dp^3| (which grows like 1/p^3) stays far below 1e-7 relative
    p, y = args
    assert check_piece(BinaryCrossentropy(), p, y)["x"] < GOOD


@given(pred_and_target(-6.0, 6.0, link=lambda z: 1 / (1 + np.exp(-z))))
def test_bce_from_logits_gradient_check(args):
    z, y = args
    assert check_piece(BinaryCrossentropy(from_logits=True), z, y)["x"] < GOOD


@given(pred_and_target(-3.0, 3.0))
def test_mse_gradient_check(args):
    p, y = args
    # a quadratic: central differences are exact up to rounding, so a step of 1e-3 is fine
    assert check_piece(MeanSquaredError(), p, y, h=1e-3)["x"] < GOOD


# -- fused == unfused -----------------------------------------------------------------------
@given(data=st.data())
def test_fused_equals_unfused_chain_away_from_saturation(data):
    shape = data.draw(shapes)
    z = data.draw(arrays(np.float64, shape, elements=st.floats(-10.0, 10.0)))
    y = data.draw(arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    fused = BinaryCrossentropy(from_logits=True)
    value_f = fused.forward(z, y)
    grad_f = fused.backward()

    sig, plain = Sigmoid(), BinaryCrossentropy()
    p = sig.forward(z)                          # |z| < 10: p within [4.5e-5, 1 - 4.5e-5], no clip
    value_u = plain.forward(p, y)
    grad_u = sig.backward(plain.backward())

    assert value_f == pytest.approx(value_u, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(grad_f, grad_u, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_is_finite_and_exact_at_huge_logits(dtype):
    bce = BinaryCrossentropy(from_logits=True)
    z = np.array([[1000.0, -1000.0, 1000.0, -1000.0]], dtype=dtype)
    y = np.array([[0.0, 1.0, 1.0, 0.0]], dtype=dtype)
    value = bce.forward(z, y)       # any RuntimeWarning (overflow, log(0)) is an error here
    # per element: softplus(1000) - 0 = 1000; softplus(-1000) + 1000 = 1000; 1000 - 1000 = 0; 0
    assert value == pytest.approx((1000 + 1000 + 0 + 0) / 4, rel=1e-12)
    g = bce.backward()
    assert g.dtype == dtype and np.all(np.isfinite(g))
    # (sigmoid(z) - y) / 4: (1 - 0)/4, (0 - 1)/4, (1 - 1)/4, (0 - 0)/4
    np.testing.assert_allclose(g, [[0.25, -0.25, 0.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_wrong_and_confident(dtype):
    bce = BinaryCrossentropy(from_logits=True)
    z = np.full((2, 3), 1000.0, dtype=dtype)
    y = np.zeros((2, 3), dtype=dtype)
    assert bce.forward(z, y) == 1000.0                  # each element: 1000, the mean: 1000
    np.testing.assert_allclose(bce.backward(), np.full((2, 3), 1 / 6), rtol=1e-6)   # (1 - 0)/(N D)


# -- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [BinaryCrossentropy, lambda: BinaryCrossentropy(from_logits=True),
                                  MeanSquaredError], ids=["bce", "bce_logits", "mse"])
def test_gradient_dtype_is_kept(make, dtype):
    loss = make()
    pred = np.array([[0.2, 0.7], [0.4, 0.9]], dtype=dtype)
    true = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)
    value = loss.forward(pred, true)
    assert isinstance(value, float)
    assert loss.backward().dtype == dtype
    assert loss.backward(2.0).dtype == dtype


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [BinaryCrossentropy, lambda: BinaryCrossentropy(from_logits=True),
                                  MeanSquaredError], ids=["bce", "bce_logits", "mse"])
def test_backward_before_forward(make):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        make().backward()


def test_shape_mismatch_empty_and_non_arrays():
    bce = BinaryCrossentropy()
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(3, 2\)"):
        bce.forward(np.full((2, 3), 0.5), np.ones((3, 2)))
    with pytest.raises(ValueError, match="empty"):
        bce.forward(np.ones((0, 3)), np.ones((0, 3)))
    with pytest.raises(TypeError, match="must be NumPy arrays"):
        bce.forward([[0.5]], np.ones((1, 1)))
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        BinaryCrossentropy(from_logits="yes")


def test_bce_targets_outside_unit_interval_are_rejected():
    # BCE targets outside [0, 1] (images not divided by 255) get a clear ValueError
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BinaryCrossentropy().forward(np.full((1, 2), 0.5), np.array([[0.0, 255.0]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_targets_are_rejected(bad):
    # NaN or inf in the targets gets a ValueError naming the problem (not a nan loss)
    with pytest.raises(ValueError, match="y_true holds NaN or infinite"):
        MeanSquaredError().forward(np.array([[0.5, 0.5]]), np.array([[0.0, bad]]))


@pytest.mark.parametrize("loss", [MeanSquaredError(), BinaryCrossentropy(), BinaryCrossentropy(from_logits=True)])
def test_non_finite_predictions_give_a_non_finite_loss(loss):
    # a diverged model's output: the loss says so with its value (the model then stops with
    # an error naming the epoch and batch), as Keras and PyTorch losses do
    with np.errstate(invalid="ignore"):
        value = loss.forward(np.array([[0.5, np.nan]]), np.array([[0.0, 1.0]]))
    assert np.isnan(value)


# -- reduction="sum_over_pixels": nats per image ----------------------------------------------
def test_sum_over_pixels_known_values():
    p = np.array([[0.5, 0.9], [0.5, 0.5]])
    y = np.array([[1.0, 0.0], [1.0, 1.0]])
    bce = BinaryCrossentropy(reduction="sum_over_pixels")
    # image 1: ln 2 + ln 10; image 2: 2 ln 2; averaged over the 2 images
    assert bce.forward(p, y) == pytest.approx((3 * math.log(2) + math.log(10)) / 2, rel=1e-14)
    # (p - y) / (p (1 - p)) / N, N = 2:  -2/2, 10/2; -2/2, -2/2
    np.testing.assert_allclose(bce.backward(), [[-1.0, 5.0], [-1.0, -1.0]], rtol=1e-12)
    logits = BinaryCrossentropy(from_logits=True, reduction="sum_over_pixels")
    z = np.array([[0.0, 0.0, 0.0]])
    assert logits.forward(z, np.ones((1, 3))) == pytest.approx(3 * math.log(2), rel=1e-14)
    np.testing.assert_allclose(logits.backward(), [[-0.5, -0.5, -0.5]])      # sigmoid(0) - 1, N = 1
    mse = MeanSquaredError(reduction="sum_over_pixels")
    assert mse.forward(np.array([[1.0, 2.0], [0.0, 0.0]]), np.zeros((2, 2))) == pytest.approx(2.5)
    np.testing.assert_allclose(mse.backward(), [[1.0, 2.0], [0.0, 0.0]])     # 2 (p - y) / N


@given(pred_and_target(0.05, 0.95))
def test_sum_over_pixels_is_the_mean_times_the_pixels(args):
    p, y = args
    for make in (BinaryCrossentropy, MeanSquaredError):
        mean, summed = make(), make(reduction="sum_over_pixels")
        assert summed.forward(p, y) == pytest.approx(p.shape[1] * mean.forward(p, y), rel=1e-12)
        np.testing.assert_allclose(summed.backward(), p.shape[1] * mean.backward(), rtol=1e-12)
    z = np.log(p / (1 - p))
    a, b = BinaryCrossentropy(True), BinaryCrossentropy(True, reduction="sum_over_pixels")
    assert b.forward(z, y) == pytest.approx(p.shape[1] * a.forward(z, y), rel=1e-12)


@given(pred_and_target(0.05, 0.95))
def test_sum_over_pixels_gradient_check(args):
    p, y = args
    assert check_piece(BinaryCrossentropy(reduction="sum_over_pixels"), p, y)["x"] < GOOD
    assert check_piece(MeanSquaredError(reduction="sum_over_pixels"), p, y, h=1e-3)["x"] < GOOD


def test_reduction_config_and_bad_values():
    bce = BinaryCrossentropy(reduction="sum_over_pixels")
    assert bce.get_config() == {"class_name": "BinaryCrossentropy", "from_logits": False,
                                "reduction": "sum_over_pixels"}
    assert BinaryCrossentropy().get_config() == {"class_name": "BinaryCrossentropy", "from_logits": False}
    assert losses.from_config(bce.get_config()).reduction == "sum_over_pixels"
    assert losses.from_config(MeanSquaredError(reduction="sum_over_pixels").get_config()).reduction \
        == "sum_over_pixels"
    assert "reduction='sum_over_pixels'" in repr(bce)
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum_over_pixels', got 'sum'"):
        BinaryCrossentropy(reduction="sum")


def test_the_fused_training_loss_keeps_the_reduction():
    """The fast path's loss on logits sums over pixels too, and is made anew after a compile."""
    from scratchae import speed
    from scratchae.layers import Dense, Input
    from scratchae.models import Model
    x = Input(shape=(3,))
    model = Model(x, Dense(3, activation="sigmoid", seed=0)(x))
    model.compile("adam", BinaryCrossentropy())
    assert speed.training_loss(model).reduction == "mean"
    model.compile("adam", BinaryCrossentropy(reduction="sum_over_pixels"))
    fused = speed.training_loss(model)
    assert fused.from_logits and fused.reduction == "sum_over_pixels"
    xs = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    plain = model.evaluate(xs, xs)
    assert model.train_on_batch(xs, xs) == pytest.approx(plain, rel=1e-5)
