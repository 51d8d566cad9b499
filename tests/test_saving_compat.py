"""Every file saved by the previous release (format version 1: chains of Dense layers, Adam's
state kept as sums) still loads, predicts what it predicted, and resumes training.

The files in tests/data/release1/ and the numbers in expected.json were written by the previous
release itself (commit e2f2c99): each model trained 2 epochs and saved; `predict` of 5 rows
and the loss and weights after one more epoch recorded from that release. The new release
computes Adam's update in the textbook form (m and v, not the kept sums), so the resumed
numbers agree to float32 rounding, not bit for bit.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scratchae.models import load_model

HERE = Path(__file__).parent / "data" / "release1"
EXPECTED = json.loads((HERE / "expected.json").read_text())
X = np.array(EXPECTED["x"], dtype=np.float32)


@pytest.mark.parametrize("kind", sorted(EXPECTED["models"]))
def test_a_previous_release_file_loads_predicts_and_resumes(kind):
    rec = EXPECTED["models"][kind]
    model = load_model(HERE / f"{kind}.npz")
    np.testing.assert_allclose(model.predict(X[:5]), rec["predict"], rtol=1e-6, atol=1e-7)
    if "next_epoch_loss" not in rec:
        assert model.optimizer is None
        return
    history = model.fit(X, X, epochs=1, batch_size=8, verbose=0)
    assert history.history["loss"][0] == pytest.approx(rec["next_epoch_loss"], rel=1e-5)
    for got, want in zip(model.get_weights(), rec["weights_after"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_the_files_are_version_1_and_a_new_save_is_version_2(tmp_path):
    import zipfile

    for f in HERE.glob("*.npz"):
        meta = json.loads(str(np.load(f)["__scratchae__"]))
        assert meta["version"] == 1, f
    model = load_model(HERE / "functional-adam-l1.npz")
    model.save(tmp_path / "again.npz")
    meta = json.loads(str(np.load(tmp_path / "again.npz")["__scratchae__"]))
    assert meta["version"] == 2 and meta["model"]["outputs"] == [model.chain[-1].name]
    again = load_model(tmp_path / "again.npz")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert zipfile.is_zipfile(tmp_path / "again.npz")
