"""Model.save / load_model: exact round trips, bit-identical resumed training, atomic writes,
and clear errors for every kind of bad file."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from scratchae import utils
from scratchae.layers import Dense, Input
from scratchae.models import Model, Sequential, load_model
from scratchae.optimizers import SGD, Adam
from scratchae.regularizers import l1


def structured(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 4)) @ rng.standard_normal((4, d))
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


X = structured(96, 24)


def build(compile_=True, optimizer="adam"):
    inp = Input(shape=(24,))
    h = Dense(10, activation="relu")(inp)
    code = Dense(4, activation="relu", activity_regularizer=l1(1e-4))(h)
    out = Dense(24, activation="sigmoid")(Dense(10, activation="relu")(code))
    m = Model(inp, out, name="ae")
    if compile_:
        m.compile(optimizer=optimizer, loss="binary_crossentropy")
    return m


@pytest.fixture
def trained(tmp_path):
    utils.set_random_seed(3)
    m = build()
    m.fit(X, X, epochs=2, verbose=0)
    path = tmp_path / "model.npz"
    m.save(path)
    return m, path


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert u.tobytes() == v.tobytes()


# -- round trips ------------------------------------------------------------------------------
def test_round_trip_is_exact(trained):
    m, path = trained
    m2 = load_model(path)
    assert type(m2) is Model and m2.name == "ae"
    assert [l.name for l in m2.layers] == [l.name for l in m.layers]
    assert [getattr(l, "units", None) for l in m2.layers] == [getattr(l, "units", None) for l in m.layers]
    assert m2.layers[2].activity_regularizer.l1 == m.layers[2].activity_regularizer.l1
    assert_same_weights(m, m2)
    assert m2.predict(X).tobytes() == m.predict(X).tobytes()
    assert m2.evaluate(X, X) == m.evaluate(X, X)
    assert type(m2.optimizer) is Adam and type(m2.loss) is type(m.loss)
    assert m2.optimizer.get_config() == m.optimizer.get_config()
    s1, s2 = m.optimizer.get_state(), m2.optimizer.get_state()
    assert int(s2["iterations"]) == int(s1["iterations"]) == m.optimizer.iterations == 2 * 3
    assert set(s1) == set(s2) and len(s1) >= 3
    for k in s1:
        assert np.asarray(s1[k]).tobytes() == np.asarray(s2[k]).tobytes(), k


def test_resumed_training_matches_uninterrupted_training_bit_for_bit(tmp_path):
    utils.set_random_seed(11)
    ref = build()
    ref_hist = ref.fit(X, X, epochs=5, verbose=0)

    utils.set_random_seed(11)
    m = build()
    h1 = m.fit(X, X, epochs=3, verbose=0)
    m.save(tmp_path / "ckpt.npz")
    del m
    utils.set_random_seed(999)          # whatever happens to the library generator meanwhile
    m2 = load_model(tmp_path / "ckpt.npz")
    h2 = m2.fit(X, X, epochs=2, verbose=0)
    assert h1.history["loss"] + h2.history["loss"] == ref_hist.history["loss"]
    assert_same_weights(ref, m2)


def test_resumed_sgd_with_momentum_matches(tmp_path):
    utils.set_random_seed(2)
    ref = build(optimizer=SGD(0.1, momentum=0.9))
    ref.fit(X, X, epochs=3, batch_size=16, verbose=0)
    utils.set_random_seed(2)
    m = build(optimizer=SGD(0.1, momentum=0.9))
    m.fit(X, X, epochs=1, batch_size=16, verbose=0)
    m.save(tmp_path / "m.npz")
    m2 = load_model(tmp_path / "m.npz")
    assert m2.optimizer.momentum == 0.9
    m2.fit(X, X, epochs=2, batch_size=16, verbose=0)
    assert_same_weights(ref, m2)


def test_a_file_without_adams_kept_sums_loads_and_trains_on(tmp_path):
    """Files written before Adam kept its sums hold m and v in Keras's units only: they load,
    converted to float32 rounding, and training continues as it would have (to rounding)."""
    utils.set_random_seed(11)
    ref = build()
    ref.fit(X, X, epochs=3, verbose=0)
    utils.set_random_seed(11)
    m = build()
    m.fit(X, X, epochs=2, verbose=0)
    m.save(tmp_path / "new.npz")
    arrays = {k: v for k, v in read_npz(tmp_path / "new.npz").items() if "_kept/" not in k}
    assert any(k.startswith("optimizer/momentums/") for k in arrays)
    rewrite(tmp_path / "old.npz", arrays)
    old = load_model(tmp_path / "old.npz")
    kept = m.optimizer.get_state(kept_only=True)
    for k, v in old.optimizer.get_state(kept_only=True).items():
        np.testing.assert_allclose(v, kept[k], rtol=1e-6, atol=1e-12)
    old.fit(X, X, epochs=1, verbose=0)
    for a, b in zip(old.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_sequential_round_trips(tmp_path):
    utils.set_random_seed(4)
    m = Sequential([Dense(6, activation="relu", input_dim=24), Dense(24, activation="sigmoid")], name="seq")
    m.compile(optimizer="sgd", loss="mse")
    m.fit(X, X, epochs=1, verbose=0)
    m.save(tmp_path / "s.npz")
    m2 = load_model(tmp_path / "s.npz")
    assert type(m2) is Sequential and m2.name == "seq"
    assert len(m2.layers) == 2
    assert_same_weights(m, m2)
    assert m2.predict(X).tobytes() == m.predict(X).tobytes()
    assert type(m2.optimizer) is SGD


def test_float64_model_round_trips(tmp_path):
    inp = Input(shape=(5,), dtype="float64")
    m = Model(inp, Dense(5, activation="sigmoid", dtype="float64")(inp))
    m.save(tmp_path / "f64.npz")
    m2 = load_model(tmp_path / "f64.npz")
    assert m2.get_weights()[0].dtype == np.float64
    assert_same_weights(m, m2)


def test_model_saved_without_compile_loads_uncompiled(tmp_path):
    m = build(compile_=False)
    m.save(tmp_path / "u.npz")
    m2 = load_model(tmp_path / "u.npz")
    assert m2.optimizer is None and m2.loss is None
    assert_same_weights(m, m2)
    assert m2.predict(X).tobytes() == m.predict(X).tobytes()
    with pytest.raises(RuntimeError, match="compile"):
        m2.fit(X, X, verbose=0)
    m2.compile(optimizer="adam", loss="bce")
    m2.fit(X, X, epochs=1, verbose=0)


def test_loaded_encoder_can_be_rebuilt_from_layers(trained):
    m, path = trained
    m2 = load_model(path)
    # an encoder from the loaded model's layers shares them (Keras's idiom on a loaded model)
    inp = Input(shape=(24,))
    t = inp
    for layer in m2.layers[1:3]:
        t = layer(t)
    enc = Model(inp, t)
    w = m2.get_weights()
    w[0] = w[0] * 0.0
    m2.set_weights(w)
    assert np.all(enc.get_weights()[0] == 0.0)


# -- atomic writes ------------------------------------------------------------------------------
@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_leaves_existing_file_intact_and_no_temp_files(trained, monkeypatch, exc):
    m, path = trained
    original = path.read_bytes()
    real_savez = np.savez

    def broken_savez(file, *args, **kwds):
        file.write(b"PK\x03\x04 half a zip file")
        raise exc

    m.fit(X, X, epochs=1, verbose=0)            # the model now differs from the file
    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(type(exc)):
        m.save(path)
    monkeypatch.setattr(np, "savez", real_savez)
    assert path.read_bytes() == original
    assert sorted(os.listdir(path.parent)) == ["model.npz"]
    load_model(path)                            # still loads


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    m = build()

    def broken_savez(file, *args, **kwds):
        raise OSError("nope")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError):
        m.save(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_save_overwrites_and_leaves_no_temp_files(trained):
    m, path = trained
    m.fit(X, X, epochs=1, verbose=0)
    m.save(path)
    assert sorted(os.listdir(path.parent)) == ["model.npz"]
    assert_same_weights(m, load_model(path))


# -- bad files ------------------------------------------------------------------------------------
def read_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def rewrite(path, arrays, meta=None):
    arrays = dict(arrays)
    if meta is not None:
        arrays["__scratchae__"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_model(tmp_path / "nope.npz")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.npz"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable scratchae model"):
        load_model(p)


def test_text_file(tmp_path):
    p = tmp_path / "notes.npz"
    p.write_text("these are not the weights you are looking for\n")
    with pytest.raises(ValueError, match="not a readable scratchae model"):
        load_model(p)


def test_truncated_file(trained):
    _, path = trained
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="model"):
            load_model(path)


def test_corrupted_file_flipped_bytes_anywhere(trained):
    """Flip a byte at many places; every load either raises ValueError or (never) returns the
    model unchanged. A silently altered model would be a failure."""
    m, path = trained
    data = bytearray(path.read_bytes())
    positions = np.linspace(0, len(data) - 1, 41).astype(int)
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 0xFF
        path.write_bytes(bytes(bad))
        try:
            m2 = load_model(path)
        except ValueError as e:
            assert str(path) in str(e) or "model" in str(e)
            continue
        # a flip in a part of the zip that is never read (e.g. a comment) may load: then it
        # must load the same model
        assert_same_weights(m, m2)


def test_corrupted_weight_bytes_are_detected(trained):
    """A flip inside the stored weights must not load as silently different weights."""
    m, path = trained
    data = bytearray(path.read_bytes())
    kernel = m.get_weights()[0].tobytes()
    pos = bytes(data).find(kernel[:64])
    assert pos > 0
    data[pos + 200] ^= 0x01          # the lowest bit of some byte of the first kernel
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        load_model(path)


def test_foreign_npz(tmp_path):
    p = tmp_path / "foreign.npz"
    np.savez(p, a=np.random.default_rng(0).standard_normal(5), b=np.arange(3))
    with pytest.raises(ValueError, match="not a scratchae model"):
        load_model(p)


def test_damaged_json(trained):
    _, path = trained
    arrays = read_npz(path)
    arrays["__scratchae__"] = np.array("{not json")
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="damaged"):
        load_model(path)


def test_wrong_format_name(trained):
    _, path = trained
    arrays = read_npz(path)
    meta = json.loads(str(arrays["__scratchae__"]))
    meta["format"] = "keras-h5"
    rewrite(path, arrays, meta)
    with pytest.raises(ValueError, match="keras-h5"):
        load_model(path)


def test_wrong_format_version(trained):
    _, path = trained
    arrays = read_npz(path)
    meta = json.loads(str(arrays["__scratchae__"]))
    meta["version"] = meta["version"] + 41
    rewrite(path, arrays, meta)
    with pytest.raises(ValueError, match=f"version {meta['version']}"):
        load_model(path)


def test_wrong_weight_shape(trained):
    m, path = trained
    arrays = read_npz(path)
    key = next(k for k in arrays if k.startswith("weights/") and k.endswith("/kernel"))
    arrays[key] = arrays[key][:, :-1].copy()
    rewrite(path, arrays)
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert key[len("weights/"):] in str(e.value) and "expected" in str(e.value)


def test_wrong_weight_dtype(trained):
    _, path = trained
    arrays = read_npz(path)
    key = next(k for k in arrays if k.startswith("weights/") and k.endswith("/bias"))
    arrays[key] = arrays[key].astype(np.float64)
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="float64"):
        load_model(path)


def test_missing_and_extra_weights(trained):
    _, path = trained
    arrays = read_npz(path)
    key = next(k for k in arrays if k.startswith("weights/"))
    missing = {k: v for k, v in arrays.items() if k != key}
    rewrite(path, missing)
    with pytest.raises(ValueError, match="do not match"):
        load_model(path)
    rewrite(path, {**arrays, "weights/ghost/kernel": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match="ghost"):
        load_model(path)


def test_non_finite_weights(trained):
    _, path = trained
    arrays = read_npz(path)
    key = next(k for k in arrays if k.startswith("weights/"))
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = np.nan
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="non-finite"):
        load_model(path)


def test_wrong_optimizer_state_shape(trained):
    _, path = trained
    arrays = read_npz(path)
    key = next(k for k in arrays if k.startswith("optimizer/momentums"))
    arrays[key] = arrays[key][:-1].copy()
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="optimizer state"):
        load_model(path)


def test_unknown_layer_type(trained):
    _, path = trained
    arrays = read_npz(path)
    meta = json.loads(str(arrays["__scratchae__"]))
    meta["model"]["layers"][1]["class_name"] = "Conv3D"
    rewrite(path, arrays, meta)
    with pytest.raises(ValueError, match="Conv3D"):
        load_model(path)


def test_pickled_object_array_is_refused(tmp_path):
    p = tmp_path / "evil.npz"
    np.savez(p, __scratchae__=np.array([{"format": "scratchae-model"}], dtype=object))
    with pytest.raises(ValueError):
        load_model(p)


def test_duplicate_layer_names_are_refused_or_round_trip(tmp_path):
    inp = Input(shape=(6,))
    out = Dense(6, name="same", activation="sigmoid")(Dense(6, name="same", activation="relu")(inp))
    try:
        m = Model(inp, out)
    except ValueError as e:
        assert "same" in str(e)
        return
    m.save(tmp_path / "dup.npz")
    m2 = load_model(tmp_path / "dup.npz")
    assert_same_weights(m, m2)


# -- the description is checked before anything is built --------------------------------------
def test_deeply_nested_description_is_a_value_error_not_a_recursion_error(trained):
    _, path = trained
    arrays = read_npz(path)
    arrays["__scratchae__"] = np.array("[" * 100_000 + "]" * 100_000)
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="nested too deeply"):
        load_model(path)


def test_description_must_be_one_string(trained):
    _, path = trained
    arrays = read_npz(path)
    arrays["__scratchae__"] = np.array([json.dumps({"format": "scratchae-model"})] * 2)
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="expected one string"):
        load_model(path)


def widen(path, units):
    """The file's description asking for `units` in every hidden layer; its arrays unchanged."""
    arrays = read_npz(path)
    meta = json.loads(str(arrays["__scratchae__"]))
    width = meta["model"]["layers"][0]["config"]["shape"][0]
    for layer in meta["model"]["layers"][1:]:
        c = layer["config"]
        c["input_dim"] = width
        c["units"] = c["units"] if c["units"] == 24 else units
        width = c["units"]
    rewrite(path, arrays, meta)


