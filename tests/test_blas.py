"""BLAS threads while training: the count set inside a block and the previous one back after
it, the user's own choice (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS) left alone, the size rule,
and the timed choice driven with made-up step times (a quiet and a busy machine)."""
import numpy as np
import pytest

from scratchae import _blas
from scratchae.layers import Dense, Input
from scratchae.models import Model

controls = _blas._find_controls()
needs_openblas = pytest.mark.skipif(controls is None, reason="NumPy here has no bundled OpenBLAS")


@pytest.fixture(autouse=True)
def _no_user_setting(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("SCRATCHAE_BLAS_THREADS", raising=False)


@pytest.fixture
def two_before():
    """NumPy's count set to 2 before the test and after it."""
    setter, getter = controls
    setter(2)
    yield getter
    setter(2)


# -- a fixed count for a block ---------------------------------------------------------------
@needs_openblas
def test_the_count_inside_and_the_previous_count_after(two_before):
    with _blas.threads(1):
        assert two_before() == 1
        np.ones((64, 64)) @ np.ones((64, 64))          # BLAS works with one thread
    assert two_before() == 2


@needs_openblas
def test_the_count_comes_back_after_an_exception(two_before):
    with pytest.raises(KeyError):
        with _blas.for_training(10):
            assert two_before() == 1
            raise KeyError("boom")
    assert two_before() == 2


@needs_openblas
@pytest.mark.parametrize("var", ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"])
def test_a_users_own_thread_setting_is_left_alone(monkeypatch, var, two_before):
    monkeypatch.setenv(var, "2")
    with _blas.threads(1):
        assert two_before() == 2
    with _blas.for_training(10) as t:
        assert two_before() == 2 and t.steps == {}


def test_without_openblas_controls_it_changes_nothing(monkeypatch):
    monkeypatch.setattr(_blas, "_find_controls", lambda: None)
    with _blas.for_training(10**9) as t:
        assert float((np.ones((3, 3)) @ np.ones((3, 3)))[0, 0]) == 3.0
        assert list(t.timed([1, 2])) == [1, 2] and t.steps == {}


# -- the policy ------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [("", "auto"), (" auto ", "auto"), ("AUTO", "auto"),
                                             ("2", 2), ("1", 1), ("default", None)])
def test_the_setting_is_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", value)
    assert _blas.setting() == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_scratchae_blas_threads_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", value)
    with pytest.raises(ValueError, match="SCRATCHAE_BLAS_THREADS must be a number of threads >= 1, "
                                         "'auto' or 'default', got"):
        with _blas.for_training(10):
            pass


@needs_openblas
@pytest.mark.parametrize("value, product, cpus, inside, choices", [
    ("", _blas.CROSSOVER - 1, 2, 1, (1,)),            # small products: one thread
    ("", _blas.CROSSOVER, 1, 1, (1,)),                # one usable CPU: one thread
    ("", _blas.CROSSOVER, 2, None, (1, 2)),           # large, two CPUs: timed
    ("2", 10, 2, 2, (2,)),                            # a number: that count, always
    ("1", 10**9, 2, 1, (1,)),
])
def test_the_choices_follow_the_size_and_the_setting(monkeypatch, two_before, value, product,
                                                     cpus, inside, choices):
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", value)
    monkeypatch.setattr(_blas, "usable_cpus", lambda: cpus)
    with _blas.for_training(product) as t:
        assert t.choices == choices
        assert t.adaptive == (len(choices) > 1)
        if inside is not None:
            assert two_before() == inside
    assert two_before() == 2


@needs_openblas
def test_default_leaves_numpys_setting_and_counts_nothing(monkeypatch, two_before):
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", "default")
    with _blas.for_training(10**9) as t:
        assert two_before() == 2
        assert list(t.timed("ab")) == ["a", "b"] and t.steps == {}


# -- the timed choice, with made-up step times -----------------------------------------------
def warmed():
    """A Threads over (1, 2) past its warm-up (WARM_UP steps with one thread, untimed)."""
    t = _blas.Threads((1, 2), lambda c: None)
    for _ in range(_blas.WARM_UP):
        assert t._current == 1 and t._samples is None
        t._step_done(1.0)
    return t


def test_the_first_steps_warm_up_with_one_thread():
    t = _blas.Threads((1, 2), lambda c: None)
    for _ in range(_blas.WARM_UP - 1):
        t._step_done(9.0)
    assert t._samples is None and t._current == 1
    t._step_done(9.0)                                   # the warm-up's last step: a probe starts
    assert t._samples == {1: [], 2: []} and t._current == 2


def drive(seconds_for, steps):
    """A warmed-up Threads whose step times come from seconds_for(count); the count each
    step trained with."""
    used = []
    t = warmed()
    for _ in range(steps):
        used.append(t._current)
        t._step_done(seconds_for(t._current))
    return t, used


