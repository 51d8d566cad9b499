"""Training safety: inputs validated at every entry point, non-finite losses stop training with
the model intact, Ctrl-C stops cleanly after the current batch."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from scratchae import utils
from scratchae.callbacks import Callback
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


@pytest.fixture(autouse=True)
def _signals_as_in_a_terminal():
    """Ctrl-C raising KeyboardInterrupt, SIGTERM and SIGHUP with their default actions, as in
    an interactive Python, whatever this suite inherited (started in the background, SIGINT is
    ignored; under nohup, SIGHUP; fit rightly leaves an ignored signal alone)."""
    defaults = {signal.SIGINT: signal.default_int_handler}
    defaults.update({getattr(signal, n): signal.SIG_DFL for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)})
    old = {sig: signal.signal(sig, handler) for sig, handler in defaults.items()}
    yield
    for sig, handler in old.items():
        signal.signal(sig, handler)


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
    ("ragged list", [[0.5] * 12, [0.5] * 11], X[:2], ValueError, ["x must be a rectangular", "12, 11"]),
    ("ragged list as y", X[:2], [[0.5] * 12, [0.5] * 3], ValueError, ["y must be a rectangular"]),
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


BAD_PREDICT = [
    # (description, x, error type, words the message must contain)
    ("rank 3", X.reshape(64, 3, 4), ValueError, ["2-D"]),
    ("wrong width", X[:, :11], ValueError, ["12 features"]),
    ("NaN", np.full((3, 12), np.nan, dtype=np.float32), ValueError, ["NaN"]),
    ("integers", np.zeros((3, 12), dtype=np.int64), TypeError, ["255"]),
    ("empty", np.zeros((0, 12), np.float32), ValueError, ["empty"]),
    ("ragged list", [[0.5] * 12, [0.5]], ValueError, ["x must be a rectangular"]),
]


@pytest.mark.parametrize("desc, x, err, words", BAD_PREDICT, ids=[b[0] for b in BAD_PREDICT])
def test_predict_validates(desc, x, err, words):
    m = make(compile_=False)
    with pytest.raises(err) as e:
        m.predict(x)
    for w in words:
        assert w in str(e.value)


BAD_VALIDATION_DATA = [
    # (description, validation_data, error type, words the message must contain)
    ("(x, None)", (X, None), ValueError, ["pair (x_val, y_val)", "y_val None", "(x_val, x_val)"]),
    ("(None, x)", (None, X), ValueError, ["x_val None"]),
    ("one array", (X,), ValueError, ["pair", "tuple of 1"]),
    ("three arrays", (X, X, X), ValueError, ["pair", "tuple of 3"]),
    ("a dict", {"x": X, "y": X}, ValueError, ["pair", "dict"]),
    ("a string", "val.npz", ValueError, ["pair", "str"]),
    ("strings inside", ("a", "b"), TypeError, ["validation_data: ", "NumPy array"]),
    ("an empty x_val", (X[:0], X[:0]), ValueError, ["validation_data: ", "empty"]),
    ("NaN in y_val", (X, np.full_like(X, np.nan)), ValueError, ["validation_data: ", "NaN"]),
]


@pytest.mark.parametrize("desc, data, err, words", BAD_VALIDATION_DATA, ids=[b[0] for b in BAD_VALIDATION_DATA])
def test_malformed_validation_data_is_refused_before_the_first_step(desc, data, err, words, monkeypatch):
    """Before, (x, None) trained a whole epoch, then raised a raw TypeError that lost it."""
    m = make()
    before = m.get_weights()
    monkeypatch.setattr(m, "train_step", lambda *a: pytest.fail("a step was trained"))
    with pytest.raises(err) as e:
        m.fit(X, X, epochs=2, verbose=0, validation_data=data)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert unchanged(m, before) and m.optimizer.iterations == 0


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


BAD_FIT_ARGUMENTS = [
    # (keyword arguments, error type, words the message must contain)
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
    ({"initial_epoch": -5}, ValueError, "initial_epoch must be an integer >= 0, got -5"),
    ({"initial_epoch": 2.5}, TypeError, "initial_epoch must be an integer >= 0, got 2.5"),
    ({"initial_epoch": True}, TypeError, "initial_epoch"),
]


@pytest.mark.parametrize("kwargs, err, word", BAD_FIT_ARGUMENTS,
                         ids=[",".join(f"{k}={v!r}" for k, v in a.items()) for a, _, _ in BAD_FIT_ARGUMENTS])
def test_bad_fit_arguments(kwargs, err, word):
    m = make()
    before = m.get_weights()
    with pytest.raises(err, match=word):
        m.fit(X, X, **kwargs)
    assert unchanged(m, before)


BAD_WEIGHTS = [
    # (description, how the first kernel is changed, error type, words the message must contain)
    ("complex", lambda w: w.astype(np.complex64) + 1j, ValueError, ["real numbers", "complex64", "imaginary"]),
    ("complex with zero imaginary part", lambda w: w.astype(np.complex128), ValueError, ["complex128"]),
    ("too large for float32", lambda w: np.full(w.shape, 1e39), ValueError, ["float32", "too large"]),
    ("NaN", lambda w: np.full(w.shape, np.nan), ValueError, ["finite"]),
    ("strings", lambda w: np.full(w.shape, "1"), ValueError, ["real numbers", "<U1"]),
    ("booleans", lambda w: w > 0, ValueError, ["bool"]),
    ("ragged list", lambda w: [[0.0] * w.shape[1], [0.0]], ValueError, ["/kernel must be a rectangular"]),
    ("wrong shape", lambda w: w.T, ValueError, ["expected shape (12, 5)"]),
]


@pytest.mark.parametrize("desc, change, err, words", BAD_WEIGHTS, ids=[b[0] for b in BAD_WEIGHTS])
def test_set_weights_refuses_what_it_cannot_store_exactly(desc, change, err, words):
    m = make()
    before = m.get_weights()
    bad = [change(before[0])] + before[1:]
    with pytest.raises(err) as e:
        m.set_weights(bad)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
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
BATCHES = 4                       # 64 samples, batch 16
CALLS_PER_EPOCH = BATCHES + 1     # each batch's forward, and one check of the epoch's last update


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


def state(m):
    """Everything a resumed run depends on: weights, optimizer state, shuffling generator."""
    opt = {k: np.array(v) for k, v in m.optimizer.get_state().items()}
    return m.get_weights(), opt, m.rng.bit_generator.state


def assert_same_state(a, b):
    (wa, oa, ra), (wb, ob, rb) = a, b
    assert all(u.tobytes() == v.tobytes() for u, v in zip(wa, wb))
    assert sorted(oa) == sorted(ob) and all(oa[k].tobytes() == ob[k].tobytes() for k in oa)
    assert ra == rb


def twin(epochs, **fit):
    """The same model and data trained for `epochs` epochs without any fault (seeded like `make`)."""
    utils.set_random_seed(21)
    m = make(**{k: fit.pop(k) for k in ("loss", "optimizer", "last") if k in fit})
    if epochs:
        m.fit(X, X, epochs=epochs, batch_size=16, verbose=0, seed=5, **fit)
    return m


def nan(y):
    y = y.copy()
    y[0, 0] = np.nan
    return y


def test_injected_nan_stops_training_naming_epoch_and_batch(monkeypatch):
    m = twin(0)
    poison_forward(m.layers[1], 2 * CALLS_PER_EPOCH + 3, monkeypatch, nan)     # epoch 3, batch 3
    with pytest.raises(NonFiniteLossError) as e:
        m.fit(X, X, epochs=5, batch_size=16, verbose=0, seed=5)
    msg = str(e.value)
    assert "loss became nan at epoch 3, batch 3" in msg
    assert "back at the end of epoch 2" in msg and "8 step(s)" in msg
    assert m.optimizer.iterations == 2 * BATCHES                  # epoch 3's updates undone
    assert m.history.epoch == [0, 1] and not m.history.interrupted
    assert_same_state(state(m), state(twin(2)))                   # weights, Adam moments, rng
    monkeypatch.undo()
    m.fit(X, X, epochs=1, verbose=0)                              # still trainable


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_divergence_restores_the_state_of_the_last_completed_epoch_exactly(monkeypatch, optimizer):
    """Restored means resumable: continuing from the restored model gives the run that never
    failed, bit for bit (weights, optimizer state and the next epochs' shuffles all match)."""
    m = twin(0, optimizer=optimizer)
    poison_forward(m.layers[1], CALLS_PER_EPOCH + 2, monkeypatch, nan)         # epoch 2, batch 2
    with pytest.raises(NonFiniteLossError):
        m.fit(X, X, epochs=4, batch_size=16, verbose=0, seed=5)
    monkeypatch.undo()
    m.fit(X, X, epochs=2, batch_size=16, verbose=0, initial_epoch=1)
    reference = twin(3, optimizer=optimizer)
    assert_same_state(state(m), state(reference))


class Blowup(SGD):
    """SGD that, on one chosen step, sets every weight to `value` (a huge or NaN update)."""

    def __init__(self, step, value):
        super().__init__(learning_rate=0.01)
        self.step, self.value = step, value

    def apply(self, parameters):
        parameters = list(parameters)
        super().apply(parameters)
        if self.iterations == self.step:
            for _, p, _ in parameters:
                p[...] = self.value


@pytest.mark.parametrize("value, words", [(np.nan, "weights or optimizer state became non-finite"),
                                          (1e30, "loss became inf"), (1e18, "loss became")],
                         ids=["nan", "1e30", "1e18"])
def test_the_last_update_of_fit_is_checked(value, words):
    """The final step of fit is checked by no later batch: once per epoch the weights and the
    loss of the last batch with them are. Before that check, fit returned normally here with
    a finite history, and predict gave NaN."""
    m = twin(0, loss="mse", last="linear", optimizer=Blowup(2 * BATCHES, value))
    with pytest.raises(NonFiniteLossError) as e:
        m.fit(X, X, epochs=2, batch_size=16, verbose=0, seed=5)
    assert words in str(e.value) and "after the last update of epoch 2 (batch 4)" in str(e.value)
    assert m.optimizer.iterations == BATCHES and m.history.epoch == [0]
    assert np.all(np.isfinite(m.predict(X))) and np.isfinite(m.evaluate(X, X))
    assert_same_state(state(m), state(twin(1, loss="mse", last="linear", optimizer=SGD(0.01))))


class InfiniteMoments(SGD):
    """SGD with momentum whose velocity becomes infinite on one chosen step, the weights not."""

    def __init__(self, step):
        super().__init__(learning_rate=0.01, momentum=0.5)
        self.step = step

    def apply(self, parameters):
        super().apply(parameters)
        if self.iterations == self.step:
            for v in self.momentums.values():
                v[...] = np.inf


def test_a_non_finite_optimizer_state_is_caught_and_never_checkpointed():
    """Adam's or SGD's state gone infinite with finite weights would poison every later step,
    and a checkpoint holding it could not be restored: it stops training like a NaN loss."""
    m = twin(0, optimizer=InfiniteMoments(BATCHES))
    with pytest.raises(NonFiniteLossError, match="optimizer state became non-finite after the last update of epoch 1"):
        m.fit(X, X, epochs=3, batch_size=16, verbose=0, seed=5)
    assert m.optimizer.iterations == 0 and m.history.epoch == []
    m = make(optimizer=InfiniteMoments(2))
    m.train_on_batch(X, X)
    with pytest.raises(NonFiniteLossError, match="optimizer state non-finite; it was undone"):
        m.train_on_batch(X, X)
    assert all(np.all(np.isfinite(v)) for v in m.optimizer.momentums.values())
    assert m.optimizer.iterations == 1


def test_non_finite_validation_loss_stops_training_too():
    m = twin(0, loss="mse", last="linear")
    x_val = X.copy()
    x_val[:, :] = 3e38                            # finite, but its loss overflows
    with pytest.raises(NonFiniteLossError, match="validation_data became (inf|nan) after epoch 1"):
        m.fit(X, X, epochs=2, batch_size=16, verbose=0, validation_data=(x_val, X))
    assert m.optimizer.iterations == 0 and m.history.epoch == []
    assert_same_state(state(m), state(twin(0, loss="mse", last="linear")))      # as it started


def test_a_non_finite_validation_loss_after_epoch_2_puts_back_epoch_1_exactly(monkeypatch):
    """The weights, the optimizer state and the shuffling generator all go back to the end of
    epoch 1 (each one checked: the test fails if any of the three is left as epoch 2 made it)."""
    m = twin(0)
    # per epoch: 4 batch forwards, the check of the last update, 1 validation forward (16 rows)
    poison_forward(m.layers[1], 2 * (CALLS_PER_EPOCH + 1), monkeypatch, nan)   # epoch 2's validation
    with pytest.raises(NonFiniteLossError, match="validation_data became nan after epoch 2"):
        m.fit(X, X, epochs=3, batch_size=16, verbose=0, seed=5, validation_data=(X[:16], X[:16]))
    assert m.history.epoch == [0] and m.optimizer.iterations == BATCHES
    assert_same_state(state(m), state(twin(1)))


def test_diverging_sgd_stops_with_finite_weights_and_a_finite_loss():
    """A learning rate far too large: the loss blows up; the weights go back to the start of
    the failing epoch, not the ~1e18 weights of its last batch (evaluate was inf)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = (rng.standard_normal((64, 12)) * 1e3).astype(np.float32)
    m = make(loss="mse", optimizer=SGD(learning_rate=1e4), last="linear")
    start = m.get_weights()
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(NonFiniteLossError, match=r"epoch \d+, batch \d+"):
            m.fit(x, y, epochs=50, batch_size=8, verbose=0)
    assert all(np.all(np.isfinite(w)) for w in m.get_weights())
    assert np.isfinite(m.evaluate(x, y))
    assert m.optimizer.iterations == 8 * len(m.history.epoch)       # whole epochs only
    if not m.history.epoch:
        assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), start))


def test_diverging_sgd_raises_no_runtime_warning():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = (rng.standard_normal((64, 12)) * 1e3).astype(np.float32)
    m = make(loss="mse", optimizer=SGD(learning_rate=1e4), last="linear")
    with pytest.raises(NonFiniteLossError):        # RuntimeWarning is an error under setup.cfg
        m.fit(x, y, epochs=50, batch_size=8, verbose=0)


def test_an_exception_inside_fit_also_restores_the_last_completed_epoch(monkeypatch):
    m = twin(0)

    def boom(y):
        raise RuntimeError("a piece failed")

    poison_forward(m.layers[1], CALLS_PER_EPOCH + 3, monkeypatch, boom)
    with pytest.raises(RuntimeError, match="a piece failed"):
        m.fit(X, X, epochs=3, batch_size=16, verbose=0, seed=5)
    assert not m.history.interrupted
    assert_same_state(state(m), state(twin(1)))


class RaiseAt(Callback):
    """A callback that raises `exc` at the end of batch `batch` (0-based) of epoch `epoch`."""

    def __init__(self, epoch, batch, exc):
        super().__init__()
        self.epoch, self.batch, self.exc, self.now = epoch, batch, exc, None

    def on_epoch_begin(self, epoch, logs=None):
        self.now = epoch

    def on_batch_end(self, batch, logs=None):
        if (self.now, batch) == (self.epoch, self.batch):
            raise self.exc


@pytest.mark.parametrize("exc", [MemoryError("Unable to allocate 3.0 GiB"), OSError(28, "No space left on device"),
                                 SystemExit(3)], ids=["MemoryError", "OSError", "SystemExit"])
def test_any_exception_after_an_epoch_keeps_that_epoch(exc):
    """An out-of-memory error (or any other) in epoch 2: the model and history keep epoch 1,
    exactly, so a rescue save (the commands make one) holds it."""
    m = twin(0)
    with pytest.raises(type(exc)):
        m.fit(X, X, epochs=3, batch_size=16, verbose=0, seed=5, callbacks=[RaiseAt(1, 1, exc)])
    assert m.history.epoch == [0] and len(m.history.history["loss"]) == 1 and not m.history.interrupted
    assert m.optimizer.iterations == BATCHES
    assert_same_state(state(m), state(twin(1)))


# -- one fit at a time -----------------------------------------------------------------------------
class FitsAgain(Callback):
    """A callback that calls fit (or train_on_batch) on its own model after the first batch."""

    def __init__(self, call, catch=False):
        super().__init__()
        self.call, self.catch, self.refused = call, catch, []

    def on_batch_end(self, batch, logs=None):
        if batch == 0 and not self.refused:
            try:
                self.call(self.model)
            except RuntimeError as exc:
                self.refused.append(str(exc))
                if not self.catch:
                    raise


@pytest.mark.parametrize("call, words", [
    (lambda m: m.fit(X, X, epochs=1, verbose=0), "fit of 'model' refused: a fit running in this thread (this "
                                                 "call came from inside it: a callback?) is already training"),
    (lambda m: m.train_on_batch(X, X), "train_on_batch of 'model' refused: a fit running in this thread"),
], ids=["fit", "train_on_batch"])
def test_a_callback_that_trains_its_own_model_is_refused(call, words):
    """Before, the inner run's steps and history were mixed into the outer one's."""
    m = twin(0)
    with pytest.raises(RuntimeError) as e:
        m.fit(X, X, epochs=2, batch_size=16, verbose=0, seed=5, callbacks=[FitsAgain(call)])
    assert words in str(e.value), str(e.value)
    assert m.history.epoch == [] and m.optimizer.iterations == 0            # the outer fit undone
    # refused, caught, and the outer fit goes on: its history and step count are its own
    m = twin(0)
    again = FitsAgain(call, catch=True)
    m.fit(X, X, epochs=2, batch_size=16, verbose=0, seed=5, callbacks=[again])
    assert len(again.refused) == 1 and words in again.refused[0]
    assert m.history.epoch == [0, 1] and m.optimizer.iterations == 2 * BATCHES
    assert_same_state(state(m), state(twin(2)))
    m.fit(X, X, epochs=1, batch_size=16, verbose=0)                          # free again afterwards
    assert m._fitting is None


def test_a_second_thread_fitting_the_same_model_is_refused():
    import threading

    m = twin(0)
    inside, release = threading.Event(), threading.Event()

    class Wait(Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 0 and not inside.is_set():
                inside.set()
                assert release.wait(60), "the test never released the first fit"

    results = {}
    first = threading.Thread(name="first-fit", target=lambda: results.setdefault("history", m.fit(
        X, X, epochs=2, batch_size=16, verbose=0, seed=5, callbacks=[Wait()])))
    first.start()
    try:
        assert inside.wait(60)                         # the first fit is inside its first batch
        with pytest.raises(RuntimeError, match="refused: a fit in thread 'first-fit' is already training"):
            m.fit(X, X, epochs=1, verbose=0)
        with pytest.raises(RuntimeError, match="train_on_batch of 'model' refused: a fit in thread 'first-fit'"):
            m.train_on_batch(X, X)
    finally:
        release.set()
        first.join(60)
    assert results["history"].epoch == [0, 1] and m.optimizer.iterations == 2 * BATCHES
    assert_same_state(state(m), state(twin(2)))
    assert m.fit(X, X, epochs=1, verbose=0).epoch == [0]                       # free again


def test_two_models_train_at_once_in_two_threads():
    """The guard is per model: other models train in parallel as before."""
    import threading

    models = [twin(0), twin(0)]
    threads = [threading.Thread(target=m.fit, args=(X, X), kwargs=dict(epochs=2, batch_size=16, verbose=0, seed=5))
               for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for m in models:
        assert m.history.epoch == [0, 1]
        assert_same_state(state(m), state(twin(2)))


# -- train_on_batch ----------------------------------------------------------------------------
def test_train_on_batch_non_finite_loss_is_not_applied(monkeypatch):
    m = make()
    before = m.get_weights()
    poison_forward(m.layers[1], 1, monkeypatch, lambda y: np.full_like(y, np.nan))
    with pytest.raises(NonFiniteLossError, match="weights are as they were"):
        m.train_on_batch(X, X)
    assert unchanged(m, before) and m.optimizer.iterations == 0


def test_train_on_batch_undoes_the_update_that_broke_the_weights():
    """Call 2's update makes the weights huge (finite, so its own loss looked fine); call 3
    sees an infinite loss and puts back the state from before call 2's update."""
    m = make(loss="mse", last="linear", optimizer=Blowup(2, 1e30))
    m.train_on_batch(X, X)
    good = state(m)
    m.train_on_batch(X, X)                                      # the loss was computed before
    with pytest.raises(NonFiniteLossError, match="back to before the previous train_on_batch"):
        m.train_on_batch(X, X)
    assert_same_state(state(m), good)
    assert m.optimizer.iterations == 1 and np.isfinite(m.evaluate(X, X))


def test_train_on_batch_undoes_an_update_to_non_finite_weights_at_once():
    m = make(loss="mse", last="linear", optimizer=Blowup(2, np.nan))
    m.train_on_batch(X, X)
    good = state(m)
    with pytest.raises(NonFiniteLossError, match="made the weights or optimizer state non-finite; it was undone"):
        m.train_on_batch(X, X)
    assert_same_state(state(m), good)


def test_train_on_batch_never_undoes_across_set_weights():
    m = make(loss="mse", last="linear")
    m.train_on_batch(X, X)
    m.train_on_batch(X, X)
    mine = [np.full_like(w, 1e30) for w in m.get_weights()]
    m.set_weights(mine)                                         # the user's own (huge) weights
    with pytest.raises(NonFiniteLossError, match="weights are as they were"):
        m.train_on_batch(X, X)
    assert unchanged(m, mine) and m.optimizer.iterations == 2


# -- Ctrl-C ----------------------------------------------------------------------------------
def ctrl_c(times=1):
    def action(y):
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGINT)
        return y
    return action


