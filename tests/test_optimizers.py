"""Adam and SGD against their closed forms (Keras's), state and dtypes, bad arguments."""
import math

import numpy as np
import pytest

from scratchae import optimizers
from scratchae.optimizers import SGD, Adam

P0 = [0.5, -1.0, 2.0]


def grad_at(t):
    """A gradient that changes every step (t = 1, 2, ...), as plain Python floats."""
    return [0.3 * t - 1.0, 2.0 / t, -0.05 * (-1) ** t]


# -- Adam -----------------------------------------------------------------------------------
def test_adam_first_step_moves_each_weight_by_about_lr():
    lr = 0.1
    w = np.array([1.0, 1.0, 1.0, 1.0])
    g = np.array([1e-2, -1.0, 1e3, -1e2])          # five orders of magnitude apart
    Adam(learning_rate=lr).apply([("w", w, g)])
    # step 1: m = .1 g, v = .001 g^2, a_1 = lr sqrt(.001) / .1, so the step is
    # lr * sqrt(.001)|g| / (sqrt(.001)|g| + 1e-7) * sign(g) = lr * sign(g) * (1 - <3.2e-4)
    np.testing.assert_allclose(w, 1.0 - lr * np.sign(g), rtol=1e-3)


def test_adam_ten_steps_against_closed_form():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    opt = Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    w = np.array(P0)
    p, m, v = list(P0), [0.0] * 3, [0.0] * 3
    for t in range(1, 11):
        g = grad_at(t)
        opt.apply([("w", w, np.array(g))])
        a_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i in range(3):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            p[i] = p[i] - a_t * m[i] / (math.sqrt(v[i]) + eps)
        np.testing.assert_allclose(w, p, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(opt.momentums["w"], m, rtol=1e-12)
    np.testing.assert_allclose(opt.velocities["w"], v, rtol=1e-12)
    assert opt.iterations == 10


def test_adam_defaults_are_keras():
    opt = Adam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (1e-3, 0.9, 0.999, 1e-7)
    # a_1 = 1e-3 * sqrt(1 - .999) / (1 - .9)
    assert opt.step_size(1) == pytest.approx(1e-3 * math.sqrt(0.001) / 0.1, rel=1e-14)


def test_adam_state_is_keyed_by_path():
    opt = Adam(learning_rate=0.1)
    a, b = np.zeros(2), np.zeros(3)
    opt.apply([("layer/a", a, np.ones(2)), ("layer/b", b, -np.ones(3))])
    assert set(opt.momentums) == {"layer/a", "layer/b"}
    np.testing.assert_allclose(opt.momentums["layer/a"], [0.1, 0.1])      # (1 - .9) * 1
    np.testing.assert_allclose(opt.momentums["layer/b"], [-0.1] * 3)


def test_adam_two_steps_by_hand():
    # lr = 0.1, beta_1 = 0.5, beta_2 = 0.75, epsilon = 0.25: numbers a hand can follow.
    # t = 1, g = [0.5, 2]:  m = 0.5 g = [0.25, 1];  v = 0.25 g^2 = [0.0625, 1]
    #   a_1 = 0.1 sqrt(1 - 0.75) / (1 - 0.5) = 0.1
    #   step = 0.1 [0.25 / (0.25 + 0.25), 1 / (1 + 0.25)] = [0.05, 0.08]
    #   w = [1, -2] - step = [0.95, -2.08]
    # t = 2, g = [-1, 2]:  m = 0.5 [0.25, 1] + 0.5 [-1, 2] = [-0.375, 1.5]
    #   v = 0.75 [0.0625, 1] + 0.25 [1, 4] = [0.296875, 1.75]
    #   a_2 = 0.1 sqrt(1 - 0.5625) / (1 - 0.25) = 0.1 * 0.6614378277661477 / 0.75 = 0.08819171036881969
    #   sqrt(v) = [0.5448623679425842, 1.3228756555322954]
    #   step = a_2 [-0.375 / 0.7948623679425842, 1.5 / 1.5728756555322954]
    #        = [-0.04160706648361072, 0.08410554584396604]
    #   w = [0.95, -2.08] - step = [0.9916070664836107, -2.164105545843966]
    opt = Adam(learning_rate=0.1, beta_1=0.5, beta_2=0.75, epsilon=0.25)
    w = np.array([1.0, -2.0])
    opt.apply([("w", w, np.array([0.5, 2.0]))])
    np.testing.assert_allclose(w, [0.95, -2.08], rtol=1e-15)
    np.testing.assert_allclose(opt.momentums["w"], [0.25, 1.0], rtol=1e-15)
    np.testing.assert_allclose(opt.velocities["w"], [0.0625, 1.0], rtol=1e-15)
    opt.apply([("w", w, np.array([-1.0, 2.0]))])
    np.testing.assert_allclose(opt.momentums["w"], [-0.375, 1.5], rtol=1e-15)
    np.testing.assert_allclose(opt.velocities["w"], [0.296875, 1.75], rtol=1e-15)
    assert opt.step_size(2) == pytest.approx(0.08819171036881969, rel=1e-15)
    np.testing.assert_allclose(w, [0.9916070664836107, -2.164105545843966], rtol=1e-14)


def test_adam_float64_is_the_papers_algorithm_with_its_epsilon_rescaled():
    # Algorithm 1 of the paper (bias-corrected m_hat, v_hat, eps added to sqrt(v_hat)) with
    # eps = epsilon / sqrt(1 - beta_2^t): Keras's epsilon is the paper's "epsilon hat".
    # Gradients of very different sizes, tiny ones included, where epsilon counts.
    lr, b1, b2, eps_hat = 0.01, 0.9, 0.999, 1e-7
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((30, 6)) * np.array([1.0, 1e-2, 1e-4, 1e-6, 3e-6, 0.0])
    opt = Adam(learning_rate=lr)
    w, p = np.zeros(6), np.zeros(6)
    m, v = np.zeros(6), np.zeros(6)
    for t, g in enumerate(grads, start=1):
        opt.apply([("w", w, g.copy())])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps_hat / math.sqrt(1 - b2 ** t))
        np.testing.assert_allclose(w, p, rtol=1e-12, atol=1e-18)
    # with the paper's own 1e-8 added to sqrt(v_hat) the small gradients take other steps
    q, m, v = np.zeros(6), np.zeros(6), np.zeros(6)
    for t, g in enumerate(grads, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g ** 2
        q = q - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-8)
    np.testing.assert_allclose(w[:2], q[:2], rtol=1e-4)
    assert not np.allclose(w[3:5], q[3:5], rtol=1e-2)


