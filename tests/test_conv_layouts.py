"""The fast convolution's two layouts, each forced, equal to the loops of conv_naive.py.

`conv2d_forward_fast` chooses im2col (the windows copied as rows, then one product) or shift
(one product per pixel, then kh kw shifted adds) by which moves fewer numbers; both must give
the naive loops' numbers, forward and backward, whichever the choice would have been.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchae.conv_fast import choose_layout, conv2d_backward_fast, conv2d_forward_fast
from scratchae.conv_naive import conv2d_backward_naive, conv2d_forward_naive

# the example worked by hand in tests/test_conv.py and docs/backprop.md#conv2d
X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).reshape(1, 3, 3, 1)
K = np.array([[1.0, 2.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
DY = np.array([[1.0, -1.0], [2.0, 0.0]]).reshape(1, 2, 2, 1)


@pytest.mark.parametrize("layout", ["im2col", "shift"])
def test_known_answer_by_hand_in_each_layout(layout):
    y, cache = conv2d_forward_fast(X, K, np.array([0.5]), layout=layout)
    assert cache.layout == layout
    np.testing.assert_allclose(y[0, :, :, 0], [[0.5, 2.5], [6.5, 8.5]], atol=1e-13)
    dx, dk, db = conv2d_backward_fast(DY, cache, K)
    np.testing.assert_allclose(dk[:, :, 0, 0], [[7, 9], [13, 15]], atol=1e-13)
    np.testing.assert_allclose(db, [2.0], atol=1e-13)
    np.testing.assert_allclose(dx[0, :, :, 0], [[1, 1, -2], [2, 3, 1], [0, -2, 0]], atol=1e-13)


@st.composite
def stride_one_cases(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    lo_h, lo_w = (kh, kw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(lo_h, 7)), draw(st.integers(lo_w, 7))
    return n, h, w, c, f, (kh, kw), padding, draw(st.sampled_from(["im2col", "shift"])), \
        draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(stride_one_cases())
def test_each_layout_equals_the_loops(case):
    n, h, w, c, f, window, padding, layout, seed = case
    rng = np.random.default_rng(seed)
    x, k, b = rng.normal(size=(n, h, w, c)), rng.normal(size=(*window, c, f)), rng.normal(size=f)
    y, cache = conv2d_forward_fast(x, k, b, (1, 1), padding, layout=layout)
    np.testing.assert_allclose(y, conv2d_forward_naive(x, k, b, (1, 1), padding), rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y.shape)
    for name, want, got in zip(("dx", "dkernel", "dbias"), conv2d_backward_naive(dy, x, k, (1, 1), padding),
                               conv2d_backward_fast(dy, cache, k)):
        assert want.shape == got.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)
    assert conv2d_backward_fast(dy, cache, k, dx=False)[0] is None


def test_the_choice_follows_the_numbers_moved():
    # the blog's layers: (C, F, padded input, output)
    assert choose_layout(16, 1, (30, 30), (28, 28), (1, 1)) == "shift"      # output
    assert choose_layout(16, 8, (16, 16), (14, 14), (1, 1)) == "shift"      # encoder_conv_2
    assert choose_layout(1, 16, (30, 30), (28, 28), (1, 1)) == "im2col"     # encoder_conv_1
    assert choose_layout(8, 16, (16, 16), (14, 14), (1, 1)) == "im2col"     # decoder_conv_3
    assert choose_layout(16, 1, (30, 30), (14, 14), (2, 2)) == "im2col"     # strides: im2col only


def test_a_float32_shift_forward_keeps_its_dtype_and_the_wrong_layouts_are_refused():
    x = np.ones((1, 5, 5, 4), dtype=np.float32)
    k = np.ones((3, 3, 4, 1), dtype=np.float32)
    y, _ = conv2d_forward_fast(x, k, np.zeros(1, np.float32), (1, 1), "same", layout="shift")
    assert y.dtype == np.float32 and y[0, 2, 2, 0] == 36 and y[0, 0, 0, 0] == 16
    with pytest.raises(ValueError, match="'shift' with strides"):
        conv2d_forward_fast(x, k, None, (2, 2), "same", layout="shift")
    with pytest.raises(ValueError, match="layout must be"):
        conv2d_forward_fast(x, k, None, (1, 1), "same", layout="fft")
