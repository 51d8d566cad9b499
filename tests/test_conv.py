"""Conv2D: the hand-worked example of docs/backprop.md#conv2d, the naive loops equal to the
im2col path (hypothesis), the input gradient as a full convolution with the flipped kernel,
float64 finite differences of both implementations, two wrong backwards caught, Keras's
sizes and 'same' padding, the Glorot fans of a conv kernel, and shapes refused."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from scratchae.conv_fast import conv2d_backward_fast, conv2d_forward_fast
from scratchae.conv_naive import conv2d_backward_naive, conv2d_forward_naive, input_gradient_by_flip
from scratchae.gradcheck import check_layer
from scratchae.layers import LAYERS, Conv2D
from scratchae.windows import output_size, padding_amounts

# -- the example worked by hand (the same numbers are in docs/backprop.md#conv2d) ---------------
X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).reshape(1, 3, 3, 1)
K = np.array([[1.0, 2.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
B = np.array([0.5])
DY = np.array([[1.0, -1.0], [2.0, 0.0]]).reshape(1, 2, 2, 1)
# y[i, j] = x[i, j] + 2 x[i, j+1] - x[i+1, j+1] + 0.5
Y_HAND = [[1 + 4 - 5 + 0.5, 2 + 6 - 6 + 0.5], [4 + 10 - 8 + 0.5, 5 + 12 - 9 + 0.5]]   # 0.5 2.5 6.5 8.5
DB_HAND = [1 - 1 + 2 + 0]
# dK[a, b] = sum_ij dy[i, j] x[i + a, j + b]
DK_HAND = [[1 * 1 - 1 * 2 + 2 * 4, 1 * 2 - 1 * 3 + 2 * 5], [1 * 4 - 1 * 5 + 2 * 7, 1 * 5 - 1 * 6 + 2 * 8]]
# dx = sum_ij dy[i, j] K placed with its corner at (i, j): K - K shifted right + 2 K shifted down
DX_HAND = [[1, 2 - 1, -2], [0 + 2, -1 + 4, 1], [0, -2, 0]]


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_known_answer_by_hand(impl):
    if impl == "naive":
        y = conv2d_forward_naive(X, K, B)
        dx, dk, db = conv2d_backward_naive(DY, X, K)
    else:
        y, cache = conv2d_forward_fast(X, K, B)
        dx, dk, db = conv2d_backward_fast(DY, cache, K)
    np.testing.assert_allclose(y[0, :, :, 0], Y_HAND, rtol=0, atol=1e-13)
    np.testing.assert_allclose(dk[:, :, 0, 0], DK_HAND, rtol=0, atol=1e-13)
    np.testing.assert_allclose(db, DB_HAND, rtol=0, atol=1e-13)
    np.testing.assert_allclose(dx[0, :, :, 0], DX_HAND, rtol=0, atol=1e-13)


def test_known_answer_through_the_layer_accumulates():
    layer = Conv2D(1, (2, 2), dtype="float64", name="c")
    layer.build((3, 3, 1))
    layer.set_weights([K, B])
    np.testing.assert_allclose(layer.forward(X)[0, :, :, 0], Y_HAND, atol=1e-13)
    dx = layer.backward(DY)
    np.testing.assert_allclose(dx[0, :, :, 0], DX_HAND, atol=1e-13)
    layer.forward(X)
    layer.backward(DY)                                       # backward adds: twice the gradient
    np.testing.assert_allclose(layer.grads["kernel"][:, :, 0, 0], 2 * np.array(DK_HAND), atol=1e-13)
    np.testing.assert_allclose(layer.grads["bias"], [4.0], atol=1e-13)


def test_the_input_gradient_is_the_full_convolution_with_the_flipped_kernel():
    np.testing.assert_allclose(input_gradient_by_flip(DY, K, (3, 3))[0, :, :, 0], DX_HAND, atol=1e-13)
    # without the flip the "gradient" is another array: the classic mistake
    unflipped = conv2d_forward_naive(np.pad(DY, ((0, 0), (1, 1), (1, 1), (0, 0))), K, None)
    assert not np.allclose(unflipped[0, :, :, 0], DX_HAND)


# -- Keras's sizes and 'same' padding ------------------------------------------------------------
def test_keras_output_sizes_and_same_padding():
    assert output_size(28, 3, 1, "same") == 28 and padding_amounts(28, 3, 1, "same") == (1, 1)
    assert output_size(28, 3, 1, "valid") == 26 and padding_amounts(28, 3, 1, "valid") == (0, 0)
    assert output_size(16, 3, 1, "valid") == 14                     # the blog's one valid layer
    # stride 2: out = ceil(n / s); an odd total padding puts the extra zero at the bottom/right
    assert output_size(7, 3, 2, "same") == 4 and padding_amounts(7, 3, 2, "same") == (1, 1)
    assert output_size(8, 3, 2, "same") == 4 and padding_amounts(8, 3, 2, "same") == (0, 1)
    assert output_size(5, 4, 1, "same") == 5 and padding_amounts(5, 4, 1, "same") == (1, 2)
    assert output_size(7, 2, 3, "valid") == 2
    layer = Conv2D(4, 3, strides=2, padding="same")
    assert layer.compute_output_shape((8, 7, 3)) == (4, 4, 4)


def test_same_padding_puts_the_extra_zero_at_the_bottom_and_right():
    # input 2x2 of ones, kernel 2x2 of ones, stride 1, 'same': one zero row below, one column
    # right (not above/left), so y[0, 0] sums the whole input and y[1, 1] only x[1, 1]
    y = conv2d_forward_naive(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)), None, (1, 1), "same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[4.0, 2.0], [2.0, 1.0]])


# -- naive == fast, on random shapes --------------------------------------------------------------
@st.composite
def conv_cases(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    lo_h, lo_w = (kh, kw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(lo_h, 7)), draw(st.integers(lo_w, 7))
    seed = draw(st.integers(0, 2**16))
    return n, h, w, c, f, (kh, kw), (sh, sw), padding, seed


@given(conv_cases())
def test_naive_equals_fast(case):
    n, h, w, c, f, (kh, kw), strides, padding, seed = case
    rng = np.random.default_rng(seed)
    x, k, b = rng.normal(size=(n, h, w, c)), rng.normal(size=(kh, kw, c, f)), rng.normal(size=f)
    y_naive = conv2d_forward_naive(x, k, b, strides, padding)
    y_fast, cache = conv2d_forward_fast(x, k, b, strides, padding)
    assert y_fast.shape == y_naive.shape == (n, output_size(h, kh, strides[0], padding),
                                             output_size(w, kw, strides[1], padding), f)
    np.testing.assert_allclose(y_fast, y_naive, rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y_naive.shape)
    naive = conv2d_backward_naive(dy, x, k, strides, padding)
    fast = conv2d_backward_fast(dy, cache, k)
    for name, a, b_ in zip(("dx", "dkernel", "dbias"), naive, fast):
        assert a.shape == b_.shape, name
        np.testing.assert_allclose(b_, a, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(input_gradient_by_flip(dy, k, (h, w), strides, padding), naive[0],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c, f", [(6, 1), (1, 6)], ids=["flip-form", "col2im-form"])
def test_both_forms_of_the_fast_input_gradient(c, f, monkeypatch):
    """Stride 1: the fast backward takes the full correlation with the flipped kernel when F is
    small against C (the blog's last layer), col2im otherwise; both equal the loops."""
    import scratchae.conv_fast as fast

    used = []
    real = fast.full_correlation
    monkeypatch.setattr(fast, "full_correlation", lambda *a: used.append(1) or real(*a))
    rng = np.random.default_rng(5)
    x, k = rng.normal(size=(2, 6, 5, c)), rng.normal(size=(3, 3, c, f))
    y, cache = conv2d_forward_fast(x, k, None, (1, 1), "same")
    dy = rng.normal(size=y.shape)
    dx = fast.conv2d_backward_fast(dy, cache, k)[0]
    np.testing.assert_allclose(dx, conv2d_backward_naive(dy, x, k, (1, 1), "same")[0], rtol=1e-12, atol=1e-12)
    assert bool(used) == (f < c)


def test_the_layer_switch_gives_the_same_numbers():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 5, 3))
    layers = [Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu", seed=1,
                     implementation=impl, dtype="float64") for impl in ("naive", "fast")]
    ys = [l.forward(x) for l in layers]
    np.testing.assert_array_equal(layers[0].params["kernel"], layers[1].params["kernel"])
    np.testing.assert_allclose(ys[0], ys[1], rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=ys[0].shape)
    dxs = [l.backward(dy) for l in layers]
    np.testing.assert_allclose(dxs[0], dxs[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layers[0].grads["kernel"], layers[1].grads["kernel"], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="'fast' or 'naive'"):
        Conv2D(2, 3, implementation="im2col")


# -- finite differences --------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("strides, padding, activation", [
    ((1, 1), "same", "relu"), ((2, 2), "same", "sigmoid"), ((2, 1), "valid", None)],
    ids=["s1-same-relu", "s2-same-sigmoid", "s21-valid-linear"])
