"""One BLAS thread inside `single_threaded`, the previous count back afterwards, and the
user's own choice (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS) left alone."""
import numpy as np
import pytest

from scratchae import _blas

controls = _blas._find_controls()
needs_openblas = pytest.mark.skipif(controls is None, reason="NumPy here has no bundled OpenBLAS")


@pytest.fixture(autouse=True)
def _no_user_setting(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("SCRATCHAE_BLAS_THREADS", raising=False)


@needs_openblas
def test_one_thread_inside_and_the_previous_count_after():
    setter, getter = controls
    setter(2)
    try:
        with _blas.single_threaded():
            assert getter() == 1
            np.ones((64, 64)) @ np.ones((64, 64))          # BLAS works with one thread
        assert getter() == 2
    finally:
        setter(2)


@needs_openblas
def test_the_count_comes_back_after_an_exception():
    setter, getter = controls
    setter(2)
    with pytest.raises(KeyError):
        with _blas.single_threaded():
            raise KeyError("boom")
    assert getter() == 2


@needs_openblas
@pytest.mark.parametrize("var", ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"])
def test_a_users_own_thread_setting_is_left_alone(monkeypatch, var):
    setter, getter = controls
    setter(2)
    monkeypatch.setenv(var, "2")
    with _blas.single_threaded():
        assert getter() == 2


def test_without_openblas_controls_it_changes_nothing(monkeypatch):
    monkeypatch.setattr(_blas, "_find_controls", lambda: None)
    with _blas.single_threaded():
        assert float((np.ones((3, 3)) @ np.ones((3, 3)))[0, 0]) == 3.0


@needs_openblas
@pytest.mark.parametrize("value, inside", [("2", 2), ("1", 1), ("default", 2), (" ", 1)])
def test_scratchae_blas_threads_overrides_the_policy(monkeypatch, value, inside):
    setter, getter = controls
    setter(2)
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", value)
    with _blas.single_threaded():
        assert getter() == inside
    assert getter() == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_scratchae_blas_threads_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("SCRATCHAE_BLAS_THREADS", value)
    with pytest.raises(ValueError, match="SCRATCHAE_BLAS_THREADS must be a number of threads >= 1 or 'default'"):
        with _blas.single_threaded():
            pass