@pytest.mark.parametrize("units", [12_000, 10**6])
def test_a_description_larger_than_the_stored_arrays_is_refused_before_building(trained, monkeypatch, units):
    """Before, the layers were built (and randomly initialised) first: 1.7 GB for 12,000 units,
    7 TiB for a million. Memory under a lowered limit: tests/test_memory_bounds.py."""
    _, path = trained
    widen(path, units)
    monkeypatch.setattr(Dense, "build", lambda *a: pytest.fail("a layer was built"))
    with pytest.raises(ValueError, match=rf"dense\S*/kernel is float32\(24, 10\), expected float32\(24, {units}\)"):
        load_model(path)


BAD_LAYER_DESCRIPTIONS = [
    # (description, change to the first Dense's config, words the message must contain)
    ("units 0", lambda c: c.update(units=0), "units must be a positive integer"),
    ("units '12'", lambda c: c.update(units="12"), "units must be a positive integer"),
    ("input_dim 23 after a width of 24", lambda c: c.update(input_dim=23), "does not match the width before it, 24"),
    ("dtype int8", lambda c: c.update(dtype="int8"), "dtype must be one of"),
    ("no units", lambda c: c.pop("units"), "missing entry 'units'"),
]


@pytest.mark.parametrize("desc, change, words", BAD_LAYER_DESCRIPTIONS, ids=[b[0] for b in BAD_LAYER_DESCRIPTIONS])
def test_bad_layer_descriptions(trained, desc, change, words):
    _, path = trained
    arrays = read_npz(path)
    meta = json.loads(str(arrays["__scratchae__"]))
    change(meta["model"]["layers"][1]["config"])
    rewrite(path, arrays, meta)
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert str(path) in str(e.value) and words in str(e.value), str(e.value)


