"""Noise layers (`scratchae.noise`: GaussianNoise, Dropout) and merge layers (`scratchae.merge`:
Add, Concatenate): known answers, finite differences (the noise replayed), models that train
with noise and predict without it, a two-input model, configs and files."""
import json

import numpy as np
import pytest

from scratchae.gradcheck import check_layer, check_model, numerical_gradient
from scratchae.layers import LAYERS, Dense, Input
from scratchae.merge import Add, Concatenate
from scratchae.models import Model, load_model
from scratchae.noise import Dropout, GaussianNoise


# -- noise: known answers -------------------------------------------------------------------------
def test_dropout_by_hand():
    drop = Dropout(0.25, dtype="float64")
    drop.rng = np.random.default_rng(5)
    x = np.arange(1.0, 13.0).reshape(3, 4)
    keep = np.random.default_rng(5).random((3, 4)) >= 0.25           # the same draw, by hand
    y = drop.forward(x, training=True)
    np.testing.assert_allclose(y, np.where(keep, x / 0.75, 0.0), rtol=1e-15)
    dy = np.full((3, 4), 3.0)
    np.testing.assert_allclose(drop.backward(dy), np.where(keep, 3.0 / 0.75, 0.0), rtol=1e-15)
    assert drop.stochastic and 0 < keep.sum() < 12


def test_gaussian_noise_by_hand():
    noise = GaussianNoise(0.5, dtype="float64")
    noise.rng = np.random.default_rng(6)
    x = np.ones((2, 3))
    e = np.random.default_rng(6).standard_normal((2, 3))
    np.testing.assert_array_equal(noise.forward(x, training=True), 1.0 + 0.5 * e)
    dy = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(noise.backward(dy), dy)           # the noise does not depend on x


@pytest.mark.parametrize("layer", [Dropout(0.5), GaussianNoise(1.0)], ids=["dropout", "gaussian"])
def test_noise_is_the_identity_outside_training(layer):
    x = np.random.default_rng(0).random((4, 5)).astype(np.float32)
    assert layer.forward(x) is x and layer.forward(x, training=False) is x
    assert layer.backward(np.ones((4, 5), np.float32)).tolist() == np.ones((4, 5)).tolist()
    assert not np.array_equal(layer.forward(x, training=True), x)


def test_the_generator_a_noise_layer_draws_from():
    x = np.ones((3, 8))
    a, b = Dropout(0.5, seed=3, dtype="float64"), Dropout(0.5, seed=3, dtype="float64")
    np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))  # its seed
    a.rng = np.random.default_rng(9)                                  # the model's, when it gives one
    keep = np.random.default_rng(9).random((3, 8)) >= 0.5
    np.testing.assert_array_equal(a.forward(x, training=True), np.where(keep, 2.0, 0.0))
    assert Dropout(0.0).forward(x, training=True) is not None
    with pytest.raises(ValueError, match="rate must be in"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="stddev"):
        GaussianNoise(-1.0)


# -- noise: finite differences with the noise replayed -----------------------------------------------
@pytest.mark.parametrize("make", [lambda: Dropout(0.4, dtype="float64"),
                                  lambda: GaussianNoise(0.3, dtype="float64")], ids=["dropout", "gaussian"])
def test_finite_differences_with_the_noise_replayed_by_hand(make):
    layer = make()
    layer.rng = np.random.default_rng(11)
    state = layer.rng.bit_generator.state          # the draw to replay at every forward
    x = np.random.default_rng(12).normal(size=(4, 5))
    dy = np.random.default_rng(13).normal(size=(4, 5))

    def loss() -> float:
        layer.rng.bit_generator.state = state
        return float(np.sum(layer.forward(x, training=True) * dy))

    numeric = numerical_gradient(loss, x)
    loss()
    np.testing.assert_allclose(layer.backward(dy), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("layer", [Dropout(0.4), GaussianNoise(0.3)], ids=["dropout", "gaussian"])
def test_the_checker_replays_the_noise(layer):
    rep = check_layer(layer, np.random.default_rng(14).normal(size=(4, 5)))
    assert rep.ok, str(rep)


def dropout_model(rate=0.3, seed=0):
    x = Input(shape=(10,))
    h = Dense(16, activation="relu", seed=seed, name="hidden")(x)
    h = Dropout(rate, name="drop")(h)
    model = Model(x, Dense(10, activation="sigmoid", seed=seed + 1, name="out")(h))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def digits_like(n=300, seed=0):
    rng = np.random.default_rng(seed)
    patterns = (rng.random((4, 10)) > 0.5).astype(np.float32)
    return np.clip(patterns[rng.integers(0, 4, n)] + rng.normal(0, 0.05, (n, 10)), 0, 1).astype(np.float32)


def test_a_model_with_dropout_trains_and_predicts_deterministically():
    model = dropout_model()
    x = digits_like()
    history = model.fit(x, x, epochs=10, batch_size=30, verbose=0, seed=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.8 * loss[0]
    assert model.get_layer("drop").rng is model.rng                # fit gave it the model's noise
    first = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), first)        # no noise in predict
    hidden, out = model.get_layer("hidden"), model.get_layer("out")
    np.testing.assert_allclose(out.forward(hidden.forward(x)), first, rtol=1e-6)   # dropout left out
    assert not np.array_equal(model.forward(x, training=True), first)     # ... but not in training
    again = dropout_model()
    again.fit(x, x, epochs=10, batch_size=30, verbose=0, seed=0)
    assert again.history.history["loss"] == loss                  # the same seed, the same noise


