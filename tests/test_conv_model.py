"""Convolutional models end to end: the Keras blog's code port, Input of image shape through
check_data, fit, predict, evaluate, summary(), save and load, the losses on (N, 28, 28, 1),
a whole conv model's gradients against finite differences, and a tiny conv autoencoder whose
loss goes down on a few bundled digits."""
import json
import math

import numpy as np
import pytest

from scratchae import autoencoders, datasets
from scratchae.gradcheck import numerical_gradient, rel_error
from scratchae.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, Reshape, UpSampling2D
from scratchae.losses import BinaryCrossentropy, MeanSquaredError
from scratchae.models import Model, Sequential, load_model

# the blog's shapes, worked out by hand: 'same' keeps the size, each pool halves it rounding up
# (7 -> 4), the one 'valid' 3x3 takes 16 to 14, each upsampling doubles
BLOG_SHAPES = [(28, 28, 16), (14, 14, 16), (14, 14, 8), (7, 7, 8), (7, 7, 8), (4, 4, 8),
               (4, 4, 8), (8, 8, 8), (8, 8, 8), (16, 16, 8), (14, 14, 16), (28, 28, 16), (28, 28, 1)]
# parameters: 3*3*in*out + out for each Conv2D
BLOG_PARAMS = (9 * 1 * 16 + 16) + (9 * 16 * 8 + 8) + 3 * (9 * 8 * 8 + 8) + (9 * 8 * 16 + 16) + (9 * 16 * 1 + 1)


def blog_port():
    """The blog's lines, only the imports changed."""
    input_img = Input(shape=(28, 28, 1))
    x = Conv2D(16, (3, 3), activation='relu', padding='same')(input_img)
    x = MaxPooling2D((2, 2), padding='same')(x)
    x = Conv2D(8, (3, 3), activation='relu', padding='same')(x)
    x = MaxPooling2D((2, 2), padding='same')(x)
    x = Conv2D(8, (3, 3), activation='relu', padding='same')(x)
    encoded = MaxPooling2D((2, 2), padding='same')(x)
    x = Conv2D(8, (3, 3), activation='relu', padding='same')(encoded)
    x = UpSampling2D((2, 2))(x)
    x = Conv2D(8, (3, 3), activation='relu', padding='same')(x)
    x = UpSampling2D((2, 2))(x)
    x = Conv2D(16, (3, 3), activation='relu')(x)
    x = UpSampling2D((2, 2))(x)
    decoded = Conv2D(1, (3, 3), activation='sigmoid', padding='same')(x)
    autoencoder = Model(input_img, decoded)
    autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
    return autoencoder


@pytest.fixture(scope="module")
def digits():
    return datasets.load("mnist-5k").x_train[:64].reshape(-1, 28, 28, 1)


def test_the_blog_port_and_the_builder_have_the_blogs_layers():
    port, ae = blog_port(), autoencoders.convolutional(seed=0)
    assert BLOG_PARAMS == 4385
    for model in (port, ae.model):
        assert [l.output_shape[1:] for l in model.chain] == BLOG_SHAPES
        assert model.count_params() == BLOG_PARAMS
        assert [type(l).__name__ for l in model.chain] == [type(l).__name__ for l in port.chain]
    convs = [l for l in ae.model.chain if isinstance(l, Conv2D)]
    assert [l.padding for l in convs] == ["same"] * 5 + ["valid", "same"]
    assert [l.activation.name for l in convs] == ["relu"] * 6 + ["sigmoid"]
    assert ae.encoder.chain[-1].output_shape == (None, 4, 4, 8)
    assert ae.decoder.layers[0].input_shape == (4, 4, 8)
    assert ae.decoder.chain[0] is ae.model.chain[6]                 # the decoder shares the layers


def test_summary_shows_image_shapes():
    lines = []
    blog_port().summary(print_fn=lines.append)
    text = lines[0]
    assert "(None, 28, 28, 1)" in text and "(None, 4, 4, 8)" in text and "(None, 14, 14, 16)" in text
    assert "Total params: 4,385" in text
    row = next(l for l in text.splitlines() if "max_pooling2d" in l and "(None, 14, 14, 16)" in l)
    assert "(MaxPooling2D)" in row                                 # a column wide enough for both


def test_fit_predict_evaluate_and_the_loss_goes_down(digits):
    ae = autoencoders.convolutional(seed=0)
    model = ae.model
    before = model.evaluate(digits, digits)
    losses = [model.train_on_batch(digits, digits) for _ in range(8)]
    assert losses[-1] < losses[0] - 0.02, losses                   # from about 0.69
    hist = model.fit(digits, digits, epochs=2, batch_size=16, verbose=0, seed=0)
    assert hist.history["loss"][1] < hist.history["loss"][0] < before
    out = model.predict(digits[:5], batch_size=2)
    assert out.shape == (5, 28, 28, 1) and out.dtype == np.float32 and 0 < out.min() and out.max() < 1
    assert ae.encoder.predict(digits[:3]).shape == (3, 4, 4, 8)
    code = ae.encoder.predict(digits[:3])
    np.testing.assert_allclose(ae.decoder.predict(code), model.predict(digits[:3]), rtol=1e-6, atol=1e-7)


