"""The training fast path gives the same numbers as the readable pieces it replaces."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from scratchae.activations import sigmoid
from scratchae.layers import Dense
from scratchae.losses import (BinaryCrossentropy, fused_sigmoid_bce_grad,
                              sigmoid_bce_from_logits)
from scratchae.models import Sequential
from scratchae.regularizers import l1


@given(st.integers(1, 8), st.integers(1, 16), st.integers(0, 2**32 - 1), st.floats(0.1, 30))
def test_sigmoid_bce_from_logits_matches_the_separate_pieces(n, d, seed, scale):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d)) * scale
    y = rng.uniform(0, 1, (n, d))
    p, value = sigmoid_bce_from_logits(z, y)
    np.testing.assert_allclose(p, sigmoid(z), rtol=1e-12, atol=0)
    np.testing.assert_allclose(value, BinaryCrossentropy(from_logits=True)(y, z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_bce_from_logits_at_huge_logits(dtype):
    # z = +-1000 with the "wrong" targets: per-element loss 1000 each, p exactly 1 and 0
    z = np.array([[1000.0, -1000.0]], dtype=dtype)
    y = np.array([[0.0, 1.0]], dtype=dtype)
    p, value = sigmoid_bce_from_logits(z, y)
    assert p.dtype == dtype
    np.testing.assert_array_equal(p, [[1.0, 0.0]])
    assert value == pytest.approx(1000.0, rel=1e-6)


def test_fused_grad_is_the_from_logits_backward():
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((4, 5)), rng.uniform(0, 1, (4, 5))
    bce = BinaryCrossentropy(from_logits=True)
    bce.forward(z, y)
    np.testing.assert_allclose(fused_sigmoid_bce_grad(sigmoid(z), y), bce.backward(), rtol=1e-12)


@pytest.mark.parametrize("penalty_on_last", [False, True])
def test_model_fast_path_equals_the_plain_chain(penalty_on_last):
    """Loss and every gradient: fused fast path == Sigmoid.backward(BCE.backward()) chain."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, (6, 10))

    def build():
        m = Sequential([Dense(4, activation="relu", input_dim=10, dtype="float64", seed=1),
                        Dense(10, activation="sigmoid", dtype="float64", seed=2,
                              activity_regularizer=l1(0.01) if penalty_on_last else None)])
        m.compile("sgd", "binary_crossentropy")
        return m

    fast, plain = build(), build()
    plain._fused = lambda: False           # the unfused pieces: clipped BCE, Sigmoid.backward
    assert fast._fused()
    loss_fast, g_fast = fast.compute_gradients(x, x)
    loss_plain, g_plain = plain.compute_gradients(x, x)
    assert loss_fast == pytest.approx(loss_plain, rel=1e-12)
    assert len(g_fast) == len(g_plain) == 4
    for a, b in zip(g_fast.values(), g_plain.values()):     # same layer order, own names
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)


def test_fast_path_training_matches_the_plain_chain_in_float32():
    """A few epochs in float32: the same losses to float32 rounding."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (64, 12)).astype(np.float32)
    histories = []
    for fused in (True, False):
        m = Sequential([Dense(5, activation="relu", input_dim=12, seed=1),
                        Dense(12, activation="sigmoid", seed=2)])
        m.compile("adam", "binary_crossentropy")
        if not fused:
            m._fused = lambda: False
        histories.append(m.fit(x, x, epochs=3, batch_size=8, seed=0, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
