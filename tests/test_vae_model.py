"""`autoencoders.vae`: the layers of pytorch/examples' VAE, the negative ELBO in nats per image
reduced as its docstring says (checked against the formula written here in NumPy), the whole
model's gradient against finite differences with the noise replayed, a deterministic predict,
sampling from the prior, beta, saving, and bad arguments."""
import numpy as np
import pytest

from scratchae import autoencoders, datasets
from scratchae.gradcheck import check_model
from scratchae.models import load_model


@pytest.fixture(scope="module")
def digits():
    d = datasets.load("mnist-5k")
    return d.x_train[:256], d.x_test[:200]


def test_the_layers_and_their_sizes():
    v = autoencoders.vae(seed=0)
    assert [(l.name, getattr(l, "units", None)) for l in v.model.layers] == [
        ("input", None), ("hidden_1", 400), ("z_mean", 20), ("z_log_var", 20), ("z", None),
        ("hidden_2", 400), ("output", 784)]
    # 784*400+400, 2 * (400*20+20), 20*400+400, 400*784+784
    assert v.model.count_params() == 314_000 + 2 * 8_020 + 8_400 + 314_384 == 652_824
    assert v.latent_dim == 20 and v.sampling is v.model.get_layer("z")
    assert v.model.get_layer("z_mean").activation.__class__.__name__ == "Linear"
    keras = autoencoders.vae(2, 512, seed=0)                  # Keras's MLP VAE example
    assert keras.latent_dim == 2 and keras.model.get_layer("hidden_1").units == 512


def test_the_loss_is_the_negative_elbo_in_nats_per_image(digits):
    x, _ = digits
    v = autoencoders.vae(8, 32, seed=1)
    logs = v.model.evaluate(x, x, return_dict=True)
    # the same numbers from the formula: predict decodes z = mu
    mu, lv = (a.astype(np.float64) for a in v.posterior.predict(x))
    p = np.clip(v.model.predict(x).astype(np.float64), 1e-7, 1 - 1e-7)
    xs = x.astype(np.float64)
    bce = -(xs * np.log(p) + (1 - xs) * np.log(1 - p)).sum(axis=1).mean()     # summed over pixels
    kl = (-0.5 * (1 + lv - mu ** 2 - np.exp(lv))).sum(axis=1).mean()          # summed over units
    assert logs["reconstruction_loss"] == pytest.approx(bce, rel=1e-4)
    assert logs["z_kl"] == pytest.approx(kl, rel=1e-4)
    assert logs["loss"] == pytest.approx(bce + kl, rel=1e-4)
    assert logs["reconstruction_loss"] > 400            # untrained: about 784 ln 2 per image
    np.testing.assert_allclose(v.kl_per_unit(x).sum(), kl, rtol=1e-5)
    half = autoencoders.vae(8, 32, seed=1, beta=0.5).model.evaluate(x, x, return_dict=True)
    assert half["z_kl"] == pytest.approx(0.5 * kl, rel=1e-4)


def test_the_whole_model_passes_the_gradient_check_with_the_noise_replayed():
    rng = np.random.default_rng(0)
    v = autoencoders.vae(3, 5, input_dim=6, seed=2, beta=0.7)
    x = rng.random((4, 6))
    rep = check_model(v.model, x, x)
    assert rep.ok, str(rep)
    assert {r.name.split("/")[0] for r in rep.rows} >= {"hidden_1", "z_mean", "z_log_var", "output"}


def test_the_gradient_check_sees_a_wrong_kl_gradient():
    """The same check fails when Sampling's backward forgets the KL's part of dL/dmu."""
    from scratchae.vae import Sampling

    class NoKLInMu(Sampling):
        def backward(self, dz):
            dmu, dlv = super().backward(dz)
            return [dmu - self.kl_weight * self._mu / len(self._mu), dlv]

    v = autoencoders.vae(3, 5, input_dim=6, seed=2)
    v.sampling.__class__ = NoKLInMu
    x = np.random.default_rng(0).random((4, 6))
    rep = check_model(v.model, x, x)
    assert not rep.ok and "z_mean" in str(rep)


def test_predict_is_deterministic_and_is_the_decoded_mean(digits):
    x, _ = digits
    v = autoencoders.vae(4, 16, seed=3)
    a, b = v.model.predict(x), v.model.predict(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, v.decoder.predict(v.encoder.predict(x)), rtol=1e-6, atol=1e-7)


def test_generate_decodes_draws_from_the_prior():
    v = autoencoders.vae(4, 16, seed=3)
    g = v.generate(5, seed=7)
    assert g.shape == (5, 784) and g.dtype == np.float32 and 0 <= g.min() and g.max() <= 1
    np.testing.assert_array_equal(g, v.generate(5, seed=7))
    z = np.random.default_rng(7).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(g, v.decoder.predict(z))
    with pytest.raises(ValueError, match="n must be"):
        v.generate(0)


def test_it_trains_and_the_history_splits_the_elbo(digits):
    x, xt = digits
    v = autoencoders.vae(4, 32, seed=0)
    h = v.model.fit(x, x, epochs=5, batch_size=32, verbose=0, seed=0).history
    assert set(h) == {"loss", "reconstruction_loss", "z_kl"}
    np.testing.assert_allclose(np.add(h["reconstruction_loss"], h["z_kl"]), h["loss"], rtol=1e-6)
    assert h["loss"][-1] < h["loss"][0] - 100          # nats per image, from about 540
    assert h["z_kl"][-1] > h["z_kl"][0]                 # the code starts to carry something
    off = autoencoders.vae(4, 32, seed=0, beta=0.0)
    assert off.model.fit(x, x, epochs=1, batch_size=64, verbose=0, seed=0).history["z_kl"] == [0.0]


def test_save_and_load_keep_the_vae(tmp_path, digits):
    x, _ = digits
    v = autoencoders.vae(4, 16, seed=5, beta=2.0)
    v.model.fit(x, x, epochs=1, batch_size=64, verbose=0, seed=0)
    path = tmp_path / "vae.npz"
    v.model.save(path)
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(x), v.model.predict(x))
    assert again.loss.reduction == "sum_over_pixels" and again.get_layer("z").kl_weight == 2.0
    assert again.evaluate(x, x) == pytest.approx(v.model.evaluate(x, x), rel=1e-7)


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_dim": 0}, "latent_dim must be"), ({"hidden": -1}, "hidden must be"),
    ({"beta": -1.0}, "beta"), ({"beta": float("nan")}, "beta")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        autoencoders.vae(**kwargs)
