"""The download cache: where files live, how they are fetched and verified.

Each dataset keeps its files in ``<cache root>/<dataset name>/``.  The cache root is
``$SCRATCHAE_HOME`` when set, else the platform's per-user cache folder.

A file is fetched by trying each mirror in turn.  Its size and SHA-256 are known in advance.
Its bytes stream into a temporary file in the cache folder while being hashed, and never more
than its size plus one byte are read: a mirror that announces another size, sends more, or
streams without end is given up at once, before it can fill the disk.  Only a transfer of
exactly the size and the right SHA-256 gets the file's real name (``os.replace``).  Anything
else deletes the temporary file, so a failed or corrupted transfer never leaves a file behind.
When every mirror fails, ``DownloadError`` lists each failure.

Time: each connect and each read stops after ``timeout`` seconds, and one mirror has
``timeout + size / MIN_RATE`` seconds for a file in all, so a mirror that drips a byte at a
time is given up too and the next one tried.  A caller may also give a ``Deadline`` for the
whole load (``datasets.load("auto")`` does); mirrors left when it passes are not tried.

A problem on this machine (a cache folder that cannot be created, read or written) is no
mirror's failure: it raises ``CacheError`` at once, naming the folder.  A cached file that
fails its hash may be a user's own copy: it is moved aside (``<name>.mismatch-<hash>``), never
deleted, and the move is reported.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .._files import atomic_write, open_regular, target_path

__all__ = ["DEFAULT_TIMEOUT", "MIN_RATE", "Deadline", "DownloadError", "CacheError", "cache_root",
           "sha256_file", "check_mirrors", "mirrors_from", "fetch", "ensure_files"]

DEFAULT_TIMEOUT = 5.0  # seconds, for connecting and for each read
#: Bytes per second a mirror must average: one mirror has `timeout` + size / MIN_RATE seconds
#: for a file (MNIST's largest, 9.9 MB, about 200 s), however it spreads its bytes.
MIN_RATE = 50_000
_CHUNK = 1 << 16
_USER_AGENT = "scratchae-datasets/0.1 (+python urllib)"


class DownloadError(OSError):
    """No mirror delivered a file whose SHA-256 matched.

    ``failures`` holds one ``(url, reason)`` pair per mirror tried; ``summary`` is a one-line
    version of the message for status lines.
    """

    def __init__(self, message: str, failures: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)

    @property
    def summary(self) -> str:
        if not self.failures:
            return str(self).splitlines()[0]
        reasons = list(dict.fromkeys(reason for _, reason in self.failures))
        n = len(self.failures)
        return f"{n} mirror{'s' if n != 1 else ''} failed: {'; '.join(reasons)}"


class CacheError(OSError):
    """The data cache on this machine cannot be created, read or written (not a network
    problem: no mirror is tried after it)."""


_CACHE_HINT = "set $SCRATCHAE_HOME to a folder you can write, or pass path= a folder of the files"


class _MirrorFailed(Exception):
    """One mirror did not deliver the file; `reason` says why, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def cache_root() -> Path:
    """The folder that holds downloaded datasets.

    ``$SCRATCHAE_HOME`` if set; otherwise ``%LOCALAPPDATA%\\scratchae\\Cache`` on Windows,
    ``~/Library/Caches/scratchae`` on macOS, and ``$XDG_CACHE_HOME/scratchae`` or
    ``~/.cache/scratchae`` elsewhere.  Nothing is created here; folders are made on first write.
    """
    home = os.environ.get("SCRATCHAE_HOME")
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "scratchae" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "scratchae"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "scratchae"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a regular file, read in chunks (never past its size when opened)."""
    digest = hashlib.sha256()
    with open_regular(path, "a data file") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return f"transfer cut short ({len(exc.partial)} bytes read, {exc.expected} more expected)"
    return f"{type(exc).__name__}: {exc}"


class Deadline:
    """A moment on `clock` by which something must be done; `reason` says whose it is.

    ``Deadline(None)`` never passes. `clock` is ``time.monotonic`` unless a test gives its
    own, so no test waits for a real deadline.
    """

    def __init__(self, seconds: float | None, reason: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock, self.seconds, self.reason = clock, seconds, reason
        self.start = clock()
        self.end = math.inf if seconds is None else self.start + seconds

    def left(self) -> float:
        return self.end - self.clock()

    def elapsed(self, left: float) -> float:
        """Seconds since the start when `left` (a reading of `left()`) were left."""
        return self.end - left - self.start

    def sooner(self, other: "Deadline") -> "Deadline":
        return other if other.end < self.end else self


def attempt_seconds(size: int, timeout: float) -> float:
    """How long one mirror may take to deliver a file of `size` bytes: `timeout` plus the
    file at ``MIN_RATE``."""
    return timeout + size / MIN_RATE


def check_mirrors(mirrors: object, source: str) -> tuple[str, ...]:
    """`mirrors` as a tuple of base URLs (http://, https:// or file://), or a TypeError or
    ValueError naming `source` (the argument or the environment variable they came from)."""
    if isinstance(mirrors, (str, bytes)) or not isinstance(mirrors, Sequence):
        raise TypeError(f"{source} must be a list of base URLs, got {type(mirrors).__name__} "
                        f"{mirrors!r}" + (f" (for one mirror: [{mirrors!r}])" if isinstance(mirrors, str) else ""))
    checked = []
    for mirror in mirrors:
        if not isinstance(mirror, str):
            raise TypeError(f"{source}: each mirror must be a base URL string, got "
                            f"{type(mirror).__name__} {mirror!r}")
        parts = urllib.parse.urlsplit(mirror)
        if parts.scheme not in ("http", "https", "file") or (parts.scheme != "file" and not parts.netloc):
            raise ValueError(f"{source}: {mirror!r} is not a base URL: expected one starting "
                             "with http://, https:// or file://, such as "
                             "'https://example.org/mnist/'")
        checked.append(mirror)
    if not checked:
        raise ValueError(f"{source} is empty: expected at least one base URL")
    return tuple(checked)


def mirrors_from(variable: str, default: Sequence[str]) -> tuple[str, ...]:
    """The mirrors the environment variable `variable` lists (base URLs separated by spaces
    or commas), checked; `default` when it is unset or blank."""
    value = os.environ.get(variable, "")
    if not value.strip():
        return tuple(default)
    return check_mirrors(re.split(r"[\s,]+", value.strip()), f"${variable}")


def _fetch_one(url: str, dest: Path, sha256: str, size: int, timeout: float,
               deadline: Deadline) -> None:
    """Download ``url`` to ``dest`` if it is ``size`` bytes with this SHA-256, before
    `deadline`. A mirror's problem raises ``_MirrorFailed``; a local one (the cache folder)
    raises ``CacheError``."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=max(min(timeout, deadline.left()), 0.001))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _MirrorFailed(_describe(exc)) from None
    with response:
        print(f"scratchae: downloading {url}", file=sys.stderr, flush=True)
        length = response.headers.get("Content-Length")
        if length is not None and length.strip() != str(size):
            raise _MirrorFailed(f"announces {length.strip()!r} bytes, but {dest.name} has {size}: "
                                "the mirror serves another file")
        read = getattr(response, "read1", response.read)    # what has come, never waiting for more

        def stream(out) -> None:
            # hash while writing, at most size + 1 bytes; raising here makes atomic_write
            # drop the temporary file
            digest = hashlib.sha256()
            received = 0
            while True:
                left = deadline.left()
                if left <= 0:
                    raise _MirrorFailed(f"too slow: {received} of {size} bytes in "
                                        f"{deadline.elapsed(left):.0f} s; {deadline.reason}")
                chunk = _read(read, min(_CHUNK, size + 1 - received))
                if not chunk:
                    break
                received += len(chunk)
                if received > size:
                    raise _MirrorFailed(f"sent more than the {size} bytes of {dest.name} (stopped "
                                        "there): the mirror serves another file")
                digest.update(chunk)
                out.write(chunk)
            if received != size:
                raise _MirrorFailed(f"transfer cut short ({received} of {size} bytes received)")
            got = digest.hexdigest()
            if got != sha256:
                raise _MirrorFailed(
                    f"SHA-256 mismatch (expected {sha256}, got {got}; {received} bytes): "
                    "the mirror serves another file"
                )

        try:
            atomic_write(dest, stream)
        except OSError as exc:          # the network's errors arrive as _MirrorFailed
            raise CacheError(f"cannot write {dest} into the data cache: {exc.strerror or exc}; "
                             f"{_CACHE_HINT}") from None


def _read(read: Callable[[int], bytes], n: int) -> bytes:
    try:
        return read(n)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _MirrorFailed(_describe(exc)) from None


def fetch(
    filename: str,
    dest_dir: Path,
    sha256: str,
    mirrors: Sequence[str],
    *,
    size: int,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: Deadline | None = None,
    clock: Callable[[], float] = time.monotonic,
    what: str = "dataset",
    offline_hint: str = "",
) -> Path:
    """Fetch ``filename`` (``size`` bytes) from the first mirror that serves it with the right
    SHA-256.

    Each mirror is a base URL; the file's URL is ``mirror + filename`` (a missing trailing
    slash is added). One mirror has ``attempt_seconds(size, timeout)`` for the file, and no
    more than `deadline` leaves (mirrors after it passed are not tried); each connect and each
    read also stops after ``timeout``. Returns ``dest_dir / filename``. Raises
    ``DownloadError`` naming every mirror's failure, followed by ``offline_hint``;
    ``CacheError`` at once when the cache folder cannot be created or written.
    """
    if not mirrors:
        raise DownloadError(f"no mirrors configured for {what} file {filename}")
    overall = deadline if deadline is not None else Deadline(None, clock=clock)
    dest = Path(dest_dir) / filename
    try:                          # a local problem first: no mirror could help with it
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create the data cache folder {dest.parent}: "
                         f"{exc.strerror or exc}; {_CACHE_HINT}") from None
    try:                          # a folder, FIFO or device in the file's place
        target_path(dest)
    except OSError as exc:
        raise CacheError(f"cannot write {dest} into the data cache: {exc.strerror or exc}; "
                         "move it away") from None
    failures: list[tuple[str, str]] = []
    for mirror in mirrors:
        url = (mirror if mirror.endswith("/") else mirror + "/") + filename
        if overall.left() <= 0:
            failures.append((url, f"not tried: {overall.reason}, and it has passed"))
            continue
        limit = attempt_seconds(size, timeout)
        attempt = Deadline(limit, f"a mirror has {limit:.0f} s for this file ({timeout:g} s, "
                                  f"then {MIN_RATE // 1000} kB/s)", clock).sooner(overall)
        try:
            _fetch_one(url, dest, sha256, size, timeout, attempt)
        except _MirrorFailed as exc:
            failures.append((url, exc.reason))
            continue
        return dest
    lines = [f"could not download {what} file {filename} from any mirror:"]
    lines += [f"  - {url}: {reason}" for url, reason in failures]
    if offline_hint:
        lines.append(offline_hint)
    raise DownloadError("\n".join(lines), failures)