def test_layer_entry_that_is_not_an_object(trained):
    _, path = trained
    arrays = read_npz(path)
    meta = json.loads(str(arrays["__scratchae__"]))
    meta["model"]["layers"][2] = ["Dense", 4]
    rewrite(path, arrays, meta)
    with pytest.raises(ValueError, match="layer 2 must be"):
        load_model(path)


BAD_OPTIMIZER_STATE = [
    # (description, entry, stored value, words the message must contain)
    ("iterations a string", "optimizer/iterations", np.array("12"), "iterations is <U2(), expected one integer"),
    ("iterations 2.5", "optimizer/iterations", np.array(2.5), "iterations is float64(), expected one integer"),
    ("iterations an array", "optimizer/iterations", np.arange(3), "expected one integer"),
    ("iterations -3", "optimizer/iterations", np.array(-3), "iterations must be >= 0"),
    ("Adam moments as strings", "momentums", "strings", "expected float32"),
    ("Adam moments in float64", "momentums", "float64", "expected float32"),
    ("an unknown slot", "optimizer/velocity/packed/*", np.zeros(3, np.float32), "optimizer state velocity/packed/*"),
    ("Adam moments that contradict its kept sums", "contradict", None, "momentums_kept/packed/* does not match"),
]


@pytest.mark.parametrize("desc, key, value, words", BAD_OPTIMIZER_STATE, ids=[b[0] for b in BAD_OPTIMIZER_STATE])
def test_optimizer_state_of_the_wrong_kind_names_the_file(trained, desc, key, value, words):
    """Before, these gave raw TypeErrors ("only 0-dimensional arrays...") without the file."""
    _, path = trained
    arrays = read_npz(path)
    if key == "momentums":
        key = next(k for k in arrays if k.startswith("optimizer/momentums/"))
        value = np.full(arrays[key].shape, "x") if value == "strings" else arrays[key].astype(np.float64)
    elif key == "contradict":                # a file of the release that kept Adam's sums
        key = next(k for k in arrays if k.startswith("optimizer/momentums/"))
        arrays[key.replace("/momentums/", "/momentums_kept/")] = arrays[key] / np.float32(0.1)
        value = arrays[key] * np.float32(2)
    arrays[key] = value
    rewrite(path, arrays)
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert str(path) in str(e.value) and words in str(e.value), str(e.value)