def test_save_and_load_round_trip(digits, tmp_path):
    model = autoencoders.convolutional(seed=1).model
    model.fit(digits, digits, epochs=1, batch_size=32, verbose=0, seed=0)
    path = tmp_path / "cae.npz"
    model.save(path)
    again = load_model(path)
    assert [l.output_shape for l in again.layers] == [l.output_shape for l in model.layers]
    np.testing.assert_array_equal(again.predict(digits[:8]), model.predict(digits[:8]))
    # the optimizer state came along: one more step gives the same weights on both
    model.train_on_batch(digits[:16], digits[:16])
    again.train_on_batch(digits[:16], digits[:16])
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_tampered_conv_kernel_shape_is_refused_before_building(digits, tmp_path, monkeypatch):
    model = autoencoders.convolutional(seed=1).model
    path = tmp_path / "cae.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__scratchae__"]))
    conv = next(e for e in meta["model"]["layers"] if e["config"]["name"] == "encoder_conv_2")
    conv["config"]["filters"] = 9                            # 8 filters stored
    arrays["__scratchae__"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    def no_build(self, shape):
        raise AssertionError("a layer was built before the weights' shapes were checked")

    monkeypatch.setattr(Conv2D, "build", no_build)
    with pytest.raises(ValueError, match=r"encoder_conv_2/kernel is float32\(3, 3, 16, 8\), expected float32\(3, 3, 16, 9\)"):
        load_model(path)


def test_check_data_refuses_images_of_the_wrong_shape(digits):
    model = blog_port()
    with pytest.raises(ValueError, match=r"x must have shape \(samples, 28, 28, 1\), got shape \(64, 784\).*reshape"):
        model.predict(digits.reshape(64, 784))
    with pytest.raises(ValueError, match=r"got shape \(64, 28, 28\).*x\[\.\.\., None\]"):
        model.predict(digits[..., 0])
    with pytest.raises(TypeError, match="integer dtype"):
        model.predict((digits * 255).astype(np.uint8))
    bad = digits.copy()
    bad[0, 3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        model.fit(bad, bad, verbose=0)
    with pytest.raises(ValueError, match=r"y must have shape \(samples, 28, 28, 1\)"):
        model.fit(digits, digits.reshape(64, 784), verbose=0)
    with pytest.raises(ValueError, match="Input shape"):
        Input((28, 0, 1))
    with pytest.raises(ValueError, match="Input shape"):
        Input(())


def test_the_losses_take_image_batches_as_a_mean_over_every_element():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=(2, 3, 3, 1))
    t = (rng.random((2, 3, 3, 1)) > 0.5).astype(np.float64)
    bce = BinaryCrossentropy()
    by_hand = -sum(math.log(q) if y else math.log(1 - q) for q, y in zip(p.ravel(), t.ravel())) / 18
    assert bce.forward(p, t) == pytest.approx(by_hand, rel=1e-6)
    assert bce.backward().shape == (2, 3, 3, 1)
    mse = MeanSquaredError()
    assert mse.forward(p, t) == pytest.approx(float(np.sum((p - t) ** 2)) / 18, rel=1e-12)


def test_a_whole_conv_model_against_finite_differences():
    inp = Input((6, 5, 2), dtype="float64")
    x = Conv2D(3, 3, padding="same", activation="relu", seed=0, dtype="float64")(inp)
    x = MaxPooling2D((2, 2), padding="same", dtype="float64")(x)
    x = Conv2D(2, (2, 2), strides=(1, 1), activation="relu", seed=1, dtype="float64")(x)
    x = Flatten(dtype="float64")(x)
    x = Dense(4, activation="relu", seed=2, dtype="float64")(x)
    x = Dense(2 * 3 * 4, seed=3, dtype="float64")(x)
    x = Reshape((2, 3, 4), dtype="float64")(x)
    x = UpSampling2D((3, 2), dtype="float64")(x)
    out = Conv2D(2, (1, 2), padding="same", activation="sigmoid", seed=4, dtype="float64")(x)
    model = Model(inp, out)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    xb = rng.permutation(2 * 6 * 5 * 2).reshape(2, 6, 5, 2) * 0.05     # distinct: no pooling ties
    yb = rng.random(model.chain[-1].output_shape[1:])[None].repeat(2, 0)
    assert yb.shape == (2, 6, 6, 2)
    _, grads = model.compute_gradients(xb, yb)
    for path, param, _ in model.parameters():
        numeric = numerical_gradient(lambda: model.compute_loss(xb, yb), param, 1e-6)
        err = float(rel_error(grads[path], numeric)[np.abs(numeric) > 1e-9].max(initial=0))
        assert err < 1e-5, (path, err)


def test_sequential_with_conv_layers():
    model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(8, 8, 1), seed=0),
                        MaxPooling2D(), Flatten(), Dense(4, activation="sigmoid", seed=0)])
    assert model.layers[-1].output_shape == (None, 4) and model.count_params() == 20 + 4 * 18 + 4
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    loss = model.train_on_batch(x, np.full((4, 4), 0.5, np.float32))
    assert np.isfinite(loss) and model.predict(x).shape == (4, 4)
