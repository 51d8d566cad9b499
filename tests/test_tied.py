"""Tied weights (`scratchae.tied.DenseTranspose`): a known answer, the shared kernel's gradient
as the sum of both paths (float64 finite differences, packed and unpacked), one optimizer
state and one update for it, the tie kept through fit and through a file, the `tied` model and
`scratchae train tied`, and the wrong backward (= instead of +=) that the model check catches."""
import json

import numpy as np
import pytest

from scratchae import autoencoders, speed
from scratchae._contract import ContractError
from scratchae.cli import main
from scratchae.exercises.broken import LAYERS_BROKEN, TiedAssignsKernelGradient
from scratchae.gradcheck import check_layer, check_model, numerical_gradient
from scratchae.layers import Dense, Input
from scratchae.models import Model, load_model
from scratchae.optimizers import SGD, Adam
from scratchae.tied import DenseTranspose

I, J, N = 6, 3, 5


def tied_model(pack: bool = False, optimizer="adam", seed: int = 0):
    """Input(6) -> Dense(3, relu) -> DenseTranspose(sigmoid), float64."""
    x = Input(shape=(I,), dtype="float64")
    enc = Dense(J, activation="relu", name="code", dtype="float64", seed=seed)
    dec = DenseTranspose(enc, activation="sigmoid", name="output")
    model = Model(x, dec(enc(x)))
    model.compile(optimizer=optimizer, loss="binary_crossentropy", pack_parameters=pack)
    # biases away from 0, so no ReLU unit sits near its kink for these inputs
    enc.params["bias"][...] = [0.3, -0.2, 0.4]
    dec.params["bias"][...] = np.linspace(-0.5, 0.5, I)
    return model, enc, dec


def prototypes(n: int = 200, seed: int = 3) -> np.ndarray:
    """Noisy copies of three binary patterns: data that three code units can compress."""
    rng = np.random.default_rng(seed)
    patterns = np.array([[1, 1, 0, 0, 0, 1], [0, 0, 1, 1, 0, 0], [1, 0, 1, 0, 1, 0]], dtype=float)
    x = patterns[rng.integers(0, 3, n)] * 0.9 + 0.05
    return np.clip(x + rng.normal(0, 0.03, x.shape), 0.01, 0.99)


def batch(n: int = N, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.95, (n, I))


# -- a known answer ----------------------------------------------------------------------------
def test_forward_and_backward_by_hand():
    enc = Dense(2, input_dim=3, dtype="float64")
    enc.set_weights([np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]]), np.zeros(2)])
    dec = DenseTranspose(enc)                          # linear
    dec.build((2,))
    dec.params["bias"][...] = [0.5, 0.0, -1.0]
    x = np.array([[1.0, 2.0]])
    # x . W^T = [1*1 + 2*2, 1*0 + 2*(-1), 1*3 + 2*1] = [5, -2, 5], plus the bias
    np.testing.assert_array_equal(dec.forward(x), [[5.5, -2.0, 4.0]])
    assert dec.output_shape == (None, 3) and dec.units == 3 and dec.input_dim == 2
    dx = dec.backward(np.array([[1.0, 1.0, 1.0]]))
    np.testing.assert_array_equal(dx, [[1 + 0 + 3, 2 - 1 + 1]])                 # dz . W
    np.testing.assert_array_equal(dec.grads["kernel"], [[1, 2], [1, 2], [1, 2]])  # dz^T . x
    np.testing.assert_array_equal(dec.grads["bias"], [1, 1, 1])
    assert enc.grads["kernel"] is dec.grads["kernel"]          # written into the encoder's array
    assert dec.params["kernel"] is enc.params["kernel"] and dec.tied


def test_shapes_and_refusals():
    enc = Dense(4, dtype="float64")
    dec = DenseTranspose(enc)
    with pytest.raises(ValueError, match="has no kernel yet"):
        dec.build((4,))
    enc.build((7,))
    with pytest.raises(ValueError, match="decodes .* 4 units"):
        dec.build((5,))
    dec.build((4,))
    assert dec.compute_output_shape((4,)) == (7,)
    assert dec.count_params() == 7 * 4 + 7
    with pytest.raises(TypeError, match="one dtype"):
        DenseTranspose(enc, dtype="float32").build((4,))
    with pytest.raises(TypeError, match="ties to a Dense"):
        DenseTranspose(3)