INCOMPLETE_OPTIMIZER_STATE = [
    # (description, entries removed (a name prefix) or the step count stored, words the message must contain)
    ("Adam's first moments missing (m)", "optimizer/momentums",
     "optimizer state after 6 iterations has no momentums/packed/*"),
    ("Adam's second moments missing (v)", "optimizer/velocities",
     "optimizer state after 6 iterations has no velocities/packed/*"),
    ("Adam's moments beside a step count of 0", 0, "holds momentums/packed/*, velocities/packed/*"),
]


@pytest.mark.parametrize("desc, change, words", INCOMPLETE_OPTIMIZER_STATE,
                         ids=[b[0] for b in INCOMPLETE_OPTIMIZER_STATE])
def test_an_incomplete_optimizer_state_names_the_file_and_the_entries(trained, desc, change, words):
    """Before, these loaded, and training resumed to other weights than the saved run's."""
    _, path = trained
    arrays = read_npz(path)
    assert int(arrays["optimizer/iterations"]) == 6
    if isinstance(change, int):
        arrays["optimizer/iterations"] = np.array(change)
    else:
        gone = [k for k in arrays if k.startswith(change)]
        assert len(gone) == 1
        arrays = {k: v for k, v in arrays.items() if k not in gone}
    rewrite(path, arrays)
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert str(path) in str(e.value) and words in str(e.value), str(e.value)


