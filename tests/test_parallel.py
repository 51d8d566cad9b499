"""An elementwise update in two halves at once: the same bits as the whole, the caller's
errstate in both threads, errors and Ctrl-C never leave the other half running."""
import threading
import time

import numpy as np
import pytest

from scratchae import _parallel
from scratchae.optimizers import Adam

N = _parallel.MIN_SIZE + 11          # odd, so the halves differ in length


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setattr(_parallel, "workers", 2)


def adam_steps(n_steps, size, dtype=np.float32):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(size).astype(dtype)
    opt = Adam(learning_rate=0.01)
    for _ in range(n_steps):
        opt.apply([("packed/*", w, rng.standard_normal(size).astype(dtype))])
    return w, opt


def test_adam_in_halves_gives_the_same_bits_as_whole(monkeypatch):
    whole, opt1 = adam_steps(3, N)
    monkeypatch.setattr(_parallel, "workers", 2)
    threads = []
    real = _parallel._with_errstate

    def spy(*args):
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(_parallel, "_with_errstate", spy)
    halves, opt2 = adam_steps(3, N)
    assert threads and all(t.startswith("scratchae-elementwise") for t in threads)   # it did split
    assert halves.tobytes() == whole.tobytes()
    for k, v in opt1.get_state().items():
        assert opt2.get_state()[k].tobytes() == v.tobytes(), k


def test_small_or_strided_arrays_are_not_split(two_workers):
    calls = []
    _parallel.run(lambda a: calls.append(a.size), np.zeros(_parallel.MIN_SIZE - 1))
    _parallel.run(lambda a: calls.append(a.size), np.zeros(2 * N)[::2])
    assert calls == [_parallel.MIN_SIZE - 1, N]


def test_one_worker_never_splits():
    calls = []
    _parallel.run(lambda a: calls.append(a.size), np.zeros(N))
    assert calls == [N]


def test_the_callers_errstate_holds_in_the_other_thread(two_workers):
    a = np.full(N, 3e38, np.float32)
    with np.errstate(over="ignore"):
        _parallel.run(lambda x: np.multiply(x, np.float32(10), out=x), a)    # no warning, anywhere
    assert np.isinf(a).all()
    b = np.full(N, 3e38, np.float32)
    with np.errstate(over="raise"):
        with pytest.raises(FloatingPointError):
            _parallel.run(lambda x: np.multiply(x, np.float32(10), out=x), b)


def test_an_error_in_the_other_half_reaches_the_caller(two_workers):
    def step(x):
        if x[0] == 1.0:                      # only the second half starts with 1
            raise KeyError("second half")
        x += 1

    a = np.zeros(N)
    a[N // 2:] = 1.0
    with pytest.raises(KeyError, match="second half"):
        _parallel.run(step, a)


def test_an_interrupt_here_waits_for_the_other_half(two_workers):
    done = []

    def step(x):
        if x[0] == 1.0:                      # the other thread's half: slow
            time.sleep(0.2)
            done.append("other")
            return
        raise KeyboardInterrupt               # Ctrl-C in this thread's half

    a = np.zeros(N)
    a[N // 2:] = 1.0
    with pytest.raises(KeyboardInterrupt):
        _parallel.run(step, a)
    assert done == ["other"]                 # it finished before the interrupt went on
