"""MaxPooling2D's vectorised backward against a loop over windows written here, on random
shapes with many ties (small integers), and its two special cases: inputs left out of every
window, and a non-finite dy (inf * 0 would be NaN: the other inputs must still get 0)."""
import numpy as np
from hypothesis import given, settings, strategies as st

from scratchae.layers import MaxPooling2D
from scratchae.windows import geometry


def pool_loops(x, dy, pool, strides, padding):
    """y and dx by loops: each window's first max (row-major) gets dy, as np.argmax picks it."""
    n, h, w, c = x.shape
    (ho, wo), ((top, _), (left, _)) = geometry((h, w), pool, strides, padding)
    y, dx = np.zeros((n, ho, wo, c)), np.zeros_like(x)
    for s in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    best, where = -np.inf, None
                    for a in range(pool[0]):
                        for b in range(pool[1]):
                            p, q = i * strides[0] + a - top, j * strides[1] + b - left
                            if 0 <= p < h and 0 <= q < w and x[s, p, q, ch] > best:
                                best, where = x[s, p, q, ch], (p, q)
                    y[s, i, j, ch] = best
                    dx[s, where[0], where[1], ch] += dy[s, i, j, ch]
    return y, dx


@st.composite
def pool_cases(draw):
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    h, w = draw(st.integers(pool[0], 7)), draw(st.integers(pool[1], 7))
    return (draw(st.integers(1, 2)), h, w, draw(st.integers(1, 3)), pool, strides, padding,
            draw(st.integers(0, 2**16)))


@settings(max_examples=60, deadline=None)
@given(pool_cases())
def test_the_backward_equals_a_loop_over_windows_with_ties(case):
    n, h, w, c, pool, strides, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(n, h, w, c)).astype(np.float64)          # ties everywhere
    layer = MaxPooling2D(pool, strides=strides, padding=padding, dtype="float64")
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    want_y, want_dx = pool_loops(x, dy, pool, strides, padding)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_allclose(layer.backward(dy), want_dx, rtol=1e-14, atol=1e-14)


def test_inputs_in_no_window_get_zero():
    x = np.arange(25.0).reshape(1, 5, 5, 1)                 # 'valid' 2x2: row 4 and column 4 unread
    layer = MaxPooling2D((2, 2), dtype="float64")
    layer.forward(x)
    dx = layer.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[0, 0, 0, 0, 0], [0, 1, 0, 1, 0], [0, 0, 0, 0, 0],
                                       [0, 1, 0, 1, 0], [0, 0, 0, 0, 0]])


def test_an_infinite_dy_reaches_the_max_only():
    layer = MaxPooling2D((2, 2), dtype="float64")
    layer.forward(np.array([[1.0, 2.0], [3.0, 3.0]]).reshape(1, 2, 2, 1))
    dx = layer.backward(np.full((1, 1, 1, 1), np.inf))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[0, 0], [np.inf, 0]])          # no NaN from inf * 0