def test_a_file_with_adams_kept_sums_alone_loads_exactly(trained):
    """The previous release kept Adam's sums M = m / (1 - beta_1), V = v / (1 - beta_2) and
    saved them as 'optimizer/<slot>_kept/<path>': a file holding them alone is complete and
    loads m = (1 - beta_1) M and v = (1 - beta_2) V exactly as that release gave them."""
    model, path = trained
    arrays = read_npz(path)
    sums = {}
    for slot, factor in (("momentums", 0.1), ("velocities", 0.001)):
        for k in [k for k in arrays if k.startswith(f"optimizer/{slot}/")]:
            sums[k] = arrays.pop(k) / np.float32(factor)
            arrays[k.replace(f"/{slot}/", f"/{slot}_kept/")] = sums[k]
    rewrite(path, arrays)
    back = load_model(path)
    for slot, factor in (("momentums", 1 - 0.9), ("velocities", 1 - 0.999)):
        for p, m in getattr(back.optimizer, slot).items():
            np.testing.assert_array_equal(m, sums[f"optimizer/{slot}/{p}"] * factor)
            np.testing.assert_allclose(m, getattr(model.optimizer, slot)[p], rtol=1e-6)


def test_a_file_missing_adams_moments_would_resume_to_other_weights(trained):
    """Why the moments are required: the same file without them (what loaded silently
    before) takes another step than the model it was saved from."""
    model, path = trained
    arrays = read_npz(path)
    rewrite(path, {k: v for k, v in arrays.items() if not k.startswith("optimizer/velocities")})
    with pytest.raises(ValueError, match="has no velocities/packed/"):
        load_model(path)
    rewrite(path, arrays)
    whole = load_model(path)
    whole.optimizer.reset()                              # what a file without moments gave
    whole.optimizer.iterations = model.optimizer.iterations
    model.train_on_batch(X[:32], X[:32])
    whole.train_on_batch(X[:32], X[:32])
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), whole.get_weights()))