def test_ctrl_c_finishes_the_batch_and_puts_back_the_last_completed_epoch(monkeypatch, capsys):
    m = twin(0)
    handler_before = signal.getsignal(signal.SIGINT)
    poison_forward(m.layers[1], 2 * CALLS_PER_EPOCH + 3, monkeypatch, ctrl_c())    # epoch 3, batch 3
    with pytest.raises(KeyboardInterrupt, match="back at the end of epoch 2"):
        m.fit(X, X, epochs=5, batch_size=16, verbose=2, seed=5)
    assert "Interrupted at epoch 3 after 48/64 samples" in capsys.readouterr().out
    hist = m.history
    assert hist.interrupted is True
    assert hist.epoch == [0, 1] and len(hist.history["loss"]) == 2
    assert m.optimizer.iterations == 2 * BATCHES                  # what history says, exactly
    assert_same_state(state(m), state(twin(2)))
    assert signal.getsignal(signal.SIGINT) is handler_before
    monkeypatch.undo()
    assert m.predict(X).shape == (64, 12)
    again = m.fit(X, X, epochs=2, batch_size=16, verbose=0)
    assert len(again.history["loss"]) == 2 and not again.interrupted
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_ctrl_c_in_the_last_batch_keeps_that_epoch(monkeypatch):
    m = twin(0)
    poison_forward(m.layers[1], BATCHES, monkeypatch, ctrl_c())    # epoch 1, batch 4 (the last)
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, X, epochs=3, batch_size=16, verbose=0, seed=5)
    assert m.history.epoch == [0] and m.optimizer.iterations == BATCHES
    assert_same_state(state(m), state(twin(1)))


