"""Writes and reads against real special files made in a temporary folder: a FIFO, a socket,
symlinks, a device node (as root, with os.mknod), /dev/zero, and names at the filesystem's
length limit.

A write goes to a regular file or to a symlink's final target, or is refused naming what is
there; a read opens only a regular file and never reads past its size. Reads that would hang
or never end if that broke run in a forked child (`_child.run_in_child`) with a memory limit
and its own alarm, so a regression fails instead of taking the suite down.
"""
from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _child import run_in_child
from scratchae import utils
from scratchae._files import SpecialFileError, atomic_write, name_max, open_regular
from scratchae.datasets import CacheError, mnist, read_idx, write_idx
from scratchae.datasets._source import FILENAMES
from scratchae.layers import Dense, Input
from scratchae.models import Model, load_model

REPO = Path(__file__).resolve().parents[1]
ROOT = os.name == "posix" and os.geteuid() == 0

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and device nodes are POSIX")


def small_model(seed: int = 0) -> Model:
    utils.set_random_seed(seed)
    inp = Input(shape=(4,))
    return Model(inp, Dense(3)(inp), name="small")


def same_weights(a: Model, b: Model) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture
def unix_socket(tmp_path):
    path = tmp_path / "sock.npz"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    yield path
    server.close()


def make_device(path: Path, major: int, minor: int) -> Path:
    """A character device node (the numbers of /dev/full are 1, 7; /dev/zero's 1, 5)."""
    if not ROOT:
        pytest.skip("os.mknod needs root: the device-node case runs where the suite runs as root (CI)")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    return path


# -- writes ---------------------------------------------------------------------------------------
def test_a_save_onto_a_fifo_is_refused_and_the_fifo_stays(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    link = tmp_path / "stdout.npz"                   # like /dev/stdout when stdout is a pipe
    link.symlink_to(fifo)
    for target in (fifo, link):
        with pytest.raises(SpecialFileError) as e:
            small_model().save(target)
        assert str(e.value) == (f"{str(target)!r} is a FIFO (named pipe), not a regular file; "
                                "refusing to replace it (expected a file name such as 'model.npz')")
        assert isinstance(e.value, OSError) and e.value.filename == str(target)
    with pytest.raises(SpecialFileError, match="is a FIFO"):
        write_idx(fifo, np.zeros(3, np.uint8))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()
    assert listing(tmp_path) == ["pipe.npz", "stdout.npz"]        # no temporary file left


def test_a_save_onto_a_socket_is_refused_and_the_socket_stays(unix_socket):
    with pytest.raises(SpecialFileError, match=r"sock.npz' is a socket, not a regular file"):
        small_model().save(unix_socket)
    assert stat.S_ISSOCK(os.stat(unix_socket).st_mode)
    assert listing(unix_socket.parent) == ["sock.npz"]


def test_a_save_onto_a_device_node_is_refused_and_the_device_stays(tmp_path):
    """As root a rename replaces anything: `model.save('/dev/full')` turned the system's
    device into a regular file. Here with a device node of /dev/full's numbers."""
    full = make_device(tmp_path / "full", 1, 7)
    link = tmp_path / "model.npz"
    link.symlink_to(full)
    for target in (full, link):
        with pytest.raises(SpecialFileError, match="is a character device, not a regular file"):
            small_model().save(target)
    st = os.stat(full)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 7)
    assert link.is_symlink() and listing(tmp_path) == ["full", "model.npz"]


def test_a_save_through_a_symlink_updates_its_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "runs" / "real.npz"
    real.parent.mkdir()
    small_model(0).save(real)
    link = tmp_path / "link.npz"
    link.symlink_to(os.path.join("runs", "real.npz"))            # relative, in another folder
    chain = tmp_path / "chain.npz"
    chain.symlink_to(link)                                       # a link to the link
    new = small_model(1)
    assert not same_weights(new, load_model(real))
    new.save(chain)
    assert chain.is_symlink() and link.is_symlink() and os.readlink(link) == os.path.join("runs", "real.npz")
    assert same_weights(new, load_model(real))                   # the target has the new content
    assert listing(real.parent) == ["real.npz"] and listing(tmp_path) == ["chain.npz", "link.npz", "runs"]
    dangling = tmp_path / "later.npz"
    dangling.symlink_to("runs/created.npz")
    new.save(dangling)                                           # creates the target, keeps the link
    assert dangling.is_symlink() and same_weights(new, load_model(real.parent / "created.npz"))


def test_a_symlink_loop_is_a_clear_error(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError) as e:
        small_model().save(a)
    assert e.value.errno == errno.ELOOP and e.value.filename == str(a)
    assert listing(tmp_path) == ["a.npz", "b.npz"]