def ensure_files(
    files: Mapping[str, str],
    dest_dir: Path,
    mirrors: Sequence[str],
    *,
    sizes: Mapping[str, int],
    timeout: float = DEFAULT_TIMEOUT,
    deadline: Deadline | None = None,
    clock: Callable[[], float] = time.monotonic,
    what: str = "dataset",
    offline_hint: str = "",
) -> tuple[dict[str, Path], bool]:
    """Make sure each ``filename -> sha256`` in ``files`` (of ``sizes[filename]`` bytes) is in
    ``dest_dir`` and verified, fetching what is missing before `deadline` (see `fetch`).

    A cached file is re-hashed on every call; one whose hash is wrong (corrupted, truncated,
    an older version, or a copy the user put there) is moved aside to
    ``<name>.mismatch-<first 12 hex digits of its hash>``, never deleted, and fetched again.
    Returns the paths and whether anything had to be downloaded.  Stops at the first file
    that cannot be fetched.
    """
    paths: dict[str, Path] = {}
    downloaded = False
    for filename, sha256 in files.items():
        path = Path(dest_dir) / filename
        if path.is_file():
            got = _hash_cached(path)
            if got == sha256:
                paths[filename] = path
                continue
            aside = _move_aside(path, got)
            print(
                f"scratchae: cached {path} does not match the expected SHA-256 (got {got}, "
                f"expected {sha256}); moved it aside to {aside.name} (nothing deleted) and "
                "downloading again",
                file=sys.stderr,
                flush=True,
            )
        paths[filename] = fetch(
            filename, dest_dir, sha256, mirrors, size=sizes[filename], timeout=timeout,
            deadline=deadline, clock=clock, what=what, offline_hint=offline_hint,
        )
        downloaded = True
    return paths, downloaded


def _hash_cached(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as exc:
        raise CacheError(f"cannot read cached file {path}: {exc.strerror or exc}; {_CACHE_HINT}") from None


def _move_aside(path: Path, digest: str) -> Path:
    """Rename a cached file that failed its hash to ``<name>.mismatch-<hash prefix>``. A file
    already there has the same hash prefix, so the same bytes: replacing it loses nothing."""
    aside = path.with_name(f"{path.name}.mismatch-{digest[:12]}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise CacheError(f"cached {path} does not match its SHA-256 and cannot be moved aside "
                         f"to {aside.name}: {exc.strerror or exc}; move or delete it yourself") from None
    return aside
