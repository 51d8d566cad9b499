"""`scratchae gradcheck`: in-process runs through scratchae.cli.main, one real subprocess."""
import subprocess
import sys
from pathlib import Path

import pytest

from scratchae.cli import main
from scratchae.exercises.broken import BROKEN

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = Path(__file__).parent / "exercise_solutions"


def test_full_run_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    for name in ("vanilla_autoencoder", "shallow_autoencoder", "sparse_autoencoder", "check_optimizer Adam", "All gradient checks passed"):
        assert name in out
    assert "FAIL" not in out and "> l1" in out


def test_list(capsys):
    assert main(["gradcheck", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BROKEN)


@pytest.mark.parametrize("name", ["relu-no-mask", "bce-no-mean", "l1-sign"])
def test_broken_fails_with_hint(name, capsys):
    assert main(["gradcheck", "--broken", name]) == 1
    out = capsys.readouterr().out
    assert "First wrong piece" in out and "hint:" in out and "FAIL" in out


def test_usage_errors(capsys):
    assert main(["gradcheck", "--broken", "nope"]) == 2
    assert main(["gradcheck", "--exercise", "conv", "x.py"]) == 2
    assert main(["gradcheck", "--exercise", "dense"]) == 2
    assert main(["gradcheck", "--broken", "l1-sign", "--model", "deep"]) == 2
    assert "error" in capsys.readouterr().err


def test_exercise_flow(tmp_path, capsys):
    path = tmp_path / "my_dense.py"
    assert main(["gradcheck", "--exercise", "dense", "--init", str(path)]) == 0
    assert path.exists()
    assert main(["gradcheck", "--exercise", "dense", "--init", str(path)]) == 2      # no overwrite
    assert main(["gradcheck", "--exercise", "dense", str(path)]) == 1
    assert "NotImplementedError" in capsys.readouterr().out
    assert main(["gradcheck", "--exercise", "dense", str(SOLUTIONS / "dense.py")]) == 0
    assert "Well done" in capsys.readouterr().out
    assert main(["gradcheck", "--exercise", "dense", str(tmp_path / "none.py")]) == 2
    bad = tmp_path / "bad.py"
    bad.write_text("def (\n")
    assert main(["gradcheck", "--exercise", "dense", str(bad)]) == 1
    assert "SyntaxError at bad.py line 1" in capsys.readouterr().out


def test_subprocess_broken_exits_one():
    proc = subprocess.run([sys.executable, "-m", "scratchae", "gradcheck", "--broken", "dense-transposed"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stderr
    assert "transposed" in proc.stdout


def test_first_line_says_which_scratchae_is_checked(capsys):
    import scratchae
    assert main(["gradcheck", "--list"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    folder = Path(scratchae.__file__).resolve().parent
    assert first.startswith(f"scratchae {scratchae.__version__} from {folder} (")
    assert first.endswith(("(editable install)", "(installed copy)", "(source checkout, not an installed copy)"))


class _FakeDist:
    def __init__(self, direct_url):
        self.direct_url = direct_url

    def read_text(self, name):
        return self.direct_url if name == "direct_url.json" else None


@pytest.mark.parametrize("where, dists, expected", [
    ("checkout/scratchae", ['{"dir_info": {"editable": true}, "url": "file://CHECKOUT"}'], "(editable install)"),
    ("checkout/scratchae", ['{"dir_info": {"editable": true}, "url": "file:///elsewhere"}'],
     "(source checkout, not an installed copy)"),
    ("checkout/scratchae", [], "(source checkout, not an installed copy)"),
    ("lib/site-packages/scratchae", ['{"dir_info": {}, "url": "file:///wheels/x.whl"}'], "(installed copy)"),
])
def test_which_scratchae_tells_editable_checkout_and_installed_apart(where, dists, expected, tmp_path,
                                                                      monkeypatch):
    import types

    import scratchae
    from scratchae.cli import gradcheck as cli_gradcheck
    checkout = (tmp_path / "checkout").resolve()
    fakes = [_FakeDist(d.replace("CHECKOUT", str(checkout))) for d in dists]
    monkeypatch.setattr(cli_gradcheck, "metadata", types.SimpleNamespace(distributions=lambda name: fakes))
    monkeypatch.setattr(scratchae, "__file__", str(tmp_path / where / "__init__.py"))
    line = cli_gradcheck.which_scratchae()
    assert line == f"scratchae {scratchae.__version__} from {(tmp_path / where).resolve()} {expected}"


def test_a_reader_that_leaves_early_is_not_an_error():
    # `scratchae gradcheck --list | head -2`: no BrokenPipeError traceback, exit code 0
    p = subprocess.Popen([sys.executable, "-m", "scratchae", "gradcheck", "--list"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                       # the reader is gone before anything is written
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# -- the later exercises -----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(n for n, b in BROKEN.items() if b.model is None))
def test_broken_later_piece_is_checked_alone_with_its_hint(name, capsys):
    assert main(["gradcheck", "--broken", name]) == 1
    out = capsys.readouterr().out
    b = BROKEN[name]
    assert f"checked as the {b.piece} exercise" in out and "total: " in out and "/ 10" in out
    assert "hint:" in out and "total: 10 / 10" not in out


def test_list_says_where_each_mistake_is_shown(capsys):
    assert main(["gradcheck", "--list"]) == 0
    out = capsys.readouterr().out
    assert "[vanilla model; expect hint: transpose]" in out
    assert "[alone, as the adam exercise; expect hint: bias-correction]" in out


def test_broken_later_piece_refuses_a_model(capsys):
    assert main(["gradcheck", "--broken", "kl-no-mean", "--model", "sparse"]) == 2
    assert "--model does not apply" in capsys.readouterr().err


@pytest.mark.parametrize("piece", ["bce-logits", "model", "sampling", "gaussian-kl"])
def test_exercise_flow_of_a_later_exercise(piece, tmp_path, capsys):
    path = tmp_path / f"my_{piece}.py"
    assert main(["gradcheck", "--exercise", piece, "--init", str(path)]) == 0
    assert main(["gradcheck", "--exercise", piece, str(path)]) == 1
    assert "NotImplementedError" in capsys.readouterr().out
    assert main(["gradcheck", "--exercise", piece, str(SOLUTIONS / f"{piece}.py")]) == 0
    out = capsys.readouterr().out
    assert "Well done" in out and "by hand" in out
