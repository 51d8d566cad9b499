"""`scratchae train conv` and `conv-denoising`, end to end on a tiny IDX folder, and the
figures of `scratchae.figures_conv` checked against numbers worked by hand.

The runs go through `scratchae.cli.main` in this process, on 96 training and 8 test digits
(one batch of the recipe's 128 per epoch) with t-SNE off, so each takes a few seconds.
"""
import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest

from scratchae import autoencoders, figures_conv
from scratchae.cli import UsageError, main
from scratchae.datasets import add_gaussian_noise, load, mnist, write_idx
from scratchae.layers import Conv2D, Dense, Input, MaxPooling2D, UpSampling2D
from scratchae.models import Model, load_model
from test_report_html import check_page

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory) -> Path:
    """96 training and 8 test digits of the bundled subset as a folder of IDX files."""
    (x, y), (xt, yt) = mnist.load_subset()
    folder = tmp_path_factory.mktemp("digits")
    write_idx(folder / "train-images-idx3-ubyte", x[:96])
    write_idx(folder / "train-labels-idx1-ubyte", y[:96])
    write_idx(folder / "t10k-images-idx3-ubyte", xt[:8])
    write_idx(folder / "t10k-labels-idx1-ubyte", yt[:8])
    return folder


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG, path
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.std() > 0, f"{path} is blank"


def test_train_conv_writes_its_model_filters_and_feature_maps(digits_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "conv", "--dataset", str(digits_folder), "--epochs", "2", "--tsne", "0",
                 "--monitor", "1", "--verbose", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "conv " in printed and "Wrote 15 files" in printed
    history = json.loads((out / "conv-history.json").read_text())
    assert history["arguments"]["batch_size"] == 128                 # the blog's batch
    assert history["arguments"]["code_size"] is None and history["arguments"]["noise_factor"] is None
    assert history["epochs"] == 2 and len(history["history"]["loss"]) == 2
    assert history["dataset"]["train"] == 96 and history["dataset"]["test"] == 8
    for name in ("conv-reconstructions.png", "conv-loss.png", "conv-codes.png", "conv-filters.png",
                 "conv-feature-maps.png", "conv-code-space.png", "conv-interpolation.png",
                 "conv-gradients.png", "conv-unit-health.png"):
        assert_png(out / name)
    assert not (out / "conv-weights.png").exists()                   # a dense model's figure
    page = check_page(out)
    assert {"conv-filters.png", "conv-feature-maps.png", "conv-reconstructions.png"} <= set(page.images)

    # save/load: the file is the blog's model, and it gives the test loss the run recorded
    model = load_model(out / "conv.npz")
    assert model.count_params() == 4385
    assert [type(l).__name__ for l in model.chain] == \
        ["Conv2D", "MaxPooling2D"] * 3 + ["Conv2D", "UpSampling2D"] * 3 + ["Conv2D"]
    assert model.get_layer("code").output_shape[1:] == (4, 4, 8)
    xt = load(str(digits_folder)).x_test.reshape(-1, 28, 28, 1)
    assert model.predict(xt).shape == (8, 28, 28, 1)
    assert model.evaluate(xt, xt) == pytest.approx(history["test_loss"], rel=1e-5)
    fresh = autoencoders.convolutional(seed=0).model                 # what training changed
    assert fresh.evaluate(xt, xt) != pytest.approx(history["test_loss"], rel=1e-3)


def test_train_conv_denoising_trains_on_noisy_inputs(digits_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "conv-denoising", "--dataset", str(digits_folder), "--epochs", "1",
                 "--tsne", "0", "--monitor", "0", "--verbose", "0", "--out", str(out)]) == 0
    history = json.loads((out / "conv-denoising-history.json").read_text())
    assert history["arguments"]["noise_factor"] == 0.5               # the blog's noise factor
    assert_png(out / "conv-denoising.png")                           # clean / noisy / output
    assert_png(out / "conv-denoising-filters.png")
    page = check_page(out)
    assert "conv-denoising.png" in page.images and "Denoising" in (out / "index.html").read_text()
    model = load_model(out / "conv-denoising.npz")
    assert model.count_params() == 28353 and model.get_layer("code").output_shape[1:] == (7, 7, 32)
    # the recorded test loss is the loss on noisy test inputs (seed + 1) against clean targets
    xt = load(str(digits_folder)).x_test
    noisy = add_gaussian_noise(xt, 0.5, seed=1).reshape(-1, 28, 28, 1)
    clean = xt.reshape(-1, 28, 28, 1)
    assert model.evaluate(noisy, clean) == pytest.approx(history["test_loss"], rel=1e-5)
    assert model.evaluate(clean, clean) != pytest.approx(history["test_loss"], rel=1e-3)