def test_second_ctrl_c_stops_the_batch_at_once_and_still_restores(monkeypatch):
    m = twin(0)
    handler_before = signal.getsignal(signal.SIGINT)
    # both arrive inside a forward: the second interrupts that batch's own step
    poison_forward(m.layers[1], CALLS_PER_EPOCH + 2, monkeypatch, ctrl_c(times=2))
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, X, epochs=3, batch_size=16, verbose=0, seed=5)
    assert m.history.interrupted and m.history.epoch == [0]
    assert_same_state(state(m), state(twin(1)))
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_ctrl_c_in_first_epoch_puts_back_the_starting_weights(monkeypatch, capsys):
    m = make()
    before = m.get_weights()
    poison_forward(m.layers[1], 2, monkeypatch, ctrl_c())
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, X, epochs=3, batch_size=16, verbose=2)
    assert m.optimizer.iterations == 0 and unchanged(m, before)
    assert m.history.interrupted and m.history.epoch == []
    out = capsys.readouterr().out
    assert "Interrupted at epoch 1 after 32/64 samples" in out and "where this fit started" in out


def test_ctrl_c_outside_fit_is_not_swallowed():
    """After fit, Ctrl-C is a plain KeyboardInterrupt again (the handler was restored)."""
    m = make()
    m.fit(X, X, epochs=1, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):       # give the interpreter a chance to run the handler
            pass


