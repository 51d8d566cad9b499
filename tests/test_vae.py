"""The VAE's Sampling layer (`scratchae.vae`): known answers by hand, finite differences of both
inputs with the noise replayed, two wrong backwards caught, the moments of z, a tiny VAE that
trains, and its file round trip."""
import math

import numpy as np
import pytest

from scratchae import datasets
from scratchae.gradcheck import check_layer
from scratchae.layers import LAYERS, Dense, Input, Sampling
from scratchae.models import Model, load_model

EPS0 = [0.1257302210933933, -0.1321048632913019]     # np.random.default_rng(0).standard_normal((1, 2))


def test_sampling_by_hand():
    s = Sampling(dtype="float64")
    s.rng = np.random.default_rng(0)
    mu, lv = np.array([[1.0, -2.0]]), np.array([[0.0, math.log(4.0)]])      # sigma = 1, 2
    z = s.forward([mu, lv], training=True)
    np.testing.assert_allclose(z, [[1.0 + EPS0[0], -2.0 + 2.0 * EPS0[1]]], rtol=1e-15)
    # KL = -0.5 (1 + 0 - 1 - 1) + -0.5 (1 + ln 4 - 4 - 4) = 0.5 + 3.5 - ln 2, N = 1
    assert s.loss_terms()["kl"] == pytest.approx(4.0 - math.log(2.0), rel=1e-14)
    dmu, dlv = s.backward(np.array([[1.0, 3.0]]))
    np.testing.assert_allclose(dmu, [[1.0 + 1.0, 3.0 - 2.0]], rtol=1e-15)        # dz + mu / N
    # dz * 0.5 sigma eps + 0.5 (exp(lv) - 1)
    np.testing.assert_allclose(dlv, [[0.5 * EPS0[0] + 0.0, 3.0 * 0.5 * 2.0 * EPS0[1] + 0.5 * 3.0]],
                               rtol=1e-14)


def test_kl_known_values_and_predict_mode():
    s = Sampling(dtype="float64")
    z = s.forward([np.zeros((3, 4)), np.zeros((3, 4))])
    assert s.loss_terms() == {"kl": 0.0}                        # the prior itself
    np.testing.assert_array_equal(z, 0.0)                       # predict: z = mu
    s.forward([np.ones((3, 4)), np.zeros((3, 4))])
    assert s.kl == pytest.approx(0.5 * 4)                       # 0.5 per unit, 4 units, mean over 3 rows
    dmu, dlv = s.backward(np.full((3, 4), 2.0))
    np.testing.assert_allclose(dmu, 2.0 + 1.0 / 3)
    np.testing.assert_allclose(dlv, 0.0)                        # no dz part when z = mu, exp(0) - 1 = 0
    w = Sampling(kl_weight=1 / 784, dtype="float64")
    w.forward([np.ones((3, 4)), np.zeros((3, 4))])
    assert w.loss_terms()["kl"] == pytest.approx(2.0 / 784) and w.kl == pytest.approx(2.0)


def test_sample_in_predict_and_seed():
    a, b = Sampling(sample_in_predict=True, seed=3), Sampling(seed=3)
    mu, lv = np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32)
    za = a.forward([mu, lv])
    assert not np.array_equal(za, mu)
    np.testing.assert_array_equal(b.forward([mu, lv], training=True), za)     # the same seed


def test_shapes_and_config():
    s = Sampling(kl_weight=0.5, sample_in_predict=True, seed=1, name="z")
    assert s.compute_output_shape([(2,), (2,)]) == (2,)
    with pytest.raises(ValueError, match=r"z_mean \(None, 2\) and z_log_var \(None, 3\)"):
        s.compute_output_shape([(2,), (3,)])
    with pytest.raises(ValueError, match="list of two"):
        s.compute_output_shape((2,))
    again = LAYERS["Sampling"].from_config(s.get_config())
    assert again.get_config() == s.get_config()


# -- finite differences, the noise replayed -------------------------------------------------------
def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(4, 3)), 0.5 * rng.normal(size=(4, 3))]


def test_the_gradient_check_passes_on_both_inputs():
    rep = check_layer(Sampling(kl_weight=0.7, name="s"), inputs())
    assert rep.ok, str(rep)
    assert [r.name for r in rep.rows] == ["s/inputs[0]", "s/inputs[1]"]