def test_sgd_state_is_checked_whole_too(tmp_path):
    """SGD with momentum keeps momentums after a step; SGD without keeps nothing."""
    for momentum in (0.9, 0.0):
        utils.set_random_seed(3)
        m = build(optimizer=SGD(learning_rate=0.1, momentum=momentum))
        m.fit(X, X, epochs=1, verbose=0)
        path = tmp_path / f"sgd{momentum}.npz"
        m.save(path)
        arrays = read_npz(path)
        if momentum:
            rewrite(path, {k: v for k, v in arrays.items() if not k.startswith("optimizer/momentums")})
            words = "after 3 iterations has no momentums/packed/*"
        else:
            assert sorted(k for k in arrays if k.startswith("optimizer/")) == ["optimizer/iterations"]
            extra = np.zeros(sum(w.size for w in m.get_weights()), np.float32)
            rewrite(path, {**arrays, "optimizer/momentums/packed/*": extra})
            words = "optimizer state momentums/packed/* is not kept by SGD(learning_rate=0.1, momentum=0.0)"
        with pytest.raises(ValueError) as e:
            load_model(path)
        assert str(path) in str(e.value) and words in str(e.value), str(e.value)


DELETE = object()
BAD_GENERATOR_STATE = [
    # (description, where in rng_state, stored value, words the message must contain)
    ("a float state", ("state", "state"), 1.5, "rng_state.state.state must be an integer in [0, 2**128), got 1.5 (float)"),
    ("a boolean state", ("state", "state"), True, "got True (bool)"),
    ("a state of 2**200", ("state", "state"), 2**200, "rng_state.state.state must be an integer in [0, 2**128)"),
    ("a negative increment", ("state", "inc"), -1, "rng_state.state.inc must be an integer"),
    ("an even increment", ("state", "inc"), 2, "rng_state.state.inc must be odd"),
    ("a number where the state object should be", ("state",), 5, "rng_state.state must be an object"),
    ("a list for the whole state", (), [1, 2], "rng_state must be an object"),
    ("has_uint32 7", ("has_uint32",), 7, "rng_state.has_uint32 must be 0 or 1, got 7"),
    ("uinteger 2**40", ("uinteger",), 2**40, "rng_state.uinteger must be an integer in [0, 2**32)"),
    ("no uinteger", ("uinteger",), DELETE, "rng_state must be an object with"),
    ("another generator", ("bit_generator",), "MT19937", "rng_state.bit_generator 'MT19937' is not supported"),
]


