"""Download path of scratchae.datasets against a real HTTP server on 127.0.0.1.

The server (standard library, in a thread, port 0) serves small synthetic IDX files written by
the tests; their SHA-256 sums and sizes are computed here and passed as the expected ones.
Each "mirror" is a URL prefix on that server with its own behaviour (serve, 404, 503, wrong
bytes, cut-short body, never answer, drip, stream without end, announce another size).
``$SCRATCHAE_HOME`` points into ``tmp_path``: nothing touches the real cache or the internet.

No test waits for a real deadline: the dripping mirror sends a byte only when the download
looks at its clock (a `DripClock`, which moves 2 s at each look while the drip lasts), so how
many bytes it has sent when the deadline passes does not depend on the machine's speed.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401  (loaded before a child drops to a user who cannot read it)
import hashlib
import http.server
import os
import select
import shutil
import socket
import tempfile
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from _child import NOBODY, run_in_child
from scratchae.datasets import CacheError, DownloadError, cache_root, load, mnist, fashion_mnist, write_idx
from scratchae.datasets._download import MIN_RATE, Deadline, fetch
from scratchae.datasets._source import FILENAMES
from scratchae.datasets.loader import AUTO_DEADLINE

#: Fake seconds each look at a `DripClock` takes while a drip lasts: one byte every 2 s.
DRIP_STEP = 2.0
#: What the endless mirror sends at most, so that a client that does not stop fails its
#: test instead of filling the disk.
ENDLESS_CAP = 64 << 20


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHAE_HOME", str(tmp_path / "home"))
    for variable in ("SCRATCHAE_DATA", mnist.MIRRORS_VARIABLE, fashion_mnist.MIRRORS_VARIABLE):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Four small MNIST-style files: arrays, gzip bytes by file name, and {hashes, sizes}."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 12, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    folder = tmp_path_factory.mktemp("src")
    blobs = {}
    for role, arr in arrays.items():
        path = write_idx(folder / FILENAMES[role], arr)
        blobs[FILENAMES[role]] = path.read_bytes()
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}
    sizes = {name: len(data) for name, data in blobs.items()}
    return arrays, blobs, {"hashes": hashes, "sizes": sizes}


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes ``/<mode>/<file>``; the server object carries the files and a request log."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv = self.server
        srv.requests[self.path] += 1
        _, mode, name = self.path.split("/", 2)
        body = srv.blobs.get(name)
        if mode in ("404", "503") or body is None:
            code = 404 if body is None else int(mode)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "stall":                  # accepts the connection, never answers
            srv.closing.wait()
            return
        if mode.startswith("drip"):
            return self._drip(body)
        if mode == "wrong":
            body = body[:-1] + bytes([body[-1] ^ 1])  # same length, one bit differs
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode in ("short", "endless", "biglen"):
            # short: promise the full length, send half, hang up; endless: no length, the file
            # and then more without end; biglen: announce a terabyte, send the file
            if mode != "endless":
                self.send_header("Content-Length", str(len(body) if mode == "short" else 10**12))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(body[: len(body) // 2] if mode == "short" else body)
                sent = len(body)
                while mode == "endless" and sent < ENDLESS_CAP and not srv.closing.is_set():
                    self.wfile.write(body)
                    sent += len(body)
            except OSError:                  # the client hung up: what it should do
                pass
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, body: bytes) -> None:
        """The right file, one byte for each look at the client's `DripClock`."""
        srv = self.server
        srv.dripping.set()
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body:
                while not srv.drip.acquire(timeout=0.05):
                    if srv.closing.is_set() or self._client_gone():
                        return
                self.wfile.write(bytes([byte]))
                srv.dripped += 1
        except OSError:
            pass
        finally:
            self.close_connection = True
            srv.dripping.clear()

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # clients that give up on a cut transfer close the socket mid-write: expected here
        pass


class DripClock:
    """A clock for the deadlines: time passes only while the drip mirror holds a transfer,
    DRIP_STEP seconds at each look, and each such look lets the mirror send one more byte."""

    def __init__(self, server) -> None:
        self.server, self.now = server, 0.0

    def __call__(self) -> float:
        if self.server.dripping.is_set():
            self.now += DRIP_STEP
            self.server.drip.release()
        return self.now