def test_held_interrupts_finishes_the_block_then_raises():
    from scratchae.training import held_interrupts

    done = []
    with pytest.raises(KeyboardInterrupt):
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
            done.append(True)
    assert done == [True]


# -- SIGTERM and SIGHUP: as Ctrl-C -----------------------------------------------------------------
STOPS = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]


@pytest.fixture
def as_the_commands_do():
    """The handler `scratchae train` puts on SIGTERM and SIGHUP, set here by hand: a signal
    that fit failed to take over is then a failure of the test, never a killed test run."""
    from scratchae.training import StopHandler

    handler = StopHandler()
    old = {sig: signal.signal(sig, handler) for sig in STOPS}
    yield handler
    for sig, previous in old.items():
        signal.signal(sig, previous)


def test_the_commands_handle_the_three_signals_and_give_the_old_handlers_back():
    from scratchae.training import Interrupted, StopHandler, signals_as_interrupts

    before = {sig: signal.getsignal(sig) for sig in STOPS + [signal.SIGINT]}
    assert all(before[sig] is signal.SIG_DFL for sig in STOPS)
    with signals_as_interrupts() as handler:
        assert isinstance(handler, StopHandler)
        assert all(signal.getsignal(sig) is handler for sig in before)
        with pytest.raises(Interrupted) as e:              # the first: raised where it lands
            handler(signal.SIGTERM, None)
        assert e.value.signum == signal.SIGTERM and handler.stopping
        handler(signal.SIGINT, None)                       # later ones: counted, not raised
        assert handler.later == [signal.SIGINT]
    assert {sig: signal.getsignal(sig) for sig in before} == before


