"""Training safety: inputs validated at every entry point, non-finite losses stop training with
the model intact, Ctrl-C stops cleanly after the current batch."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from scratchae import utils
from scratchae.layers import Dense, Input
from scratchae.models import Model, NonFiniteLossError
from scratchae.optimizers import SGD


def structured(n: int, d: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3)) @ rng.standard_normal((3, d))
    return (1.0 / (1.0 + np.exp(-z))).astype(dtype)


X = structured(64, 12)


@pytest.fixture(autouse=True)
def _seed():
    utils.set_random_seed(21)


def make(loss="binary_crossentropy", optimizer="adam", compile_=True, last="sigmoid"):
    inp = Input(shape=(12,))
    out = Dense(12, activation=last)(Dense(5, activation="relu")(inp))
    m = Model(inp, out)
    if compile_:
        m.compile(optimizer=optimizer, loss=loss)
    return m


def unchanged(m, before):
    return all(np.array_equal(a, b) for a, b in zip(m.get_weights(), before))


# -- validation of data and arguments -------------------------------------------------------------
BAD_DATA = [
    # (description, x, y, error type, words the message must contain)
    ("rank 3", X.reshape(64, 3, 4), X, ValueError, ["2-D", "(64, 3, 4)"]),
    ("rank 1", X[0], X[0], ValueError, ["2-D"]),
    ("wrong width", X[:, :10], X, ValueError, ["12 features", "(64, 10)"]),
    ("NaN in x", np.where(np.eye(64, 12, dtype=bool), np.nan, X).astype(np.float32), X, ValueError, ["NaN"]),
    ("inf in y", X, np.where(np.eye(64, 12, dtype=bool), np.inf, X).astype(np.float32), ValueError, ["infinite"]),
    ("length mismatch", X, X[:60], ValueError, ["same number of samples", "64", "60"]),
    ("targets > 1", X, X * 255.0, ValueError, ["[0, 1]", "255"]),
    ("targets < 0", X, X - 0.5, ValueError, ["[0, 1]"]),
    ("integer images", (X * 255).astype(np.uint8), X, TypeError, ["uint8", "255"]),
    ("empty", X[:0], X[:0], ValueError, ["empty"]),
    ("strings", np.full((64, 12), "a"), X, TypeError, ["float"]),
    ("not an array", "x", X, TypeError, ["NumPy array"]),
]


@pytest.mark.parametrize("desc, x, y, err, words", BAD_DATA, ids=[b[0] for b in BAD_DATA])
@pytest.mark.parametrize("entry", ["fit", "train_on_batch", "evaluate"])
def test_bad_data_is_refused_with_a_clear_message_and_nothing_changes(desc, x, y, err, words, entry):
    m = make()
    before = m.get_weights()
    with pytest.raises(err) as e:
        if entry == "fit":
            m.fit(x, y, verbose=0)
        elif entry == "train_on_batch":
            m.train_on_batch(x, y)
        else:
            m.evaluate(x, y)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert unchanged(m, before)
    assert m.optimizer.iterations == 0


@pytest.mark.parametrize("desc, x, err, words", [
    ("rank 3", X.reshape(64, 3, 4), ValueError, ["2-D"]),
    ("wrong width", X[:, :11], ValueError, ["12 features"]),
    ("NaN", np.full((3, 12), np.nan, dtype=np.float32), ValueError, ["NaN"]),
    ("integers", np.zeros((3, 12), dtype=np.int64), TypeError, ["255"]),
    ("empty", np.zeros((0, 12), np.float32), ValueError, ["empty"]),
])
def test_predict_validates(desc, x, err, words):
    m = make(compile_=False)
    with pytest.raises(err) as e:
        m.predict(x)
    for w in words:
        assert w in str(e.value)


def test_validation_data_is_validated_too():
    m = make()
    with pytest.raises(ValueError, match="12 features"):
        m.fit(X, X, validation_data=(X[:, :5], X[:, :5]), verbose=0)
    with pytest.raises(ValueError, match="pair"):
        m.fit(X, X, validation_data=X, verbose=0)
    with pytest.raises(ValueError, match="255"):
        m.fit(X, X, validation_data=(X, X * 255.0), verbose=0)
    assert m.optimizer.iterations == 0


def test_mse_accepts_targets_outside_unit_interval():
    m = make(loss="mse", last="linear")
    m.train_on_batch(X, X * 3.0 - 1.0)


@pytest.mark.parametrize("kwargs, err, word", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": -2}, ValueError, "epochs"),
    ({"epochs": 1.5}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -32}, ValueError, "batch_size"),
    ({"batch_size": True}, TypeError, "batch_size"),
    ({"verbose": 3}, ValueError, "verbose"),
    ({"verbose": "loud"}, ValueError, "verbose"),
    ({"verbose": True}, ValueError, "verbose"),
    ({"shuffle": "yes"}, TypeError, "shuffle"),
])
def test_bad_fit_arguments(kwargs, err, word):
    m = make()
    before = m.get_weights()
    with pytest.raises(err, match=word):
        m.fit(X, X, **kwargs)
    assert unchanged(m, before)


def test_fit_needs_targets():
    m = make()
    with pytest.raises(ValueError, match="fit\\(x, x\\)"):
        m.fit(X, verbose=0)


@pytest.mark.parametrize("call", ["fit", "train_on_batch", "evaluate"])
def test_training_or_evaluating_without_compile_is_a_runtime_error(call):
    m = make(compile_=False)
    with pytest.raises(RuntimeError, match="compile"):
        if call == "fit":
            m.fit(X, X, verbose=0)
        elif call == "train_on_batch":
            m.train_on_batch(X, X)
        else:
            m.evaluate(X, X)


def test_non_positive_learning_rate_is_refused():
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(learning_rate=0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(learning_rate=float("nan"))


# -- non-finite loss ----------------------------------------------------------------------
def poison_forward(layer, at_call, monkeypatch, action):
    """Make `layer.forward` run `action(output)` on its `at_call`-th call (1-based)."""
    real = layer.forward
    calls = {"n": 0}

    def forward(x):
        y = real(x)
        calls["n"] += 1
        if calls["n"] == at_call:
            y = action(y)
        return y

    monkeypatch.setattr(layer, "forward", forward)
    return calls


def test_injected_nan_stops_training_naming_epoch_and_batch(monkeypatch):
    m = make()
    m.fit(X, X, epochs=1, batch_size=16, verbose=0)             # 4 batches per epoch
    good = m.get_weights()

    def nan(y):
        y = y.copy()
        y[0, 0] = np.nan
        return y

    # the first fit call is batch 1 of epoch 1 of this fit: poison epoch 2, batch 3
    poison_forward(m.layers[1], 4 + 3, monkeypatch, nan)
    iterations = m.optimizer.iterations
    with pytest.raises(NonFiniteLossError) as e:
        m.fit(X, X, epochs=3, batch_size=16, shuffle=False, verbose=0)
    msg = str(e.value)
    assert "epoch 2" in msg and "batch 3" in msg and "nan" in msg.lower()
    assert m.optimizer.iterations == iterations + 4 + 2         # the failing batch was not applied
    weights = m.get_weights()
    assert all(np.all(np.isfinite(w)) for w in weights)
    assert not unchanged(m, good)                                 # the good batches were kept
    assert np.all(np.isfinite(m.predict(X)))
    monkeypatch.undo()
    m.fit(X, X, epochs=1, verbose=0)                              # still trainable


def test_train_on_batch_non_finite_loss_is_not_applied(monkeypatch):
    m = make()
    before = m.get_weights()
    poison_forward(m.layers[1], 1, monkeypatch, lambda y: np.full_like(y, np.nan))
    with pytest.raises(NonFiniteLossError):
        m.train_on_batch(X, X)
    assert unchanged(m, before)


def test_diverging_sgd_stops_with_finite_weights():
    """A learning rate far too large: the loss blows up; training stops with finite weights."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = (rng.standard_normal((64, 12)) * 1e3).astype(np.float32)
    m = make(loss="mse", optimizer=SGD(learning_rate=1e4), last="linear")
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(NonFiniteLossError, match=r"epoch \d+, batch \d+"):
            m.fit(x, y, epochs=50, batch_size=8, verbose=0)
    assert m.optimizer.iterations >= 1                           # it did train before diverging
    assert all(np.all(np.isfinite(w)) for w in m.get_weights())


