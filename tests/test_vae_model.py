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
    hist = v.model.fit(x, x, epochs=5, batch_size=32, verbose=0, seed=0)
    assert list(hist.history) == ["loss"]                         # Keras's keys: the KL is in loss
    assert list(hist.parts) == ["reconstruction_loss", "z_kl"]    # the split, apart
    h = hist.with_parts()
    np.testing.assert_allclose(np.add(h["reconstruction_loss"], h["z_kl"]), h["loss"], rtol=1e-6)
    assert h["loss"][-1] < h["loss"][0] - 100          # nats per image, from about 540
    assert h["z_kl"][-1] > h["z_kl"][0]                 # the code starts to carry something
    off = autoencoders.vae(4, 32, seed=0, beta=0.0)
    assert off.model.fit(x, x, epochs=1, batch_size=64, verbose=0, seed=0).parts["z_kl"] == [0.0]


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


# -- the figures ---------------------------------------------------------------------------------
def test_the_manifold_grid_and_its_picture_put_each_code_in_its_place():
    from scratchae import figures_vae
    # row by row from the top (z[1] = span) down, z[0] from left to right
    np.testing.assert_array_equal(figures_vae.manifold_grid(2, 1.0),
                                  [[-1, 1], [1, 1], [-1, -1], [1, -1]])
    assert figures_vae.manifold_grid(3).tolist()[4] == [0.0, 0.0]
    decoded = np.zeros((4, 784), np.float32)
    decoded[1, :] = 1.0                                   # the code (1, 1): top right
    sheet = figures_vae.latent_manifold(decoded, 2, 1.0).axes[0].images[0].get_array()
    assert sheet.shape == (56, 56) and sheet[:28, 28:].min() == 1.0 and sheet[:28, :28].max() == 0.0
    assert sheet[28:].max() == 0.0
    with pytest.raises(ValueError, match="n \\* n = 9"):
        figures_vae.latent_manifold(decoded, 3)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        figures_vae.manifold_grid(1)


def test_prior_samples_sheet_and_the_kl_figure():
    from scratchae import figures_vae
    images = np.zeros((3, 784), np.float32)
    images[2] = 1.0
    sheet = figures_vae.prior_samples(images, columns=2).axes[0].images[0].get_array()
    assert sheet.shape == (56, 56) and sheet[28:, :28].min() == 1.0 and sheet[:28].max() == 0.0
    kl = [0.0, 0.5, 0.09, 2.0]
    assert figures_vae.units_in_use(kl) == 2
    fig = figures_vae.kl_units(kl)
    assert fig.axes[0].get_title().startswith("2 of 4 units in use") and "total 2.6 nats" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=">= 0, one per latent unit"):
        figures_vae.kl_units([1.0, -0.5])
    with pytest.raises(ValueError, match="shape \\(N, 2\\)"):
        figures_vae.latent_scatter(np.zeros((4, 3)), [0, 1, 2, 3])


def test_elbo_parts_draws_the_history_it_is_given():
    from scratchae import figures_vae
    h = {"loss": [300.0, 200.0], "reconstruction_loss": [280.0, 185.0], "z_kl": [20.0, 15.0]}
    left, right = figures_vae.elbo_parts(h).axes
    assert [list(l.get_ydata()) for l in left.lines] == [h["loss"], h["reconstruction_loss"]]
    assert list(right.lines[0].get_ydata()) == h["z_kl"]
    with pytest.raises(ValueError, match="no 'z_kl' entry"):
        figures_vae.elbo_parts({"loss": [1.0], "reconstruction_loss": [1.0]})


