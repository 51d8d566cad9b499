"""L1, L2 and KL-sparsity activity penalties: known answers (sign(0) = 0; KL worked by hand),
gradient checks, dtypes, errors, save/load of a KL model."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from scratchae import regularizers
from scratchae.gradcheck import check_piece, numerical_gradient
from scratchae.regularizers import L1, L2, KLSparsity, kl_sparsity, l1, l2

GOOD = 1e-7
shapes = st.tuples(st.integers(1, 8), st.integers(1, 16))
H = np.array([[1.0, -2.0], [0.0, 3.0]])


@st.composite
def off_zero(draw, lo, hi):
    shape = draw(shapes)
    mag = draw(arrays(np.float64, shape, elements=st.floats(lo, hi)))
    return np.where(draw(arrays(np.bool_, shape)), -mag, mag)


# -- known answers --------------------------------------------------------------------------
def test_l1_known_value_and_gradient_with_sign_of_zero():
    reg = l1(0.5)
    assert reg.forward(H) == pytest.approx(0.5 * (1 + 2 + 0 + 3), rel=1e-15)     # 3.0
    # 0.5 * sign(h), with sign(0) = 0
    np.testing.assert_array_equal(reg.backward(), [[0.5, -0.5], [0.0, 0.5]])
    np.testing.assert_array_equal(reg.backward(2.0), [[1.0, -1.0], [0.0, 1.0]])   # upstream scalar


def test_l2_known_value_and_gradient():
    reg = l2(0.25)
    assert reg.forward(H) == pytest.approx(0.25 * (1 + 4 + 0 + 9), rel=1e-15)   # 3.5
    np.testing.assert_array_equal(reg.backward(), [[0.5, -1.0], [0.0, 1.5]])   # 2 * .25 * h


def test_penalty_is_summed_over_batch_not_averaged():
    # Keras 2.0 convention (the article's l1 sums over the batch): doubling the batch doubles the penalty
    h = np.array([[1.0, -1.0]])
    assert l1(1.0)(np.vstack([h, h])) == pytest.approx(2 * l1(1.0)(h))
    assert l1(1.0)(h) == 2.0


def test_the_articles_factor():
    assert l1(10e-6).l1 == pytest.approx(1e-5)
    assert isinstance(l1(0.1), L1) and isinstance(l2(0.1), L2)


# -- gradient checks ------------------------------------------------------------------------
@given(off_zero(0.01, 3.0), st.floats(0.01, 2.0))
def test_l1_gradient_check(h, factor):
    # |h| >= 0.01 is off the kink; piecewise linear, so central differences are exact for a
    # step of 1e-3 (which never crosses 0) up to rounding
    assert check_piece(L1(factor), h, h=1e-3)["x"] < GOOD


@given(off_zero(0.1, 3.0), st.floats(0.01, 2.0))
def test_l2_gradient_check(h, factor):
    # |h| >= 0.1 keeps the gradient 2 f h away from 0; a quadratic, so h = 1e-3 is exact
    assert check_piece(L2(factor), h, h=1e-3)["x"] < GOOD


# -- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [l1, l2])
def test_gradient_dtype_is_kept(make, dtype):
    reg = make(0.1)
    value = reg.forward(H.astype(dtype))
    assert isinstance(value, float)
    assert reg.backward().dtype == dtype
    assert reg.backward(3.0).dtype == dtype


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [L1, L2])
def test_backward_before_forward(cls):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        cls(0.1).backward()


@pytest.mark.parametrize("make, name", [(l1, "l1 factor"), (l2, "l2 factor")])
@pytest.mark.parametrize("bad, err, msg", [
    (-0.1, ValueError, "must be >= 0"),
    (math.inf, ValueError, "must be finite"),
    (math.nan, ValueError, "must be finite"),
    (True, TypeError, "must be a real number"),
    ("0.1", TypeError, "must be a real number"),
    (None, TypeError, "must be a real number"),
])
def test_bad_factor(make, name, bad, err, msg):
    with pytest.raises(err, match=f"{name} {msg}"):
        make(bad)


def test_zero_factor_is_allowed():
    assert l1(0.0).forward(H) == 0.0


def test_config_round_trip_and_bad_config():
    reg = regularizers.from_config(l1(0.25).get_config())
    assert isinstance(reg, L1) and reg.l1 == 0.25
    assert regularizers.from_config(None) is None
    with pytest.raises(ValueError, match="not a regularizer config"):
        regularizers.from_config({"class_name": "L3", "l3": 1.0})


def test_get_takes_keras_names_instances_and_none():
    from scratchae import regularizers
    assert regularizers.get(None) is None
    reg = L1(0.5)
    assert regularizers.get(reg) is reg
    assert isinstance(regularizers.get("l1"), L1) and regularizers.get("L2").l2 == 0.01
    with pytest.raises(ValueError, match=r"unknown activity_regularizer 'l3': expected one of \['l1', 'l2'\]"):
        regularizers.get("l3")


# -- KL sparsity ------------------------------------------------------------------------------
# Worked by hand (docs/backprop.md#kl-sparsity): rho = 0.2, beta = 3, N = 2,
#   h = [[0.1, 0.6], [0.3, 0.2]]  ->  rho_hat = [0.2, 0.4]
#   KL(0.2 || 0.2) = 0;  KL(0.2 || 0.4) = 0.2 ln(0.2/0.4) + 0.8 ln(0.8/0.6) = 0.0915162
#   penalty = 3 * 0.0915162 = 0.2745487
#   dKL/dq = -rho/q + (1 - rho)/(1 - q):  unit 0: -1 + 1 = 0;  unit 1: -0.5 + 1.333333 = 0.833333
#   dP/dh[n, j] = (beta / N) dKL/dq_j = [0, 1.5 * 0.833333] = [0, 1.25] for both rows
KL_H = np.array([[0.1, 0.6], [0.3, 0.2]])


def test_kl_known_value_and_gradient_worked_by_hand():
    reg = KLSparsity(rho=0.2, beta=3.0)
    assert reg.forward(KL_H) == pytest.approx(0.274549, abs=1e-6)
    np.testing.assert_allclose(reg.backward(), [[0.0, 1.25], [0.0, 1.25]], atol=1e-12)
    np.testing.assert_allclose(reg.backward(2.0), [[0.0, 2.5], [0.0, 2.5]], atol=1e-12)


def test_kl_is_zero_at_the_target_and_a_mean_not_a_sum():
    reg = kl_sparsity(0.3, 2.0)
    at_target = np.full((4, 3), 0.3)
    assert reg.forward(at_target) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(reg.backward(), 0.0, atol=1e-12)
    h = np.random.default_rng(0).uniform(0.05, 0.95, (5, 3))
    # rho_hat is a mean: the same batch twice has the same penalty (L1's would double)...
    assert reg(np.vstack([h, h])) == pytest.approx(reg(h), rel=1e-12)
    # ... and half the gradient per element (1/N)
    g1 = KLSparsity(0.3, 2.0)
    g1.forward(h)
    g2 = KLSparsity(0.3, 2.0)
    g2.forward(np.vstack([h, h]))
    np.testing.assert_allclose(g2.backward()[:5], g1.backward() / 2, rtol=1e-12)


@st.composite
def probabilities(draw):
    shape = draw(shapes)
    return draw(arrays(np.float64, shape, elements=st.floats(0.05, 0.95)))


@given(probabilities(), st.floats(0.02, 0.5), st.floats(0.01, 5.0))
def test_kl_gradient_check(h, rho, beta):
    # Smooth for rho_hat in [0.05, 0.95]. Compared with an absolute floor too: at rho_hat == rho
    # the gradient is exactly 0 and the difference quotient is its truncation error, h^2/6 times
    # the third derivative, at most (1e-10 / 6) * beta * 2 / 0.05^3 = 2.7e-7 * beta.
    reg = KLSparsity(rho, beta)
    reg.forward(h)
    analytic = reg.backward()
    numeric = numerical_gradient(lambda: reg.forward(h), h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=3e-7 * beta)


def test_kl_teaching_check_and_a_whole_model_with_a_kl_code():
    from scratchae import autoencoders
    from scratchae.activations import Sigmoid
    from scratchae.gradcheck import check_layer, check_model
    rep = check_layer(KLSparsity(0.05, 3.0), np.random.default_rng(1).uniform(0.05, 0.95, (4, 6)))
    assert rep.ok and rep.worst.error < GOOD, str(rep)
    ae = autoencoders.shallow(code_size=5, input_dim=12, seed=0)
    code = ae.encoder.layers[-1]
    code.activation, code.activity_regularizer = Sigmoid(), KLSparsity(0.1, 0.5)
    x = np.random.default_rng(2).random((4, 12)).astype(np.float32)
    rep = check_model(ae.model, x, x, localize="always")
    assert rep.ok, str(rep)
    assert any(r.layer.endswith("> klsparsity") for r in rep.all_rows())


def test_kl_wrong_gradient_is_caught():
    class NoMean(KLSparsity):        # forgets d rho_hat / dh = 1/N
        def gradient(self, h):
            return super().gradient(h) * h.shape[0]
    assert check_piece(NoMean(0.1, 1.0), np.random.default_rng(3).uniform(0.1, 0.9, (4, 3)))["x"] > 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kl_gradient_dtype_is_kept(dtype):
    reg = KLSparsity(0.2, 3.0)
    assert isinstance(reg.forward(KL_H.astype(dtype)), float)
    assert reg.backward().dtype == dtype and reg.backward(3.0).dtype == dtype


def test_kl_refuses_activations_outside_0_1_and_says_why():
    reg = KLSparsity()
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]; got values in \[0, 3\.5\].*ReLU code"):
        reg.forward(np.array([[0.0, 3.5], [1.0, 0.2]]))
    with pytest.raises(ValueError, match=r"got values in \[-0\.5, 0\.5\]"):
        reg.forward(np.array([[-0.5, 0.5]]))
    with pytest.raises(ValueError, match="non-empty"):
        reg.forward(np.zeros((0, 3)))


def test_kl_on_a_relu_code_layer_is_refused_at_the_first_batch():
    from scratchae.layers import Dense
    layer = Dense(8, activation="relu", activity_regularizer=KLSparsity(), input_dim=20, seed=0)
    with pytest.raises(ValueError, match="activation='sigmoid'"):
        layer.forward(np.random.default_rng(0).random((4, 20)) * 5)


def test_kl_clipped_units_and_nan():
    reg = KLSparsity(0.1, 1.0)
    h = np.array([[0.0, 0.5], [0.0, 0.3]])        # unit 0 never fires: rho_hat clipped to 1e-7
    assert math.isfinite(reg.forward(h))
    g = reg.backward()
    assert np.all(g[:, 0] == 0.0) and np.all(g[:, 1] != 0.0)
    assert math.isnan(reg.forward(np.array([[np.nan, 0.5]])))
    assert np.all(np.isnan(reg.backward()))


@pytest.mark.parametrize("kwargs, err, msg", [
    ({"rho": 0.0}, ValueError, "rho must be > 0"),
    ({"rho": 1.0}, ValueError, "rho must be < 1"),
    ({"rho": math.nan}, ValueError, "rho must be finite"),
    ({"beta": -1.0}, ValueError, "beta must be >= 0"),
    ({"beta": "3"}, TypeError, "beta must be a real number"),
])
def test_kl_bad_arguments(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        KLSparsity(**kwargs)


def test_kl_config_round_trip_and_load_model(tmp_path):
    reg = regularizers.from_config(KLSparsity(0.05, 0.01).get_config())
    assert isinstance(reg, KLSparsity) and (reg.rho, reg.beta) == (0.05, 0.01)
    assert repr(reg) == "KLSparsity(rho=0.05, beta=0.01)"
    from scratchae.layers import Dense, Input
    from scratchae.models import Model, load_model
    inp = Input(shape=(6,))
    code = Dense(3, activation="sigmoid", activity_regularizer=KLSparsity(0.1, 0.2), seed=0)(inp)
    model = Model(inp, Dense(6, activation="sigmoid", seed=1)(code))
    model.compile("adam", "binary_crossentropy")
    x = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    model.fit(x, x, epochs=1, batch_size=4, verbose=0, seed=0)
    model.save(tmp_path / "kl.npz")
    back = load_model(tmp_path / "kl.npz")
    reg = back.layers[1].activity_regularizer
    assert isinstance(reg, KLSparsity) and (reg.rho, reg.beta) == (0.1, 0.2)
    assert back.evaluate(x, x) == pytest.approx(model.evaluate(x, x), rel=1e-6)


# -- KL in training, and the sparse recipe from the command line ------------------------------
def test_kl_makes_a_sparse_code_where_a_bare_sigmoid_code_saturates():
    """The claims of docs/backprop.md#kl-sparsity, on a short run (1,000 digits, 4 epochs)."""
    from scratchae import autoencoders, datasets
    from scratchae.activations import Sigmoid
    data = datasets.load("mnist-5k")
    x, xt = data.x_train[:1000], data.x_test[:300]
    codes = {}
    for name, reg in (("sigmoid", None), ("kl", KLSparsity(0.05, 0.03)), ("l1", None)):
        ae = autoencoders.shallow(16, l1=1e-5 if name == "l1" else None, seed=0)
        if name != "l1":
            code = ae.encoder.layers[-1]
            code.activation, code.activity_regularizer = Sigmoid(), reg
        ae.model.fit(x, x, epochs=4, batch_size=32, verbose=0, seed=0)
        codes[name] = ae.encoder.predict(xt)
    sig, kl, l1_codes = codes["sigmoid"], codes["kl"], codes["l1"]
    assert sig.mean(axis=0).min() > 0.9                 # a bare sigmoid code saturates: every unit on
    assert kl.mean(axis=0).max() < 0.35                 # KL pulls every unit's mean down ...
    assert (kl < 0.05).mean() > 0.1                     # ... and values to zero (0.25 here)
    assert (kl < 0.05).mean() > 5 * (l1_codes < 0.05).mean()