@pytest.mark.parametrize("desc, where, value, words", BAD_GENERATOR_STATE, ids=[b[0] for b in BAD_GENERATOR_STATE])
def test_a_damaged_generator_state_names_the_file_and_the_field(trained, desc, where, value, words):
    """Before: a raw OverflowError or AttributeError without the file's name, and a float
    state loaded."""
    _, path = trained
    arrays = read_npz(path)
    meta = json.loads(str(arrays["__scratchae__"]))
    assert meta["rng_state"] is not None
    if not where:
        meta["rng_state"] = value
    else:
        holder = meta["rng_state"]
        for k in where[:-1]:
            holder = holder[k]
        if value is DELETE:
            del holder[where[-1]]
        else:
            holder[where[-1]] = value
    rewrite(path, arrays, meta)
    with pytest.raises(ValueError) as e:
        load_model(path)
    text = str(e.value)
    assert str(path) in text and "invalid generator state" in text and words in text, text


def test_compressed_or_foreign_entries_are_refused(trained):
    _, path = trained
    arrays = read_npz(path)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    with pytest.raises(ValueError, match="compressed"):
        load_model(path)
    rewrite(path, {**arrays, "notes": np.arange(3)})
    with pytest.raises(ValueError, match=r"unexpected entries \['notes'\]"):
        load_model(path)


def test_an_entry_announcing_more_than_it_holds_is_refused_unread(trained):
    """A .npy header saying (24, 1000000) over the 960 bytes of a (24, 10) kernel: refused
    from the header, before the 96 MB it announces are allocated."""
    import io
    import zipfile

    _, path = trained
    arrays = read_npz(path)
    key = next(k for k in arrays if k.startswith("weights/") and k.endswith("/kernel"))
    small = arrays.pop(key)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (small.shape[0], 10**6)})
    rewrite(path, arrays)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(key + ".npy", header.getvalue() + small.tobytes())
    with pytest.raises(ValueError, match=r"announces float32\(24, 1000000\) but holds 960 bytes"):
        load_model(path)