def test_adam_state_is_m_and_v_themselves():
    # one step with g = 2 from zero state, by hand: m = (1 - .9) 2 = 0.2, v = (1 - .999) 4 = 0.004
    opt = Adam(learning_rate=0.1)
    w = np.zeros(1)
    opt.apply([("w", w, np.array([2.0]))])
    state = opt.get_state()
    assert sorted(state) == ["iterations", "momentums/w", "velocities/w"]
    np.testing.assert_allclose(state["momentums/w"], [0.2], rtol=1e-15)
    np.testing.assert_allclose(state["velocities/w"], [0.004], rtol=1e-15)
    assert opt.momentums["w"] is state["momentums/w"]               # the arrays themselves
    assert opt.velocities["w"] is state["velocities/w"]
    # the step: a_1 = 0.1 sqrt(.001) / .1 = 0.1 sqrt(.001); 0.2 / (sqrt(.004) + 1e-7)
    np.testing.assert_allclose(w, [-0.1 * math.sqrt(0.001) / 0.1 * 0.2 / (math.sqrt(0.004) + 1e-7)],
                               rtol=1e-13)


def test_adam_update_makes_no_arrays_after_its_first_step():
    import tracemalloc
    opt = Adam()
    w, g = np.zeros(100_000, np.float32), np.full(100_000, 0.5, np.float32)
    opt.apply([("w", w, g)])                     # m, v and the one scratch array are made here
    assert len(opt._scratch) == 1
    tracemalloc.start()
    try:
        opt.apply([("w", w, g)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000, peak                   # an array of w's size would be 400,000 bytes


def test_adam_state_round_trips_exactly_and_continues_bit_for_bit():
    a, b = Adam(learning_rate=0.01), Adam(learning_rate=0.01)
    wa = np.array(P0, dtype=np.float32)
    for t in range(1, 6):
        a.apply([("w", wa, np.array(grad_at(t), dtype=np.float32))])
    wb = wa.copy()
    b.set_state({k: np.array(v) for k, v in a.get_state().items()})
    for t in range(6, 11):
        a.apply([("w", wa, np.array(grad_at(t), dtype=np.float32))])
        b.apply([("w", wb, np.array(grad_at(t), dtype=np.float32))])
    assert wa.tobytes() == wb.tobytes()
    # kept_only (the previous release's checkpoint switch) changes nothing
    c = Adam(learning_rate=0.01)
    c.set_state(a.get_state(kept_only=True), kept_only=True)
    assert a.get_state(kept_only=True).keys() == a.get_state().keys() == c.get_state().keys()
    assert all(c.get_state()[k].tobytes() == v.tobytes() for k, v in a.get_state().items())


# -- the previous release's state: Adam's kept sums -------------------------------------------
def old_release_state(steps=5):
    """A float32 Adam state after `steps` steps, and the same state as the previous release
    wrote it: the sums M = m / (1 - beta_1), V = v / (1 - beta_2) under '<slot>_kept/w', and
    m = (1 - beta_1) M, v = (1 - beta_2) V beside them. Returns (weights, textbook, old)."""
    run = Adam(learning_rate=0.01)
    w = np.array(P0, dtype=np.float32)
    for t in range(1, steps + 1):
        run.apply([("w", w, np.array(grad_at(t), dtype=np.float32))])
    M = (run.momentums["w"] / np.float32(0.1)).astype(np.float32)
    V = (run.velocities["w"] / np.float32(0.001)).astype(np.float32)
    m, v = M * (1 - 0.9), V * (1 - 0.999)         # float32, as the old release computed them
    assert m.dtype == v.dtype == np.float32
    textbook = {"iterations": np.array(steps), "momentums/w": m, "velocities/w": v}
    old = {**textbook, "momentums_kept/w": M, "velocities_kept/w": V}
    return w, textbook, old


def resume(state, w, steps=(6, 11)):
    opt = Adam(learning_rate=0.01)
    opt.check_saved_state(state, ["w"])
    opt.set_state(state)
    w = w.copy()
    for t in range(*steps):
        opt.apply([("w", w, np.array(grad_at(t), dtype=np.float32))])
    return w, opt


def test_the_previous_releases_state_loads_and_resumes_as_the_textbook_state():
    w, textbook, old = old_release_state()
    kept_alone = {k: v for k, v in old.items() if k not in ("momentums/w", "velocities/w")}
    w_ref, ref = resume(textbook, w)
    for state in (old, kept_alone):
        w_old, opt = resume(state, w)
        assert sorted(opt.get_state()) == ["iterations", "momentums/w", "velocities/w"]
        assert w_old.tobytes() == w_ref.tobytes()
        assert all(opt.get_state()[k].tobytes() == a.tobytes() for k, a in ref.get_state().items())
        assert w_old.dtype == opt.momentums["w"].dtype == np.float32


def test_the_previous_releases_moments_that_contradict_its_sums_are_refused():
    _, _, old = old_release_state()
    old["momentums/w"] = old["momentums/w"] * np.float32(2)
    with pytest.raises(ValueError, match="momentums_kept/w does not match momentums/w"):
        Adam().set_state(old)
    _, _, old = old_release_state()
    old["velocities_kept/w"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="velocities_kept/w does not match velocities/w"):
        Adam().set_state(old)
    _, _, old = old_release_state()
    old["momentums_kept/w"] = np.full(3, np.nan, np.float32)
    with pytest.raises(ValueError, match="'momentums_kept/w' holds non-finite values"):
        Adam().set_state(old)


def test_a_saved_state_is_checked_whole_with_or_without_kept_sums():
    _, _, old = old_release_state()
    no_v = {k: a for k, a in old.items() if not k.startswith("velocities")}
    with pytest.raises(ValueError, match="after 5 iterations has no velocities/w"):
        Adam().check_saved_state(no_v, ["w"])
    with pytest.raises(ValueError, match="holds momentums/w, momentums_kept/w.* after 0 iterations"):
        Adam().check_saved_state({**old, "iterations": np.array(0)}, ["w"])
    not_sgd = r"optimizer state momentums_kept/w, velocities/w, velocities_kept/w is not kept by SGD\("
    with pytest.raises(ValueError, match=not_sgd):
        SGD(momentum=0.9).check_saved_state(old, ["w"])


def test_sgd_keeps_its_velocities_and_has_no_kept_entries():
    opt = SGD(learning_rate=0.1, momentum=0.9)
    opt.apply([("w", np.zeros(2), np.ones(2))])
    assert sorted(opt.get_state()) == ["iterations", "momentums/w"]
    assert opt.momentums["w"] is opt.get_state()["momentums/w"]        # the array itself
    with pytest.raises(ValueError, match="unknown optimizer state entry 'momentums_kept/w'"):
        SGD(momentum=0.9).set_state({"iterations": np.array(1), "momentums_kept/w": np.zeros(2)})


# -- SGD ------------------------------------------------------------------------------------
def test_reset_forgets_everything():
    opt = Adam()
    opt.apply([("w", np.zeros(2), np.ones(2))])
    opt.reset()
    assert opt.iterations == 0 and opt.get_state().keys() == {"iterations"}


def test_sgd_plain_against_closed_form():
    lr = 0.1
    opt = SGD(learning_rate=lr)
    w, p = np.array(P0), list(P0)
    for t in range(1, 6):
        g = grad_at(t)
        opt.apply([("w", w, np.array(g))])
        p = [pi - lr * gi for pi, gi in zip(p, g)]
        np.testing.assert_allclose(w, p, rtol=1e-14)


def test_sgd_momentum_against_closed_form():
    lr, mu = 0.1, 0.9
    opt = SGD(learning_rate=lr, momentum=mu)
    w, p, vel = np.array(P0), list(P0), [0.0] * 3
    for t in range(1, 6):
        g = grad_at(t)
        opt.apply([("w", w, np.array(g))])
        vel = [mu * vi - lr * gi for vi, gi in zip(vel, g)]     # Keras: v = mu v - lr g
        p = [pi + vi for pi, vi in zip(p, vel)]                 #        p = p + v
        np.testing.assert_allclose(w, p, rtol=1e-13)
    np.testing.assert_allclose(opt.momentums["w"], vel, rtol=1e-13)


def test_sgd_one_step_by_hand():
    w = np.array([1.0, -2.0])
    SGD(learning_rate=0.5).apply([("w", w, np.array([4.0, -1.0]))])
    np.testing.assert_array_equal(w, [1.0 - 2.0, -2.0 + 0.5])


# -- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [lambda: Adam(learning_rate=0.01),
                                  lambda: SGD(learning_rate=0.01, momentum=0.9),
                                  lambda: SGD(learning_rate=0.01)], ids=["adam", "sgd_mom", "sgd"])
