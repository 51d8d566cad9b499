"""`scratchae train MODEL --use PIECE=FILE`: a learner's exercise class trains the article's model.

Every run is in-process (`scratchae.cli.main`) on the bundled digits with tiny layers, so the
file stays fast. The reference solutions of the exercises (tests/exercise_solutions/) must
train exactly like scratchae's own pieces; shipped broken pieces and a learner's wrong file
must end clearly worse (margins measured with seeds 0, 1, 2); the learner's backward must be
the code that runs, every batch, in every place; bad --use values are one line and exit 2.
"""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from scratchae import autoencoders
from scratchae.cli import main
from scratchae.datasets import load
from scratchae.exercises import plug
from scratchae.models import load_model

SOLUTIONS = Path(__file__).resolve().parent / "exercise_solutions"
TINY = ["--hidden-size", "16", "--code-size", "8"]


def train(tmp_path, model, *uses, extra=()):
    """Run `scratchae train MODEL --use ...` quietly into tmp_path/out; (exit code, history)."""
    argv = ["train", model, *[a for u in uses for a in ("--use", u)], "--verbose", "0",
            "--out", str(tmp_path / "out"), *extra]
    code = main(argv)
    history = json.loads((tmp_path / "out" / f"{model}-history.json").read_text())
    return code, history


def solution(piece):
    return f"{piece}={SOLUTIONS / f'{piece}.py'}"


# -- the reference solutions train like the library ------------------------------------------
def test_reference_dense_trains_like_the_library_with_the_defaults_of_use(tmp_path, capsys):
    code, h = train(tmp_path, "vanilla", solution("dense"), extra=TINY)
    out = capsys.readouterr().out
    assert code == 0
    assert h["dataset"]["name"] == "mnist-5k" and h["epochs"] == 2      # the defaults of --use
    assert len(h["loss"]) == len(h["scratchae_loss"]) == 2
    assert h["loss"][-1] == pytest.approx(h["scratchae_loss"][-1], rel=1e-3)
    assert h["loss"][-1] < 0.8 * h["initial_loss"]                       # it did learn
    assert h["initial_loss"] == h["scratchae_initial_loss"]               # the same start
    assert h["trains_like_scratchae"] is True
    assert list(h["pieces"]) == ["dense"] and len(h["pieces"]["dense"]) == 4     # every Dense layer
    verdict = (f"your dense: final loss {h['loss'][-1]:.4f}, scratchae's dense: "
               f"{h['scratchae_loss'][-1]:.4f}: your backward trains like the library's.")
    assert verdict in out and h["verdict"] == verdict
    for a, b in zip(h["loss"], h["scratchae_loss"]):                      # both, side by side
        assert f"{a:.4f}  " in out and f"{b:.4f}" in out
    folder = tmp_path / "out"
    for name in ("vanilla-reconstructions.png", "vanilla-loss.png"):
        assert (folder / name).read_bytes()[:4] == b"\x89PNG"
    model = load_model(folder / "vanilla.npz")                            # saved as scratchae's classes
    xt = load("mnist-5k").x_test
    assert model.evaluate(xt, xt) == pytest.approx(h["test_loss"], rel=1e-5)


@pytest.mark.parametrize("model, piece", [("vanilla", "relu"), ("vanilla", "sigmoid"),
                                          ("vanilla", "bce"), ("sparse", "l1")])
def test_reference_pieces_train_like_the_library(tmp_path, model, piece):
    small = ["--code-size", "8", "--epochs", "1"] + (["--hidden-size", "16"] if model == "vanilla" else [])
    code, h = train(tmp_path, model, solution(piece), extra=small)
    assert code == 0 and h["trains_like_scratchae"] is True
    assert h["loss"][-1] == pytest.approx(h["scratchae_loss"][-1], rel=1e-3)
    assert h["use"] == {piece: str(SOLUTIONS / f"{piece}.py")}


