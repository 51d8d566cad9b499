"""Models: functional API, Sequential, compile, fit's History, evaluate/predict, weights, summary,
and whole-model gradient checks (one SGD step with learning_rate=1 moves the weights by exactly
minus the finite-difference gradient)."""
from __future__ import annotations

import numpy as np
import pytest

from scratchae import utils
from scratchae.gradcheck import numerical_gradient
from scratchae.layers import Dense, Input, InputLayer
from scratchae.losses import BinaryCrossentropy, MeanSquaredError
from scratchae.models import History, Model, Sequential
from scratchae.optimizers import SGD, Adam
from scratchae.regularizers import l1


# -- helpers: data and an independent NumPy forward ------------------------------------------
def structured(n: int, d: int, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Low-rank 'images' in (0, 1): learnable, not noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 4)) @ rng.standard_normal((4, d))
    return (1.0 / (1.0 + np.exp(-z))).astype(dtype)


def act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    assert name == "linear"
    return z


def manual_forward(weights, acts, x):
    """Every layer's output, computed from get_weights() with plain NumPy."""
    outs, h = [], x
    for i, a in enumerate(acts):
        h = act(a, h @ weights[2 * i] + weights[2 * i + 1])
        outs.append(h)
    return outs


def bce(p, y):
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def mse(p, y):
    return float(np.mean((p - y) ** 2))


@pytest.fixture(autouse=True)
def _seed():
    utils.set_random_seed(1234)


def small_chain(sizes=(12, 7, 4, 7, 12), acts=("relu", "relu", "relu", "sigmoid"), reg_at=None,
                factor=1e-3, dtype="float64"):
    inp = Input(shape=(sizes[0],), dtype=dtype)
    h, code = inp, None
    for i, (u, a) in enumerate(zip(sizes[1:], acts)):
        h = Dense(u, activation=a, dtype=dtype,
                  activity_regularizer=l1(factor) if i == reg_at else None)(h)
        if i == reg_at:
            code = h
    return Model(inp, h), inp, code


# -- functional API -------------------------------------------------------------------------
def test_functional_layers_input_first_and_shapes():
    inp = Input(shape=(20,))
    h = Dense(8, activation="relu", name="enc")(inp)
    out = Dense(20, activation="sigmoid", name="dec")(h)
    m = Model(inp, out)
    assert isinstance(m.layers[0], InputLayer)
    assert [l.name for l in m.layers[1:]] == ["enc", "dec"]
    assert m.get_layer("enc") is m.layers[1]
    with pytest.raises(ValueError, match="nope"):
        m.get_layer("nope")
    assert m.count_params() == 20 * 8 + 8 + 8 * 20 + 20
    assert m.predict(structured(5, 20)).shape == (5, 20)
    # Keras shapes: kernel (input_dim, units), bias (units,), in layer order
    assert [w.shape for w in m.get_weights()] == [(20, 8), (8,), (8, 20), (20,)]


def test_encoder_and_decoder_share_arrays_with_autoencoder_even_after_training():
    x = structured(64, 16).astype("float32")
    input_img = Input(shape=(16,))
    code = Dense(4, activation="relu")(input_img)
    output_img = Dense(16, activation="sigmoid")(code)
    autoencoder = Model(input_img, output_img)
    encoder = Model(input_img, code)
    encoded_input = Input(shape=(4,))
    decoder_layer = autoencoder.layers[-1]
    decoder = Model(encoded_input, decoder_layer(encoded_input))
    assert encoder.layers[-1] is autoencoder.layers[1]
    assert decoder.layers[-1] is autoencoder.layers[-1]

    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    before = encoder.get_weights()
    autoencoder.fit(x, x, epochs=2, verbose=0)
    after_enc, after_dec = encoder.get_weights(), decoder.get_weights()
    assert not np.array_equal(before[0], after_enc[0])           # training moved them ...
    full = autoencoder.get_weights()
    for a, b in zip(after_enc + after_dec, full):                 # ... and they are the same arrays
        np.testing.assert_array_equal(a, b)
    # the composition encoder -> decoder is the autoencoder
    np.testing.assert_allclose(decoder.predict(encoder.predict(x)), autoencoder.predict(x), rtol=1e-6)

    # changing the autoencoder changes the encoder and vice versa
    w = autoencoder.get_weights()
    w[0] = w[0] + 0.5
    autoencoder.set_weights(w)
    np.testing.assert_array_equal(encoder.get_weights()[0], w[0])
    e = encoder.get_weights()
    e[1] = e[1] - 1.0
    encoder.set_weights(e)
    np.testing.assert_array_equal(autoencoder.get_weights()[1], e[1])


