"""`History`: Keras's keys in `history`, the loss's split in `parts`, compile's metrics, and the
readers of the parts (plots, callbacks, the progress line).

The keys expected below are Keras's for the same models (Keras 2 and 3): `loss` holds the
layers' penalties (an activity regularizer, a VAE's KL added with add_loss) under no key of
their own; `val_loss` comes with validation_data; a compiled metric comes after `loss` and its
val_ twin after `val_loss`.
"""
from __future__ import annotations

import numpy as np
import pytest

from scratchae import autoencoders, figures_vae, plotting
from scratchae.callbacks import Callback
from scratchae.layers import Dense, Input
from scratchae.models import History, Model, Sequential
from scratchae.regularizers import l1

RNG = np.random.default_rng(5)
X = RNG.uniform(0, 1, (24, 784)).astype(np.float32)
XV = RNG.uniform(0, 1, (8, 784)).astype(np.float32)
XS = RNG.uniform(0, 1, (12, 6)).astype(np.float32)       # for the small models


def small(regularized: bool = True, **compile_kwargs) -> Model:
    i = Input(shape=(6,))
    c = Dense(3, activation="relu", activity_regularizer=l1(1e-2) if regularized else None, name="code")(i)
    m = Model(i, Dense(6, activation="sigmoid", name="out")(c))
    m.compile("adam", "binary_crossentropy", **compile_kwargs)
    return m


@pytest.mark.parametrize("build, parts", [
    (lambda: autoencoders.vanilla(16, 4, seed=0), ["reconstruction_loss"]),
    (lambda: autoencoders.shallow(4, seed=0), ["reconstruction_loss"]),
    (lambda: autoencoders.sparse(4, seed=0), ["reconstruction_loss", "code_penalty"]),
    (lambda: autoencoders.tied(4, seed=0), ["reconstruction_loss"]),
    (lambda: autoencoders.contractive(4, seed=0), ["reconstruction_loss", "code_contractive"]),
    (lambda: autoencoders.vae(2, 16, seed=0), ["reconstruction_loss", "z_kl"]),
], ids=["vanilla", "shallow", "sparse", "tied", "contractive", "vae"])
def test_every_builder_has_keras_keys_and_its_parts_apart(build, parts):
    model = build().model
    h = model.fit(X, X, epochs=2, batch_size=8, verbose=0, seed=0, validation_data=(XV, XV))
    assert list(h.history) == ["loss", "val_loss"]
    assert list(h.parts) == parts + ["val_" + p for p in parts]
    for pre in ("", "val_"):                      # loss = reconstruction + the terms, every epoch
        total = np.sum([h.parts[pre + p] for p in parts], axis=0)
        np.testing.assert_allclose(total, h.history[pre + "loss"], rtol=1e-6)


