"""`scratchae train` and `scratchae demo` stopped by something other than a finished run:
SIGTERM and SIGHUP (real signals to a real `python -m scratchae` on the bundled data), an
out-of-memory error, two runs into one --out, a run killed outright, and outputs that would
replace the data or each other.

No test here depends on how fast the machine is: a run is signalled once its output says
that an epoch completed (a blocking read, no clock), runs are long enough (--epochs 100000)
never to finish first, and what was saved is checked against what the run said it saved,
wherever the signal landed. The only times are generous bounds that stop a real process
that hangs (WATCHDOG).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from scratchae.cli import main
from scratchae.models import load_model
from test_cli_train import signals_as_in_a_terminal

REPO = Path(__file__).resolve().parents[1]
WATCHDOG = 120                 # seconds: only a hung process ever waits this long
STEPS = 125                    # an epoch of the bundled 4,000 images at batch 32

posix = pytest.mark.skipif(os.name != "posix", reason="real signals and flock")


def start(cwd: Path, *argv: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "scratchae", *argv], cwd=cwd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=signals_as_in_a_terminal)
    watchdog = threading.Timer(WATCHDOG, p.kill)
    watchdog.daemon = True
    watchdog.start()
    return p


def read_until(p: subprocess.Popen, text: str) -> str:
    """p's output up to and including the first line holding `text` (blocking reads)."""
    seen = []
    for line in p.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"the run ended before printing {text!r}:\n{''.join(seen)}{p.stderr.read()}")


def finish(p: subprocess.Popen) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=WATCHDOG)
    return p.returncode, out, err


def record(out: Path) -> dict:
    return json.loads((out / "scratchae-run.json").read_text())


def saved_as_said(out: Path, name: str, err: str, history_file: str | None = None) -> int:
    """The model file holds exactly the completed epochs that its history and the message name."""
    history = json.loads((out / (history_file or f"{name}-history.json")).read_text())
    epochs = history["epochs"]
    assert epochs == len(history["loss"]) >= 1
    assert f"saved the {epochs} completed epoch(s) to " in err, err
    model = load_model(out / f"{name}.npz")
    assert model.optimizer.iterations == epochs * STEPS
    assert model.predict(np.zeros((1, 784), np.float32)).shape == (1, 784)
    return epochs


# -- SIGTERM and SIGHUP: as Ctrl-C ------------------------------------------------------------
@posix
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_during_train_saves_the_completed_epochs(tmp_path, sig):
    """Before: exit 143 or 129, an empty --out, no message (kill, timeout, docker stop, Slurm
    and systemd send SIGTERM, a closed terminal or SSH session SIGHUP)."""
    number = getattr(signal, sig)
    p = start(tmp_path, "train", "shallow", "--dataset", "mnist-5k", "--epochs", "100000",
              "--code-size", "8", "--verbose", "2", "--out", "r")
    read_until(p, "Epoch 2/")                        # epoch 1 has completed
    p.send_signal(number)
    code, out, err = finish(p)
    assert code == 128 + number, (code, err)
    assert "Traceback" not in err and err.strip().splitlines()[-1] == f"scratchae: stopped by {sig}", err
    epochs = saved_as_said(tmp_path / "r", "shallow", err)
    history = json.loads((tmp_path / "r" / "shallow-history.json").read_text())
    assert history["interrupted"] is True and history["signal"] == sig
    assert f"Stopped by {sig} at epoch {epochs + 1}" in out or f"Epoch {epochs + 1}/" not in out
    run = record(tmp_path / "r")
    assert run["how"] == f"stopped by {sig}" and run["exit_code"] == 128 + number
    assert sorted(run["files"]) == ["shallow-history.json", "shallow.npz"]
    assert not (tmp_path / "r" / ".scratchae-lock").exists()          # the folder let go


@posix
def test_sigterm_during_demo_saves_the_model_in_training_and_a_summary(tmp_path):
    p = start(tmp_path, "demo", "--dataset", "mnist-5k", "--epochs", "100000", "--verbose", "2",
              "--monitor", "0", "--out", "d")
    read_until(p, "Epoch 2/")                        # the vanilla model's epoch 1 has completed
    p.send_signal(signal.SIGTERM)
    code, out, err = finish(p)
    assert code == 143 and "Traceback" not in err, err
    assert "scratchae: the demo was stopped by SIGTERM; saved the" in err
    saved_as_said(tmp_path / "d", "vanilla", err, history_file="summary.json")
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["stopped"] == "stopped by SIGTERM" and summary["complete"] is False
    assert summary["in_training"] == {"label": "vanilla", "file": "vanilla.npz"} and summary["models"] == []
    assert record(tmp_path / "d")["exit_code"] == 143