def send(sig, times=1):
    def action(y):
        for _ in range(times):
            os.kill(os.getpid(), sig)
        return y
    return action


@pytest.mark.parametrize("sig", STOPS, ids=lambda s: signal.Signals(s).name)
def test_sigterm_and_sighup_finish_the_batch_and_put_back_the_last_completed_epoch(
        sig, monkeypatch, capsys, as_the_commands_do):
    from scratchae.training import Interrupted

    m = twin(0)
    poison_forward(m.layers[1], 2 * CALLS_PER_EPOCH + 3, monkeypatch, send(sig))    # epoch 3, batch 3
    with pytest.raises(Interrupted, match=f"stopped by {signal.Signals(sig).name}; the model is back "
                                          "at the end of epoch 2") as e:
        m.fit(X, X, epochs=5, batch_size=16, verbose=2, seed=5)
    assert e.value.signum == sig and isinstance(e.value, KeyboardInterrupt)
    assert f"Stopped by {signal.Signals(sig).name} at epoch 3 after 48/64 samples" in capsys.readouterr().out
    assert m.history.interrupted and m.history.epoch == [0, 1] and m.optimizer.iterations == 2 * BATCHES
    assert_same_state(state(m), state(twin(2)))
    assert signal.getsignal(sig) is as_the_commands_do               # the old handler is back ...
    assert as_the_commands_do.stopping                               # ... knowing a stop is under way
    try:
        os.kill(os.getpid(), sig)          # so a second signal, during the rescue save, waits
        for _ in range(1000):
            pass
    except KeyboardInterrupt as exc:       # not to pytest: it would end the whole run
        pytest.fail(f"a second signal broke off the stop: {exc!r}")
    assert as_the_commands_do.later == [sig]