def test_training_the_encoder_moves_the_autoencoders_weights():
    x = structured(32, 10).astype("float32")
    inp = Input(shape=(10,))
    code = Dense(3, activation="sigmoid")(inp)
    ae = Model(inp, Dense(10, activation="sigmoid")(code))
    enc = Model(inp, code)
    ae.compile(optimizer="adam", loss="bce")
    ae.fit(x, x, epochs=1, verbose=0)                       # packs the layers into ae's buffer
    enc.compile(optimizer=SGD(0.5), loss="mse")
    enc.fit(x, np.full((32, 3), 0.5, dtype="float32"), epochs=1, verbose=0)   # repacks them
    np.testing.assert_array_equal(ae.get_weights()[0], enc.get_weights()[0])
    before = ae.get_weights()[0]
    ae.fit(x, x, epochs=1, verbose=0)                       # ae takes its layers back
    np.testing.assert_array_equal(ae.get_weights()[0], enc.get_weights()[0])
    assert not np.array_equal(before, ae.get_weights()[0])


def test_graphs_that_cannot_run_are_rejected_clearly():
    a, b = Input(shape=(5,)), Input(shape=(5,))
    d = Dense(3)
    with pytest.raises(ValueError, match=r"input 1 \('input_layer_\d+'\) is used by no output"):
        Model([a, b], d(a))
    with pytest.raises(ValueError, match="not computed from inputs"):
        Model(a, Dense(3)(b))
    shared = Dense(5, activation="relu")
    with pytest.raises(ValueError, match="called twice in one model"):
        Model(a, shared(shared(a)))
    with pytest.raises(ValueError, match="takes one input"):
        Dense(3)([np.ones((2, 5)), np.ones((2, 5))])
    with pytest.raises(TypeError, match="symbolic tensor"):
        Model(np.ones((2, 5)), d(a))


def test_a_model_with_two_outputs_predicts_both_and_refuses_fit():
    a = Input(shape=(5,))
    h = Dense(4, activation="relu", seed=0, dtype="float64")(a)
    mu, lv = Dense(2, seed=1, dtype="float64")(h), Dense(2, seed=2, dtype="float64")(h)
    enc = Model(a, [mu, lv])
    x = np.linspace(-1, 1, 15).reshape(3, 5)
    got = enc.predict(x)
    assert isinstance(got, list) and [g.shape for g in got] == [(3, 2), (3, 2)]
    hidden = np.maximum(x @ h.layer.params["kernel"] + h.layer.params["bias"], 0)
    np.testing.assert_allclose(got[0], hidden @ mu.layer.params["kernel"] + mu.layer.params["bias"])
    np.testing.assert_allclose(got[1], hidden @ lv.layer.params["kernel"] + lv.layer.params["bias"])
    enc.compile("adam", "mse")
    with pytest.raises(ValueError, match="one input and one output"):
        enc.fit(x, x[:, :2], verbose=0)