@pytest.fixture
def server(synthetic):
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.blobs = synthetic[1]
    httpd.requests = Counter()
    httpd.closing = threading.Event()
    httpd.dripping = threading.Event()
    httpd.drip = threading.Semaphore(0)
    httpd.dripped = 0
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.mirror = lambda mode: f"{base}/{mode}/"
    yield httpd
    httpd.closing.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now: connection refused
    return f"http://127.0.0.1:{port}/"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_same(arrays, loaded):
    (x_train, y_train), (x_test, y_test) = loaded
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_train, arrays["y_train"])
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_good_download_is_verified_cached_and_not_fetched_again(server, synthetic, tmp_path):
    arrays, blobs, spec = synthetic
    loaded, source = mnist._load_full(mirrors=[server.mirror("ok")], **spec, timeout=2)
    _assert_same(arrays, loaded)
    cache = tmp_path / "home" / "mnist"
    assert source.kind == "download" and source.location == cache
    assert _files(cache) == sorted(blobs)  # the four files and nothing else (no temp files)
    for name, data in blobs.items():
        assert (cache / name).read_bytes() == data
    assert sum(server.requests.values()) == 4

    again, source = mnist._load_full(mirrors=[server.mirror("ok")], **spec, timeout=2)
    _assert_same(arrays, again)
    assert source.kind == "cache"
    assert sum(server.requests.values()) == 4  # the second load never touched the network


def test_public_load_data_uses_module_constants(server, synthetic, monkeypatch):
    arrays, _, spec = synthetic
    monkeypatch.setattr(mnist, "MIRRORS", (server.mirror("ok"),))
    monkeypatch.setattr(mnist, "SHA256", spec["hashes"])
    monkeypatch.setattr(mnist, "SIZES", spec["sizes"])
    _assert_same(arrays, mnist.load_data(timeout=2))


def test_wrong_hash_is_rejected_and_nothing_cached(server, synthetic, tmp_path):
    _, _, spec = synthetic
    with pytest.raises(DownloadError, match=r"SHA-256 mismatch \(expected [0-9a-f]{64}, got"):
        mnist._load_full(mirrors=[server.mirror("wrong")], **spec, timeout=2)
    assert _files(tmp_path / "home" / "mnist") == []


def test_truncated_transfer_is_rejected_and_nothing_cached(server, synthetic, tmp_path):
    _, _, spec = synthetic
    with pytest.raises(DownloadError, match=r"transfer cut short"):
        mnist._load_full(mirrors=[server.mirror("short")], **spec, timeout=2)
    assert _files(tmp_path / "home" / "mnist") == []


@pytest.mark.parametrize("dead", ["closed", "404", "503", "wrong", "short"])
def test_failing_first_mirror_falls_through_to_the_next(server, synthetic, closed_port_url, dead):
    arrays, _, spec = synthetic
    first = closed_port_url if dead == "closed" else server.mirror(dead)
    loaded, source = mnist._load_full(
        mirrors=[first, server.mirror("ok")], **spec, timeout=2
    )
    _assert_same(arrays, loaded)
    assert source.kind == "download"
    assert sum(n for p, n in server.requests.items() if p.startswith("/ok/")) == 4


def test_all_mirrors_dead_gives_one_clear_error(server, synthetic, closed_port_url, tmp_path):
    _, _, spec = synthetic
    mirrors = [closed_port_url, server.mirror("404"), server.mirror("503")]
    with pytest.raises(DownloadError) as info:
        mnist._load_full(mirrors=mirrors, **spec, timeout=2)
    err = info.value
    text = str(err)
    assert isinstance(err, OSError)
    assert "could not download mnist file train-images-idx3-ubyte.gz from any mirror" in text
    assert f"{closed_port_url}train-images-idx3-ubyte.gz: cannot connect" in text
    assert f"{server.mirror('404')}train-images-idx3-ubyte.gz: HTTP 404" in text
    assert f"{server.mirror('503')}train-images-idx3-ubyte.gz: HTTP 503" in text
    for alternative in ("subset=True", "--dataset mnist-5k", "path=", "$SCRATCHAE_DATA"):
        assert alternative in text
    assert len(err.failures) == 3
    assert "3 mirrors failed" in err.summary
    assert _files(tmp_path / "home" / "mnist") == []