def _train_cli(tmp_path, *args):
    from scratchae.cli import main
    return main(["train", "sparse", "--dataset", "mnist-5k", "--epochs", "1", "--code-size", "8",
                 "--verbose", "0", "--out", str(tmp_path / "run"), *args])


def test_train_sparse_with_kl_from_the_command_line(tmp_path, capsys):
    import json
    from scratchae.models import load_model
    assert _train_cli(tmp_path, "--kl", "0.05", "0.03") == 0
    out = capsys.readouterr().out
    assert "code units (sigmoid, KL rho=0.05 beta=0.03): unit means " in out
    model = load_model(tmp_path / "run" / "sparse.npz")
    code = model.layers[1]
    assert code.activation.name == "sigmoid"
    assert isinstance(code.activity_regularizer, KLSparsity)
    assert (code.activity_regularizer.rho, code.activity_regularizer.beta) == (0.05, 0.03)
    history = json.loads((tmp_path / "run" / "sparse-history.json").read_text())
    assert history["arguments"]["kl"] == [0.05, 0.03] and history["arguments"]["l1"] == 0.0
    assert 0.0 < history["mean_code"] < 1.0


@pytest.mark.parametrize("args, message", [
    (["--kl", "0", "3"], "--kl RHO must be a target mean activation in (0, 1), got 0.0"),
    (["--kl", "1.5", "3"], "in (0, 1), got 1.5"),
    (["--kl", "0.05", "-1"], "--kl BETA must be a finite number >= 0, got -1.0"),
    (["--kl", "0.05", "3", "--l1", "1e-5"], "give --kl or --l1, not both"),
    (["--kl", "0.05", "3", "--use", "l1=broken:l1-sign"], "--kl cannot be combined with --use"),
])
def test_train_kl_bad_arguments(tmp_path, capsys, args, message):
    assert _train_cli(tmp_path, *args) == 2
    assert message in capsys.readouterr().err


def test_train_kl_only_for_the_sparse_recipe(tmp_path, capsys):
    from scratchae.cli import main
    assert main(["train", "vanilla", "--kl", "0.05", "3", "--out", str(tmp_path)]) == 2
    assert "--kl applies to the sparse recipe only, not vanilla" in capsys.readouterr().err
