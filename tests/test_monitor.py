"""The training monitor, the callback hook of fit, and the loss split into its parts.

Known answers are computed here in plain NumPy (forward, the fused sigmoid + BCE gradient,
backward by hand), never by the monitor's code: a 2-3-2 network with fixed weights in which
one ReLU unit is dead for every input and one sigmoid output is saturated.
"""
import math

import numpy as np
import pytest

from scratchae import callbacks as cb_module
from scratchae.callbacks import Callback, CallbackList
from scratchae.layers import Dense
from scratchae.models import Sequential
from scratchae.monitor import STATISTICS, Monitor
from scratchae.optimizers import SGD
from scratchae.regularizers import l1

W1 = np.array([[1.0, -1.0, 0.5], [2.0, -1.0, -0.5]])
B1 = np.array([0.0, -0.5, 0.1])              # unit 1: -x0 - x1 - 0.5 < 0 for x >= 0: dead
W2 = np.array([[1.0, -3.0], [0.0, 0.0], [2.0, 1.0]])
B2 = np.array([6.0, -1.0])                   # output 0: z >= 6, sigmoid > 0.997: saturated
X = np.array([[1.0, 0.5], [0.2, 0.3], [0.9, 0.1], [0.4, 0.8]])
Y = np.array([[0.9, 0.1], [0.2, 0.7], [1.0, 0.0], [0.5, 0.5]])
LR = 0.1


def tiny(optimizer=None, regularizer=None):
    m = Sequential([Dense(3, activation="relu", input_dim=2, dtype="float64", name="hidden",
                          activity_regularizer=regularizer),
                    Dense(2, activation="sigmoid", dtype="float64", name="out")])
    m.compile(optimizer=optimizer or SGD(learning_rate=LR), loss="binary_crossentropy")
    m.set_weights([W1, B1, W2, B2])
    return m


