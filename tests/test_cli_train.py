"""`scratchae demo` and `scratchae train`, end to end through the real command.

Runs `python -m scratchae ...` in a temporary folder on the bundled data with one epoch and
small layers, and checks every file the command promises: valid PNGs (signature, and matplotlib
reads them back), JSON with the documented fields, model files that load and predict. Bad
arguments and missing data must give exit code 2 and one line on stderr.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from scratchae.cli import main
from scratchae.models import load_model

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def scratchae(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="error::RuntimeWarning")
    return subprocess.run([sys.executable, "-m", "scratchae", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0, f"{path} is blank"


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scratchae: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# -- train ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_vanilla_writes_model_history_and_figures(tmp_path):
    r = scratchae("train", "vanilla", "--dataset", "mnist-5k", "--epochs", "1", "--hidden-size", "16",
                  "--code-size", "8", "--verbose", "2", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Data: bundled MNIST subset (4,000 train / 1,000 test)")
    assert "4000/4000 [" in r.stdout                               # the epoch's progress line
    out = tmp_path / "run"
    for name in ("vanilla-reconstructions.png", "vanilla-loss.png", "vanilla-weights.png",
                 "vanilla-codes.png"):
        assert_png(out / name)
    history = json.loads((out / "vanilla-history.json").read_text())
    assert history["model"] == "vanilla" and history["epochs"] == 1 and len(history["loss"]) == 1
    assert 0 < history["test_loss"] < 0.7 and history["mean_code"] >= 0
    assert history["dataset"]["name"] == "mnist-5k" and history["dataset"]["train"] == 4000
    assert "bundled" in history["dataset"]["description"]
    assert history["arguments"] | {} == history["arguments"]
    assert history["arguments"]["hidden_size"] == 16 and history["arguments"]["l1"] == 0.0

    model = load_model(out / "vanilla.npz")
    assert [l.units for l in model.layers[1:]] == [16, 8, 16, 784]
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    y = model.predict(x)
    assert y.shape == (3, 784) and y.dtype == np.float32 and np.all((y > 0) & (y < 1))
    # the saved model is the trained one: its test loss is the one in the history
    from scratchae.datasets import load

    xt = load("mnist-5k").x_test
    assert model.evaluate(xt, xt) == pytest.approx(history["test_loss"], rel=1e-5)


@pytest.mark.slow
def test_train_sparse_and_denoising_defaults(tmp_path):
    r = scratchae("train", "sparse", "--dataset", "mnist-5k", "--epochs", "1", "--code-size", "8",
                  "--verbose", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "scratchae-train"                               # the default --out
    history = json.loads((out / "sparse-history.json").read_text())
    assert history["arguments"]["l1"] == 1e-5                        # the article's default
    model = load_model(out / "sparse.npz")
    assert model.layers[1].activity_regularizer.l1 == 1e-5

    r = scratchae("train", "denoising", "--dataset", "mnist-5k", "--epochs", "1", "--hidden-size", "8",
                  "--code-size", "4", "--noise-factor", "0.3", "--verbose", "0", "--out", ".", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert_png(tmp_path / "denoising.png")
    history = json.loads((tmp_path / "denoising-history.json").read_text())
    assert history["arguments"]["noise_factor"] == 0.3


# -- demo ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_prints_table_and_writes_figures(tmp_path):
    r = scratchae("demo", "--dataset", "mnist-5k", "--epochs", "1", "--verbose", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("Data: bundled MNIST subset") and "no download needed" in first
    for label in ("vanilla", "denoising (noise 0.4)", "sparse standard", "sparse l1(1e-05)"):
        assert label in r.stdout
    assert "Sparse effect:" in r.stdout
    out = tmp_path / "scratchae-demo"
    for name in ("vanilla-reconstructions.png", "vanilla-weights.png", "denoising.png",
                 "sparse-code-distributions.png", "sparse-losses.png", "loss-curves.png"):
        assert_png(out / name)
    summary = json.loads((out / "summary.json").read_text())
    assert [m["epochs"] for m in summary["models"]] == [1, 1, 1, 1]
    codes = [m["mean_code"] for m in summary["models"]]
    assert summary["sparse_ratio"] == pytest.approx(codes[2] / codes[3])
    # measured, not assumed: even after one epoch (same seed, same initial weights) the L1
    # penalty lowers the mean code value (3.51 -> 2.44 on the bundled data)
    assert codes[3] < 0.85 * codes[2]
    for m in summary["models"]:                                      # the table shows these numbers
        assert f"{m['loss'][-1]:.4f}" in r.stdout and f"{m['mean_code']:.2f}" in r.stdout


# -- errors: one line, exit 2 --------------------------------------------------------------------
BAD = [
    (["train", "vanilla", "--epochs", "-1"], "--epochs must be a positive integer"),
    (["train", "vanilla", "--epochs", "0"], "--epochs"),
    (["train", "vanilla", "--epochs", "abc"], "invalid int value"),
    (["train", "vanilla", "--batch-size", "0"], "--batch-size"),
    (["train", "sparse", "--l1", "-0.1"], "--l1 must be a finite number >= 0"),
    (["train", "sparse", "--l1", "nan"], "--l1"),
    (["train", "denoising", "--noise-factor", "1.5"], "--noise-factor must be in [0, 1]"),
    (["train", "denoising", "--noise-factor", "-0.1"], "--noise-factor"),
    (["train", "vanilla", "--noise-factor", "0.3"], "denoising only"),
    (["train", "shallow", "--hidden-size", "64"], "--hidden-size applies to vanilla and denoising"),
    (["train", "vanilla", "--code-size", "0"], "--code-size"),
    (["train", "vanilla", "--verbose", "3"], "--verbose must be 0, 1 or 2"),
    (["train", "vanilla", "--seed", "-2"], "--seed"),
    (["train", "autoencoder"], "invalid choice"),
    (["train"], "required"),
    (["train", "vanilla", "--dataset", "no-such-data"], "cannot load dataset 'no-such-data'"),
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "--dataset", "no-such-data"], "unknown dataset"),
    (["train", "vanilla", "--use", "dense"], "expected PIECE=FILE"),
    (["train", "vanilla", "--use", "dense=no_such_file.py"], "no such file"),
    (["train", "shallow", "--use", "l1=broken:l1-sign"], "--use l1 needs a model with an L1 penalty"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_one_line_exit_2(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:                                        # argparse's own checks
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("scratchae: error: ") and fragment in err[0], err
    assert list(tmp_path.iterdir()) == []                            # nothing trained, nothing written


def test_missing_data_and_bad_out_through_the_real_command(tmp_path):
    empty = tmp_path / "idx"
    empty.mkdir()
    r = scratchae("train", "vanilla", "--dataset", str(empty), cwd=tmp_path)
    assert_one_line_error(r, "cannot load dataset")
    (tmp_path / "afile").write_text("x")
    r = scratchae("demo", "--out", "afile", cwd=tmp_path)
    assert_one_line_error(r, "--out 'afile' exists and is not a folder")
    r = scratchae("train", "sparse", "--l1", "-1", cwd=tmp_path)
    assert_one_line_error(r, "--l1")


@pytest.mark.parametrize("command, example", [("demo", "scratchae demo --dataset mnist-5k"),
                                              ("train", "scratchae train denoising --noise-factor"),
                                              ("train", "scratchae train vanilla --use dense=my_dense.py")])
def test_help_shows_examples(command, example, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and example in text and "--dataset" in text


# -- data from a folder, and Ctrl-C --------------------------------------------------------------
def test_train_on_a_folder_of_idx_files(tmp_path):
    from scratchae.datasets import mnist, write_idx

    (x, y), (xt, yt) = mnist.load_subset()
    folder = tmp_path / "my data"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", x[:96])
    write_idx(folder / "train-labels-idx1-ubyte.gz", y[:96])
    write_idx(folder / "t10k-images-idx3-ubyte", xt[:8])
    write_idx(folder / "t10k-labels-idx1-ubyte", yt[:8])
    r = scratchae("train", "shallow", "--dataset", str(folder), "--epochs", "2", "--code-size", "4",
                  "--verbose", "0", "--out", "r", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Data: IDX files from folder {folder} (96 train / 8 test)")
    history = json.loads((tmp_path / "r" / "shallow-history.json").read_text())
    assert history["dataset"]["train"] == 96 and len(history["loss"]) == 2


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_completed_epochs(tmp_path):
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-m", "scratchae", "train", "sparse", "--dataset", "mnist-5k",
                          "--epochs", "100", "--verbose", "2", "--out", "r"], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 120
    while "Epoch 2/100" not in seen and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        seen += line
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (seen + out, err)
    assert err.strip().splitlines()[-1] == "scratchae: interrupted"
    assert "saved the" in err
    history = json.loads((tmp_path / "r" / "sparse-history.json").read_text())
    assert history["interrupted"] is True and history["epochs"] == len(history["loss"]) >= 1
    model = load_model(tmp_path / "r" / "sparse.npz")
    assert model.predict(np.zeros((1, 784), np.float32)).shape == (1, 784)


# -- train --use, through the real command ---------------------------------------------------------
def test_train_with_a_learners_sigmoid_through_the_real_command(tmp_path):
    """A textbook sigmoid (1 / (1 + exp(-x)), which overflows for very negative x) trains with
    RuntimeWarnings as errors, and the output shows both losses and the verdict."""
    solution = REPO / "tests" / "exercise_solutions" / "sigmoid.py"
    r = scratchae("train", "shallow", "--use", f"sigmoid={solution}", "--code-size", "8", "--epochs", "1",
                  "--verbose", "2", "--out", "r", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Data: bundled MNIST subset")                  # mnist-5k by default
    assert "your sigmoid (sigmoid.py) runs in: dense_1 > sigmoid" in r.stdout
    assert "epoch  your sigmoid  scratchae's sigmoid" in r.stdout
    assert "your backward trains like the library's." in r.stdout
    assert_png(tmp_path / "r" / "shallow-reconstructions.png")
    assert_png(tmp_path / "r" / "shallow-loss.png")