def test_update_keeps_dtype_in_place(make, dtype):
    opt = make()
    w = np.array(P0, dtype=dtype)
    w_id = id(w)
    for t in range(1, 4):
        opt.apply([("w", w, np.array(grad_at(t), dtype=dtype))])
    assert id(w) == w_id and w.dtype == dtype
    for name, arr in opt.get_state().items():
        if name != "iterations":
            assert arr.dtype == dtype, name
    # float32 follows the float64 trajectory to float32 precision
    ref = make()
    w64 = np.array(P0)
    for t in range(1, 4):
        ref.apply([("w", w64, np.array(grad_at(t)))])
    np.testing.assert_allclose(w, w64, rtol=1e-5)


def test_float32_adam_step_is_not_upcast_by_numpy_scalars():
    # NumPy 2 trap: np.float64(lr) * float32 array is float64. Hand the optimizer NumPy scalars.
    opt = Adam(learning_rate=np.float64(0.01), beta_1=np.float64(0.9), beta_2=np.float64(0.999),
               epsilon=np.float64(1e-7))
    w = np.ones(4, dtype=np.float32)
    opt.apply([("w", w, np.full(4, 0.5, dtype=np.float32))])
    assert w.dtype == np.float32
    assert opt.momentums["w"].dtype == np.float32 and opt.velocities["w"].dtype == np.float32