# -- any error after an epoch: the epoch kept ---------------------------------------------------
def run_in_process(argv, capsys) -> tuple[int, list[str], str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


def step_raising(monkeypatch, at: int, exc: BaseException) -> None:
    """Model.train_step raises `exc` at its `at`-th call (1-based, counted over every model)."""
    from scratchae.models import Model

    real, calls = Model.train_step, {"n": 0}

    def train_step(self, x, y):
        calls["n"] += 1
        if calls["n"] == at:
            raise exc
        return real(self, x, y)

    monkeypatch.setattr(Model, "train_step", train_step)


def test_out_of_memory_in_epoch_2_of_train_keeps_epoch_1(tmp_path, monkeypatch, capsys):
    """Before: one clear line, and the completed epoch lost."""
    step_raising(monkeypatch, STEPS + 7, MemoryError("Unable to allocate 3.1 GiB"))
    code, err, _ = run_in_process(["train", "shallow", "--dataset", "mnist-5k", "--epochs", "3",
                                   "--code-size", "4", "--verbose", "0", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and len(err) == 2, err
    assert err[0].startswith("scratchae: training stopped by MemoryError; saved the 1 completed epoch(s) to")
    assert err[1].startswith("scratchae: error: out of memory (Unable to allocate 3.1 GiB)")
    history = json.loads((tmp_path / "r" / "shallow-history.json").read_text())
    assert history["epochs"] == 1 and history["error"] == "MemoryError: Unable to allocate 3.1 GiB"
    assert load_model(tmp_path / "r" / "shallow.npz").optimizer.iterations == STEPS
    assert record(tmp_path / "r")["how"] == "error: MemoryError: Unable to allocate 3.1 GiB"


def test_out_of_memory_in_the_second_model_of_demo_keeps_the_first_and_the_completed_epoch(
        tmp_path, monkeypatch, capsys):
    step_raising(monkeypatch, 2 * STEPS + STEPS + 3, MemoryError("Unable to allocate 3.1 GiB"))
    out = tmp_path / "d"
    code, err, _ = run_in_process(["demo", "--dataset", "mnist-5k", "--epochs", "2", "--verbose", "0",
                                   "--monitor", "0", "--out", str(out)], capsys)
    assert code == 2 and len(err) == 2, err
    assert err[0] == (f"scratchae: the demo was stopped by MemoryError; kept vanilla.npz (trained); "
                      f"saved the 1 completed epoch(s) to {out / 'denoising.npz'} and summary.json")
    assert load_model(out / "vanilla.npz").optimizer.iterations == 2 * STEPS
    assert load_model(out / "denoising.npz").optimizer.iterations == STEPS
    summary = json.loads((out / "summary.json").read_text())
    assert [m["file"] for m in summary["models"]] == ["vanilla.npz"] and summary["epochs"] == 1
    assert summary["in_training"]["file"] == "denoising.npz"
    assert sorted(record(out)["files"]) == ["denoising.npz", "summary.json", "vanilla.npz"]


# -- one run per output folder ---------------------------------------------------------------------
@posix
def test_a_second_run_into_a_busy_out_is_refused_and_a_killed_runs_lock_is_taken_over(tmp_path):
    """Before: two runs at once left a folder that mixed both."""
    first = start(tmp_path, "train", "shallow", "--dataset", "mnist-5k", "--epochs", "100000",
                  "--code-size", "8", "--verbose", "2", "--out", "r")
    try:
        read_until(first, "Epoch 2/")
        lock = json.loads((tmp_path / "r" / ".scratchae-lock").read_text())
        assert lock["pid"] == first.pid and lock["command"] == "train shallow"
        second = start(tmp_path, "train", "vanilla", "--dataset", "mnist-5k", "--epochs", "1",
                       "--verbose", "0", "--out", "r")
        code, _, err = finish(second)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"scratchae: error: --out 'r' is in use by another scratchae run (pid "
                              f"{first.pid}, started {lock['started']}: scratchae train shallow)"), err
        assert not list((tmp_path / "r").glob("vanilla*"))              # it wrote nothing
    finally:
        first.kill()                                                    # SIGKILL: no rescue, no cleanup
        first.communicate(timeout=WATCHDOG)
    assert (tmp_path / "r" / ".scratchae-lock").exists()                # left behind, but free
    assert record(tmp_path / "r")["ended"] is None                     # and the record says so
    third = start(tmp_path, "train", "shallow", "--dataset", "mnist-5k", "--epochs", "1", "--code-size", "8",
                  "--verbose", "0", "--monitor", "0", "--out", "r")
    code, _, err = finish(third)
    assert code == 0, err
    assert (f"scratchae: note: took over {os.path.join('r', '.scratchae-lock')}, left by a run that ended "
            f"without releasing it (pid {first.pid}, started {lock['started']}: scratchae train shallow)") in err
    assert not (tmp_path / "r" / ".scratchae-lock").exists()
    assert record(tmp_path / "r")["how"] == "finished"


def test_a_busy_out_is_refused_before_training(tmp_path, monkeypatch, capsys):
    from scratchae.cli.outfolder import OutputFolder
    from scratchae.models import Model

    (tmp_path / "r").mkdir()
    other = OutputFolder(str(tmp_path / "r"), "demo")
    other.own()
    monkeypatch.setattr(Model, "fit", lambda *a, **k: pytest.fail("training started"))
    try:
        code, err, _ = run_in_process(["train", "shallow", "--dataset", "mnist-5k", "--out", str(tmp_path / "r")],
                                      capsys)
    finally:
        other.release()
    assert code == 2 and len(err) == 1 and f"in use by another scratchae run (pid {os.getpid()}" in err[0], err
    assert sorted(os.listdir(tmp_path / "r")) == ["scratchae-run.json"]     # the other run's record only


def test_what_a_run_wrote_is_told_apart_from_an_earlier_runs_files(tmp_path, capsys):
    """An earlier run's monitor figures stay (kept), but the record and the note say they are
    not this run's, and this run's page does not show them."""
    out = tmp_path / "r"
    base = ["train", "shallow", "--dataset", "mnist-5k", "--epochs", "1", "--code-size", "4", "--verbose", "0",
            "--out", str(out)]
    assert main(base) == 0
    capsys.readouterr()
    monitored = set(record(out)["files"])
    assert "shallow-gradients.png" in monitored and record(out)["earlier_files"] == []
    code, _, printed = run_in_process(base + ["--monitor", "0"], capsys)
    assert code == 0
    run = record(out)
    figures = sorted(f"shallow-{k}" for k in ("gradients.png", "update-ratios.png", "unit-health.png",
                                              "activations.png", "monitor.json"))
    assert run["earlier_files"] == figures
    assert set(run["files"]) == monitored - set(figures)
    for name, facts in run["files"].items():
        import hashlib
        data = (out / name).read_bytes()
        assert facts == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert f"also holds 5 file(s) this run did not write (from earlier runs, kept" in printed
    page = (out / "index.html").read_text()
    assert "shallow-gradients.png" not in page and "scratchae-run.json" in page


# -- outputs over the data, or over each other ----------------------------------------------------
@posix
def test_an_output_that_is_another_output_is_refused(tmp_path, monkeypatch, capsys):
    from scratchae.models import Model

    out = tmp_path / "r"
    out.mkdir()
    (out / "shallow-loss.png").symlink_to("shallow.npz")
    monkeypatch.setattr(Model, "fit", lambda *a, **k: pytest.fail("training started"))
    code, err, _ = run_in_process(["train", "shallow", "--dataset", "mnist-5k", "--out", str(out)], capsys)
    assert code == 2 and len(err) == 1, err
    assert "shallow-loss.png' and " in err[0] and "shallow.npz' are the same file (a link)" in err[0]
    assert sorted(os.listdir(out)) == ["shallow-loss.png"]


@posix
def test_an_output_that_is_a_data_file_is_refused(tmp_path, monkeypatch, capsys):
    from scratchae.datasets import mnist, write_idx
    from scratchae.models import Model

    (x, y), (xt, yt) = mnist.load_subset()
    data = tmp_path / "data"
    data.mkdir()
    for name, arr in (("train-images-idx3-ubyte", x[:32]), ("train-labels-idx1-ubyte", y[:32]),
                      ("t10k-images-idx3-ubyte", xt[:8]), ("t10k-labels-idx1-ubyte", yt[:8])):
        write_idx(data / name, arr)
    out = tmp_path / "r"
    out.mkdir()
    (out / "demo.npz").write_text("not mine")
    (out / "vanilla-weights.png").symlink_to(data / "train-images-idx3-ubyte")
    before = (data / "train-images-idx3-ubyte").read_bytes()
    monkeypatch.setattr(Model, "fit", lambda *a, **k: pytest.fail("training started"))
    code, err, _ = run_in_process(["demo", "--dataset", str(data), "--out", str(out)], capsys)
    assert code == 2 and len(err) == 1, err
    assert "vanilla-weights.png' is the data file " in err[0] and "train-images-idx3-ubyte" in err[0], err
    assert (data / "train-images-idx3-ubyte").read_bytes() == before
    # the data's own folder as --out is fine while no output is a data file
    monkeypatch.undo()
    code, err, _ = run_in_process(["train", "shallow", "--dataset", str(data), "--out", str(data), "--epochs",
                                   "1", "--code-size", "4", "--verbose", "0"], capsys)
    assert code == 0 and (data / "train-images-idx3-ubyte").read_bytes() == before