def by_hand():
    """Every statistic of the first step, from the weights above, in plain NumPy."""
    z1 = X @ W1 + B1
    h = np.maximum(z1, 0)
    z2 = h @ W2 + B2
    p = 1 / (1 + np.exp(-z2))
    dz2 = (p - Y) / Y.size                          # d mean BCE / dz through the sigmoid
    g_w2, g_b2 = h.T @ dz2, dz2.sum(0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    g_w1, g_b1 = X.T @ dz1, dz1.sum(0)
    norm = lambda *a: math.sqrt(sum((v ** 2).sum() for v in a))
    return {
        "hidden": {"grad_norm": norm(g_w1, g_b1),
                   "update_ratio": LR * norm(g_w1, g_b1) / norm(W1, B1),   # SGD: update = lr * grad
                   "dead_fraction": 1 / 3, "saturated_fraction": math.nan,
                   "act_mean": h.mean(), "act_std": h.std()},
        "out": {"grad_norm": norm(g_w2, g_b2), "update_ratio": LR * norm(g_w2, g_b2) / norm(W2, B2),
                "dead_fraction": math.nan,
                "saturated_fraction": float(((p < 0.01) | (p > 0.99)).mean()),
                "act_mean": p.mean(), "act_std": p.std()},
    }


def test_the_setup_has_what_the_known_answers_need():
    z1 = X @ W1 + B1
    assert (z1[:, 1] <= 0).all() and (z1[:, [0, 2]] > 0).any(axis=0).all()   # exactly one dead unit
    sat = by_hand()["out"]["saturated_fraction"]
    assert 0.5 <= sat < 1                       # output 0 saturated, output 1 partly


def test_first_step_statistics_are_the_known_answers():
    m = tiny()
    monitor = Monitor(every=1)
    m.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    expected = by_hand()
    assert monitor.layers == ["hidden", "out"] and monitor.steps == [1] and monitor.epochs == [1.0]
    assert monitor.kinds == {"hidden": "relu", "out": "sigmoid"}
    for layer, stats in expected.items():
        for stat, value in stats.items():
            got = monitor.series(stat)[layer][0]
            if math.isnan(value):
                assert math.isnan(got), (layer, stat, got)
            else:
                assert got == pytest.approx(value, rel=1e-10, abs=1e-15), (layer, stat)
    assert monitor.last("dead_fraction")["hidden"] == pytest.approx(1 / 3)


class WeightsAfterEachStep(Callback):
    def on_train_begin(self, logs=None):
        self.weights = [np.concatenate([w.ravel() for w in self.model.get_weights()[:2]])]

    def on_batch_end(self, batch, logs=None):
        self.weights.append(np.concatenate([w.ravel() for w in self.model.get_weights()[:2]]))


@pytest.mark.parametrize("every", [1, 3])
def test_update_ratio_is_the_recorded_steps_own_update(every):
    """With Adam over two epochs: record k holds ||W_k - W_(k-1)|| / ||W_(k-1)|| for exactly the
    steps 0, every, 2 every, ... (the weights captured by an independent callback)."""
    x = np.random.default_rng(0).random((10, 2))
    y = np.random.default_rng(1).random((10, 2))
    m = tiny(optimizer="adam")
    monitor, weights = Monitor(every=every), WeightsAfterEachStep()
    m.fit(x, y, batch_size=2, epochs=2, verbose=0, seed=0, callbacks=[weights, monitor])
    recorded = list(range(0, 10, every))
    assert monitor.steps == [k + 1 for k in recorded]
    assert monitor.epochs == pytest.approx([(k + 1) / 5 for k in recorded])
    w = weights.weights
    expected = [np.linalg.norm(w[k + 1] - w[k]) / np.linalg.norm(w[k]) for k in recorded]
    assert monitor.series("update_ratio")["hidden"] == pytest.approx(expected, rel=1e-9)


def test_monitor_changes_nothing_and_costs_nothing_when_off(monkeypatch):
    x = np.random.default_rng(0).random((12, 2))
    plain, watched = tiny(optimizer="adam"), tiny(optimizer="adam")
    h1 = plain.fit(x, x[:, ::-1], batch_size=4, epochs=2, verbose=0, seed=3)
    h2 = watched.fit(x, x[:, ::-1], batch_size=4, epochs=2, verbose=0, seed=3, callbacks=[Monitor(every=1)])
    assert h1.with_parts() == h2.with_parts()
    for a, b in zip(plain.get_weights(), watched.get_weights()):
        np.testing.assert_array_equal(a, b)

    def no_work(*args, **kwargs):
        raise AssertionError("callback work in a fit without callbacks")

    for hook in ("begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end"):
        monkeypatch.setattr(CallbackList, hook, no_work)
    plain.fit(x, x, batch_size=4, epochs=1, verbose=0)
    plain.fit(x, x, batch_size=4, epochs=1, verbose=0, callbacks=[])
    with pytest.raises(AssertionError, match="callback work"):          # the check can fail
        plain.fit(x, x, batch_size=4, epochs=1, verbose=0, callbacks=[Callback()])


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", dict(self.params)))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, round(logs["loss"], 12)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_hooks_are_called_in_keras_order_with_the_batch_losses():
    x = np.random.default_rng(0).random((6, 2))
    m, rec = tiny(), Recorder()
    h = m.fit(x, x, batch_size=4, epochs=2, verbose=0, shuffle=False, initial_epoch=1, callbacks=[rec])
    assert rec.model is m
    names = [c[0] for c in rec.calls]
    assert names == ["train_begin", "epoch_begin", "batch_end", "batch_end", "epoch_end",
                     "epoch_begin", "batch_end", "batch_end", "epoch_end", "train_end"]
    assert rec.calls[0][1] == {"epochs": 3, "steps": 2, "batch_size": 4}
    assert [c[1] for c in rec.calls if c[0] == "epoch_begin"] == [1, 2]
    assert rec.calls[4][2] == ["loss"]                       # Keras's logs: History.history's keys
    # the epoch's loss is the sample-weighted mean of the batch losses the hook saw
    b1, b2 = rec.calls[2][2], rec.calls[3][2]
    assert h.history["loss"][0] == pytest.approx((4 * b1 + 2 * b2) / 6, rel=1e-9)


@pytest.mark.parametrize("bad", [Monitor(), [object()], "monitor", (Monitor(), 3)])
def test_bad_callbacks_are_a_type_error(bad):
    with pytest.raises(TypeError, match="callback"):
        tiny().fit(X, Y, epochs=1, verbose=0, callbacks=bad)


@pytest.mark.parametrize("every", [0, -1, 2.5, True])
def test_bad_every(every):
    with pytest.raises((TypeError, ValueError), match="every"):
        Monitor(every=every)


def test_series_to_dict_and_unknown_statistic():
    m, monitor = tiny(), Monitor(every=1)
    m.fit(X, Y, batch_size=2, epochs=1, verbose=0, callbacks=[monitor])
    d = monitor.to_dict()
    assert set(d["values"]) == set(STATISTICS) and d["steps"] == [1, 2]
    assert d["values"]["dead_fraction"]["out"] == [None, None]           # NaN as JSON null
    assert d["shapes"] == {"hidden": "2\u21923", "out": "3\u21922"}
    with pytest.raises(ValueError, match="unknown statistic"):
        monitor.series("gradient")


# -- the loss split into its parts ------------------------------------------------------------------
def test_history_splits_the_loss_into_reconstruction_and_penalties():
    x = np.random.default_rng(2).random((8, 2))
    xv = np.random.default_rng(3).random((5, 2))
    m = tiny(optimizer="adam", regularizer=l1(0.01))
    hist = m.fit(x, x, batch_size=3, epochs=3, verbose=0, seed=0, validation_data=(xv, xv))
    assert list(hist.history) == ["loss", "val_loss"]                  # Keras's keys
    assert list(hist.parts) == ["reconstruction_loss", "hidden_penalty",
                                "val_reconstruction_loss", "val_hidden_penalty"]
    h = hist.with_parts()
    for pre in ("", "val_"):
        for total, rec, pen in zip(h[pre + "loss"], h[pre + "reconstruction_loss"],
                                   h[pre + "hidden_penalty"]):
            assert pen > 0 and rec + pen == pytest.approx(total, rel=1e-12)
    # the last epoch's validation parts, by hand: one batch of 5 (batch_size 3 -> 3 + 2)
    w1, b1, w2, b2 = m.get_weights()
    parts = {"rec": 0.0, "pen": 0.0}
    for xb in (xv[:3], xv[3:]):
        hid = np.maximum(xb @ w1 + b1, 0)
        p = 1 / (1 + np.exp(-(hid @ w2 + b2)))
        parts["rec"] += -(xb * np.log(p) + (1 - xb) * np.log(1 - p)).mean() * len(xb)
        parts["pen"] += 0.01 * np.abs(hid).sum() * len(xb)
    assert h["val_reconstruction_loss"][-1] == pytest.approx(parts["rec"] / 5, rel=1e-9)
    assert h["val_hidden_penalty"][-1] == pytest.approx(parts["pen"] / 5, rel=1e-9)
    assert m.evaluate(xv, xv, batch_size=3, return_dict=True) == pytest.approx(
        {"loss": h["val_loss"][-1], "reconstruction_loss": h["val_reconstruction_loss"][-1],
         "hidden_penalty": h["val_hidden_penalty"][-1]}, rel=1e-12)


def test_without_a_penalty_reconstruction_is_the_loss_and_the_progress_line_stays_short(capsys):
    m = tiny()
    h = m.fit(X, Y, batch_size=2, epochs=1, verbose=2)
    assert h.parts["reconstruction_loss"] == h.history["loss"]
    assert "reconstruction_loss" not in capsys.readouterr().out
    m = tiny(regularizer=l1(0.01))
    m.fit(X, Y, batch_size=2, epochs=1, verbose=2)
    assert "reconstruction_loss: " in capsys.readouterr().out


def test_callbacks_module_names_its_hook_order():
    doc = cb_module.__doc__
    assert doc.index("on_train_begin") < doc.index("on_epoch_begin") < doc.index("on_batch_end") \
        < doc.index("on_epoch_end") < doc.index("on_train_end")


# -- any layer with parameters is watched, not only Dense ------------------------------------------
from scratchae.layers import Input, Layer  # noqa: E402


class Scale(Layer):
    """y = x * w + b elementwise: a user layer (not a Dense) with parameters and no logits."""

    def build(self, shape):
        if not self.built:
            self.params = {"w": np.ones(shape[0]), "b": np.zeros(shape[0])}
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        super().build(shape)

    def forward(self, x, training=False):
        self._x = x
        return x * self.params["w"] + self.params["b"]

    def backward(self, dy):
        self.grads["w"] += (dy * self._x).sum(axis=0)
        self.grads["b"] += dy.sum(axis=0)
        return dy * self.params["w"]


def test_a_user_layer_with_parameters_is_watched():
    w, b = np.array([1.5, -0.5]), np.array([0.2, 0.1])
    m = Sequential([Input(shape=(2,), dtype="float64"), Scale(name="scale", dtype="float64"),
                    Dense(2, activation="sigmoid", dtype="float64", name="out")])
    m.compile(optimizer=SGD(learning_rate=LR), loss="binary_crossentropy")
    m.set_weights([w, b, W2[:2], B2])
    monitor = Monitor(every=1)
    m.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    # by hand: s = x w + b, p = sigmoid(s . W2 + B2), mean BCE
    s = X * w + b
    p = 1 / (1 + np.exp(-(s @ W2[:2] + B2)))
    ds = ((p - Y) / Y.size) @ W2[:2].T
    g_w, g_b = (ds * X).sum(0), ds.sum(0)
    norm = lambda *a: math.sqrt(sum((v ** 2).sum() for v in a))
    assert monitor.layers == ["scale", "out"]
    assert monitor.kinds["scale"] == "other" and monitor.shapes == {"scale": "2\u21922", "out": "2\u21922"}
    assert monitor.series("grad_norm")["scale"][0] == pytest.approx(norm(g_w, g_b), rel=1e-10)
    assert monitor.series("update_ratio")["scale"][0] == pytest.approx(LR * norm(g_w, g_b) / norm(w, b), rel=1e-10)
    for stat in ("dead_fraction", "saturated_fraction", "act_mean", "act_std"):
        assert math.isnan(monitor.series(stat)["scale"][0])      # no pre-activations offered
    assert not math.isnan(monitor.series("saturated_fraction")["out"][0])