def test_the_model_check_replays_a_dropout_models_noise():
    model = dropout_model()
    x = digits_like(6)
    rep = check_model(model, x, x)
    assert rep.ok, str(rep)


# -- merge layers -------------------------------------------------------------------------------------
def test_add_by_hand():
    add = Add(dtype="float64")
    a, b, c = np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]]), np.array([[0.5, 0.5]])
    np.testing.assert_array_equal(add.forward([a, b, c]), [[11.5, 22.5]])
    dy = np.array([[3.0, 4.0]])
    grads = add.backward(dy)
    assert isinstance(grads, list) and len(grads) == 3
    for g in grads:
        np.testing.assert_array_equal(g, dy)
    assert grads[0] is not grads[1] and grads[0] is not dy
    assert add.compute_output_shape([(2,), (2,), (2,)]) == (2,)
    with pytest.raises(ValueError, match="one shape"):
        add.compute_output_shape([(2,), (3,)])


def test_concatenate_by_hand():
    cat = Concatenate(dtype="float64")
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0], [6.0]])
    np.testing.assert_array_equal(cat.forward([a, b]), [[1, 2, 5], [3, 4, 6]])
    da, db = cat.backward(np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))
    np.testing.assert_array_equal(da, [[0.1, 0.2], [0.4, 0.5]])
    np.testing.assert_array_equal(db, [[0.3], [0.6]])
    assert cat.compute_output_shape([(2,), (1,)]) == (3,)
    assert Concatenate(axis=1).compute_output_shape([(2,), (5,)]) == (7,)
    with pytest.raises(ValueError, match="batch axis"):
        Concatenate(axis=0)
    with pytest.raises(ValueError, match="list of tensors"):
        cat.compute_output_shape((3,))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        Concatenate(axis=2).compute_output_shape([(2,), (1,)])


@pytest.mark.parametrize("layer, widths", [(Add(), [4, 4, 4]), (Concatenate(), [3, 1, 4])],
                         ids=["add", "concatenate"])
def test_merge_layers_pass_the_gradient_check(layer, widths):
    rng = np.random.default_rng(15)
    rep = check_layer(layer, [rng.normal(size=(3, w)) for w in widths])
    assert rep.ok, str(rep)


def two_input_model():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    left = Dense(4, activation="relu", seed=0, name="left")(a)
    both = Concatenate(name="both")([left, b])                       # (None, 6)
    out = Add(name="sum")([Dense(6, activation="sigmoid", seed=1, name="mix")(both), both])
    return Model([a, b], out, name="two_inputs")


def test_a_two_input_model_predicts_and_back_propagates_to_both_inputs():
    model = two_input_model()
    assert model.get_layer("both").output_shape == (None, 6)
    rng = np.random.default_rng(16)
    xa, xb = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
    y = model.predict([xa, xb], batch_size=2)
    left, mix = model.get_layer("left"), model.get_layer("mix")
    both = np.concatenate([left.forward(xa), xb], axis=1)
    np.testing.assert_allclose(y, mix.forward(both) + both, rtol=1e-6)

    # dL/d(each input) by finite differences of the float64 twin of the model
    model64 = two_input_model_64()
    xa64, xb64 = xa.astype(np.float64) + 0.01, xb.astype(np.float64)
    dy = rng.normal(size=(5, 6))
    loss = lambda: float(np.sum(model64.forward([xa64, xb64], training=True) * dy))
    numeric = [numerical_gradient(loss, xa64), numerical_gradient(loss, xb64)]
    loss()
    model64.zero_grads()
    analytic = model64.backward(dy)
    assert isinstance(analytic, list) and len(analytic) == 2
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-9)