# -- the shared kernel's gradient: the sum of both paths ------------------------------------------
@pytest.mark.parametrize("pack", [False, True], ids=["unpacked", "packed"])
def test_the_shared_kernels_gradient_is_the_sum_of_both_paths(pack):
    model, enc, dec = tied_model(pack)
    x = batch()
    if pack:
        speed.optimizer_parameters(model)             # the buffers, as fit's first step makes them
        assert np.shares_memory(enc.params["kernel"], model._buffers.flat)
    assert dec.tied
    kernel = enc.params["kernel"]
    loss = lambda: model.compute_loss(x, x)
    tied_numeric = numerical_gradient(loss, kernel)
    _, grads = model.compute_gradients(x, x)
    assert list(grads) == ["code/kernel", "code/bias", "output/bias"]   # the kernel once
    np.testing.assert_allclose(grads["code/kernel"], tied_numeric, rtol=1e-6, atol=1e-10)

    # the two paths apart: give the decoder a copy of the kernel, difference each array alone
    own = kernel.copy()
    dec.params["kernel"], dec.grads["kernel"] = own, np.zeros_like(own)
    assert not dec.tied
    encoder_only = numerical_gradient(loss, kernel)
    decoder_only = numerical_gradient(loss, own)
    _, apart = model.compute_gradients(x, x)
    np.testing.assert_allclose(apart["code/kernel"], encoder_only, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(apart["output/kernel"], decoder_only, rtol=1e-6, atol=1e-10)
    assert np.abs(encoder_only).max() > 1e-3 and np.abs(decoder_only).max() > 1e-3   # both count
    np.testing.assert_allclose(encoder_only + decoder_only, tied_numeric, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(apart["code/kernel"] + apart["output/kernel"], grads["code/kernel"],
                               rtol=1e-10, atol=1e-14)


def test_the_model_check_passes_a_tied_model_and_lists_the_kernel_once():
    model, _, _ = tied_model()
    rep = check_model(model, batch(), batch())
    assert rep.ok, str(rep)
    assert [(r.layer, r.tensor) for r in rep.rows] == [("code", "kernel"), ("code", "bias"), ("output", "bias")]


# -- one state, one update, the tie kept -------------------------------------------------------------
def test_one_optimizer_state_for_the_shared_kernel():
    model, enc, dec = tied_model(pack=False)
    model.fit(batch(40), batch(40), epochs=1, verbose=0, seed=0)
    assert sorted(model.optimizer.momentums) == ["code/bias", "code/kernel", "output/bias"]
    assert sorted(model.optimizer.velocities) == ["code/bias", "code/kernel", "output/bias"]

    model, enc, dec = tied_model(pack=True)
    model.fit(batch(40), batch(40), epochs=1, verbose=0, seed=0)
    (key, m), = model.optimizer.momentums.items()
    assert key == speed.PACKED and m.size == model.count_params() == I * J + J + I


@pytest.mark.parametrize("pack", [False, True], ids=["unpacked", "packed"])
def test_one_step_moves_the_kernel_once_by_the_summed_gradient(pack):
    model, enc, dec = tied_model(pack, optimizer=SGD(0.5))
    x = batch()
    before = enc.get_weights()[0]
    _, grads = model.compute_gradients(x, x)
    model.train_on_batch(x, x)
    np.testing.assert_allclose(enc.params["kernel"], before - 0.5 * grads["code/kernel"], rtol=1e-12)
    assert dec.tied


@pytest.mark.parametrize("pack", [False, True], ids=["unpacked", "packed"])
def test_fit_lowers_the_loss_and_keeps_the_tie(pack):
    model, enc, dec = tied_model(pack, optimizer=Adam(0.01))
    x = prototypes()
    history = model.fit(x, x, epochs=15, batch_size=20, verbose=0, seed=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.5 * loss[0] and all(b < a for a, b in zip(loss, loss[1:]))
    assert dec.params["kernel"] is enc.params["kernel"] and dec.grads["kernel"] is enc.grads["kernel"]
    np.testing.assert_array_equal(dec.get_weights()[0], enc.get_weights()[0])
    assert model.evaluate(x, x) == pytest.approx(loss[-1], rel=0.1)


# -- the wrong backward ----------------------------------------------------------------------------
def test_a_backward_that_assigns_is_caught_by_the_model_check():
    assert LAYERS_BROKEN["tied-assigns-gradient"].cls is TiedAssignsKernelGradient
    model, enc, dec = tied_model()
    x = batch()
    dec.__class__ = TiedAssignsKernelGradient
    rep = check_model(model, x, x)
    assert not rep.ok
    wrong = [(r.layer, r.tensor) for r in rep.rows if not r.ok]
    assert wrong == [("code", "kernel")]                  # the shared kernel, nothing else
    # alone, the decoder's numbers are right: only the sum of the two paths is lost
    alone = check_layer(dec, np.random.default_rng(2).uniform(0.1, 1, (N, J)))
    assert alone.ok, str(alone)
    assert "every piece passes alone" in str(rep)


def test_packing_refuses_a_replaced_gradient_of_the_shared_kernel():
    model, enc, dec = tied_model(pack=True)
    dec.__class__ = TiedAssignsKernelGradient
    with pytest.raises(ContractError, match="shared with code"):
        model.train_on_batch(batch(), batch())


# -- configs and files --------------------------------------------------------------------------------
def test_config_round_trip_and_link():
    model, enc, dec = tied_model()
    cfg = dec.get_config()
    assert cfg == {"name": "output", "dtype": "float64", "tied_to": "code", "activation": "sigmoid",
                   "use_bias": True}
    json.dumps(cfg)
    again = DenseTranspose.from_config(cfg)
    assert again.tied_to == "code" and not again.tied
    with pytest.raises(ValueError, match="not in this model"):
        again.link({"other": enc})
    again.link({"code": enc})
    again.build((J,))
    assert again.tied and again.get_config() == cfg


def test_save_and_load_keep_the_tie(tmp_path):
    model, enc, dec = tied_model(pack=True)
    x = batch(40)
    model.fit(x, x, epochs=2, verbose=0, seed=0)
    path = tmp_path / "tied.npz"
    model.save(path)
    with np.load(path) as stored:
        weights = sorted(k for k in stored.files if k.startswith("weights/"))
    assert weights == ["weights/code/bias", "weights/code/kernel", "weights/output/bias"]   # kernel once
    loaded = load_model(path)
    e2, d2 = loaded.get_layer("code"), loaded.get_layer("output")
    assert isinstance(d2, DenseTranspose) and d2.dense is e2 and d2.tied
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    model.fit(x, x, epochs=1, verbose=0, seed=5)
    loaded.fit(x, x, epochs=1, verbose=0, seed=5)          # the optimizer state came back too
    np.testing.assert_allclose(loaded.get_weights()[0], model.get_weights()[0], rtol=1e-12)
    assert d2.tied


# -- the model and the command ---------------------------------------------------------------------
def test_the_tied_autoencoder():
    ae = autoencoders.tied(seed=0)
    code, out = ae.model.chain
    assert isinstance(out, DenseTranspose) and out.dense is code and out.tied
    assert code.units == 32 and code.activation.name == "relu" and out.activation.name == "sigmoid"
    assert ae.model.count_params() == 784 * 32 + 32 + 784 == 25_904
    x = np.random.default_rng(0).random((4, 784)).astype(np.float32)
    np.testing.assert_array_equal(ae.decoder.predict(ae.encoder.predict(x)), ae.model.predict(x))
    deep = autoencoders.tied(code_size=8, hidden_size=16, input_dim=20, seed=0)
    h1, c, h2, o = deep.model.chain
    assert h2.dense is c and o.dense is h1 and [l.name for l in deep.model.chain] == \
        ["hidden_1", "code", "hidden_2", "output"]
    assert deep.model.count_params() == 20 * 16 + 16 + 16 * 8 + 8 + 16 + 20


@pytest.mark.slow
def test_train_tied_on_the_bundled_digits(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "tied", "--dataset", "mnist-5k", "--epochs", "1", "--verbose", "0",
                 "--monitor", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tied " in printed and "tied.npz" in printed
    history = json.loads((out / "tied-history.json").read_text())
    assert history["model"] == "tied" and history["epochs"] == 1 and 0 < history["test_loss"] < 0.7
    model = load_model(out / "tied.npz")
    code, dec = model.get_layer("code"), model.get_layer("output")
    assert dec.tied and dec.dense is code and model.count_params() == 25_904
    from scratchae.datasets import load

    xt = load("mnist-5k").x_test
    assert model.evaluate(xt, xt) == pytest.approx(history["test_loss"], rel=1e-5)


def test_a_fresh_interpreter_loads_a_tied_model(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    model, _, _ = tied_model()
    model.save(tmp_path / "tied.npz")
    code = ("import sys; from scratchae.models import load_model; "
            "m = load_model(sys.argv[1]); print(type(m.chain[-1]).__name__, m.chain[-1].tied)")
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "tied.npz")], capture_output=True,
                       text=True, timeout=120, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["DenseTranspose", "True"]
