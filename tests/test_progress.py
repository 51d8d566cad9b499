"""The progress display: silent at verbose=0, one line per epoch when not on a terminal or at
verbose=2, a redrawn live line on a terminal."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest

from scratchae import utils
from scratchae.layers import Dense
from scratchae.models import Sequential
from scratchae.progress import ProgressBar


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def structured(n: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, 3)) @ rng.standard_normal((3, d))
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


X = structured(100, 16)
EPOCH_LINE = re.compile(r"^\s*100/100 \[=+\] - \d+(ms|s|m\d\ds) \d+(us|ms)/sample - loss: \d\.\d{4}$")


def model():
    utils.set_random_seed(0)
    m = Sequential([Dense(4, activation="relu", input_dim=16), Dense(16, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    return m


def test_verbose_0_prints_nothing(capsys):
    model().fit(X, X, epochs=2, verbose=0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize("verbose", [1, 2, "auto"])
def test_not_a_terminal_one_finished_line_per_epoch(capsys, verbose):
    hist = model().fit(X, X, epochs=3, batch_size=16, verbose=verbose)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    epoch_lines = lines[1::2]
    assert len(lines) == 6
    for line, loss in zip(epoch_lines, hist.history["loss"]):
        assert EPOCH_LINE.match(line), line
        assert f"loss: {loss:.4f}" in line


def test_epoch_line_shows_val_loss(capsys):
    hist = model().fit(X, X, epochs=1, verbose=2, validation_data=(X[:20], X[:20]))
    line = capsys.readouterr().out.splitlines()[1]
    assert f"val_loss: {hist.history['val_loss'][0]:.4f}" in line
    assert line.index("loss:") < line.index("val_loss:")


def test_epoch_numbers_follow_initial_epoch(capsys):
    model().fit(X, X, epochs=2, initial_epoch=3, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out


def test_live_bar_on_a_terminal_redraws_with_carriage_return():
    stream = FakeTTY()
    bar = ProgressBar(1000, verbose=1, stream=stream, interval=0.0)
    bar.update(320, 0.25)
    bar.update(640, 0.2)
    text = stream.getvalue()
    assert text.count("\r") == 2 and "\n" not in text
    first, second = text.split("\r")[1:]
    assert " 320/1000 [" in first and " 640/1000 [" in second
    for part in (first, second):
        assert "ETA" in part and "elapsed" in part
    assert "loss: 0.2500" in first and "loss: 0.2000" in second
    # the bar fills in proportion: 30 columns, 64 % done -> 19 '=' then '>'
    assert "[" + "=" * 18 + ">" + "." * 11 + "]" in second
    line = bar.finish(1000, {"loss": 0.1875})
    text = stream.getvalue()
    assert "\r" + line in text and text.endswith("\n") and text.count("\n") == 1
    assert "1000/1000 [" + "=" * 30 + "]" in line and "loss: 0.1875" in line
    assert "ETA" not in line


def test_live_bar_pads_a_shorter_redraw():
    stream = FakeTTY()
    bar = ProgressBar(10, verbose=1, stream=stream, interval=0.0)
    bar.update(1, 123456.0)
    bar.update(2, 0.5)
    first, second = stream.getvalue().split("\r")[1:]
    assert len(second) >= len(first)          # leftovers of the longer line are blanked


def test_live_bar_is_throttled():
    stream = FakeTTY()
    bar = ProgressBar(1000, verbose=1, stream=stream, interval=3600.0)
    for done in range(10, 1000, 10):
        bar.update(done, 0.3)
    assert stream.getvalue().count("\r") <= 1
    bar.update(1000, 0.3)                     # the last batch is always drawn
    assert "1000/1000" in stream.getvalue()


@pytest.mark.parametrize("verbose, tty, live, prints_final", [
    (1, True, True, True), (1, False, False, True), (2, True, False, True), (0, True, False, False),
])
def test_bar_modes(verbose, tty, live, prints_final):
    stream = FakeTTY() if tty else io.StringIO()
    bar = ProgressBar(50, verbose=verbose, stream=stream, interval=0.0)
    bar.update(25, 0.5)
    assert ("\r" in stream.getvalue()) == live
    bar.finish(50, {"loss": 0.4})
    assert ("loss: 0.4000" in stream.getvalue()) == prints_final


def test_fit_on_a_terminal_draws_live(monkeypatch):
    stream = FakeTTY()
    monkeypatch.setattr("sys.stdout", stream)
    model().fit(X, X, epochs=1, batch_size=10, verbose=1)
    text = stream.getvalue()
    assert "\r" in text and "ETA" in text and "100/100" in text