def two_input_model_64():
    a, b = Input(shape=(3,), dtype="float64"), Input(shape=(2,), dtype="float64")
    left = Dense(4, activation="relu", seed=0, dtype="float64")(a)
    both = Concatenate(dtype="float64")([left, b])
    out = Add(dtype="float64")([Dense(6, activation="sigmoid", seed=1, dtype="float64")(both), both])
    return Model([a, b], out)


def test_fit_takes_one_input_only():
    model = two_input_model()
    model.compile(loss="mse")
    x = [np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32)]
    with pytest.raises(ValueError, match="fit and evaluate take models with one input and one output"):
        model.fit(x, np.zeros((4, 6), np.float32), verbose=0)
    with pytest.raises(ValueError, match="give x as a list of 2 arrays"):
        model.predict(x[0])


# -- configs and files -----------------------------------------------------------------------------
@pytest.mark.parametrize("layer", [Dropout(0.3, seed=4), GaussianNoise(0.2), Add(), Concatenate(axis=-1)],
                         ids=["dropout", "gaussian", "add", "concatenate"])
def test_config_round_trip(layer):
    cfg = layer.get_config()
    json.dumps(cfg)
    again = type(layer).from_config(cfg)
    assert again.get_config() == cfg and type(layer).__name__ in LAYERS


def branches_model():
    """One input, two branches joined by Concatenate and Add (a graph, not a chain)."""
    x = Input(shape=(5,))
    a = Dense(3, activation="relu", seed=0, name="a")(x)
    b = Dense(2, activation="sigmoid", seed=1, name="b")(x)
    both = Concatenate(name="both")([a, b])
    out = Add(name="sum")([both, Dense(5, seed=2, name="c")(both)])
    model = Model(x, out, name="branches")
    model.compile(loss="mse")
    return model


def test_save_and_load_models_with_noise_and_merge_layers(tmp_path):
    model = branches_model()
    rng = np.random.default_rng(17)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    model.fit(x, x, epochs=1, verbose=0, seed=0)
    model.save(tmp_path / "branches.npz")
    loaded = load_model(tmp_path / "branches.npz")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(l).__name__ for l in loaded.chain] == [type(l).__name__ for l in model.chain]

    noisy = dropout_model()
    x = digits_like(60)
    noisy.fit(x, x, epochs=1, verbose=0, seed=0)
    noisy.save(tmp_path / "noisy.npz")
    back = load_model(tmp_path / "noisy.npz")
    assert isinstance(back.get_layer("drop"), Dropout) and back.get_layer("drop").rate == 0.3
    np.testing.assert_array_equal(back.predict(x), noisy.predict(x))
    noisy.fit(x, x, epochs=1, verbose=0)
    back.fit(x, x, epochs=1, verbose=0)                      # the generator came back with it
    np.testing.assert_array_equal(back.get_weights()[0], noisy.get_weights()[0])


def test_save_and_load_a_two_input_model(tmp_path):
    model = two_input_model()
    model.save(tmp_path / "two.npz")
    loaded = load_model(tmp_path / "two.npz")
    rng = np.random.default_rng(18)
    x = [rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_evaluate_runs_in_inference_mode_and_draws_nothing():
    """Keras's evaluate runs training=False: a Dropout model's evaluate equals its loss on
    predict, is the same twice, and leaves the model's generator where it was."""
    from scratchae.layers import Dense, Dropout, Input
    from scratchae.models import Model
    x = Input(shape=(6,))
    model = Model(x, Dense(6, activation="sigmoid", seed=0)(Dropout(0.5, seed=1)(x)))
    model.compile("adam", "binary_crossentropy")
    xs = np.random.default_rng(0).random((10, 6)).astype(np.float32)
    model.rng = np.random.default_rng(5)
    state = model.rng.bit_generator.state
    a, b = model.evaluate(xs, xs), model.evaluate(xs, xs)
    assert a == b == pytest.approx(model.loss(xs, model.predict(xs)), rel=1e-6)
    assert model.rng.bit_generator.state == state