def test_slow_mirror_times_out_quickly(server, synthetic, tmp_path):
    """A mirror that accepts the connection and never answers: the read's timeout ends it
    (the only way out, whatever the machine's speed)."""
    _, _, spec = synthetic
    with pytest.raises(DownloadError, match=r"stall/train-images-idx3-ubyte.gz: timed out"):
        mnist._load_full(mirrors=[server.mirror("stall")], **spec, timeout=0.2)
    assert _files(tmp_path / "home" / "mnist") == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_corrupted_cached_file_is_detected_and_fetched_again(
    server, synthetic, tmp_path, capsys, damage
):
    arrays, blobs, spec = synthetic
    mirrors = [server.mirror("ok")]
    mnist._load_full(mirrors=mirrors, **spec, timeout=2)
    victim = tmp_path / "home" / "mnist" / "t10k-images-idx3-ubyte.gz"
    data = victim.read_bytes()
    victim.write_bytes(
        {"flip": data[:-5] + bytes([data[-5] ^ 0x10]) + data[-4:],
         "truncate": data[: len(data) // 2],
         "empty": b""}[damage]
    )
    loaded, source = mnist._load_full(mirrors=mirrors, **spec, timeout=2)
    _assert_same(arrays, loaded)
    assert source.kind == "download"
    assert victim.read_bytes() == blobs[victim.name]
    assert server.requests["/ok/t10k-images-idx3-ubyte.gz"] == 2  # only the damaged one again
    assert server.requests["/ok/train-images-idx3-ubyte.gz"] == 1
    err = capsys.readouterr().err
    assert "does not match the expected SHA-256" in err and "moved it aside" in err
    damaged = [p for p in victim.parent.iterdir() if p.name.startswith(victim.name + ".mismatch-")]
    assert len(damaged) == 1 and damaged[0].name in err                  # kept, and named


def test_a_cached_file_that_fails_its_hash_is_moved_aside_never_deleted(
    server, synthetic, tmp_path, closed_port_url, capsys
):
    """A user who copies their own file into the cache (as the offline hint suggests) keeps
    it, under a name that says why, even when nothing can be downloaded."""
    _, _, spec = synthetic
    mnist._load_full(mirrors=[server.mirror("ok")], **spec, timeout=2)
    victim = tmp_path / "home" / "mnist" / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(b"my own copy")
    digest = hashlib.sha256(b"my own copy").hexdigest()
    with pytest.raises(DownloadError, match="train-labels-idx1-ubyte.gz from any mirror"):
        mnist._load_full(mirrors=[closed_port_url], **spec, timeout=2)
    aside = victim.with_name(f"{victim.name}.mismatch-{digest[:12]}")
    assert not victim.exists() and aside.read_bytes() == b"my own copy"
    assert f"moved it aside to {aside.name} (nothing deleted)" in capsys.readouterr().err
    assert not any(name.startswith(".") for name in _files(victim.parent))
    # the same file again: moved over its earlier copy (same hash, same bytes), nothing lost
    victim.write_bytes(b"my own copy")
    with pytest.raises(DownloadError):
        mnist._load_full(mirrors=[closed_port_url], **spec, timeout=2)
    assert aside.read_bytes() == b"my own copy" and not victim.exists()


def test_a_cache_folder_that_cannot_be_created_is_a_local_error_not_a_mirror_failure(
    server, synthetic, tmp_path
):
    _, _, spec = synthetic
    home = tmp_path / "home"
    home.mkdir()
    (home / "mnist").write_text("a file where the cache folder should be")
    with pytest.raises(CacheError) as info:
        mnist._load_full(mirrors=[server.mirror("ok"), server.mirror("ok")], **spec, timeout=2)
    text = str(info.value)
    assert "cannot create the data cache folder" in text and str(home / "mnist") in text
    assert "SCRATCHAE_HOME" in text and "from any mirror" not in text
    assert not isinstance(info.value, DownloadError)
    assert sum(server.requests.values()) == 0                  # checked before any mirror


def test_a_cache_file_that_cannot_be_written_is_a_local_error(server, synthetic, tmp_path):
    _, _, spec = synthetic
    cache = tmp_path / "home" / "mnist"
    (cache / "train-images-idx3-ubyte.gz").mkdir(parents=True)       # a folder in the file's place
    with pytest.raises(CacheError, match=r"cannot write .*train-images-idx3-ubyte.gz into the data cache"):
        mnist._load_full(mirrors=[server.mirror("ok")], **spec, timeout=2)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_unwritable_cache_folder_is_a_local_error(server, synthetic, monkeypatch):
    """A cache folder of mode 555. Root ignores permissions, so as root (CI) the download runs
    in a forked child that has dropped to `nobody` first; the folder is made outside root's
    private pytest folder so that `nobody` can reach it."""
    _, _, spec = synthetic
    home = Path(tempfile.mkdtemp(prefix="scratchae-readonly-"))
    cache = home / "mnist"
    try:
        home.chmod(0o755)
        cache.mkdir()
        cache.chmod(0o555)
        monkeypatch.setenv("SCRATCHAE_HOME", str(home))
        kind, text = run_in_child(
            lambda: mnist._load_full(mirrors=[server.mirror("ok")], **spec, timeout=30),
            uid=NOBODY if os.geteuid() == 0 else None)
        assert kind == "CacheError", (kind, text)
        assert text.startswith(f"cannot write {cache / FILENAMES['x_train']} into the data cache: "
                               "Permission denied; set $SCRATCHAE_HOME")
        assert os.listdir(cache) == []
    finally:
        cache.chmod(0o755)
        shutil.rmtree(home)


def test_auto_says_when_the_cache_is_the_problem(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "mnist").write_text("not a folder")
    monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", "http://127.0.0.1:9/")
    data = load("auto")
    assert data.name == "mnist-5k"
    assert "full MNIST could not be cached: cannot create the data cache folder" in data.description


def test_failed_download_after_partial_success_leaves_no_temp_files(server, synthetic, tmp_path):
    """First file good, later ones cut short: the good one stays, no partial file remains."""
    _, blobs, spec = synthetic
    bad = dict(spec["hashes"])
    bad["t10k-images-idx3-ubyte.gz"] = "0" * 64  # no mirror can satisfy this one
    with pytest.raises(DownloadError, match="t10k-images"):
        mnist._load_full(mirrors=[server.mirror("ok")], hashes=bad, sizes=spec["sizes"], timeout=2)
    assert _files(tmp_path / "home" / "mnist") == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
    ]


