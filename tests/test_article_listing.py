"""The article's Keras code ("Applied Deep Learning, Part 3: Autoencoders") runs on scratchae with
only its import lines changed, on a few hundred of the bundled MNIST digits.

The article's imports were

    from keras.models import Model
    from keras.layers import Dense, Input
    from keras.datasets import mnist
    from keras.regularizers import l1
    from keras.optimizers import Adam

and are these below. Everything else is the article's code, with fewer images and epochs.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from scratchae.models import Model
from scratchae.layers import Dense, Input
from scratchae.datasets import mnist
from scratchae.regularizers import l1
from scratchae.optimizers import Adam  # noqa: F401  (imported by the article)
from scratchae import utils

N_TRAIN, N_TEST = 192, 64


@pytest.fixture(scope="module")
def data():
    (x_train, _), (x_test, _) = mnist.load_data(subset=True)
    x_train, x_test = x_train[:N_TRAIN], x_test[:N_TEST]
    # the article's preprocessing, verbatim
    x_train = x_train.astype('float32') / 255.0
    x_test = x_test.astype('float32') / 255.0
    x_train = x_train.reshape((len(x_train), np.prod(x_train.shape[1:])))
    x_test = x_test.reshape((len(x_test), np.prod(x_test.shape[1:])))
    assert x_train.shape == (N_TRAIN, 784) and x_train.dtype == np.float32
    return x_train, x_test


@pytest.fixture(autouse=True)
def _seed():
    utils.set_random_seed(2017)


def test_vanilla_deep_autoencoder(data, capsys):
    x_train, x_test = data
    input_size = 784
    hidden_size = 128
    code_size = 32

    input_img = Input(shape=(input_size,))
    hidden_1 = Dense(hidden_size, activation='relu')(input_img)
    code = Dense(code_size, activation='relu')(hidden_1)
    hidden_2 = Dense(hidden_size, activation='relu')(code)
    output_img = Dense(input_size, activation='sigmoid')(hidden_2)

    autoencoder = Model(input_img, output_img)
    autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
    history = autoencoder.fit(x_train, x_train, epochs=3)       # verbose='auto', as in the article

    out = capsys.readouterr().out
    assert [l for l in out.splitlines() if l.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    loss = history.history['loss']
    assert len(loss) == 3
    assert loss[0] > loss[1] > loss[2]
    for value in loss:
        assert f"loss: {value:.4f}" in out
    assert autoencoder.optimizer.iterations == 3 * int(np.ceil(N_TRAIN / 32))

    weights = autoencoder.get_weights()[0].T
    assert weights.shape == (hidden_size, input_size)
    # the first kernel, transposed: row j are the input weights of hidden unit j
    np.testing.assert_array_equal(weights, autoencoder.layers[1].params["kernel"].T)

    decoded_imgs = autoencoder.predict(x_test)
    assert decoded_imgs.shape == (N_TEST, 784) and decoded_imgs.dtype == np.float32
    assert np.all((decoded_imgs >= 0) & (decoded_imgs <= 1))
    # better than predicting the mean grey level everywhere
    assert autoencoder.evaluate(x_test, x_test) < -np.mean(
        x_test * np.log(x_test.mean()) + (1 - x_test) * np.log(1 - x_test.mean()))

    # the article's encoder shares the code layer with the autoencoder
    encoder = Model(input_img, code)
    assert encoder.predict(x_test).shape == (N_TEST, code_size)
    w = autoencoder.get_weights()
    w[2] = w[2] * 2.0
    before = encoder.predict(x_test[:5])
    autoencoder.set_weights(w)
    np.testing.assert_array_equal(encoder.get_weights()[2], w[2])
    assert not np.array_equal(encoder.predict(x_test[:5]), before)


def test_denoising_autoencoder(data):
    x_train, x_test = data
    input_size, hidden_size, code_size = 784, 128, 32

    noise_factor = 0.4
    x_train_noisy = x_train + noise_factor * np.random.normal(size=x_train.shape)
    x_test_noisy = x_test + noise_factor * np.random.normal(size=x_test.shape)
    x_train_noisy = np.clip(x_train_noisy, 0.0, 1.0)
    x_test_noisy = np.clip(x_test_noisy, 0.0, 1.0)
    assert x_train_noisy.dtype == np.float64        # NumPy made it float64; scratchae copes

    input_img = Input(shape=(input_size,))
    hidden_1 = Dense(hidden_size, activation='relu')(input_img)
    code = Dense(code_size, activation='relu')(hidden_1)
    hidden_2 = Dense(hidden_size, activation='relu')(code)
    output_img = Dense(input_size, activation='sigmoid')(hidden_2)

    autoencoder = Model(input_img, output_img)
    autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
    before = autoencoder.evaluate(x_test_noisy, x_test)
    history = autoencoder.fit(x_train_noisy, x_train, epochs=4, verbose=0)

    loss = history.history['loss']
    assert len(loss) == 4 and loss[-1] < loss[0]
    after = autoencoder.evaluate(x_test_noisy, x_test)
    assert after < before
    assert autoencoder.predict(x_test_noisy).dtype == np.float32


def test_sparse_autoencoders_standard_and_regularized(data):
    x_train, x_test = data
    input_size, code_size = 784, 32
    epochs = 8

    # "standard": no penalty
    input_img = Input(shape=(input_size,))
    code = Dense(code_size, activation='relu')(input_img)
    output_img = Dense(input_size, activation='sigmoid')(code)
    autoencoder_standard = Model(input_img, output_img)
    autoencoder_standard.compile(optimizer='adam', loss='binary_crossentropy')
    history_standard = autoencoder_standard.fit(x_train, x_train, epochs=epochs, verbose=0)
    encoded_standard = Model(input_img, code)

    # "regularized": the article's code, verbatim
    input_img = Input(shape=(input_size,))
    code = Dense(code_size, activation='relu', activity_regularizer=l1(10e-6))(input_img)
    output_img = Dense(input_size, activation='sigmoid')(code)
    autoencoder_regularized = Model(input_img, output_img)
    autoencoder_regularized.compile(optimizer='adam', loss='binary_crossentropy')
    history_regularized = autoencoder_regularized.fit(x_train, x_train, epochs=epochs, verbose=0)
    encoded_regularized = Model(input_img, code)

    assert len(history_regularized.history['loss']) == epochs
    assert history_regularized.history['loss'][-1] < history_regularized.history['loss'][0]
    assert history_standard.history['loss'][-1] < history_standard.history['loss'][0]

    test_loss = autoencoder_regularized.evaluate(x_test, x_test)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        print(encoded_regularized.predict(x_test).mean())
    mean_regularized = float(printed.getvalue())
    mean_standard = float(encoded_standard.predict(x_test).mean())

    # the article's point: the penalty makes the code sparser (6.60 vs 0.78 on full MNIST)
    assert mean_regularized < mean_standard
    # evaluate includes the penalty: recompute it by hand, batch by batch (batch size 32)
    k, b = autoencoder_regularized.layers[1].get_weights()
    k2, b2 = autoencoder_regularized.layers[2].get_weights()
    total = 0.0
    for s in range(0, N_TEST, 32):
        xb = x_test[s:s + 32].astype(np.float64)
        h = np.maximum(xb @ k + b, 0)
        p = 1 / (1 + np.exp(-(h @ k2 + b2)))
        total += (np.mean(-(xb * np.log(p) + (1 - xb) * np.log(1 - p))) + 1e-5 * np.abs(h).sum()) * len(xb)
    assert test_loss == pytest.approx(total / N_TEST, rel=1e-4)
    assert 1e-5 * np.abs(np.maximum(x_test[:32] @ k + b, 0)).sum() > 1e-3 * test_loss   # penalty visible

    # the article's decoder from the autoencoder's last layer sees the same arrays
    encoded_input = Input(shape=(code_size,))
    decoder_layer = autoencoder_regularized.layers[-1]
    decoder = Model(encoded_input, decoder_layer(encoded_input))
    encoded_imgs = encoded_regularized.predict(x_test)
    decoded_imgs = decoder.predict(encoded_imgs)
    np.testing.assert_allclose(decoded_imgs, autoencoder_regularized.predict(x_test), rtol=1e-5, atol=1e-7)


KERAS_LISTING = '''\
from keras.models import Model
from keras.layers import Dense, Input
from keras.datasets import mnist
from keras.regularizers import l1
from keras.optimizers import Adam

input_size = 784
hidden_size = 128
code_size = 32

input_img = Input(shape=(input_size,))
hidden_1 = Dense(hidden_size, activation='relu')(input_img)
code = Dense(code_size, activation='relu')(hidden_1)
hidden_2 = Dense(hidden_size, activation='relu')(code)
output_img = Dense(input_size, activation='sigmoid')(hidden_2)

autoencoder = Model(input_img, output_img)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
autoencoder.fit(x_train, x_train, epochs=3)

weights = autoencoder.get_weights()[0].T

input_img = Input(shape=(input_size,))
code = Dense(code_size, activation='relu', activity_regularizer=l1(10e-6))(input_img)
output_img = Dense(input_size, activation='sigmoid')(code)

autoencoder_regularized = Model(input_img, output_img)
autoencoder_regularized.compile(optimizer='adam', loss='binary_crossentropy')
history_regularized = autoencoder_regularized.fit(x_train, x_train, epochs=20)

encoded_regularized = Model(input_img, code)
autoencoder_regularized.evaluate(x_test, x_test)
print(encoded_regularized.predict(x_test).mean())
'''


def port(source: str) -> str:
    return source.replace("from keras.", "from scratchae.")


def test_keras_listing_runs_with_only_its_imports_changed(data, capsys):
    x_train, x_test = data
    ported = port(KERAS_LISTING)
    changed = [(a, b) for a, b in zip(KERAS_LISTING.splitlines(), ported.splitlines()) if a != b]
    assert len(changed) == 5 and all(a.startswith("from keras.") for a, _ in changed)

    namespace = {"x_train": x_train[:64], "x_test": x_test, "np": np}
    exec(compile(ported, "article_listing.py", "exec"), namespace)

    out = capsys.readouterr().out
    assert out.count("Epoch ") == 3 + 20
    assert namespace["weights"].shape == (128, 784)
    loss = namespace["history_regularized"].history["loss"]
    assert len(loss) == 20 and loss[-1] < loss[0]
    printed_mean = float(out.strip().splitlines()[-1])
    assert printed_mean == pytest.approx(float(namespace["encoded_regularized"].predict(x_test).mean()))
    assert namespace["encoded_regularized"].layers[-1] is namespace["autoencoder_regularized"].layers[1]