# -- scratchae train vae ---------------------------------------------------------------------------
def test_train_vae_writes_the_elbo_and_its_figures(tmp_path, capsys):
    import json

    from scratchae.cli import main
    from test_report_html import check_page

    out = tmp_path / "run"
    assert main(["train", "vae", "--dataset", "mnist-5k", "--epochs", "2", "--code-size", "2",
                 "--hidden-size", "32", "--beta", "0.5", "--verbose", "0", "--monitor", "0",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test loss (reconstruction + 0.5 KL):" in printed and "of 2 latent units carry" in printed
    history = json.loads((out / "vae-history.json").read_text())
    assert history["arguments"]["batch_size"] == 128 and history["arguments"]["beta"] == 0.5
    h = history["history"]
    assert set(h) == {"loss", "reconstruction_loss", "z_kl"} and h["loss"][1] < h["loss"][0]
    assert len(history["test_kl_per_unit"]) == 2
    assert history["test"]["z_kl"] == pytest.approx(0.5 * sum(history["test_kl_per_unit"]), rel=1e-4)
    assert 100 < history["test_loss"] < 400                      # nats per image, not per pixel
    page = check_page(out)
    for name in ("vae-samples.png", "vae-kl-units.png", "vae-latent.png", "vae-manifold.png", "vae-loss.png"):
        assert name in page.images
    model = load_model(out / "vae.npz")
    assert model.get_layer("z").kl_weight == 0.5 and model.get_layer("z_mean").units == 2
    # a 20-unit latent: no plane to draw
    out20 = tmp_path / "run20"
    assert main(["train", "vae", "--dataset", "mnist-5k", "--epochs", "1", "--hidden-size", "16",
                 "--verbose", "0", "--monitor", "0", "--out", str(out20)]) == 0
    assert "test negative ELBO:" in capsys.readouterr().out
    assert (out20 / "vae-samples.png").exists() and not (out20 / "vae-manifold.png").exists()
    assert load_model(out20 / "vae.npz").get_layer("z_mean").units == 20


@pytest.mark.parametrize("argv, words", [
    (["train", "vanilla", "--beta", "2"], "--beta applies to vae only"),
    (["train", "vae", "--beta", "-1"], "--beta must be a finite number >= 0"),
    (["train", "vae", "--code-size", "0"], "--code-size must be a positive integer"),
])
def test_train_vae_arguments_are_checked_first(argv, words, tmp_path, capsys):
    from scratchae.cli import main
    assert main(argv + ["--dataset", "mnist-5k", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert words in err and not (tmp_path / "run").exists()


# -- a model called on tensors: Keras's encoder / decoder split ----------------------------------------
def keras_split(width=784, hidden=16):
    from scratchae.layers import Dense, Input, Sampling
    from scratchae.losses import BinaryCrossentropy
    from scratchae.models import Model
    inputs = Input(shape=(width,), name="encoder_input")
    x = Dense(hidden, activation="relu", seed=0)(inputs)
    z_mean, z_log_var = Dense(2, name="z_mean", seed=1)(x), Dense(2, name="z_log_var", seed=2)(x)
    z = Sampling(name="z")([z_mean, z_log_var])
    encoder = Model(inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = Input(shape=(2,), name="z_sampling")
    x = Dense(hidden, activation="relu", seed=3)(latent_inputs)
    decoder = Model(latent_inputs, Dense(width, activation="sigmoid", seed=4)(x), name="decoder")
    vae = Model(inputs, decoder(encoder(inputs)[2]), name="vae_mlp")
    vae.compile(optimizer="adam", loss=BinaryCrossentropy(reduction="sum_over_pixels"))
    return vae, encoder, decoder


def test_a_model_called_on_tensors_shares_its_layers(digits):
    x, _ = digits
    vae, encoder, decoder = keras_split()
    assert vae.layers[0] is encoder.layers[0] and len(vae.layers) == 7
    assert {l.name for l in vae.layers} == {l.name for l in encoder.layers} | {l.name for l in decoder.layers[1:]}
    assert all(any(l is m for m in encoder.layers + decoder.layers) for l in vae.layers[1:])
    before = encoder.predict(x)[0]
    h = vae.fit(x, x, epochs=2, batch_size=64, verbose=0, seed=0)
    assert set(h.history) == {"loss"} and set(h.parts) == {"reconstruction_loss", "z_kl"}  # the KL came along
    assert not np.array_equal(encoder.predict(x)[0], before)            # the same weights trained
    np.testing.assert_allclose(vae.predict(x), decoder.predict(encoder.predict(x)[0]), rtol=1e-6, atol=1e-7)
    assert check_model(*_small_split()).ok


def _small_split():
    vae, _, _ = keras_split(width=5, hidden=3)
    x = np.random.default_rng(1).random((4, 5))
    return vae, x, x


def test_a_model_call_checks_its_inputs():
    from scratchae.layers import Input
    vae, encoder, decoder = keras_split()
    with pytest.raises(ValueError, match=r"input 0 must have shape \(None, 2\), got \(None, 3\)"):
        decoder(Input(shape=(3,)))
    with pytest.raises(ValueError, match="takes 1 input"):
        decoder([Input(shape=(2,)), Input(shape=(2,))])
    z = np.zeros((3, 2), np.float32)
    np.testing.assert_array_equal(decoder(z), decoder.predict(z))       # arrays: the forward
