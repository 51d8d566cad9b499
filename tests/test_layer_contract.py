"""A layer of your own, written against the contract of `scratchae.layers.Layer` (not a Dense),
goes everywhere the library's layers go: Sequential and functional models, fit, summary,
save and load (custom_objects, or register_layer), the gradient checker and the monitor.
And a layer that breaks the contract is named by the trainer and the checker."""
from __future__ import annotations

import numpy as np
import pytest

from scratchae import layers as layers_module
from scratchae.gradcheck import check_layer, check_model
from scratchae.layers import Dense, Input, Layer, register_layer
from scratchae.models import Model, Sequential, load_model
from scratchae.monitor import Monitor


class Scale(Layer):
    """y = x * w + b elementwise (one weight and one bias per feature), with an L2 penalty
    lam * sum(w^2) on its own weights as its loss term: a layer with parameters, a weight
    penalty and no activation, unlike any Dense."""

    def __init__(self, lam: float = 0.0, **kw):
        super().__init__(**kw)
        self.lam = lam
        self._x = None

    def build(self, input_shape):
        if not self.built:
            d = input_shape[0]
            self.params = {"w": np.ones(d, self.dtype), "b": np.zeros(d, self.dtype)}
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        super().build(input_shape)

    def forward(self, x, training=False):
        self._x = x
        return x * self.params["w"] + self.params["b"]

    def backward(self, dy):
        w = self.params["w"]
        self.grads["w"] += (dy * self._x).sum(axis=0) + 2 * self.lam * w
        self.grads["b"] += dy.sum(axis=0)
        return dy * w

    def loss_terms(self):
        return {"l2": self.lam * float((self.params["w"] ** 2).sum())} if self.lam else {}

    def get_config(self):
        return {**super().get_config(), "lam": self.lam}


X = np.random.default_rng(0).uniform(0.05, 0.95, (32, 6)).astype(np.float32)


def scale_model(lam=0.01):
    inp = Input(shape=(6,))
    h = Dense(3, activation="relu", seed=1)(inp)
    out = Dense(6, activation="sigmoid", seed=2)(Scale(lam, name="scale")(h))
    return Model(inp, out)


def test_a_user_layer_trains_and_its_loss_term_is_in_the_history():
    m = scale_model()
    m.compile("adam", "binary_crossentropy")
    w0 = m.get_layer("scale").params["w"].copy()
    h = m.fit(X, X, epochs=3, batch_size=8, verbose=0, seed=0)
    assert set(h.history) == {"loss"} and set(h.parts) == {"reconstruction_loss", "scale_l2"}
    for total, rec, term in zip(h.history["loss"], h.parts["reconstruction_loss"], h.parts["scale_l2"]):
        assert total == pytest.approx(rec + term, rel=1e-6)
    assert not np.array_equal(m.get_layer("scale").params["w"], w0)      # it trained
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_a_user_layer_in_sequential_and_in_summary():
    m = Sequential([Dense(3, activation="relu", input_dim=6, seed=1), Scale(name="scale_s"),
                    Dense(6, activation="sigmoid", seed=2)])
    assert m.get_layer("scale_s").output_shape == (None, 3)
    m.compile("adam", "binary_crossentropy")
    m.fit(X, X, epochs=1, verbose=0)
    lines = []
    m.summary(print_fn=lines.append)
    row = [l for l in lines[0].splitlines() if "scale_s (Scale)" in l]
    assert row and "(None, 3)" in row[0] and row[0].rstrip().endswith("6")    # 3 weights + 3 biases


def test_a_user_layer_saves_and_loads_with_custom_objects_or_registration(tmp_path):
    m = scale_model(lam=0.02)
    m.compile("adam", "binary_crossentropy")
    m.fit(X, X, epochs=2, verbose=0, seed=0)
    m.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"unknown layer type 'Scale': pass custom_objects=\{'Scale': Scale\}"):
        load_model(tmp_path / "m.npz")
    again = load_model(tmp_path / "m.npz", custom_objects={"Scale": Scale})
    assert again.get_layer("scale").lam == 0.02
    saved = m.predict(X)
    np.testing.assert_array_equal(again.predict(X), saved)
    a, b = m.fit(X, X, epochs=1, verbose=0), again.fit(X, X, epochs=1, verbose=0)
    assert a.with_parts() == b.with_parts()                            # it resumes exactly
    with pytest.raises(TypeError, match="custom_objects must map class names to Layer subclasses"):
        load_model(tmp_path / "m.npz", custom_objects={"Scale": dict})
    register_layer(Scale)
    try:
        np.testing.assert_array_equal(load_model(tmp_path / "m.npz").predict(X), saved)
    finally:
        del layers_module.LAYERS["Scale"]


def test_a_user_layer_is_checked_by_the_gradient_checker_and_a_wrong_one_is_named():
    layer = Scale(0.1, dtype="float64")
    layer.build((6,))
    layer.params["w"][...] = np.linspace(-1, 1, 6)
    assert check_layer(layer, X.astype(np.float64)).ok

    class Forgets(Scale):                          # drops the weight penalty's gradient
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["w"] -= 2 * self.lam * self.params["w"]
            return dx

    wrong = Forgets(0.1, dtype="float64", name="forgets")
    wrong.build((6,))
    wrong.params["w"][...] = np.linspace(-1, 1, 6)
    report = check_layer(wrong, X.astype(np.float64))
    assert not report.ok and "w" in str(report)
    m = scale_model()
    m.compile("adam", "binary_crossentropy")
    assert check_model(m, X, X).ok


def test_a_user_layer_is_watched_by_the_monitor():
    m = scale_model()
    m.compile("adam", "binary_crossentropy")
    mon = Monitor(every=1)
    m.fit(X, X, epochs=1, batch_size=8, verbose=0, callbacks=[mon])
    assert "scale" in mon.shapes


def test_a_backward_that_breaks_the_contract_is_named_by_the_trainer():
    class NoReturn(Scale):
        def backward(self, dy):
            super().backward(dy)

    inp = Input(shape=(6,))
    out = Dense(6, activation="sigmoid", seed=2)(NoReturn(name="noreturn")(Dense(6, seed=1)(inp)))
    m = Model(inp, out)
    m.compile("adam", "binary_crossentropy")
    with pytest.raises(ValueError, match=r"noreturn: gradient of x: expected an array, got None "
                                         r"\(hint: forgot to `return dx`"):
        m.fit(X, X, epochs=1, verbose=0)


def test_a_layer_whose_forward_takes_no_training_flag_still_runs():
    class Old(Scale):
        def forward(self, x):                     # written before the training flag
            return super().forward(x)

    inp = Input(shape=(6,))
    m = Model(inp, Dense(6, activation="sigmoid", seed=2)(Old(name="old")(inp)))
    m.compile("adam", "binary_crossentropy")
    m.fit(X, X, epochs=1, verbose=0)
    assert m.predict(X).shape == X.shape