def test_finite_differences(impl, strides, padding, activation):
    layer = Conv2D(3, (3, 2), strides=strides, padding=padding, activation=activation, seed=0,
                   implementation=impl, dtype="float64", name="conv")
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 2))
    rep = check_layer(layer, x)
    assert rep.ok, str(rep)
    assert {r.name for r in rep.rows} >= {"conv/x", "conv/kernel", "conv/bias"}
    assert rep.worst.error < 1e-7, str(rep)


def test_finite_differences_of_a_float32_layer_on_its_float64_copy():
    layer = Conv2D(2, 3, padding="same", activation="relu", seed=0, input_shape=(4, 4, 3))
    rep = check_layer(layer, np.random.default_rng(2).normal(size=(1, 4, 4, 3)).astype(np.float32))
    assert rep.ok, str(rep)
    assert layer.params["kernel"].dtype == np.float32                   # yours is unchanged


class NoFlip(Conv2D):
    """The classic mistake: dx as the full correlation with the kernel *not* flipped."""

    def backward(self, dy):
        dx = super().backward(dy)
        k = self.params["kernel"]
        full = np.pad(self.activation.backward(dy), ((0, 0), (k.shape[0] - 1,) * 2, (k.shape[1] - 1,) * 2, (0, 0)))
        wrong = conv2d_forward_naive(full, k.transpose(0, 1, 3, 2), None)
        return wrong[:, :dx.shape[1], :dx.shape[2], :]


