"""Download path of scratchae.datasets against a real HTTP server on 127.0.0.1.

The server (standard library, in a thread, port 0) serves small synthetic IDX files written by
the tests; their SHA-256 sums are computed here and passed as the expected hashes.  Each
"mirror" is a URL prefix on that server with its own behaviour (serve, 404, 503, wrong bytes,
cut-short body, too slow).  ``$SCRATCHAE_HOME`` points into ``tmp_path``: nothing touches the
real cache or the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from scratchae.datasets import CacheError, DownloadError, cache_root, load, mnist, fashion_mnist, write_idx
from scratchae.datasets._source import FILENAMES


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHAE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCRATCHAE_DATA", raising=False)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Four small MNIST-style files: arrays, gzip bytes by file name, and their SHA-256."""
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
        if mode == "wrong":
            body = body[:-1] + bytes([body[-1] ^ 1])  # same length, one bit differs
        if mode == "slow":
            time.sleep(1.5)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode == "short":  # promise the full length, send half, hang up
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # clients that give up on a cut transfer close the socket mid-write: expected here
        pass


@pytest.fixture
def server(synthetic):
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.blobs = synthetic[1]
    httpd.requests = Counter()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.mirror = lambda mode: f"{base}/{mode}/"
    yield httpd
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
    _, _, spec = synthetic
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"timed out"):
        mnist._load_full(mirrors=[server.mirror("slow")], **spec, timeout=0.3)
    assert time.perf_counter() - start < 1.4  # gave up before the server's 1.5 s delay
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


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs permissions that apply")
def test_an_unwritable_cache_folder_is_a_local_error(server, synthetic, tmp_path):
    _, _, spec = synthetic
    cache = tmp_path / "home" / "mnist"
    cache.mkdir(parents=True)
    cache.chmod(0o555)
    try:
        with pytest.raises(CacheError, match="Permission denied"):
            mnist._load_full(mirrors=[server.mirror("ok")], **spec, timeout=2)
    finally:
        cache.chmod(0o755)


def test_auto_says_when_the_cache_is_the_problem(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "mnist").write_text("not a folder")
    monkeypatch.setattr(mnist, "MIRRORS", ("http://127.0.0.1:9/",))
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
    monkeypatch.setattr(mnist, "MIRRORS", (closed_port_url, closed_port_url + "again/"))
    start = time.perf_counter()
    data = load("auto")
    elapsed = time.perf_counter() - start
    assert data.name == "mnist-5k"
    assert data.x_train.shape == (4000, 784) and data.x_test.shape == (1000, 784)
    assert data.description.startswith("bundled MNIST subset (4,000 train / 1,000 test): ")
    assert "could not be downloaded: 2 mirrors failed: cannot connect" in data.description
    assert elapsed < 5


def test_explicit_mnist_does_not_fall_back(closed_port_url, monkeypatch):
    monkeypatch.setattr(mnist, "MIRRORS", (closed_port_url,))
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