# -- where save writes, and what its errors name --------------------------------------------------
@pytest.mark.parametrize("target", ["", "sub/", "sub" + os.sep + os.curdir], ids=["empty", "folder/", "folder/."])
def test_save_to_a_folder_name_is_refused_and_writes_nothing(trained, tmp_path, monkeypatch, target):
    m, _ = trained
    (tmp_path / "cwd" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd")
    with pytest.raises(ValueError, match="expected a file name"):
        m.save(target)
    assert sorted(os.listdir(tmp_path)) == ["cwd", "model.npz"]          # nothing in the parent
    assert os.listdir(tmp_path / "cwd") == ["sub"] and os.listdir(tmp_path / "cwd" / "sub") == []


def test_save_over_an_existing_folder_says_so(trained, tmp_path):
    m, _ = trained
    (tmp_path / "taken.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder") as e:
        m.save(tmp_path / "taken.npz")
    assert e.value.filename == str(tmp_path / "taken.npz")


def test_save_errors_name_the_target_not_the_temporary_file(trained, tmp_path, monkeypatch):
    m, _ = trained
    target = tmp_path / "missing" / "model.npz"
    with pytest.raises(FileNotFoundError) as e:
        m.save(target)
    assert e.value.filename == str(target) and "does not exist" in str(e.value)
    assert ".tmp" not in str(e.value)

    locked = tmp_path / "locked"
    locked.mkdir()
    deny_writes_in(locked, monkeypatch)
    with pytest.raises(PermissionError) as e:
        m.save(locked / "model.npz")
    assert e.value.filename == str(locked / "model.npz") and ".tmp" not in str(e.value)
    assert os.listdir(locked) == []


def deny_writes_in(folder, monkeypatch):
    """Make `folder` unwritable: chmod for an ordinary user; root ignores permissions, so
    there the OS call that creates the temporary file is made to fail as it would."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    import tempfile

    real = tempfile.mkstemp

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        if dir is not None and os.path.abspath(dir) == os.path.abspath(folder):
            raise PermissionError(13, "Permission denied", os.path.join(dir, f"{prefix}abcdefgh{suffix}"))
        return real(suffix=suffix, prefix=prefix, dir=dir, text=text)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


KILLED_SAVE = """
import os, signal, sys
import numpy as np
from scratchae.layers import Dense, Input
from scratchae.models import Model
inp = Input(shape=(4,))
m = Model(inp, Dense(4)(inp))
def savez(f, **arrays):
    f.write(b"PK half a file")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
np.savez = savez
m.save(sys.argv[1])
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid probes are POSIX")
def test_a_killed_save_leaves_a_temporary_file_that_the_next_save_removes(trained, tmp_path):
    import subprocess
    import sys

    m, _ = trained
    target = tmp_path / "out" / "model.npz"
    target.parent.mkdir()
    r = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], capture_output=True, timeout=60)
    assert r.returncode == -9, r.stderr
    leftovers = os.listdir(target.parent)
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.npz.") and leftovers[0].endswith(".tmp")
    alive = f".model.npz.{os.getpid()}.abcdefgh.tmp"        # a save in progress (this process)
    mine = ".model.npz.notes.tmp"                          # not a name atomic_write gives
    for name in (alive, mine):
        (target.parent / name).write_text("keep me")
    m.save(target)
    assert sorted(os.listdir(target.parent)) == sorted([alive, mine, "model.npz"])
    assert_same_weights(m, load_model(target))


def test_a_renamed_model_keeps_its_optimizer_state_and_saves_a_loadable_file(tmp_path):
    # the packed state's key does not depend on the model's name
    from scratchae import autoencoders
    ae = autoencoders.shallow(code_size=3, input_dim=10, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (16, 10)).astype(np.float32)
    ae.model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    moments = ae.model.optimizer.momentums["packed/*"].copy()
    ae.model.name = "renamed"
    ae.model.train_on_batch(x[:8], x[:8])
    assert list(ae.model.optimizer.momentums) == ["packed/*"]
    assert not np.array_equal(ae.model.optimizer.momentums["packed/*"], np.zeros_like(moments))
    ae.model.save(tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.optimizer.momentums["packed/*"], ae.model.optimizer.momentums["packed/*"])


def test_a_file_whose_packed_state_is_keyed_by_the_model_name_still_loads(tmp_path):
    # files written before the key was 'packed/*' used '<model name>/*'
    from scratchae import autoencoders
    ae = autoencoders.shallow(code_size=3, input_dim=10, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (16, 10)).astype(np.float32)
    ae.model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    ae.model.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz", allow_pickle=False) as data:
        arrays = {k.replace("/packed/*", f"/{ae.model.name}/*"): data[k] for k in data.files}
    assert any(k.endswith(f"{ae.model.name}/*") for k in arrays)
    np.savez(tmp_path / "old.npz", **arrays)
    back = load_model(tmp_path / "old.npz")
    np.testing.assert_array_equal(back.optimizer.velocities["packed/*"], ae.model.optimizer.velocities["packed/*"])