@pytest.mark.parametrize("sig", STOPS, ids=lambda s: signal.Signals(s).name)
def test_a_second_sigterm_or_sighup_stops_the_batch_at_once(sig, monkeypatch, as_the_commands_do):
    from scratchae.training import Interrupted

    m = twin(0)
    poison_forward(m.layers[1], CALLS_PER_EPOCH + 2, monkeypatch, send(sig, times=2))
    with pytest.raises(Interrupted) as e:
        m.fit(X, X, epochs=3, batch_size=16, verbose=0, seed=5)
    assert e.value.signum == sig and m.history.epoch == [0]
    assert_same_state(state(m), state(twin(1)))


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP here")
def test_an_ignored_or_own_signal_handler_is_left_alone(monkeypatch):
    """`nohup` ignores SIGHUP: fit leaves it ignored. A program's own SIGTERM handler keeps
    its say: fit does not take it over (and it is back, untouched, afterwards)."""
    seen = []
    own = lambda signum, frame: seen.append(signum)
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN), signal.signal(signal.SIGTERM, own)
    try:
        m = twin(0)
        poison_forward(m.layers[1], 3, monkeypatch, lambda y: (os.kill(os.getpid(), signal.SIGHUP),
                                                               os.kill(os.getpid(), signal.SIGTERM), y)[-1])
        try:
            history = m.fit(X, X, epochs=2, batch_size=16, verbose=0, seed=5)
        except KeyboardInterrupt as exc:          # not to pytest: it would end the whole run
            pytest.fail(f"fit took over a signal that was not its to take: {exc!r}")
        assert history.epoch == [0, 1] and not history.interrupted           # not stopped
        assert seen == [signal.SIGTERM]                                       # the program's handler ran
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGHUP, old[0])
        signal.signal(signal.SIGTERM, old[1])


