"""config (floatx, epsilon, dtype names), the seeding helpers and the shared argument checks."""
import numpy as np
import pytest

from scratchae import config, initializers, utils
from scratchae._validate import finite_float, positive_int


@pytest.fixture
def floatx_restored():
    old = config.floatx()
    try:
        yield
    finally:
        config.set_floatx(old)


def test_defaults():
    assert config.floatx() == "float32"
    assert config.epsilon() == 1e-7


def test_set_floatx(floatx_restored):
    config.set_floatx("float64")
    assert config.floatx() == "float64"
    assert config.standardize_dtype(None) == np.float64
    config.set_floatx(np.float32)
    assert config.floatx() == "float32"


@pytest.mark.parametrize("bad", ["float16", "int32", "nonsense", 5])
def test_set_floatx_rejects_other_types(floatx_restored, bad):
    with pytest.raises(TypeError, match=r"dtype must be one of \('float32', 'float64'\)"):
        config.set_floatx(bad)
    assert config.floatx() == "float32"          # unchanged by the failed call


def test_standardize_dtype():
    assert config.standardize_dtype("float64") == np.dtype("float64")
    assert config.standardize_dtype(np.float32) == np.dtype("float32")


def test_seeding_is_reproducible():
    utils.set_random_seed(7)
    a = utils.global_rng().random(3)
    utils.set_random_seed(7)
    np.testing.assert_array_equal(utils.global_rng().random(3), a)
    np.testing.assert_array_equal(utils.as_rng(5).random(3), np.random.default_rng(5).random(3))
    g = np.random.default_rng(0)
    assert utils.as_rng(g) is g


@pytest.mark.parametrize("bad, err", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("3", TypeError)])
def test_bad_seeds(bad, err):
    # not an integer: TypeError; a negative integer: ValueError (the library's policy)
    with pytest.raises(err, match="seed must be a non-negative integer"):
        utils.set_random_seed(bad)
    with pytest.raises(err, match="seed must be a non-negative integer"):
        utils.as_rng(bad)


def test_initializers_by_name():
    rng = np.random.default_rng(0)
    z = initializers.get("zeros")((2, 3), np.float32, rng)
    assert z.dtype == np.float32 and not z.any()
    # he_uniform: limit sqrt(6 / fan_in) = sqrt(6/6) = 1
    h = initializers.get("he_uniform")((6, 1000), np.float64, rng)
    assert np.abs(h).max() <= 1.0 and np.abs(h).max() > 0.99
    with pytest.raises(ValueError, match="unknown initializer 'xavier'"):
        initializers.get("xavier")
    with pytest.raises(TypeError, match="initializer must be a name or a callable"):
        initializers.get(3)


def test_validators():
    assert positive_int("n", 3) == 3
    with pytest.raises(TypeError, match="n must be a positive integer, got True"):
        positive_int("n", True)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        positive_int("n", 0)
    v = finite_float("lr", np.float64(0.5))
    assert type(v) is float                       # a Python float: no NumPy-2 upcasting
    with pytest.raises(ValueError, match="lr must be <= 1.0"):
        finite_float("lr", 2.0, maximum=1.0)
