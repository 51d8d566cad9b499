"""The contractive penalty (`scratchae.contractive`): the worked case of
docs/backprop.md#the-contractive-penalty, float64 finite differences through scratchae.gradcheck,
the Jacobian measured numerically against the layer's term (the check a gradient check cannot
make, shown on the shipped mistakes that a gradient check passes), the model and the command."""
import json
import math

import numpy as np
import pytest

from scratchae import autoencoders
from scratchae.cli import main
from scratchae.contractive import (DEFAULT_LAM, ContractiveDense, check_contractive,
                                   frobenius_norms, jacobian_norms)
from scratchae.exercises.broken import LAYERS_BROKEN, MeanFrobeniusContractive, SquaredSumContractive
from scratchae.gradcheck import check_layer, check_model
from scratchae.layers import Dense
from scratchae.models import load_model


def worked_layer(lam: float = 1.0) -> ContractiveDense:
    """The case worked by hand: W = [[1], [1]], b = ln 3, so x = [1, -1] gives z = ln 3."""
    layer = ContractiveDense(1, lam=lam, input_dim=2, dtype="float64")
    layer.set_weights([np.array([[1.0], [1.0]]), np.array([math.log(3.0)])])
    return layer


def random_layer(cls=ContractiveDense, lam=0.7, inputs=7, units=4, seed=0) -> ContractiveDense:
    layer = cls(units, lam=lam, input_dim=inputs, dtype="float64", seed=seed)
    layer.params["bias"][...] = np.linspace(-1, 1, units)
    return layer


# -- the worked case ------------------------------------------------------------------------------
def test_the_case_worked_by_hand():
    layer = worked_layer()
    x = np.array([[1.0, -1.0]])
    h = layer.forward(x)
    np.testing.assert_allclose(h, [[0.75]], rtol=1e-15)               # sigmoid(ln 3) = 3/4
    # s = 3/16, c = 1^2 + 1^2 = 2: ||J||_F^2 = (3/16)^2 * 2 = 9/128
    assert layer.loss_terms() == {"contractive": pytest.approx(9 / 128, rel=1e-14)}
    assert layer.penalty == pytest.approx(9 / 128, rel=1e-14)
    layer.zero_grads()
    dx = layer.backward(np.zeros((1, 1)))           # the penalty's gradient alone
    # dP/dz = 2 c s^2 (1 - 2h) = 2 * 2 * 9/256 * (-1/2) = -9/128
    np.testing.assert_allclose(layer.grads["bias"], [-9 / 128], rtol=1e-14)
    np.testing.assert_allclose(dx, [[-9 / 128, -9 / 128]], rtol=1e-14)      # dP/dz . W^T
    # dP/dW = x^T dP/dz + 2 W s^2 = [[-9/128 + 9/128], [9/128 + 9/128]]
    np.testing.assert_allclose(layer.grads["kernel"], [[0.0], [9 / 64]], atol=1e-16, rtol=1e-14)


def test_a_mean_over_the_batch_and_lam_in_front():
    layer = worked_layer(lam=2.0)
    x = np.array([[1.0, -1.0]])
    layer.forward(np.vstack([x, x, x]))
    assert layer.penalty == pytest.approx(2.0 * 9 / 128, rel=1e-14)    # the same for 3 copies
    assert layer.penalty_scale(3) == 2.0 / 3


def test_lam_zero_is_a_sigmoid_dense_layer():
    layer = random_layer(lam=0.0)
    plain = Dense(4, activation="sigmoid", input_dim=7, dtype="float64")
    plain.set_weights(layer.get_weights())
    x = np.random.default_rng(1).normal(size=(5, 7))
    dy = np.random.default_rng(2).normal(size=(5, 4))
    np.testing.assert_array_equal(layer.forward(x), plain.forward(x))
    assert layer.loss_terms() == {"contractive": 0.0}
    np.testing.assert_allclose(layer.backward(dy), plain.backward(dy), rtol=1e-15)
    for key in ("kernel", "bias"):
        np.testing.assert_allclose(layer.grads[key], plain.grads[key], rtol=1e-15)


def test_refusals():
    with pytest.raises(ValueError, match="lam"):
        ContractiveDense(3, lam=-1.0)
    with pytest.raises(TypeError):
        ContractiveDense(3, activation="relu")      # the closed form is the sigmoid's
    with pytest.raises(RuntimeError, match="before forward"):
        random_layer().backward(np.zeros((1, 4)))