# -- wrong backward passes do not -------------------------------------------------------------
# Final loss after one epoch, tiny vanilla, seeds 0/1/2: dense-zero-dx 0.651/0.603/0.650 against
# the library's 0.388/0.355/0.378 (ratio >= 1.68); dense-transposed 0.552/0.570/0.541 (>= 1.42).
@pytest.mark.parametrize("name, ratio", [("dense-zero-dx", 1.5), ("dense-transposed", 1.3)])
def test_broken_dense_ends_clearly_worse(tmp_path, capsys, name, ratio):
    code, h = train(tmp_path, "vanilla", f"dense=broken:{name}", extra=[*TINY, "--epochs", "1"])
    assert code == 1 and h["trains_like_scratchae"] is False
    assert h["loss"][-1] > ratio * h["scratchae_loss"][-1]
    assert f"scratchae gradcheck --broken {name}" in capsys.readouterr().out


WRONG_DENSE = '''\
import numpy as np

class Dense:
    def __init__(self, input_dim, units, seed=0):
        self.params = {"kernel": np.zeros((input_dim, units)), "bias": np.zeros(units)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        self.x = x
        return x @ self.params["kernel"] + self.params["bias"]

    def backward(self, dy):
        self.grads["kernel"] = self.x.T @ dy       # assigned, not added: the adapter adds what is left
        self.grads["bias"] = dy.sum(axis=0)
        return np.zeros_like(self.x)                # forgot dL/dx
'''


def test_a_learners_wrong_dense_file_fails_to_train_and_says_what_to_run(tmp_path, capsys):
    path = tmp_path / "my_dense.py"
    path.write_text(WRONG_DENSE)
    code, h = train(tmp_path, "vanilla", f"dense={path}", extra=[*TINY, "--epochs", "1"])
    out = capsys.readouterr().out
    assert code == 1 and h["trains_like_scratchae"] is False
    assert h["loss"][-1] > 1.5 * h["scratchae_loss"][-1]                 # as dense-zero-dx
    assert f"does not train the model; run scratchae gradcheck --exercise dense {path}" in out


def test_a_wrong_backward_that_adam_hides_is_still_called_wrong(tmp_path, capsys):
    # the bias gradient averaged over the batch instead of summed: Adam divides each step by
    # the gradient's own size, so training matches the library's; the gradient check does not
    text = (SOLUTIONS / "dense.py").read_text()
    wrong = text.replace('dy.sum(axis=0)', 'dy.mean(axis=0)')
    assert wrong != text
    path = tmp_path / "my_dense.py"
    path.write_text(wrong)
    code, h = train(tmp_path, "vanilla", f"dense={path}", extra=[*TINY, "--epochs", "1"])
    out = capsys.readouterr().out
    assert h["loss"][-1] == pytest.approx(h["scratchae_loss"][-1], rel=5e-3)   # trains the same
    assert code == 1 and h["trains_like_scratchae"] is False
    assert "but its gradient check fails" in out
    assert f"run scratchae gradcheck --exercise dense {path}" in out


def _writer(tmp_path, how="="):
    """The reference dense, but writing its parameter gradients where the contract adds."""
    text = (SOLUTIONS / "dense.py").read_text()
    wrong = text.replace('self.grads["kernel"] += ', f'self.grads["kernel"]{"[...]" if how != "=" else ""} = ') \
                .replace('self.grads["bias"] += ', f'self.grads["bias"]{"[...]" if how != "=" else ""} = ')
    assert wrong.count(" += ") == text.count(" += ") - 2
    path = tmp_path / "my_dense.py"
    path.write_text(wrong)
    return path


def test_a_dense_that_writes_grads_trains_like_the_library_but_is_still_called_wrong(tmp_path, capsys):
    # the model zeroes the gradients before each step and the adapter adds what the learner's
    # backward left, so writing instead of adding trains the same; the grade's `accumulates` does not
    path = _writer(tmp_path, "[...]")
    code, h = train(tmp_path, "vanilla", f"dense={path}", extra=[*TINY, "--epochs", "1"])
    out = capsys.readouterr().out
    assert h["loss"][-1] == pytest.approx(h["scratchae_loss"][-1], rel=1e-6)
    assert code == 1 and h["trains_like_scratchae"] is False
    assert "but its gradient check fails (the model zeroes the gradients" in out
    assert "a weight shared by two layers would lose one of its paths" in out
    assert f"run scratchae gradcheck --exercise dense {path}" in out