class WrongChannels(Conv2D):
    """The flip done, but the channel axes reshaped instead of swapped: each input channel's
    gradient sums the wrong slices of the kernel."""

    def backward(self, dy):
        dx = super().backward(dy)
        k = self.params["kernel"]
        kh, kw, c, f = k.shape
        full = np.pad(self.activation.backward(dy), ((0, 0), (kh - 1,) * 2, (kw - 1,) * 2, (0, 0)))
        return conv2d_forward_naive(full, k[::-1, ::-1].reshape(kh, kw, f, c), None)


@pytest.mark.parametrize("cls", [NoFlip, WrongChannels], ids=["no-flip", "wrong-channels"])
def test_the_check_catches_a_wrong_input_gradient(cls):
    x = np.random.default_rng(4).normal(size=(2, 4, 4, 2))
    good = check_layer(Conv2D(3, (2, 2), seed=0, dtype="float64", name="bad"), x)
    assert good.ok, str(good)
    rep = check_layer(cls(3, (2, 2), seed=0, dtype="float64", name="bad"), x)
    assert not rep.ok
    failed = [r.name for r in rep.rows if r.verdict == "wrong"]
    assert failed == ["bad/x"], str(rep)              # the kernel and bias gradients stay right


# -- building, shapes refused, config ------------------------------------------------------------
def test_shapes_refused_with_clear_errors():
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than its input \(3, 3\).*valid"):
        Conv2D(2, 5).build((3, 3, 1))
    Conv2D(2, 5, padding="same").build((3, 3, 1))                        # 'same' pads it
    layer = Conv2D(2, 3, name="c")
    layer.build((8, 8, 3))
    with pytest.raises(ValueError, match=r"c has a kernel \(3, 3, 3, 2\) for inputs with 3 channel\(s\), got 1"):
        layer.forward(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"4-D input \(N, height, width, channels\).*\(2, 8, 8\).*channel axis"):
        layer.forward(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="4-D input"):
        layer.forward(np.zeros((2, 64), np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        layer.forward(1.0)
    with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
        Conv2D(2, 3).build((784,))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="filters"):
        Conv2D(0, 3)
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2D(1, 1, input_shape=(2, 2, 1)).backward(np.zeros((1, 2, 2, 1)))
    out = layer.forward(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 6, 6, 2\)"):
        layer.backward(np.zeros((1, 6, 6, 3)))
    assert out.dtype == np.float32


def test_glorot_uniform_fans_of_a_conv_kernel():
    layer = Conv2D(32, (3, 3), seed=0)
    layer.build((10, 10, 16))
    k = layer.params["kernel"]
    assert k.shape == (3, 3, 16, 32) and layer.params["bias"].shape == (32,)
    limit = math.sqrt(6.0 / (3 * 3 * 16 + 3 * 3 * 32))         # fan_in = kh kw in, fan_out = kh kw out
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.99 * limit     # 4,608 draws fill it
    assert abs(k.std() - limit / math.sqrt(3)) < 0.03 * limit
    np.testing.assert_array_equal(layer.params["bias"], 0.0)


def test_config_round_trip_and_registry():
    layer = Conv2D(4, (3, 2), strides=(2, 1), padding="SAME", activation="relu", use_bias=False,
                   implementation="naive", name="c7")
    cfg = layer.get_config()
    assert cfg["padding"] == "same" and cfg["kernel_size"] == [3, 2] and cfg["strides"] == [2, 1]
    again = LAYERS["Conv2D"].from_config(cfg)
    assert again.get_config() == cfg
    assert again.kernel_size == (3, 2) and again.implementation == "naive" and not again.use_bias
    assert Conv2D(2, 3).name.startswith("conv2d")                        # Keras's default name