# -- finite differences ---------------------------------------------------------------------------
def test_the_gradients_pass_the_gradient_check():
    layer = random_layer()
    x = np.random.default_rng(3).normal(size=(6, 7))
    rep = check_layer(layer, x)
    assert rep.ok, str(rep)
    assert {r.tensor for r in rep.rows} >= {"kernel", "bias", "x"}
    # the penalty alone (dy = 0): its gradients are what is compared
    rep = check_layer(random_layer(lam=50.0), x, dy=np.zeros((6, 4)))
    assert rep.ok, str(rep)


def test_the_contractive_autoencoder_passes_the_model_check():
    ae = autoencoders.contractive(code_size=5, lam=0.5, input_dim=12, seed=0)
    x = np.random.default_rng(4).uniform(0.05, 0.95, (6, 12))
    rep = check_model(ae.model, x, x)
    assert rep.ok, str(rep)


# -- the Jacobian, measured ------------------------------------------------------------------------
def test_the_measured_jacobian_is_the_closed_form():
    layer = random_layer()
    x = np.random.default_rng(5).normal(size=(6, 7))
    numeric = jacobian_norms(layer, x)
    np.testing.assert_allclose(numeric, frobenius_norms(layer, x), rtol=1e-8)
    # and the Jacobian entry by entry for one row: dh[j]/dx[i] = s[j] W[i, j]
    h = layer.forward(x[:1])
    s = h * (1 - h)
    assert float(((s * layer.params["kernel"]) ** 2).sum()) == pytest.approx(numeric[0], rel=1e-8)
    assert check_contractive(layer, x) is None


def test_a_mean_where_the_frobenius_sum_belongs_passes_a_gradient_check_not_the_jacobian_check():
    b = LAYERS_BROKEN["contractive-mean"]
    assert b.cls is MeanFrobeniusContractive and not b.gradient_check
    layer = MeanFrobeniusContractive(32, lam=1.0, input_dim=784, seed=0)
    x = np.random.default_rng(6).uniform(0, 1, (4, 784))
    # forward and backward agree with each other: the gradient check passes it
    small = MeanFrobeniusContractive(4, lam=5.0, input_dim=7, dtype="float64", seed=0)
    assert check_layer(small, np.random.default_rng(7).normal(size=(5, 7))).ok
    said = check_contractive(layer, x)
    assert said is not None
    assert "1/(784*32)" in said and "a mean where the Frobenius sum belongs?" in said, said
    good = ContractiveDense(32, lam=1.0, input_dim=784, seed=0)
    assert check_contractive(good, x) is None
    good.forward(x)
    layer.forward(x)
    assert layer.penalty * 784 * 32 == pytest.approx(good.penalty, rel=1e-6)


def test_the_weights_summed_then_squared_is_named_too():
    assert LAYERS_BROKEN["contractive-sum-squared"].cls is SquaredSumContractive
    small = SquaredSumContractive(4, lam=5.0, input_dim=7, dtype="float64", seed=0)
    assert check_layer(small, np.random.default_rng(8).normal(size=(5, 7))).ok
    said = check_contractive(small, np.random.default_rng(9).normal(size=(5, 7)))
    assert said is not None and "summed, then squared" in said, said


def test_the_jacobian_check_names_other_factors():
    class SummedOverTheBatch(ContractiveDense):
        def penalty_scale(self, n):
            return self.lam

    x = np.random.default_rng(10).normal(size=(5, 7))
    said = check_contractive(SummedOverTheBatch(4, lam=1.0, input_dim=7, seed=0), x)
    assert "5 (the batch size)" in said and "sum over the batch" in said, said
    with pytest.raises(ValueError, match="no 'contractive' loss term"):
        check_contractive(Dense(3, input_dim=7), x)


# -- configs, files, the model, the command -----------------------------------------------------------
def test_config_round_trip():
    layer = ContractiveDense(5, lam=0.02, input_dim=9, name="code")
    cfg = layer.get_config()
    assert cfg["lam"] == 0.02 and "activation" not in cfg and "activity_regularizer" not in cfg
    json.dumps(cfg)
    again = ContractiveDense.from_config(cfg)
    assert again.get_config() == cfg and again.activation.name == "sigmoid"