class _SharedGrads(plug.YourDense):
    """The adapter as it was before gradients accumulated: the learner's backward runs straight
    on the layer's grads (a control: what the zeroed grads of the learner's own prevent)."""

    def backward_logits(self, dz):
        self.yours.grads = self.grads
        return self.yours.backward(dz)


@pytest.mark.parametrize("how", ["+=", "=", "[...]"])
def test_a_plugged_dense_in_a_tied_model_gets_both_paths_of_the_shared_kernel(tmp_path, how):
    """The tied autoencoder's decoder reuses the code layer's kernel (one array, one gradient
    array): the learner's code layer must add its share to the decoder's. Adding, writing a new
    array or writing into the array: the adapter gives the library's gradients each time."""
    path = SOLUTIONS / "dense.py" if how == "+=" else _writer(tmp_path, how)
    x = load("mnist-5k").x_train[:16]
    lib = autoencoders.tied(8, seed=0).model
    _, want = lib.compute_gradients(x, x)
    own = autoencoders.tied(8, seed=0).model
    source = plug.load_source("dense", str(path))
    assert plug.plug(own, source) == ["code"]                  # the decoder is no Dense: it stays the library's
    assert own.get_layer("output").params["kernel"] is own.get_layer("code").params["kernel"]
    for _ in range(2):                                         # and again: nothing kept from the last step
        _, got = own.compute_gradients(x, x)
        assert set(got) == set(want)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-7, err_msg=k)
    # the control: a writer run straight on the shared gradient array drops the decoder's share
    if how != "+=":
        own.get_layer("code").__class__ = _SharedGrads
        _, bad = own.compute_gradients(x, x)
        assert not np.allclose(bad["code/kernel"], want["code/kernel"], rtol=1e-3)
        np.testing.assert_allclose(bad["code/bias"], want["code/bias"], rtol=1e-5, atol=1e-7)   # not shared


def test_a_learners_grads_of_the_wrong_shape_are_named(tmp_path):
    text = (SOLUTIONS / "dense.py").read_text().replace('self.grads["bias"] += dy.sum(axis=0)',
                                                         'self.grads["bias"] = dy.sum(axis=0, keepdims=True)')
    path = tmp_path / "my_dense.py"
    path.write_text(text)
    source = plug.load_source("dense", str(path))
    ae = autoencoders.shallow(8, seed=0)
    plug.plug(ae.model, source)
    x = load("mnist-5k").x_train[:4]
    with pytest.raises(plug.PlugError, match=r"failed on a first batch: ValueError: your Dense.backward: "
                                             r"dL/dbias in self.grads\['bias'\]"):
        plug.try_one_batch(ae.model, x, x, [source])


# -- the learner's code is what runs -----------------------------------------------------------
@pytest.mark.parametrize("piece, build, places", [
    ("dense", autoencoders.deep, 4), ("relu", autoencoders.deep, 3),
    ("sigmoid", autoencoders.deep, 1), ("bce", autoencoders.deep, 1), ("l1", autoencoders.sparse, 1)])
def test_the_learners_forward_and_backward_run_every_batch_in_every_place(piece, build, places):
    source = plug.load_source(piece, str(SOLUTIONS / f"{piece}.py"))
    calls = Counter()

    def counted(name):
        original = getattr(source.cls, name)

        def wrapper(self, *args):
            calls[name] += 1
            return original(self, *args)
        return wrapper

    source.cls.forward, source.cls.backward = counted("forward"), counted("backward")
    ae = build(code_size=8, seed=0) if piece == "l1" else build(16, 8, seed=0)
    assert len(plug.plug(ae.model, source)) == places
    # the output sigmoid and the BCE become one loss on logits only when all are scratchae's own
    assert ae.model.fused == (piece in ("relu", "l1"))
    x = load("mnist-5k").x_train[:256]
    ae.model.fit(x, x, epochs=1, batch_size=32, verbose=0, seed=0)
    # 8 batches, forward and backward each; fit then checks the epoch's last update with one
    # more forward of the last batch (scratchae.training), which runs the learner's piece too
    assert calls == {"forward": (8 + 1) * places, "backward": 8 * places}