def test_on_a_quiet_machine_the_faster_count_trains_and_its_stretches_grow():
    t, used = drive(lambda c: {1: 1.0, 2: 0.6}[c], 10_000)
    assert t._current == 2 and t._winner == 2
    assert t._stretch == _blas.LONGEST_STRETCH
    assert t.steps[1] + t.steps[2] == 10_000 + _blas.WARM_UP
    assert t.steps[1] - _blas.WARM_UP < 0.01 * 10_000  # after the warm-up, one thread only in probes
    # a probe is a block of the other count, then a block of the current one
    probe = [2] * _blas.PROBE_STEPS + [1] * _blas.PROBE_STEPS
    assert used[:2 * _blas.PROBE_STEPS] == probe
    assert used[2 * _blas.PROBE_STEPS:2 * _blas.PROBE_STEPS + _blas.FIRST_STRETCH] == [2] * _blas.FIRST_STRETCH


def test_more_threads_must_be_clearly_faster_from_the_start():
    t, _ = drive(lambda c: {1: 1.0, 2: 0.95}[c], 2 * _blas.PROBE_STEPS)
    assert t._winner == 1 and t._current == 1


def test_the_first_step_after_a_switch_is_not_counted():
    # each block's first step is slow (threads waking up): without it two threads win
    last = {"count": None}

    def seconds(c):
        first = c != last["count"]
        last["count"] = c
        return 50.0 if first else {1: 1.0, 2: 0.6}[c]

    t, _ = drive(seconds, 2 * _blas.PROBE_STEPS)
    assert t._winner == 2


def test_on_a_busy_machine_one_thread_trains_and_the_probes_cost_little():
    # two threads five times slower, as measured with another process busy
    t, _ = drive(lambda c: {1: 1.0, 2: 5.0}[c], 10_000)
    assert t._current == 1
    lost = t.steps[2] * (5.0 - 1.0)                    # the extra time of the timed steps
    assert lost / 10_000 < 0.02


def test_a_machine_that_becomes_busy_is_noticed_within_one_stretch():
    busy_from = 5_000
    step = {"n": 0}

    def seconds(c):
        step["n"] += 1
        return {1: 1.0, 2: 0.6 if step["n"] < busy_from else 5.0}[c]

    t = warmed()
    switched_at = None
    for n in range(1, 9_000):
        t._step_done(seconds(t._current))
        if n > busy_from and switched_at is None and t._current == 1 and t._samples is None:
            switched_at = n
    assert switched_at is not None
    assert switched_at - busy_from <= 4 * _blas.PROBE_STEPS      # within a few steps, not a stretch
    assert t._stretch >= _blas.FIRST_STRETCH and t._current == 1


def test_the_median_ignores_one_slow_step():
    # one counted step with two threads is slow (a hiccup): two still wins
    seen = {"n": 0}

    def seconds(c):
        seen["n"] += 1
        return 50.0 if seen["n"] == 3 else {1: 1.0, 2: 0.6}[c]

    t, _ = drive(seconds, 2 * _blas.PROBE_STEPS)
    assert t._winner == 2


def test_timed_hands_every_batch_through_in_order():
    t = _blas.Threads((1, 2), lambda c: None)
    assert list(t.timed(range(50))) == list(range(50))
    assert t.steps[1] + t.steps[2] == 50


# -- fit --------------------------------------------------------------------------------------
def tiny_model():
    inp = Input(shape=(6,))
    model = Model(inp, Dense(6, activation="sigmoid", seed=0)(Dense(3, activation="relu", seed=1)(inp)))
    model.compile("adam", "binary_crossentropy")
    return model


@needs_openblas
def test_fit_counts_its_steps_and_restores_the_count(two_before):
    x = np.random.default_rng(0).uniform(0, 1, (40, 6)).astype(np.float32)
    history = tiny_model().fit(x, x, batch_size=8, epochs=2, verbose=0)
    assert history.history["loss"] and history.blas_threads == {1: 10}      # small: one thread
    assert two_before() == 2


class StepClock:
    """A clock for `_blas.step_clock` on which a training step takes `seconds[count]`, count
    being the BLAS threads OpenBLAS has when the clock is read: the timed choice it drives is
    the same on a quiet and on a busy machine. (A step reads the clock twice, at its start and
    at its end, with one count: each read moves it by half a step.)"""

    def __init__(self, seconds: dict[int, float]) -> None:
        self.seconds, self.now, self.reads = seconds, 0.0, 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += self.seconds[int(controls[1]())] / 2
        return self.now


def timed_fit(monkeypatch, seconds):
    """The timed choice over (1, 2) forced on the tiny model, its steps timed by StepClock."""
    monkeypatch.setattr(_blas, "CROSSOVER", 0)
    monkeypatch.setattr(_blas, "usable_cpus", lambda: 2)
    monkeypatch.setattr(_blas, "_remembered", {})
    clock = StepClock(seconds)
    monkeypatch.setattr(_blas, "step_clock", clock)
    return clock


P, W = _blas.PROBE_STEPS, _blas.WARM_UP