def settings_of(argv, monkeypatch):
    """The settings `train` resolves from argv, without loading data or training."""
    from scratchae.cli import train

    seen = {}

    def stop(args):
        seen.update(train._check_train(args))
        return 0

    monkeypatch.setattr(train, "run_train", stop)
    assert main(argv) == 0
    return seen


def test_the_conv_recipes_defaults(monkeypatch):
    conv = settings_of(["train", "conv"], monkeypatch)
    assert (conv["epochs"], conv["batch_size"], conv["dataset"]) == (50, 128, "mnist-5k")
    den = settings_of(["train", "conv-denoising"], monkeypatch)
    assert (den["epochs"], den["batch_size"], den["noise_factor"]) == (15, 128, 0.5)
    assert settings_of(["train", "conv-denoising", "--noise-factor", "0.2"], monkeypatch)["noise_factor"] == 0.2
    assert settings_of(["train", "conv", "--dataset", "mnist"], monkeypatch)["dataset"] == "mnist"
    assert settings_of(["train", "vanilla"], monkeypatch)["dataset"] == "auto"       # unchanged


@pytest.mark.parametrize("argv, words", [
    (["train", "conv", "--code-size", "8"], "the Keras blog's fixed layers"),
    (["train", "conv-denoising", "--hidden-size", "8"], "--code-size and --hidden-size apply to the dense"),
    (["train", "conv", "--noise-factor", "0.3"], "--noise-factor applies to denoising and conv-denoising only"),
    (["train", "conv-denoising", "--noise-factor", "2"], "--noise-factor must be in [0, 1]"),
    (["train", "conv", "--use", "dense=x.py"], "--use plugs your pieces into the article's models"),
    (["train", "conv", "--l1", "0.1"], "--l1 applies to the article's models"),
])
def test_conv_arguments_are_checked_before_anything(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Model, "fit", lambda *a, **k: pytest.fail("training started"))
    assert main(argv + ["--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "r").exists()


def test_images_of_another_size_are_refused():
    from scratchae.cli.train import _images

    data = SimpleNamespace(name="mine", x_train=np.zeros((4, 100), np.float32))
    with pytest.raises(UsageError, match="conv takes 28x28 images .* mine has 100 pixels"):
        _images("conv", data, (data.x_train,))
    data.x_train = np.zeros((4, 784), np.float32)
    assert _images("conv", data, (data.x_train,))[0].shape == (4, 28, 28, 1)


def test_the_flat_views_are_the_same_layers():
    from scratchae.cli.train import _flat_views

    ae = autoencoders.convolutional(seed=3)
    x = load("mnist-5k").x_test[:5]
    flat = _flat_views(ae)
    images = x.reshape(-1, 28, 28, 1)
    np.testing.assert_array_equal(flat.model.predict(x), ae.model.predict(images).reshape(5, 784))
    codes = ae.encoder.predict(images)
    np.testing.assert_array_equal(flat.encoder.predict(x), codes.reshape(5, 128))
    np.testing.assert_array_equal(flat.decoder.predict(codes.reshape(5, 128)),
                                  ae.decoder.predict(codes).reshape(5, 784))
    ae.model.get_layer("output").params["bias"][...] += 1.0           # shared, not copied
    np.testing.assert_array_equal(flat.model.predict(x), ae.model.predict(images).reshape(5, 784))


# -- figures_conv ----------------------------------------------------------------------------
def image_axes(fig):
    """The Axes that hold images (not the colour bar's), in order."""
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def test_filters_draws_each_kernel_on_one_scale_centred_on_zero():
    kernel = np.arange(3 * 3 * 1 * 4, dtype=np.float64).reshape(3, 3, 1, 4) - 10.0   # -10 .. 25
    fig = figures_conv.filters(kernel)
    [ax] = image_axes(fig)
    assert len(ax.images) == 4
    for i, image in enumerate(ax.images):
        np.testing.assert_array_equal(image.get_array(), kernel[:, :, 0, i])
        assert image.get_clim() == (-25.0, 25.0)                     # the largest |weight|
    texts = [t.get_text() for t in ax.texts]
    assert texts[:4] == [f"filter {i}" for i in range(4)]
    assert texts[4:7] == ["-10.00", "-6.00", "-2.00"]                 # K[0, 0..2, 0, 0], row 0 of filter 0
    two = figures_conv.filters(np.ones((3, 3, 2, 5)))                # 2 inputs x 5 filters
    assert len(image_axes(two)[0].images) == 10
    for bad, err in [(np.ones((3, 3, 4)), ValueError), (np.array([["a"]]), TypeError),
                     (np.full((3, 3, 1, 2), np.nan), ValueError)]:
        with pytest.raises(err, match="kernel"):
            figures_conv.filters(bad)


def hand_model():
    """Input (3, 3, 1) -> Conv2D 1 filter 2x2 of ones, no bias -> MaxPooling2D 2x2 -> UpSampling2D."""
    x = Input(shape=(3, 3, 1))
    conv = Conv2D(1, (2, 2), use_bias=False, name="conv")
    h = conv(x)
    conv.params["kernel"][...] = 1.0
    model = Model(x, UpSampling2D((2, 2), name="up")(MaxPooling2D((2, 2), name="pool")(h)))
    model.compile(loss="mse")
    return model


def test_layer_outputs_by_hand():
    image = np.arange(9, dtype=np.float32).reshape(3, 3)             # 0 1 2 / 3 4 5 / 6 7 8
    outputs = figures_conv.layer_outputs(hand_model(), image.ravel())   # a flat image, as (3, 3, 1)
    assert [n for n, _ in outputs] == ["input", "conv", "pool", "up"]
    np.testing.assert_array_equal(outputs[0][1][:, :, 0], image)
    # each output pixel the sum of a 2x2 window: 0+1+3+4, 1+2+4+5 / 3+4+6+7, 4+5+7+8
    np.testing.assert_array_equal(outputs[1][1][:, :, 0], [[8, 12], [20, 24]])
    np.testing.assert_array_equal(outputs[2][1][:, :, 0], [[24]])
    np.testing.assert_array_equal(outputs[3][1][:, :, 0], [[24, 24], [24, 24]])
    with pytest.raises(ValueError, match=r"input shape \(3, 3, 1\)"):
        figures_conv.layer_outputs(hand_model(), np.zeros((4, 4, 1)))


def test_feature_maps_one_grid_per_layer_each_on_its_own_scale():
    rng = np.random.default_rng(0)
    maps = [("a", rng.random((6, 6, 3))), ("b", 5 + rng.random((3, 3, 40)))]
    fig = figures_conv.feature_maps(maps)
    first, second = image_axes(fig)                                  # one grid per layer
    assert len(first.images) == 3 and len(second.images) == figures_conv.MAX_CHANNELS   # the first 32
    assert first.get_title(loc="left").startswith("a: 6x6, 3 channel(s); scale")
    assert "the first 32 of 40 channels" in second.get_title(loc="left")
    assert first.images[0].get_clim() == pytest.approx((maps[0][1].min(), maps[0][1].max()))
    np.testing.assert_array_equal(second.images[1].get_array(), maps[1][1][:, :, 1])
    assert second.images[1].get_clim() == pytest.approx((maps[1][1].min(), maps[1][1].max()))
    with pytest.raises(ValueError, match=r"'code' must be an \(H, W, C\) image"):
        figures_conv.feature_maps([("code", np.ones(8))])
    with pytest.raises(ValueError, match="at least one"):
        figures_conv.feature_maps([])


def test_layer_outputs_refuses_a_dense_models_vector_in_feature_maps():
    x = Input(shape=(784,))
    model = Model(x, Dense(4, seed=0, name="d")(x))
    outputs = figures_conv.layer_outputs(model, np.zeros(784, np.float32))
    with pytest.raises(ValueError, match="'input' must be an"):
        figures_conv.feature_maps(outputs)