# -- bad arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Adam, SGD])
@pytest.mark.parametrize("lr, err, msg", [
    (-0.1, ValueError, "learning_rate must be > 0"),
    (0.0, ValueError, "learning_rate must be > 0"),
    (math.inf, ValueError, "learning_rate must be finite"),
    (math.nan, ValueError, "learning_rate must be finite"),
    (True, TypeError, "learning_rate must be a real number"),
    ("0.01", TypeError, "learning_rate must be a real number"),
])
def test_bad_learning_rate(cls, lr, err, msg):
    with pytest.raises(err, match=msg):
        cls(learning_rate=lr)


@pytest.mark.parametrize("kwargs, err, msg", [
    ({"beta_1": 1.0}, ValueError, "must be < 1"),
    ({"beta_2": 1.0}, ValueError, "must be < 1"),
    ({"beta_1": 1.5}, ValueError, "beta_1 must be <= 1"),
    ({"beta_2": -0.1}, ValueError, "beta_2 must be >= 0"),
    ({"beta_1": math.nan}, ValueError, "beta_1 must be finite"),
    ({"beta_1": "0.9"}, TypeError, "beta_1 must be a real number"),
    ({"epsilon": 0.0}, ValueError, "epsilon must be > 0"),
])
def test_bad_adam_arguments(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        Adam(**kwargs)


@pytest.mark.parametrize("momentum, err, msg", [
    (-0.5, ValueError, "momentum must be >= 0"),
    (1.5, ValueError, "momentum must be <= 1"),
    (False, TypeError, "momentum must be a real number"),
])
def test_bad_momentum(momentum, err, msg):
    with pytest.raises(err, match=msg):
        SGD(momentum=momentum)


def test_gradient_shape_mismatch():
    with pytest.raises(ValueError, match=r"w: gradient shape \(3,\) != parameter shape \(2,\)"):
        Adam().apply([("w", np.zeros(2), np.zeros(3))])


def test_names():
    assert isinstance(optimizers.get("adam"), Adam)
    assert isinstance(optimizers.get("SGD"), SGD)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        optimizers.get("rmsprop")
