"""Adam in eight passes (scratchae.blas_adam, switch speed.BLAS_ADAM) gives the readable
update's numbers: the same state, the same parameters, the same training."""
import numpy as np
import pytest

from scratchae import autoencoders, blas_adam, speed
from scratchae.optimizers import Adam
from scratchae.utils import set_random_seed

needs_blas = pytest.mark.skipif(not blas_adam.routines(), reason="NumPy's BLAS is not a bundled OpenBLAS")


def close(a, b, dtype):
    """Equal to a few roundings of the float type (bit for bit where no kernel fuses a
    multiply and an add)."""
    eps = np.finfo(dtype).eps
    return np.allclose(a, b, rtol=4 * eps, atol=4 * eps * float(np.max(np.abs(b))))


def pair(dtype, n, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) * rng.uniform(1e-3, 10) for _ in range(6)]
    return p, grads


def run(update, dtype, n=1000, seed=0, **adam):
    p, grads = pair(dtype, n, seed)
    opt = Adam(**adam)
    for g in grads:
        update(opt, p, g)
    return p, opt


def readable(opt, p, g):
    opt.apply([(speed.PACKED, p, g)])


def eight(opt, p, g):
    assert blas_adam.update(opt, speed.PACKED, p, g)


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eight_passes_give_the_readable_update(dtype, seed):
    adam = dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    p1, o1 = run(readable, dtype, seed=seed, **adam)
    p2, o2 = run(eight, dtype, seed=seed, **adam)
    assert p2.dtype == dtype and o2.iterations == o1.iterations == 6
    assert close(p2, p1, dtype)
    s1, s2 = o1.get_state(), o2.get_state()
    assert sorted(s1) == sorted(s2)                         # the same slots: files do not change
    for key in s1:
        assert s2[key].dtype == s1[key].dtype and close(s2[key], s1[key], dtype), key


def test_the_comparison_catches_a_wrong_update():
    def wrong(opt, p, g):                                   # beta_2 used for the first moment
        opt.beta_1, keep = opt.beta_2, opt.beta_1
        readable(opt, p, g)
        opt.beta_1 = keep
    p1, _ = run(readable, np.float32)
    p2, _ = run(wrong, np.float32)
    assert not close(p2, p1, np.float32)


@needs_blas
def test_first_step_known_answer():
    # t = 1: m = 0.1 g, v = 0.001 g^2, a_1 = lr sqrt(0.001) / 0.1, so the step is
    # lr * |g| sqrt(0.001) / (sqrt(0.001) |g| + eps) ~ lr against the sign of g, whatever |g|.
    w = np.array([1.0, -1.0, 2.0], dtype=np.float64)
    g = np.array([0.3, -20.0, 0.0], dtype=np.float64)
    opt = Adam(learning_rate=0.1)
    assert blas_adam.update(opt, "w", w, g)
    expected = [1.0 - 0.1 * 0.3 * 0.001 ** 0.5 / (0.001 ** 0.5 * 0.3 + 1e-7),
                -1.0 + 0.1 * 20 * 0.001 ** 0.5 / (0.001 ** 0.5 * 20 + 1e-7), 2.0]
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    np.testing.assert_allclose(opt.momentums["w"], 0.1 * g, rtol=1e-12)
    np.testing.assert_allclose(opt.velocities["w"], 0.001 * g * g, rtol=1e-12)


@pytest.mark.parametrize("why", ["float16", "strided", "2-D", "shapes"])
def test_it_declines_what_it_cannot_do_and_changes_nothing(why):
    p = np.ones(8, np.float32)
    g = np.ones(8, np.float32)
    if why == "float16":
        p, g = p.astype(np.float16), g.astype(np.float16)
    elif why == "strided":
        p, g = np.ones(16, np.float32)[::2], np.ones(16, np.float32)[::2]
    elif why == "2-D":
        p, g = p.reshape(2, 4), g.reshape(2, 4)
    else:
        g = np.ones(7, np.float32)
    before = p.copy()
    opt = Adam()
    assert blas_adam.update(opt, "w", p, g) is False
    assert opt.iterations == 0 and not opt.momentums and np.array_equal(p, before)


def train(monkeypatch, switch, batch=16):
    monkeypatch.setattr(speed, "BLAS_ADAM", switch)
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", "1")       # the same products both times
    x = np.random.default_rng(3).uniform(0, 1, (96, 20)).astype(np.float32)
    set_random_seed(0)                                      # the same shuffles
    model = autoencoders.vanilla(hidden_size=8, code_size=4, input_dim=20, seed=0).model
    history = model.fit(x, x, batch_size=batch, epochs=2, verbose=0)
    return history.history["loss"], model.get_weights(), model.optimizer


@needs_blas
def test_training_with_the_switch_gives_the_plain_update(monkeypatch):
    calls = []
    real = blas_adam.eight_passes
    monkeypatch.setattr(blas_adam, "eight_passes", lambda *a: calls.append(1) or real(*a))
    loss_on, w_on, opt_on = train(monkeypatch, True)
    assert len(calls) in (12, 48)          # 2 epochs of 6 steps, whole or per layer: it ran
    calls.clear()
    loss_off, w_off, opt_off = train(monkeypatch, False)
    assert not calls
    np.testing.assert_allclose(loss_on, loss_off, rtol=1e-6)
    for a, b in zip(w_on, w_off):
        assert close(a, b, np.float32)
    assert opt_on.iterations == opt_off.iterations == 12


def test_another_optimizer_or_a_subclass_runs_its_own_update(monkeypatch):
    class MyAdam(Adam):
        pass

    called = []
    monkeypatch.setattr(blas_adam, "update", lambda *a: called.append(1) or False)
    monkeypatch.setattr(blas_adam, "eight_passes", lambda *a: called.append(1))
    x = np.random.default_rng(3).uniform(0, 1, (32, 20)).astype(np.float32)
    for opt in (MyAdam(), "sgd"):
        model = autoencoders.vanilla(hidden_size=8, code_size=4, input_dim=20, seed=0,
                                     optimizer=opt).model
        model.fit(x, x, batch_size=16, epochs=1, verbose=0)
    assert not called