def test_the_command_line_refuses_an_output_file_that_is_a_fifo_before_training(tmp_path, monkeypatch, capsys):
    from scratchae.cli import main

    out = tmp_path / "r"
    out.mkdir()
    os.mkfifo(out / "shallow.npz")
    monkeypatch.setattr(Model, "fit", lambda *a, **k: pytest.fail("training started"))
    code = main(["train", "shallow", "--dataset", "mnist-5k", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "shallow.npz': is a FIFO (named pipe)" in err[0], err
    assert stat.S_ISFIFO(os.stat(out / "shallow.npz").st_mode)


def test_a_fifo_in_the_data_cache_is_a_local_error_and_no_mirror_is_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHAE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCRATCHAE_DATA", raising=False)
    cache = tmp_path / "home" / "mnist"
    cache.mkdir(parents=True)
    os.mkfifo(cache / FILENAMES["x_train"])
    with pytest.raises(CacheError) as e:             # the mirror (a closed port) is never asked
        mnist._load_full(mirrors=["http://127.0.0.1:9/"], timeout=2)
    assert f"cannot write {cache / FILENAMES['x_train']} into the data cache" in str(e.value)
    assert "is a FIFO" in str(e.value) and "from any mirror" not in str(e.value)
    assert stat.S_ISFIFO(os.stat(cache / FILENAMES["x_train"]).st_mode)


# -- long names -----------------------------------------------------------------------------------
def test_a_250_character_name_is_saved_and_loaded(tmp_path):
    """The temporary name used to add about 22 characters, so a valid 240-character name was
    refused ('File name too long')."""
    limit = name_max(str(tmp_path))
    assert limit >= 250
    target = tmp_path / ("m" * 246 + ".npz")
    seen: list[list[str]] = []
    atomic_write(target, lambda f: (seen.append(listing(tmp_path)), f.write(b"first")))
    (temp,) = seen[0]
    assert len(os.fsencode(temp)) <= limit and temp.startswith(".m") and temp.endswith(".tmp")
    assert target.read_bytes() == b"first"
    model = small_model()
    model.save(target)
    assert same_weights(model, load_model(target)) and listing(tmp_path) == [target.name]


def test_names_up_to_the_limit_are_written_and_one_past_it_is_a_clear_error(tmp_path):
    limit = name_max(str(tmp_path))
    longest = tmp_path / ("é" * ((limit - 4) // 2) + "x" * ((limit - 4) % 2) + ".npz")
    assert len(os.fsencode(longest.name)) == limit               # two-byte characters too
    small_model().save(longest)
    assert listing(tmp_path) == [longest.name]
    too_long = tmp_path / ("x" * (limit - 3) + ".npz")
    with pytest.raises(OSError) as e:
        small_model().save(too_long)
    assert e.value.errno == errno.ENAMETOOLONG and e.value.filename == str(too_long)
    assert listing(tmp_path) == [longest.name]                   # nothing left behind


from test_saving import KILLED_SAVE  # noqa: E402  (a save killed halfway, shared)


def test_a_killed_save_of_a_long_name_leaves_a_leftover_the_next_save_removes(tmp_path):
    target = tmp_path / ("k" * 246 + ".npz")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], capture_output=True,
                       timeout=300, env=env)
    assert r.returncode == -9, r.stderr
    (leftover,) = listing(tmp_path)
    assert leftover.startswith(".k") and leftover.endswith(".tmp") and "~" in leftover
    other = tmp_path / ("k" * 245 + "j.npz")              # the same start, another name
    other_leftover = "." + leftover[1:].replace("~", "~0", 1)    # not that name's stem
    (tmp_path / other_leftover).write_text("keep me")
    model = small_model()
    model.save(target)
    assert listing(tmp_path) == sorted([target.name, other_leftover])
    assert same_weights(model, load_model(target)) and not other.exists()


# -- reads ----------------------------------------------------------------------------------------
def test_load_model_refuses_a_fifo_at_once(tmp_path):
    """Before, `load_model` on a FIFO with no writer blocked forever in open()."""
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    for read in (load_model, read_idx):
        kind, text = run_in_child(lambda: read(fifo), seconds=60)
        assert kind == "SpecialFileError", (kind, text)
        assert text.startswith(f"{str(fifo)!r} is a FIFO (named pipe), not a regular file; expected ")


def test_readers_refuse_dev_zero_without_reading_it():
    """Before, `load_model('/dev/zero')` read until memory ran out (zipfile reads to the end
    of what it takes for a file). Here in a child allowed 300 MB more."""
    for read, what in ((load_model, "a model file (.npz)"), (read_idx, "an IDX file")):
        kind, text = run_in_child(lambda: read("/dev/zero"), memory=300 << 20, seconds=60)
        assert (kind, text) == ("SpecialFileError", f"'/dev/zero' is a character device, not a regular "
                                                     f"file; expected {what}")


def test_readers_refuse_a_device_node_a_socket_and_a_folder(tmp_path, unix_socket):
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder, expected a model file"):
        load_model(folder)
    with pytest.raises(SpecialFileError, match="is a socket"):
        load_model(unix_socket)
    with pytest.raises(SpecialFileError, match="is a socket"):
        read_idx(unix_socket)
    with pytest.raises(FileNotFoundError, match="no such file, expected an IDX file"):
        read_idx(tmp_path / "missing.idx")
    if ROOT:
        zero = make_device(tmp_path / "zero", 1, 5)
        kind, text = run_in_child(lambda: load_model(zero), memory=300 << 20, seconds=60)
        assert kind == "SpecialFileError" and "is a character device" in text, (kind, text)


def test_a_file_that_grows_while_it_is_read_is_read_to_its_size_when_opened(tmp_path):
    path = tmp_path / "growing"
    path.write_bytes(b"x" * 1000)
    with open_regular(path, "a test file") as f:
        with open(path, "ab") as writer:
            writer.write(b"y" * 5000)
            writer.flush()
        assert f.size == 1000
        assert f.read() == b"x" * 1000 and f.read(10) == b""
        f.seek(-10, os.SEEK_END)
        assert f.tell() == 990 and f.read() == b"x" * 10


def test_a_data_folder_with_a_fifo_for_a_file_names_it(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), "y_train": np.arange(3, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), "y_test": np.arange(2, dtype=np.uint8)}
    for role, arr in arrays.items():
        if role != "y_test":
            write_idx(folder / FILENAMES[role], arr)
    os.mkfifo(folder / FILENAMES["y_test"])
    kind, text = run_in_child(lambda: mnist.load_data(path=folder), seconds=60)
    assert kind == "SpecialFileError" and text == (f"{str(folder / FILENAMES['y_test'])!r} is a FIFO "
                                                   "(named pipe), not a regular file; expected an IDX file")