class VarianceMixUp(Sampling):
    """keras#3283's mix-up: exp(log_var) where exp(0.5 log_var) belongs, in backward."""

    def backward(self, dz):
        dmu, dlv = super().backward(dz)
        return [dmu, dlv + dz * 0.5 * (np.exp(self._lv) - self._sigma) * self._eps]


class FlippedKL(Sampling):
    def backward(self, dz):
        dmu, dlv = super().backward(dz)
        k = self.kl_weight / len(self._mu)
        return [dmu - 2 * k * self._mu, dlv - k * (np.exp(self._lv) - 1)]


@pytest.mark.parametrize("cls, wrong", [(VarianceMixUp, ["inputs[1]"]),
                                        (FlippedKL, ["inputs[0]", "inputs[1]"])],
                         ids=["variance-mix-up", "flipped-kl"])
def test_wrong_backwards_fail_with_the_input_named(cls, wrong):
    rep = check_layer(cls(name="bad"), inputs(1))
    assert not rep.ok
    failed = [r.name for r in rep.rows if r.verdict == "wrong"]
    assert failed == [f"bad/{w}" for w in wrong], str(rep)
    assert "FAIL" in str(rep) and f"bad/{wrong[0]}" in str(rep)


# -- the moments of z ------------------------------------------------------------------------------
class ForwardMixUp(Sampling):
    def forward(self, inputs, training=False):
        mu, lv = inputs
        return mu + np.exp(lv) * self.generator().standard_normal(np.shape(mu))


def moments_ok(layer, n=20_000, k=4.0):
    """Mean within k standard errors (sigma / sqrt n) of mu, standard deviation within k standard
    errors (about sigma / sqrt(2 n), normal samples) of sigma."""
    mu, lv = np.array([0.5, -1.0]), np.array([math.log(4.0), math.log(0.25)])     # sigma 2, 0.5
    layer.rng = np.random.default_rng(2024)
    z = layer.forward([np.tile(mu, (n, 1)), np.tile(lv, (n, 1))], training=True)
    sigma = np.exp(0.5 * lv)
    mean_ok = np.all(np.abs(z.mean(0) - mu) < k * sigma / math.sqrt(n))
    std_ok = np.all(np.abs(z.std(0, ddof=1) - sigma) < k * sigma / math.sqrt(2 * n))
    return bool(mean_ok and std_ok)


def test_z_has_mean_mu_and_standard_deviation_sigma():
    assert moments_ok(Sampling(dtype="float64"))
    assert not moments_ok(ForwardMixUp(dtype="float64"))      # variance used as the deviation


# -- a tiny VAE ------------------------------------------------------------------------------------
def tiny_vae():
    inp = Input(shape=(784,))
    h = Dense(16, activation="relu", seed=0)(inp)
    mu = Dense(2, seed=1, name="z_mean")(h)
    lv = Dense(2, seed=2, name="z_log_var")(h)
    sampler = Sampling(kl_weight=1 / 784, name="z")
    z = sampler([mu, lv])
    out = Dense(784, activation="sigmoid", seed=4)(Dense(16, activation="relu", seed=3)(z))
    vae = Model(inp, out)
    vae.compile(optimizer="adam", loss="binary_crossentropy")
    return vae, Model(inp, [mu, lv]), sampler


def test_a_tiny_vae_trains_saves_and_loads(tmp_path):
    x = datasets.load("mnist-5k").x_train[:64]
    vae, encoder, sampler = tiny_vae()
    fitted = vae.fit(x, x, epochs=2, batch_size=16, verbose=0, seed=0)
    history = fitted.history
    assert f"{sampler.name}_kl" in fitted.parts and list(history) == ["loss"]
    assert history["loss"][-1] < history["loss"][0]
    codes = encoder.predict(x)
    assert isinstance(codes, list) and [c.shape for c in codes] == [(64, 2), (64, 2)]
    path = tmp_path / "vae.npz"
    vae.save(path)
    again = load_model(path)
    np.testing.assert_allclose(again.predict(x), vae.predict(x), rtol=1e-6, atol=1e-7)