@needs_openblas
def test_fit_with_the_timed_choice_trains_like_one_thread(monkeypatch, two_before):
    # two threads faster on the injected clock: after the warm-up and one probe they train on
    clock = timed_fit(monkeypatch, {1: 1.0, 2: 0.5})
    monkeypatch.setattr(_blas, "FIRST_STRETCH", 4)
    x = np.random.default_rng(0).uniform(0, 1, (400, 6)).astype(np.float32)
    timed = tiny_model().fit(x, x, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert clock.reads == 2 * 100                            # every step timed, on this clock
    # 100 steps: warm-up and a probe's block with one thread, the rest with two, except one
    # block of one thread per probe (stretches 4, 8, 16, 32 between them)
    assert timed.blas_threads == {1: W + 4 * P, 2: 100 - W - 4 * P}
    assert two_before() == 2
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", "1")
    one = tiny_model().fit(x, x, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert one.blas_threads == {1: 100}
    np.testing.assert_allclose(timed.history["loss"], one.history["loss"], rtol=1e-5)


def test_a_challenger_must_be_clearly_faster_to_take_over():
    def run(later):
        """Two threads win the first probe; afterwards the step times are `later`."""
        t = warmed()
        for n in range(2_000):
            times = {1: 1.0, 2: 0.6} if n < 2 * _blas.PROBE_STEPS else later
            t._step_done(times[t._current])
        return t._winner

    assert run({1: 0.95, 2: 1.0}) == 2          # one thread 5% faster: noise, two kept
    assert run({1: 0.5, 2: 1.0}) == 1           # twice as fast: it takes over


def test_an_unlucky_probe_is_corrected_within_a_few_steps():
    # the first probe says two threads (a lucky burst); in truth two are three times slower
    n = {"steps": 0}

    def seconds(c):
        n["steps"] += 1
        if n["steps"] <= 2 * _blas.PROBE_STEPS:
            return {1: 1.0, 2: 0.5}[c]
        return {1: 1.0, 2: 3.0}[c]

    t, used = drive(seconds, 300)
    p = _blas.PROBE_STEPS
    assert used[2 * p:4 * p] == [2] * (2 * p)          # it believed the probe for eight steps,
    assert used[4 * p:6 * p] == [1] * p + [2] * p      # then timed both again,
    assert used[6 * p:6 * p + 40] == [1] * 40          # and one thread trains
    assert t._current == 1


def test_the_largest_product_counts_float64_double():
    from scratchae.training import largest_product
    for dtype, factor in (("float32", 1), ("float64", 2)):
        inp = Input(shape=(6,), dtype=dtype)
        model = Model(inp, Dense(6, dtype=dtype, seed=0)(Dense(3, dtype=dtype, seed=1)(inp)))
        assert largest_product(model, 8) == 8 * 6 * 3 * factor        # kernels 6x3 and 3x6


def test_one_threads_time_also_comes_from_its_warm_up():
    # on a busy machine the steps with one thread right after a block of two are slowed by
    # two's threads, still spinning (3.0); alone, one thread takes 1.0 and two take 2.0
    t = _blas.Threads((1, 2), lambda c: None)
    for _ in range(_blas.WARM_UP):
        t._step_done(1.0)
    for _ in range(2 * _blas.PROBE_STEPS):
        t._step_done({1: 3.0, 2: 2.0}[t._current])
    assert t._winner == 1 and t._current == 1


def test_the_next_fit_of_the_same_products_starts_from_the_last_choice():
    t, _ = drive(lambda c: {1: 1.0, 2: 0.6}[c], 500)
    used = []
    again = _blas.Threads((1, 2), used.append, t.state())
    assert used == [2] and again._current == 2 and again._samples is None   # no warm-up, no probe
    assert again._left == _blas.FIRST_STRETCH
    assert _blas.Threads((1, 2), lambda c: None).state() is None             # nothing decided yet


@needs_openblas
@pytest.mark.parametrize("seconds, winner", [({1: 1.0, 2: 0.5}, 2), ({1: 1.0, 2: 2.0}, 1)],
                         ids=["two threads faster", "one thread faster"])
def test_fit_remembers_the_choice_for_the_same_products(monkeypatch, two_before, seconds, winner):
    """Timed by an injected clock, not the machine's: before, this test read real step times
    and failed on a loaded machine (two threads lost their probe, or won it by chance)."""
    timed_fit(monkeypatch, seconds)
    x = np.random.default_rng(0).uniform(0, 1, (400, 6)).astype(np.float32)     # 50 steps
    model = tiny_model()
    first = model.fit(x, x, batch_size=8, epochs=1, verbose=0)
    # warm-up, a probe (two's block first, then one's), then the winner
    assert first.blas_threads == {1: W + P + (50 - W - 2 * P) * (winner == 1), 2: P + (50 - W - 2 * P) * (winner == 2)}
    (key, (remembered, *_)), = _blas._remembered.items()
    assert remembered == winner
    second = model.fit(x, x, batch_size=8, epochs=1, verbose=0)
    assert second.blas_threads[winner] == 50                # it started there: no warm-up, no probe
    assert two_before() == 2