def test_save_and_load(tmp_path):
    ae = autoencoders.contractive(code_size=4, lam=0.05, input_dim=10, seed=0)
    x = np.random.default_rng(11).uniform(0, 1, (30, 10)).astype(np.float32)
    history = ae.model.fit(x, x, epochs=2, verbose=0, seed=0)
    assert set(history.history) == {"loss"} and set(history.parts) == {"reconstruction_loss", "code_contractive"}
    ae.model.save(tmp_path / "c.npz")
    loaded = load_model(tmp_path / "c.npz")
    code = loaded.get_layer("code")
    assert isinstance(code, ContractiveDense) and code.lam == 0.05
    np.testing.assert_array_equal(loaded.predict(x), ae.model.predict(x))
    assert loaded.evaluate(x, x, return_dict=True) == ae.model.evaluate(x, x, return_dict=True)


def test_the_contractive_autoencoder():
    x = np.random.default_rng(12).uniform(0, 1, (20, 784)).astype(np.float32)
    ae = autoencoders.contractive(seed=0, mean_image=x.mean(axis=0))
    code, out = ae.model.chain
    assert isinstance(code, ContractiveDense) and code.lam == DEFAULT_LAM and code.units == 32
    assert type(out) is Dense and out.activation.name == "sigmoid" and ae.model.fused
    np.testing.assert_allclose(out.params["bias"], autoencoders.mean_logits(x.mean(axis=0)), rtol=1e-6)
    np.testing.assert_array_equal(ae.decoder.predict(ae.encoder.predict(x)), ae.model.predict(x))
    assert autoencoders.RECIPES["contractive"] == {"epochs": 20, "lam": DEFAULT_LAM}
    assert autoencoders.mean_logits(np.array([0.0, 0.5, 1.0]))[1] == 0.0
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        autoencoders.mean_logits(np.array([2.0]))


@pytest.mark.slow
def test_train_contractive_on_the_bundled_digits(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "contractive", "--dataset", "mnist-5k", "--epochs", "1", "--lam", "0.01",
                 "--verbose", "0", "--monitor", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "code Jacobian: mean ||dh/dx||_F^2" in printed and "(lam=0.01)" in printed
    history = json.loads((out / "contractive-history.json").read_text())
    assert history["arguments"]["lam"] == 0.01 and history["test_jacobian_norm"] > 0
    penalty = history["history"]["code_contractive"][0]
    assert 0 < penalty < history["loss"][0]
    assert history["reconstruction_loss"][0] + penalty == pytest.approx(history["loss"][0])
    assert history["test_reconstruction_loss"] < 0.3            # the code is not a saturated constant
    model = load_model(out / "contractive.npz")
    assert model.get_layer("code").lam == 0.01


@pytest.mark.parametrize("argv, words", [
    (["train", "tied", "--lam", "0.1"], "--lam applies to contractive only"),
    (["train", "contractive", "--lam", "-1"], "--lam must be a finite number >= 0"),
    (["train", "contractive", "--l1", "0.001"], "--l1 applies to the article's models"),
    (["train", "contractive", "--hidden-size", "64"], "--hidden-size applies to vanilla and denoising (and tied, vae)"),
    (["train", "tied", "--use", "dense=broken:dense-zero-dx"], "--use plugs your pieces into the article's models"),
])
def test_the_new_models_arguments_are_checked_first(argv, words, tmp_path, capsys):
    assert main(argv + ["--dataset", "mnist-5k", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_the_command_line_shows_each_layer_mistake_caught(capsys):
    """`scratchae gradcheck --broken NAME` for the mistakes beyond the exercises: the contractive
    mean passes the gradient check and is named by the Jacobian check; the tied decoder that
    assigns its gradient fails the model's gradient check; --list names all three."""
    from scratchae.cli import main

    assert main(["gradcheck", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("contractive-mean", "contractive-sum-squared", "tied-assigns-gradient"):
        assert name in listed
    assert main(["gradcheck", "--broken", "contractive-mean"]) == 1
    out = capsys.readouterr().out
    assert "PASS: check_model contractive-mean_autoencoder" in out
    assert "a mean where the Frobenius sum belongs?" in out and "contractive-mean: caught" in out
    assert main(["gradcheck", "--broken", "tied-assigns-gradient"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: check_model tied-assigns-gradient_autoencoder" in out and "at code/kernel" in out
    assert main(["gradcheck", "--broken", "contractive-mean", "--model", "vanilla"]) == 2