def test_fashion_mnist_downloads_into_its_own_cache(server, synthetic, tmp_path):
    arrays, blobs, spec = synthetic
    loaded, source = fashion_mnist._load_full(
        mirrors=[server.mirror("ok")], **spec, timeout=2, system_folders=()
    )
    _assert_same(arrays, loaded)
    assert source.location == tmp_path / "home" / "fashion-mnist"
    assert _files(source.location) == sorted(blobs)


def test_auto_uses_full_mnist_when_downloadable(server, synthetic, monkeypatch):
    arrays, _, spec = synthetic
    monkeypatch.setattr(mnist, "SHA256", spec["hashes"])
    monkeypatch.setattr(mnist, "SIZES", spec["sizes"])
    monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", server.mirror("ok"))
    data = load("auto")
    assert data.name == "mnist"
    assert data.description.startswith("full MNIST downloaded to cache ")
    assert "(12 train / 5 test)" in data.description
    np.testing.assert_array_equal(data.x_train, arrays["x_train"].reshape(12, 784) / np.float32(255))
    assert load("auto").description.startswith("full MNIST from cache ")


def test_auto_falls_back_to_subset_quickly_when_offline(closed_port_url, monkeypatch):
    monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", f"{closed_port_url} {closed_port_url}again/")
    data = load("auto")
    assert data.name == "mnist-5k"
    assert data.x_train.shape == (4000, 784) and data.x_test.shape == (1000, 784)
    assert data.description.startswith("bundled MNIST subset (4,000 train / 1,000 test): ")
    assert "could not be downloaded: 2 mirrors failed: cannot connect" in data.description


def test_explicit_mnist_does_not_fall_back(closed_port_url, monkeypatch):
    monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", closed_port_url)
    with pytest.raises(DownloadError, match="Offline alternatives"):
        load("mnist", timeout=1)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "3"])
def test_timeout_must_be_positive(bad):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        mnist._load_full(mirrors=["http://127.0.0.1:9/"], timeout=bad)


