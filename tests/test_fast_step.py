"""The fast step's kept arrays and skipped passes (scratchae.speed): the loss on logits into
arrays kept between steps (BUFFERED_LOSS), no zeroing when every gradient is written
(all_written). Each gives the plain numbers, bit for bit."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchae import autoencoders, speed
from scratchae.gradcheck.core import numerical_gradient
from scratchae.layers import Dense
from scratchae.losses import BinaryCrossentropy
from scratchae.models import Sequential
from scratchae.utils import set_random_seed


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def logits(seed, shape, dtype, scale):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * scale).astype(dtype)
    z.flat[:3] = [0.0, -0.0, 500.0][:z.size]              # the step's edge, and a saturated one
    return z, rng.uniform(0, 1, shape).astype(dtype)


# -- the loss on logits into kept arrays -------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 50), st.integers(0, 2**32 - 1), st.floats(0.1, 60),
       st.sampled_from([np.float32, np.float64]), st.sampled_from(["mean", "sum_over_pixels"]))
def test_buffered_loss_is_the_loss_on_logits_bit_for_bit(n, d, seed, scale, dtype, reduction):
    plain, kept = BinaryCrossentropy(from_logits=True, reduction=reduction), \
        speed.BufferedLogitsBCE(reduction=reduction)
    for k in range(3):                                     # the arrays reused, the shape changing
        z, y = logits(seed + k, (n if k != 1 else n + 1, d), dtype, scale)
        assert kept.forward(z, y) == plain.forward(z, y)
        assert same(kept.backward(), plain.backward())


def test_the_comparison_catches_a_gradient_a_rounding_apart():
    class Divided(speed.BufferedLogitsBCE):               # (p - y) / (N D), not (p - y) * (1 / (N D))
        def _backward(self, cache):
            p, y = cache
            return (p - y) / self.divisor(p)
    z, y = logits(0, (64, 50), np.float32, 3.0)
    wrong, plain = Divided(), BinaryCrossentropy(from_logits=True)
    assert wrong.forward(z, y) == plain.forward(z, y)
    assert not same(wrong.backward(), plain.backward())


def test_buffered_loss_known_answer_at_zero_logits():
    # z = 0: sigmoid 1/2, softplus(0) = log 2, so L = log 2 - y . 0 = log 2 for any y, and
    # dL/dz = (1/2 - y) / (N D)
    y = np.array([[0.0, 1.0, 0.25]])
    loss = speed.BufferedLogitsBCE()
    assert loss.forward(np.zeros((1, 3)), y) == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.5 / 3, -0.5 / 3, 0.25 / 3]], rtol=1e-15)


def test_buffered_loss_backward_finite_differences_float64():
    z, y = logits(4, (3, 5), np.float64, 2.0)
    z.flat[2] = 1.5                                        # no saturated entry for the differences
    loss = speed.BufferedLogitsBCE()
    loss.forward(z, y)
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda: speed.BufferedLogitsBCE().forward(z, y), z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-10)


def test_buffered_loss_still_checks_its_inputs():
    with pytest.raises(ValueError, match="targets y_true in \\[0, 1\\]"):
        speed.BufferedLogitsBCE().forward(np.zeros((2, 2), np.float32), np.full((2, 2), 255, np.float32))


# -- the step that fit runs ---------------------------------------------------------------------
def vanilla():
    return autoencoders.vanilla(hidden_size=8, code_size=4, input_dim=20, seed=0).model


X = np.random.default_rng(3).uniform(0, 1, (80, 20)).astype(np.float32)


def test_the_vanilla_step_skips_the_zeroing_and_keeps_its_loss_arrays_when_asked(monkeypatch):
    step = speed.step_for(vanilla())
    assert step.keywords["zero"] is False
    assert type(step.args[2]) is BinaryCrossentropy and step.args[2].from_logits   # off by default
    monkeypatch.setattr(speed, "BUFFERED_LOSS", True)
    assert isinstance(speed.step_for(vanilla()).args[2], speed.BufferedLogitsBCE)


def test_a_tied_kernel_is_zeroed_first():
    first = Dense(6, activation="relu", input_dim=6, seed=1)
    second = Dense(6, activation="sigmoid", seed=2)
    m = Sequential([first, second])
    second.params["kernel"] = first.params["kernel"]       # one array, two layers: added to
    m.compile("adam", "binary_crossentropy")
    assert speed.step_for(m).keywords["zero"] is True


def fit(monkeypatch, fast: bool):
    for switch in ("BUFFERED_LOSS", "BLAS_ADAM", "OVERLAP_ADAM"):
        monkeypatch.setattr(speed, switch, fast)
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", "1")
    set_random_seed(0)
    model = vanilla()
    if not fast:                                           # and zero the gradients every step
        monkeypatch.setattr(speed, "all_written", lambda *a: False)
    history = model.fit(X, X, batch_size=16, epochs=2, verbose=0)
    monkeypatch.undo()
    return history.history["loss"], model.get_weights()


def test_training_with_the_fast_pieces_is_the_plain_fast_step(monkeypatch):
    loss_fast, w_fast = fit(monkeypatch, True)
    loss_plain, w_plain = fit(monkeypatch, False)
    # the loss and the zeroing bit for bit; Adam in eight passes to float32 rounding
    np.testing.assert_allclose(loss_fast, loss_plain, rtol=1e-6)
    for a, b in zip(w_fast, w_plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_without_blas_adam_the_fast_pieces_train_bit_for_bit(monkeypatch):
    runs = []
    for fast in (True, False):
        monkeypatch.setattr(speed, "BUFFERED_LOSS", fast)
        monkeypatch.setattr(speed, "BLAS_ADAM", False)
        monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", "1")
        if not fast:
            monkeypatch.setattr(speed, "all_written", lambda *a: False)
        set_random_seed(0)
        model = vanilla()
        runs.append((model.fit(X, X, batch_size=16, epochs=2, verbose=0).history["loss"], model.get_weights()))
        monkeypatch.undo()
    (la, wa), (lb, wb) = runs
    assert la == lb
    assert all(same(a, b) for a, b in zip(wa, wb))


def test_skipping_the_zeroing_where_gradients_are_added_would_be_caught():
    """The deliberately wrong step: gradients added (not written) and never zeroed."""
    a, b = vanilla(), vanilla()
    adding = speed.training_pieces(a, input_gradient=False, write=False)
    writing = speed.training_pieces(b, input_gradient=False, write=True)
    for _ in range(3):
        speed.fast_step(a, adding, speed.training_loss(a), X[:16], X[:16], zero=False)
        speed.fast_step(b, writing, speed.training_loss(b), X[:16], X[:16], zero=False)
    assert not all(same(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


# -- Adam beside the backward, on a second thread (tried; off by default) -----------------------
def test_the_update_beside_the_backward_is_off_by_default():
    assert speed.OVERLAP_ADAM is False

def record_threads(monkeypatch):
    import threading
    from scratchae import blas_adam
    names = []
    real = blas_adam.eight_passes
    monkeypatch.setattr(blas_adam, "eight_passes",
                        lambda *a: names.append(threading.current_thread().name) or real(*a))
    return names


def train_overlap(monkeypatch, overlap: bool, threads: int = 1, hand_off: int = 0):
    monkeypatch.setattr(speed, "OVERLAP_ADAM", overlap)
    monkeypatch.setattr(speed, "HAND_OFF", hand_off)                # these layers are small
    monkeypatch.setattr(speed._blas, "current_threads", lambda: threads)
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", "1")
    set_random_seed(0)
    model = vanilla()
    loss = model.fit(X, X, batch_size=16, epochs=2, verbose=0).history["loss"]
    return loss, model.get_weights(), model.optimizer.get_state()


def test_the_vanilla_chain_steps_with_the_overlapped_update_when_asked(monkeypatch):
    assert speed.step_for(vanilla()).func is speed.fast_step
    monkeypatch.setattr(speed, "OVERLAP_ADAM", True)
    step = speed.step_for(vanilla())
    assert step.func is speed.overlapped_step and len(step.args[1]) == 4
    assert step.keywords["per_sample"] == 20 * 8          # the largest kernel's multiply-adds


def test_products_over_the_crossover_keep_the_update_after_the_backward(monkeypatch):
    # batch 16 x 160 multiply-adds = 2,560: over a crossover of 2,000, under one of 3,000
    names = record_threads(monkeypatch)
    monkeypatch.setattr(speed._blas, "CROSSOVER", 2_000)
    train_overlap(monkeypatch, True)
    assert names and not any(n.startswith("scratchae-adam") for n in names)
    names.clear()
    monkeypatch.setattr(speed._blas, "CROSSOVER", 3_000)
    train_overlap(monkeypatch, True)
    assert any(n.startswith("scratchae-adam") for n in names)


def test_overlapped_updates_train_bit_for_bit_as_after_the_backward(monkeypatch):
    names = record_threads(monkeypatch)
    loss_a, w_a, s_a = train_overlap(monkeypatch, True)
    on_second = [n for n in names if n.startswith("scratchae-adam")]
    assert len(on_second) == 3 * 10                     # 3 layers of 4, 10 steps
    names.clear()
    loss_b, w_b, s_b = train_overlap(monkeypatch, False)
    assert names and not any(n.startswith("scratchae-adam") for n in names)
    # bit for bit where OpenBLAS's axpby rounds as NumPy does (x86-64 here); to rounding anywhere
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for u, v in zip(w_a, w_b):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)
    assert sorted(s_a) == sorted(s_b)
    for k in s_a:
        np.testing.assert_allclose(s_a[k], s_b[k], rtol=1e-5, atol=1e-9)


def test_updates_under_hand_off_stay_on_this_thread(monkeypatch):
    names = record_threads(monkeypatch)
    # the layers: 20x8+8 = 168, 8x4+4 = 36, 4x8+8 = 40, 8x20+20 = 180 parameters
    train_overlap(monkeypatch, True, hand_off=170)
    on_second = [n for n in names if n.startswith("scratchae-adam")]
    assert len(on_second) == 10                          # the last layer's, 10 steps


def test_with_two_blas_threads_the_update_waits_for_the_backward(monkeypatch):
    names = record_threads(monkeypatch)
    train_overlap(monkeypatch, True, threads=2)
    assert names and not any(n.startswith("scratchae-adam") for n in names)


def test_what_is_not_a_plain_chain_steps_as_before():
    first = Dense(6, activation="relu", input_dim=6, seed=1)
    second = Dense(6, activation="sigmoid", seed=2)
    tied = Sequential([first, second])
    second.params["kernel"] = first.params["kernel"]
    tied.compile("adam", "binary_crossentropy")
    unpacked = vanilla()
    unpacked.compile("adam", "binary_crossentropy", pack_parameters=False)
    speed.OVERLAP_ADAM, keep = True, speed.OVERLAP_ADAM
    try:
        steps = [speed.step_for(m) for m in (tied, unpacked)]
    finally:
        speed.OVERLAP_ADAM = keep
    for step in steps:
        assert step.func is not speed.overlapped_step


def test_an_error_on_the_second_thread_is_raised_by_the_step(monkeypatch):
    import threading
    from scratchae import blas_adam
    real = blas_adam.eight_passes

    def failing(*a):
        if threading.current_thread().name.startswith("scratchae-adam"):
            raise FloatingPointError("on the second thread")
        return real(*a)
    monkeypatch.setattr(blas_adam, "eight_passes", failing)
    monkeypatch.setattr(speed._blas, "current_threads", lambda: 1)
    monkeypatch.setattr(speed, "HAND_OFF", 0)
    monkeypatch.setattr(speed, "OVERLAP_ADAM", True)
    model = vanilla()
    step = speed.step_for(model)
    with pytest.raises(FloatingPointError, match="second thread"):
        step(X[:16], X[:16])


def test_a_forked_child_gets_its_own_second_thread(monkeypatch):
    import os
    first = speed.second_thread()
    assert speed.second_thread() is first
    monkeypatch.setattr(os, "getpid", lambda: -1)           # as in a child forked after training
    child = speed.second_thread()
    assert child is not first and child.submit(lambda: 7).result(timeout=10) == 7
    child.shutdown()
    monkeypatch.undo()
    speed._second_thread = None                             # the next use makes this process's again