def test_a_plugged_dense_shares_the_layers_weights_and_starts_from_the_librarys():
    source = plug.load_source("dense", str(SOLUTIONS / "dense.py"))
    own, lib = autoencoders.deep(16, 8, seed=3), autoencoders.deep(16, 8, seed=3)
    plug.plug(own.model, source)
    layer = own.model.layers[1]
    assert isinstance(layer, plug.YourDense) and layer.yours.params is layer.params
    assert layer.yours.grads is not layer.grads               # its own, zeroed before each of its calls
    for a, b in zip(own.model.get_weights(), lib.model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- bad --use values: one line, exit 2, nothing written ----------------------------------------
def _files(tmp_path):
    (tmp_path / "syntax.py").write_text("class Dense(:\n    pass\n")
    (tmp_path / "noclass.py").write_text("x = 1\n")
    (tmp_path / "badinit.py").write_text("class Dense:\n    def __init__(self, i, u, seed=0):\n"
                                         "        raise ValueError('nope')\n")
    (tmp_path / "nodict.py").write_text("class Dense:\n    def __init__(self, i, u, seed=0):\n"
                                        "        self.w = None\n")
    assert main(["gradcheck", "--exercise", "dense", "--init", str(tmp_path / "unfinished.py")]) == 0
    (tmp_path / "badshape.py").write_text(
        "import numpy as np\nclass ReLU:\n    def forward(self, x):\n        return np.maximum(x, 0)\n"
        "    def backward(self, dy):\n        return dy[:, :3]\n")


BAD = [
    (["vanilla", "--use", "dense"], "expected PIECE=FILE"),
    (["vanilla", "--use", "conv=x.py"], "unknown piece 'conv'; choose from dense, relu, sigmoid, bce, l1"),
    (["vanilla", "--use", "dense=missing.py"], "no such file (start one with scratchae gradcheck --exercise dense --init"),
    (["vanilla", "--use", "dense=syntax.py"], "line 1: syntax error"),
    (["vanilla", "--use", "dense=noclass.py"], "defines no class 'Dense'"),
    (["vanilla", "--use", "dense=badinit.py"], "Dense(...) failed: ValueError: nope"),
    (["vanilla", "--use", "dense=nodict.py"], "must keep self.params"),
    (["vanilla", "--use", "dense=unfinished.py"], "backward still raises NotImplementedError"),
    (["vanilla", "--use", "relu=badshape.py"], "your ReLU.backward: dL/dx expected shape (4, 128), got shape (4, 3)"),
    (["vanilla", "--use", f"l1={SOLUTIONS / 'l1.py'}"], "--use l1 needs a model with an L1 penalty"),
    (["sparse", "--l1", "0", "--use", f"l1={SOLUTIONS / 'l1.py'}"], "sparse has none"),
    (["vanilla", "--use", "dense=broken:nope"], "unknown broken piece"),
    (["vanilla", "--use", "dense=broken:relu-no-mask"], "relu-no-mask is not a dense piece"),
    (["vanilla", "--use", "relu=noclass.py", "--use", "relu=broken:relu-no-mask"], "--use relu given twice"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_use_one_line_exit_2_nothing_written(argv, fragment, tmp_path, monkeypatch, capsys):
    _files(tmp_path)
    before = set(tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["train", *argv, "--verbose", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("scratchae: error: ") and fragment in err[0], err
    assert set(tmp_path.iterdir()) == before                            # no output folder
