"""The download cache: where files live, how they are fetched and verified.

Each dataset keeps its files in ``<cache root>/<dataset name>/``.  The cache root is
``$SCRATCHAE_HOME`` when set, else the platform's per-user cache folder.

A file is fetched by trying each mirror in turn.  Its bytes stream into a temporary file in the
cache folder while being hashed; only when the transfer is complete (the byte count matches any
``Content-Length``) and the SHA-256 matches the expected value does ``os.replace`` give it its
real name.  Anything else deletes the temporary file, so a failed or corrupted transfer never
leaves a file behind.  When every mirror fails, ``DownloadError`` lists each failure.

A problem on this machine (a cache folder that cannot be created, read or written) is no
mirror's failure: it raises ``CacheError`` at once, naming the folder.  A cached file that
fails its hash may be a user's own copy: it is moved aside (``<name>.mismatch-<hash>``), never
deleted, and the move is reported.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._files import atomic_write

__all__ = ["DEFAULT_TIMEOUT", "DownloadError", "CacheError", "cache_root", "sha256_file", "fetch",
           "ensure_files"]

DEFAULT_TIMEOUT = 5.0  # seconds, for connecting and for each read
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
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
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


def _fetch_one(url: str, dest: Path, sha256: str, timeout: float) -> None:
    """Download ``url`` to ``dest`` if its SHA-256 matches. A mirror's problem raises
    ``_MirrorFailed``; a local one (the cache folder) raises ``CacheError``."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _MirrorFailed(_describe(exc)) from None
    with response:
        print(f"scratchae: downloading {url}", file=sys.stderr, flush=True)
        length = response.headers.get("Content-Length")
        expected_len = int(length) if length and length.isdigit() else None

        def stream(out) -> None:
            # hash while writing; raising here makes atomic_write drop the temporary file
            digest = hashlib.sha256()
            received = 0
            while chunk := _read(response):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
            if expected_len is not None and received != expected_len:
                raise _MirrorFailed(
                    f"transfer cut short ({received} of {expected_len} bytes received)"
                )
            got = digest.hexdigest()
            if got != sha256:
                raise _MirrorFailed(
                    f"SHA-256 mismatch (expected {sha256}, got {got}; {received} bytes)"
                )

        try:
            atomic_write(dest, stream)
        except OSError as exc:          # the network's errors arrive as _MirrorFailed
            raise CacheError(f"cannot write {dest} into the data cache: {exc.strerror or exc}; "
                             f"{_CACHE_HINT}") from None


def _read(response) -> bytes:
    try:
        return response.read(_CHUNK)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _MirrorFailed(_describe(exc)) from None


def fetch(
    filename: str,
    dest_dir: Path,
    sha256: str,
    mirrors: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "dataset",
    offline_hint: str = "",
) -> Path:
    """Fetch ``filename`` from the first mirror that serves it with the right SHA-256.

    Each mirror is a base URL; the file's URL is ``mirror + filename`` (a missing trailing
    slash is added).  Returns ``dest_dir / filename``.  Raises ``DownloadError`` naming every
    mirror's failure, followed by ``offline_hint``; ``CacheError`` at once when the cache
    folder cannot be created or written.
    """
    if not mirrors:
        raise DownloadError(f"no mirrors configured for {what} file {filename}")
    dest = Path(dest_dir) / filename
    try:                          # a local problem first: no mirror could help with it
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create the data cache folder {dest.parent}: "
                         f"{exc.strerror or exc}; {_CACHE_HINT}") from None
    failures: list[tuple[str, str]] = []
    for mirror in mirrors:
        url = (mirror if mirror.endswith("/") else mirror + "/") + filename
        try:
            _fetch_one(url, dest, sha256, timeout)
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
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "dataset",
    offline_hint: str = "",
) -> tuple[dict[str, Path], bool]:
    """Make sure each ``filename -> sha256`` in ``files`` is in ``dest_dir`` and verified.

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
            filename, dest_dir, sha256, mirrors,
            timeout=timeout, what=what, offline_hint=offline_hint,
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