def test_a_sequential_with_a_penalty_has_only_loss():
    m = Sequential([Dense(3, activation="relu", activity_regularizer=l1(1e-2), name="code"),
                    Dense(6, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=["code_penalty"])   # built by fit, checked after
    h = m.fit(XS, XS, epochs=2, batch_size=4, verbose=0, seed=0)
    assert list(h.history) == ["loss", "code_penalty"] and list(h.parts) == ["reconstruction_loss", "code_penalty"]
    m.compile("adam", "binary_crossentropy")                          # a new compile, no metrics
    assert list(m.fit(XS, XS, epochs=1, verbose=0).history) == ["loss"] and m.metrics_names == ["loss"]


def test_with_parts_is_history_and_parts_train_keys_first():
    m = small(metrics=["reconstruction_loss"])
    h = m.fit(XS, XS, epochs=3, batch_size=4, verbose=0, seed=0, validation_data=(XS[:5], XS[:5]))
    both = h.with_parts()
    assert list(both) == ["loss", "reconstruction_loss", "code_penalty",
                          "val_loss", "val_reconstruction_loss", "val_code_penalty"]
    assert all(both[k] == (h.history.get(k) or h.parts[k]) for k in both)
    assert len(both["val_code_penalty"]) == 3 and h.epoch == [0, 1, 2]
    assert repr(h) == ("History(epochs=3, keys=['loss', 'reconstruction_loss', 'val_loss', "
                       "'val_reconstruction_loss'], parts=['reconstruction_loss', 'code_penalty', "
                       "'val_reconstruction_loss', 'val_code_penalty'])")


def test_history_records_logs_by_hand():
    """`_record` on hand-made logs: which entry goes where (no training involved)."""
    h = History(["code_penalty"])
    h._record(4, {"loss": 1.0, "reconstruction_loss": 0.75, "code_penalty": 0.25,
                  "val_loss": 2.0, "val_reconstruction_loss": 1.5, "val_code_penalty": 0.5})
    assert h.history == {"loss": [1.0], "code_penalty": [0.25], "val_loss": [2.0], "val_code_penalty": [0.5]}
    assert h.parts == {"reconstruction_loss": [0.75], "code_penalty": [0.25],
                       "val_reconstruction_loss": [1.5], "val_code_penalty": [0.5]}
    assert h.epoch == [4]


class Logs(Callback):
    def __init__(self):
        super().__init__()
        self.epoch_logs, self.parts_then = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs.append(dict(logs))
        self.parts_then.append({k: v[-1] for k, v in self.model.history.parts.items()})


def test_callbacks_get_keras_logs_and_can_read_the_parts():
    m, cb = small(metrics=["code_penalty"]), Logs()
    h = m.fit(XS, XS, epochs=2, batch_size=4, verbose=0, seed=0, validation_data=(XS, XS), callbacks=[cb])
    assert [list(l) for l in cb.epoch_logs] == [["loss", "code_penalty", "val_loss", "val_code_penalty"]] * 2
    assert [l["loss"] for l in cb.epoch_logs] == h.history["loss"]
    assert [p["reconstruction_loss"] for p in cb.parts_then] == h.parts["reconstruction_loss"]


def test_the_progress_line_shows_the_metrics_and_the_parts_of_a_penalty(capsys):
    small(regularized=False, metrics=["reconstruction_loss"]).fit(XS, XS, epochs=1, verbose=2)
    line = capsys.readouterr().out.splitlines()[-1]
    assert "- loss: " in line and "- reconstruction_loss: " in line            # as Keras shows a metric
    small(regularized=False).fit(XS, XS, epochs=1, verbose=2)
    line = capsys.readouterr().out.splitlines()[-1]
    assert "loss: " in line and "reconstruction_loss" not in line


def test_the_plots_read_the_parts_of_a_history():
    a = small(regularized=False).fit(XS, XS, epochs=2, verbose=0, seed=0)
    b = small().fit(XS, XS, epochs=3, verbose=0, seed=0)
    fig = plotting.compare_losses({"a": a, "b": b}, key="reconstruction_loss")
    ys = [list(line.get_ydata()) for line in fig.axes[0].lines]
    assert ys == [a.parts["reconstruction_loss"], b.parts["reconstruction_loss"]]
    assert ys[1] != b.history["loss"]                  # the penalty is out of the plotted values
    with pytest.raises(ValueError, match="no 'nope' entry"):
        plotting.loss_curves({"a": a}, key="nope")


def test_the_elbo_figure_reads_a_vae_history():
    v = autoencoders.vae(2, 16, seed=0)
    h = v.model.fit(X, X, epochs=2, batch_size=8, verbose=0, seed=0)
    fig = figures_vae.elbo_parts(h)
    left, right = fig.axes[:2]
    assert [list(l.get_ydata()) for l in left.lines] == [h.history["loss"], h.parts["reconstruction_loss"]]
    assert list(right.lines[0].get_ydata()) == h.parts["z_kl"]


@pytest.mark.parametrize("metrics, error, match", [
    ("reconstruction_loss", TypeError, "metrics must be a list of names"),
    ([3], TypeError, "every metric must be a name"),
    (["loss"], ValueError, "which History records by itself"),
    (["val_code_penalty"], ValueError, "which History records by itself"),
    (["code_penalty", "code_penalty"], ValueError, r"metrics must be distinct, got \['code_penalty'\]"),
    (["mse"], ValueError, "'mse' is one of Keras's metrics computed from the predictions"),
])
def test_bad_metrics_are_refused_by_compile_leaving_the_model_as_it_was(metrics, error, match):
    m = small()
    with pytest.raises(error, match=match):
        m.compile("sgd", "mse", metrics=metrics)
    assert m.metrics_names == ["loss"] and type(m.optimizer).__name__ == "Adam"


def test_a_misspelt_part_is_refused_naming_the_parts():
    m = small(metrics=["code_penalti"])
    with pytest.raises(ValueError, match=r"names \['code_penalti'\].*\['reconstruction_loss', 'code_penalty'\]"):
        m.fit(XS, XS, epochs=1, verbose=0)
    assert m.optimizer.iterations == 0 and m.history is None