def test_diverging_sgd_raises_no_runtime_warning():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = (rng.standard_normal((64, 12)) * 1e3).astype(np.float32)
    m = make(loss="mse", optimizer=SGD(learning_rate=1e4), last="linear")
    with pytest.raises(NonFiniteLossError):        # RuntimeWarning is an error under setup.cfg
        m.fit(x, y, epochs=50, batch_size=8, verbose=0)


# -- Ctrl-C ----------------------------------------------------------------------------------
def test_ctrl_c_finishes_the_batch_keeps_history_and_leaves_model_usable(monkeypatch):
    m = make()
    batches = 4                                                   # 64 samples, batch 16
    handler_before = signal.getsignal(signal.SIGINT)
    poison_forward(m.layers[1], batches * 2 + 3, monkeypatch,     # epoch 3, batch 3
                   lambda y: (os.kill(os.getpid(), signal.SIGINT), y)[1])
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, X, epochs=5, batch_size=16, verbose=0)
    assert m.optimizer.iterations == batches * 2 + 3              # that batch was finished
    hist = m.history
    assert hist.interrupted is True
    assert hist.epoch == [0, 1] and len(hist.history["loss"]) == 2
    assert signal.getsignal(signal.SIGINT) is handler_before
    assert all(np.all(np.isfinite(w)) for w in m.get_weights())
    monkeypatch.undo()
    assert m.predict(X).shape == (64, 12)
    again = m.fit(X, X, epochs=2, batch_size=16, verbose=0)
    assert len(again.history["loss"]) == 2 and not again.interrupted
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_ctrl_c_in_first_epoch_keeps_empty_history(monkeypatch, capsys):
    m = make()
    poison_forward(m.layers[1], 2, monkeypatch, lambda y: (os.kill(os.getpid(), signal.SIGINT), y)[1])
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, X, epochs=3, batch_size=16, verbose=2)
    assert m.optimizer.iterations == 2
    assert m.history.interrupted and m.history.epoch == []
    out = capsys.readouterr().out
    assert "Interrupted at epoch 1" in out and "32/64" in out


def test_ctrl_c_outside_fit_is_not_swallowed():
    """After fit, Ctrl-C is a plain KeyboardInterrupt again (the handler was restored)."""
    m = make()
    m.fit(X, X, epochs=1, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):       # give the interpreter a chance to run the handler
            pass


@pytest.mark.parametrize("entry", ["fit", "train_on_batch", "evaluate"])
def test_bce_range_check_also_when_x_is_y(entry):
    m = make()
    x255 = X * 255.0                      # astype('float32') done, '/ 255.0' forgotten
    with pytest.raises(ValueError, match="255"):
        if entry == "fit":
            m.fit(x255, x255, verbose=0)
        elif entry == "train_on_batch":
            m.train_on_batch(x255, x255)
        else:
            m.evaluate(x255, x255)