LIBRARY_SIGTERM = """
import os, signal, sys
import numpy as np
from scratchae.callbacks import Callback
from scratchae.layers import Dense, Input
from scratchae.models import Model
from scratchae.training import Interrupted
assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
inp = Input(shape=(12,))
m = Model(inp, Dense(12, activation="sigmoid")(Dense(5, activation="relu")(inp)))
m.compile("adam", "binary_crossentropy")
class Term(Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (1, 1):
            os.kill(os.getpid(), signal.SIGTERM)
x = np.random.default_rng(0).uniform(0, 1, (64, 12)).astype(np.float32)
try:
    m.fit(x, x, epochs=3, batch_size=16, verbose=0, callbacks=[Term()])
except Interrupted as exc:
    print(exc.signal_name, m.history.epoch, m.optimizer.iterations, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


@pytest.mark.skipif(os.name != "posix", reason="real SIGTERM")
def test_a_script_calling_fit_gets_sigterm_as_an_interrupt_not_a_kill():
    """Where SIGTERM has its default action (a plain script), fit takes it over too, and
    gives the default back: a killed script would have lost epoch 1."""
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    from test_cli_train import signals_as_in_a_terminal

    r = subprocess.run([sys.executable, "-c", LIBRARY_SIGTERM], capture_output=True, text=True, timeout=120, env=env,
                       preexec_fn=signals_as_in_a_terminal)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout.split() == ["SIGTERM", "[0]", "4", "True"]


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