# -- Sequential -----------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["input_dim", "input_shape", "Input", "add", "unbuilt"])
def test_sequential_variants_build_and_train(how):
    x = structured(40, 9).astype("float32")
    if how == "input_dim":
        m = Sequential([Dense(4, activation="relu", input_dim=9), Dense(9, activation="sigmoid")])
    elif how == "input_shape":
        m = Sequential([Dense(4, activation="relu", input_shape=(9,)), Dense(9, activation="sigmoid")])
    elif how == "Input":
        m = Sequential([Input(shape=(9,)), Dense(4, activation="relu"), Dense(9, activation="sigmoid")])
    elif how == "add":
        m = Sequential()
        m.add(Input(shape=(9,)))
        m.add(Dense(4, activation="relu"))
        m.add(Dense(9, activation="sigmoid"))
    else:
        m = Sequential([Dense(4, activation="relu"), Dense(9, activation="sigmoid")])
        assert not m.layers[0].built
    # Keras: a Sequential's layers do not include the InputLayer
    assert [type(l) for l in m.layers] == [Dense, Dense]
    m.compile(optimizer="adam", loss="binary_crossentropy")
    hist = m.fit(x, x, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert m.count_params() == 9 * 4 + 4 + 4 * 9 + 9
    assert [w.shape for w in m.get_weights()] == [(9, 4), (4,), (4, 9), (9,)]
    assert m.predict(x).shape == (40, 9)


def test_sequential_rejects_misplaced_input_and_repeated_layer():
    m = Sequential([Dense(3, input_dim=4)])
    with pytest.raises(ValueError, match="Input"):
        m.add(Input(shape=(3,)))
    d = Dense(3)
    m2 = Sequential([Dense(3, input_dim=4), d])
    with pytest.raises(ValueError, match="already"):
        m2.add(d)
    with pytest.raises(TypeError, match="layer"):
        Sequential([42])


# -- compile --------------------------------------------------------------------------------
@pytest.mark.parametrize("opt, loss, opt_cls, loss_cls", [
    ("adam", "binary_crossentropy", Adam, BinaryCrossentropy),
    ("sgd", "mse", SGD, MeanSquaredError),
    ("Adam", "mean_squared_error", Adam, MeanSquaredError),
])
def test_compile_by_name(opt, loss, opt_cls, loss_cls):
    m, _, _ = small_chain()
    m.compile(optimizer=opt, loss=loss)
    assert type(m.optimizer) is opt_cls and type(m.loss) is loss_cls


def test_compile_with_instances_uses_them():
    m, _, _ = small_chain()
    opt, loss = SGD(learning_rate=0.123), MeanSquaredError()
    m.compile(optimizer=opt, loss=loss)
    assert m.optimizer is opt and m.loss is loss


def test_compile_unknown_names_list_the_accepted_ones():
    m, _, _ = small_chain()
    with pytest.raises(ValueError) as e:
        m.compile(optimizer="rmsprop", loss="mse")
    assert "rmsprop" in str(e.value) and "adam" in str(e.value) and "sgd" in str(e.value)
    with pytest.raises(ValueError) as e:
        m.compile(optimizer="adam", loss="hinge")
    assert "hinge" in str(e.value) and "binary_crossentropy" in str(e.value) and "mse" in str(e.value)
    with pytest.raises(ValueError, match="loss"):
        m.compile(optimizer="adam")


# -- fit: History has Keras's meaning ----------------------------------------------------------
def test_history_loss_is_sample_weighted_mean_of_batch_losses_during_the_epoch():
    n, bs = 23, 5                                 # 4 full batches and a partial one of 3
    x = structured(n, 6, seed=3)
    y = structured(n, 6, seed=4)
    acts = ("relu", "sigmoid")

    def build():
        inp = Input(shape=(6,), dtype="float64")
        code = Dense(4, activation="relu", dtype="float64", activity_regularizer=l1(1e-3))(inp)
        m = Model(inp, Dense(6, activation="sigmoid", dtype="float64")(code))
        m.compile(optimizer=SGD(learning_rate=0.5), loss="binary_crossentropy")
        return m

    m, replay = build(), build()
    replay.set_weights(m.get_weights())
    hist = m.fit(x, y, batch_size=bs, epochs=1, shuffle=False, verbose=0)

    losses, sizes = [], []
    for start in range(0, n, bs):
        xb, yb = x[start:start + bs], y[start:start + bs]
        w = replay.get_weights()                  # the state before this batch's update
        code, out = manual_forward(w, acts, xb)
        losses.append(bce(out, yb) + 1e-3 * np.abs(code).sum())
        got = replay.train_on_batch(xb, yb)        # returns the loss before the step
        assert got == pytest.approx(losses[-1], rel=1e-10)
        sizes.append(len(xb))
    assert sizes == [5, 5, 5, 5, 3]
    expected = float(np.dot(losses, sizes) / n)
    assert hist.history["loss"][0] == pytest.approx(expected, rel=1e-12)
    # the test can tell the weighting apart, and also from the end-of-epoch loss
    assert abs(np.mean(losses) - expected) > 1e-6
    assert abs(replay.evaluate(x, y, batch_size=bs) - expected) > 1e-6
    # fit did exactly those updates
    for a, b in zip(m.get_weights(), replay.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_history_has_one_entry_per_epoch_and_loss_decreases():
    x = structured(128, 20).astype("float32")
    m = Sequential([Dense(8, activation="relu", input_dim=20), Dense(20, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    hist = m.fit(x, x, epochs=5, verbose=0)
    assert isinstance(hist, History) and m.history is hist
    assert len(hist.history["loss"]) == 5 and hist.epoch == [0, 1, 2, 3, 4]
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert "val_loss" not in hist.history
    assert hist.interrupted is False


def test_val_loss_equals_evaluate_on_validation_data_at_epoch_end():
    x, xv = structured(50, 8, seed=1), structured(21, 8, seed=2)
    m, _, _ = small_chain(sizes=(8, 5, 8), acts=("relu", "sigmoid"), reg_at=0, factor=1e-2)
    m.compile(optimizer="adam", loss="binary_crossentropy")
    hist = m.fit(x, x, batch_size=8, epochs=2, validation_data=(xv, xv), verbose=0)
    assert len(hist.history["val_loss"]) == 2
    assert hist.history["val_loss"][-1] == pytest.approx(m.evaluate(xv, xv, batch_size=8), rel=1e-12)
    assert hist.history["val_loss"][0] != hist.history["val_loss"][1]


def test_fit_seed_controls_the_shuffle():
    x = structured(64, 8).astype("float32")

    def run(seed):
        utils.set_random_seed(5)
        m = Sequential([Dense(4, activation="relu", input_dim=8), Dense(8, activation="sigmoid")])
        m.compile(optimizer="adam", loss="bce")
        m.fit(x, x, batch_size=8, epochs=2, seed=seed, verbose=0)
        return m.get_weights()

    a, b, c = run(1), run(1), run(2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))


def test_set_random_seed_gives_bit_identical_training_and_different_seeds_differ():
    x = structured(96, 16).astype("float32")

    def run(seed):
        utils.set_random_seed(seed)
        inp = Input(shape=(16,))
        ae = Model(inp, Dense(16, activation="sigmoid")(Dense(4, activation="relu")(inp)))
        ae.compile(optimizer="adam", loss="binary_crossentropy")
        ae.fit(x, x, epochs=2, verbose=0)
        return ae.get_weights()

    a, b, c = run(7), run(7), run(8)
    for u, v in zip(a, b):
        assert u.tobytes() == v.tobytes()
    assert all(not np.array_equal(u, v) for u, v in zip(a[::2], c[::2]))


# -- train_on_batch, evaluate, predict --------------------------------------------------------
def test_train_on_batch_value_is_bce_plus_l1_of_code_computed_by_hand():
    x = structured(16, 10, seed=9)
    m, _, _ = small_chain(sizes=(10, 6, 10), acts=("relu", "sigmoid"), reg_at=0, factor=0.01)
    m.compile(optimizer="adam", loss="binary_crossentropy")
    code, out = manual_forward(m.get_weights(), ("relu", "sigmoid"), x)
    expected = bce(out, x) + 0.01 * np.abs(code).sum()
    assert 0.01 * np.abs(code).sum() > 1e-3            # the penalty matters at this tolerance
    before = m.get_weights()
    assert m.train_on_batch(x, x) == pytest.approx(expected, rel=1e-12)
    assert not np.array_equal(before[0], m.get_weights()[0])
    assert m.optimizer.iterations == 1


def test_evaluate_is_weighted_mean_of_per_batch_losses_with_penalty():
    x = structured(30, 10, seed=2)
    m, _, _ = small_chain(sizes=(10, 6, 10), acts=("relu", "sigmoid"), reg_at=0, factor=0.01)
    m.compile(optimizer="adam", loss="binary_crossentropy")
    w = m.get_weights()
    total = 0.0
    for s in range(0, 30, 8):
        code, out = manual_forward(w, ("relu", "sigmoid"), x[s:s + 8])
        total += (bce(out, x[s:s + 8]) + 0.01 * np.abs(code).sum()) * len(out)
    assert m.evaluate(x, x, batch_size=8) == pytest.approx(total / 30, rel=1e-12)
    # evaluate changes nothing
    for a, b in zip(w, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluate_with_mse_and_predict_match_manual_forward():
    x, y = structured(37, 7, seed=5), structured(37, 3, seed=6)
    m, _, _ = small_chain(sizes=(7, 5, 3), acts=("relu", "linear"))
    m.compile(optimizer="sgd", loss="mse")
    _, out = manual_forward(m.get_weights(), ("relu", "linear"), x)
    np.testing.assert_allclose(m.predict(x, batch_size=10), out, rtol=1e-12, atol=1e-14)
    assert m.evaluate(x, y, batch_size=37) == pytest.approx(mse(out, y), rel=1e-12)


def test_predict_keeps_float32():
    x = structured(10, 12).astype("float32")
    m = Sequential([Dense(5, activation="relu", input_dim=12), Dense(12, activation="sigmoid")])
    assert m.predict(x).dtype == np.float32
    assert m.predict(x.astype("float64")).dtype == np.float32


# -- whole-model gradient checks --------------------------------------------------------------
@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_one_sgd_step_moves_weights_by_minus_the_numerical_gradient(loss):
    rng = np.random.default_rng(0)
    x = structured(9, 12, seed=11)
    y = x if loss == "binary_crossentropy" else rng.standard_normal((9, 12)) * 0.5 + 0.5
    m, _, _ = small_chain(sizes=(12, 8, 5, 8, 12), acts=("relu", "sigmoid", "relu", "sigmoid"),
                          reg_at=1, factor=3e-3)
    m.compile(optimizer=SGD(learning_rate=1.0), loss=loss)
    if loss == "binary_crossentropy":
        assert m.fused                                   # the fused sigmoid + BCE path
    numeric = []
    for layer in m.layers[1:]:
        for key in ("kernel", "bias"):
            numeric.append(numerical_gradient(lambda: m.compute_loss(x, y), layer.params[key]))
    before = m.get_weights()
    m.train_on_batch(x, y)
    after = m.get_weights()
    for b, a, g in zip(before, after, numeric):
        step = b - a
        err = np.linalg.norm(step - g) / max(np.linalg.norm(step) + np.linalg.norm(g), 1e-300)
        assert err < 1e-6, err
        assert np.linalg.norm(g) > 1e-6                   # every parameter really gets gradient


def test_compute_gradients_includes_the_penalty():
    x = structured(8, 6, seed=1)
    m, _, _ = small_chain(sizes=(6, 4, 6), acts=("relu", "sigmoid"), reg_at=0, factor=0.05)
    m.compile(optimizer="sgd", loss="bce")
    _, grads = m.compute_gradients(x, x)
    kernel = m.layers[1].params["kernel"]
    num = numerical_gradient(lambda: m.compute_loss(x, x), kernel)
    path = f"{m.layers[1].name}/kernel"
    np.testing.assert_allclose(grads[path], num, rtol=1e-6, atol=1e-9)


# -- get_weights / set_weights -------------------------------------------------------------
def test_get_weights_returns_copies_in_keras_order():
    m, _, _ = small_chain(sizes=(5, 3, 5), acts=("relu", "sigmoid"))
    w = m.get_weights()
    assert [a.shape for a in w] == [(5, 3), (3,), (3, 5), (5,)]
    np.testing.assert_array_equal(w[0], m.layers[1].params["kernel"])
    np.testing.assert_array_equal(w[3], m.layers[2].params["bias"])
    w[0][...] = 99.0
    assert not np.any(m.get_weights()[0] == 99.0)


def test_set_weights_round_trip_and_bad_input_leaves_model_unchanged():
    m, _, _ = small_chain(sizes=(5, 3, 5), acts=("relu", "sigmoid"))
    rng = np.random.default_rng(3)
    new = [rng.standard_normal(a.shape) for a in m.get_weights()]
    m.set_weights(new)
    for a, b in zip(m.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    snapshot = m.get_weights()
    bad_shape = [a.copy() for a in new]
    bad_shape[3] = np.zeros(4)                    # the last one is wrong: nothing may be set
    bad_shape[0] = bad_shape[0] + 1.0
    with pytest.raises(ValueError, match=r"expected shape \(5,\)"):
        m.set_weights(bad_shape)
    with pytest.raises(ValueError, match="4 arrays"):
        m.set_weights(new[:3])
    with pytest.raises(ValueError, match="4 arrays"):
        m.set_weights(new + [np.zeros(1)])
    bad_value = [a.copy() for a in new]
    bad_value[2][0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        m.set_weights(bad_value)
    for a, b in zip(m.get_weights(), snapshot):
        np.testing.assert_array_equal(a, b)


# -- summary --------------------------------------------------------------------------------
def test_summary_lists_names_shapes_and_param_counts():
    inp = Input(shape=(784,))
    h1 = Dense(128, activation="relu", name="hidden_1")(inp)
    code = Dense(32, activation="relu", name="code", activity_regularizer=l1(1e-5))(h1)
    h2 = Dense(128, activation="relu", name="hidden_2")(code)
    out = Dense(784, activation="sigmoid", name="output")(h2)
    m = Model(inp, out, name="ae")
    lines = []
    assert m.summary(print_fn=lines.append) is None          # Keras: printed, not returned
    assert len(lines) == 1
    text = lines[0]
    counts = {"hidden_1": 784 * 128 + 128, "code": 128 * 32 + 32, "hidden_2": 32 * 128 + 128,
              "output": 128 * 784 + 784}
    for name, units in (("hidden_1", 128), ("code", 32), ("hidden_2", 128), ("output", 784)):
        row = next(l for l in text.splitlines() if l.strip().startswith(name))
        assert f"(None, {units})" in row
        assert row.rstrip().endswith(f"{counts[name]:,}")
    total = 784 * 128 + 128 + 128 * 32 + 32 + 32 * 128 + 128 + 128 * 784 + 784
    assert sum(counts.values()) == total
    assert f"Total params: {total:,}" in text
    assert m.count_params() == total
    assert "ae" in text and "(None, 784)" in text     # the InputLayer row


def test_summary_prints_to_stdout(capsys):
    m = Sequential([Dense(3, input_dim=4, name="only")])
    m.summary()
    out = capsys.readouterr().out
    assert "only" in out and "Total params: 15" in out


# -- regressions of bugs found in review ----------------------------------------------------------
def test_val_loss_uses_the_fit_batch_size_even_with_few_training_samples():
    x, xv = structured(20, 8, seed=1), structured(100, 8, seed=2)
    m, _, _ = small_chain(sizes=(8, 5, 8), acts=("relu", "sigmoid"), reg_at=0, factor=1e-2)
    m.compile(optimizer="adam", loss="binary_crossentropy")
    hist = m.fit(x, x, batch_size=32, epochs=1, validation_data=(xv, xv), verbose=0)
    assert hist.history["val_loss"][0] == pytest.approx(m.evaluate(xv, xv, batch_size=32), rel=1e-12)


def test_set_weights_with_nan_in_a_later_layer_changes_nothing():
    m, _, _ = small_chain(sizes=(5, 3, 5), acts=("relu", "sigmoid"))
    snapshot = m.get_weights()
    bad = [a + 1.0 for a in snapshot]
    bad[2][0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        m.set_weights(bad)
    for a, b in zip(m.get_weights(), snapshot):
        np.testing.assert_array_equal(a, b)


def test_set_weights_checks_finiteness_in_the_models_float_type():
    # 1e39 is a finite float64 but inf in float32: refused, nothing changed
    m = Sequential([Dense(3, input_dim=4, name="only")])
    before = m.get_weights()
    big = [np.full((4, 3), 1e39), np.zeros(3)]
    with pytest.raises(ValueError, match=r"only/kernel: weights must be finite numbers \(in float32"):
        m.set_weights(big)
    with pytest.raises(ValueError, match="float32"):
        m.layers[0].set_weights(big)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    m64 = Sequential([Dense(3, input_dim=4, dtype="float64")])
    m64.set_weights(big)                                  # representable in float64: accepted
    assert m64.get_weights()[0][0, 0] == 1e39