def test_cache_root_follows_platform_conventions(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHAE_HOME", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv("SCRATCHAE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "scratchae"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == tmp_path / ".cache" / "scratchae"
    monkeypatch.setattr("sys.platform", "darwin")
    assert cache_root() == tmp_path / "Library" / "Caches" / "scratchae"
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert cache_root() == tmp_path / "local" / "scratchae" / "Cache"


def test_system_folder_rescues_a_corrupt_cache_when_offline(
    server, synthetic, tmp_path, closed_port_url
):
    arrays, _, spec = synthetic
    fashion_mnist._load_full(mirrors=[server.mirror("ok")], **spec, timeout=2,
                             system_folders=())
    cache = tmp_path / "home" / "fashion-mnist"
    (cache / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    system = tmp_path / "system"
    system.mkdir()
    for name in spec["hashes"]:  # a structure-checked copy, as a distribution package would install
        (system / name).write_bytes(server.blobs[name])
    loaded, source = fashion_mnist._load_full(
        mirrors=[closed_port_url], **spec, timeout=2, system_folders=[system]
    )
    _assert_same(arrays, loaded)
    assert source.kind == "folder" and source.location == system


# -- deadlines, sizes and the user's own mirrors -----------------------------------------------
def test_a_dripping_mirror_is_given_up_at_its_deadline_and_the_next_one_serves(server, synthetic, tmp_path):
    """One byte every 2 s never trips the 20 s read timeout: the mirror's deadline for the
    file (timeout + size / MIN_RATE) does. Before, such a mirror held the download forever."""
    arrays, blobs, spec = synthetic
    clock = DripClock(server)
    name = FILENAMES["x_train"]
    size = spec["sizes"][name]
    limit = 20 + size / MIN_RATE
    with pytest.raises(DownloadError) as e:
        fetch(name, tmp_path / "cache", spec["hashes"][name], [server.mirror("drip")], size=size,
              timeout=20, clock=clock)
    # looks at 2, 4, ... 20 s find time left; the one at 22 s stops it, after 10 bytes
    assert e.value.failures == [(server.mirror("drip") + name,
                                 f"too slow: 10 of {size} bytes in 22 s; a mirror has {limit:.0f} s for "
                                 f"this file (20 s, then {MIN_RATE // 1000} kB/s)")]
    assert _files(tmp_path / "cache") == []

    loaded, source = mnist._load_full(mirrors=[server.mirror("drip"), server.mirror("ok")], **spec,
                                      timeout=20, clock=clock)
    _assert_same(arrays, loaded)
    assert source.kind == "download"
    assert all(server.requests[f"/drip/{n}"] == (2 if n == name else 1) for n in blobs)


def test_auto_falls_back_within_its_deadline_when_the_mirrors_drip(server, synthetic, monkeypatch):
    """`--dataset auto` gives the whole download AUTO_DEADLINE seconds: with mirrors that drip,
    the bundled subset after 30 s of the clock, the mirrors left untried."""
    _, _, spec = synthetic
    monkeypatch.setattr(mnist, "SHA256", spec["hashes"])
    monkeypatch.setattr(mnist, "SIZES", spec["sizes"])
    monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", f"{server.mirror('drip')}, {server.mirror('drip2')}")
    clock = DripClock(server)
    data = load("auto", timeout=60, clock=clock)    # a mirror's own limit would be 60 s: not it
    assert data.name == "mnist-5k"
    looks = int(AUTO_DEADLINE / DRIP_STEP)          # the look at 30 s stops it, after 14 bytes
    assert data.description.endswith(
        f"could not be downloaded: 2 mirrors failed: too slow: {looks - 1} of "
        f"{spec['sizes'][FILENAMES['x_train']]} bytes in {AUTO_DEADLINE:g} s; the whole load has "
        f"{AUTO_DEADLINE:g} s; not tried: the whole load has {AUTO_DEADLINE:g} s, and it has passed"), \
        data.description
    assert server.requests[f"/drip2/{FILENAMES['x_train']}"] == 0


def test_a_mirror_that_streams_without_end_is_stopped_at_the_files_size(server, synthetic, tmp_path):
    """The file and then more, with no Content-Length: before, the download went on until
    the disk was full, then blamed the cache. Now it stops one byte past the known size."""
    arrays, _, spec = synthetic
    name = FILENAMES["x_train"]
    with pytest.raises(DownloadError) as e:
        mnist._load_full(mirrors=[server.mirror("endless")], **spec, timeout=20)
    assert not isinstance(e.value, CacheError)
    assert e.value.failures == [(server.mirror("endless") + name,
                                 f"sent more than the {spec['sizes'][name]} bytes of {name} (stopped "
                                 "there): the mirror serves another file")]
    assert _files(tmp_path / "home" / "mnist") == []
    loaded, _ = mnist._load_full(mirrors=[server.mirror("endless"), server.mirror("ok")], **spec, timeout=20)
    _assert_same(arrays, loaded)


def test_a_mirror_announcing_another_size_is_given_up_before_its_body(server, synthetic, tmp_path):
    _, _, spec = synthetic
    name = FILENAMES["x_train"]
    with pytest.raises(DownloadError) as e:
        mnist._load_full(mirrors=[server.mirror("biglen")], **spec, timeout=20)
    assert e.value.failures[0][1] == (f"announces '1000000000000' bytes, but {name} has "
                                      f"{spec['sizes'][name]}: the mirror serves another file")
    assert _files(tmp_path / "home" / "mnist") == []


def test_a_user_sets_the_mirrors_with_an_environment_variable_or_an_argument(server, synthetic, monkeypatch):
    arrays, _, spec = synthetic
    monkeypatch.setattr(mnist, "SHA256", spec["hashes"])
    monkeypatch.setattr(mnist, "SIZES", spec["sizes"])
    monkeypatch.setattr(mnist, "MIRRORS", ("http://127.0.0.1:9/never/",))      # must not be used
    monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", f" {server.mirror('404')},{server.mirror('ok')}\n")
    _assert_same(arrays, mnist.load_data(timeout=20))
    assert server.requests[f"/404/{FILENAMES['x_train']}"] == 1
    home = Path(os.environ["SCRATCHAE_HOME"])
    shutil.rmtree(home)
    _assert_same(arrays, mnist.load_data(timeout=20, mirrors=[server.mirror("wrong"), server.mirror("ok")]))
    assert server.requests[f"/wrong/{FILENAMES['x_train']}"] == 1       # the argument wins
    shutil.rmtree(home)
    monkeypatch.setattr(fashion_mnist, "SHA256", spec["hashes"])
    monkeypatch.setattr(fashion_mnist, "SIZES", spec["sizes"])
    monkeypatch.setenv("SCRATCHAE_FASHION_MNIST_MIRRORS", server.mirror("ok"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_FOLDERS", ())
    _assert_same(arrays, fashion_mnist.load_data(timeout=20))
    monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", "  ")                   # blank: the defaults
    assert mnist._load_full.__globals__["mirrors_from"](mnist.MIRRORS_VARIABLE, mnist.MIRRORS) == mnist.MIRRORS


BAD_MIRRORS = [
    # (how given, value, error, words)
    ("env", "ftp://example.org/mnist/", ValueError,
     "$SCRATCHAE_MNIST_MIRRORS: 'ftp://example.org/mnist/' is not a base URL: expected one starting with http://"),
    ("env", "example.org/mnist", ValueError, "'example.org/mnist' is not a base URL"),
    ("arg", "http://example.org/mnist/", TypeError,
     "mirrors must be a list of base URLs, got str 'http://example.org/mnist/' (for one mirror: ["),
    ("arg", [], ValueError, "mirrors is empty: expected at least one base URL"),
    ("arg", [5], TypeError, "each mirror must be a base URL string, got int 5"),
    ("arg", ["http://"], ValueError, "'http://' is not a base URL"),
]


@pytest.mark.parametrize("how, value, error, words", BAD_MIRRORS, ids=[f"{b[0]}-{b[1]!r}" for b in BAD_MIRRORS])
def test_bad_mirrors_are_refused_naming_where_they_came_from(monkeypatch, how, value, error, words):
    if how == "env":
        monkeypatch.setenv("SCRATCHAE_MNIST_MIRRORS", value)
    with pytest.raises(error) as e:
        mnist.load_data(**({"mirrors": value} if how == "arg" else {}))
    assert words in str(e.value), str(e.value)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "30"])
def test_deadline_must_be_positive(bad):
    with pytest.raises(ValueError, match="deadline must be a positive number of seconds"):
        mnist.load_data(mirrors=["http://127.0.0.1:9/"], deadline=bad)


def test_a_deadline_that_never_passes_and_one_that_has():
    ticks = iter([0.0, 5.0, 12.0])
    d = Deadline(10.0, "ten seconds", lambda: next(ticks))
    assert d.left() == 5.0 and d.left() == -2.0 and d.elapsed(-2.0) == 12.0
    assert Deadline(None).left() == float("inf")
