"""Atomic file writes: a file is either the old one or the complete new one, never half.

Every file scratchae writes (model files, IDX files, downloads, figures, histories) goes
through `atomic_write`: the bytes go to a temporary file in the destination's folder, which is
flushed to disk and then renamed over the destination with `os.replace` (atomic on POSIX and
Windows). If writing fails or is interrupted, the temporary file is removed and whatever was at
the destination before is untouched. A process killed mid-write cannot remove its temporary
file: the next write to the same destination does (see `remove_leftovers`).

Errors name the destination, never the temporary file: `[Errno 13] Permission denied:
'runs/model.npz'`.
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from typing import IO, Any, Callable

#: A temporary file whose writer cannot be identified is a leftover after this many seconds.
STALE_SECONDS = 24 * 3600


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], object], *,
                 text: bool = False) -> None:
    """Create or replace `path` with what `write(file)` writes; all or nothing.

    `write` may raise (a failed hash check, say) to abandon the file. The new file gets the
    permissions a plain `open(path, "w")` would give it (mkstemp's own are owner-only).
    `path` must name a file: '' or 'runs/' is a ValueError, an existing folder an IsADirectoryError.
    """
    path = target_path(path)
    folder = os.path.dirname(path) or os.curdir
    base = os.path.basename(path)
    remove_leftovers(folder, base)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _naming(exc, path, folder) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename in (None, tmp):
            raise _naming(exc, path, folder) from None
        raise


def target_path(path: Any) -> str:
    """`path` as a string naming a file to write: a TypeError or ValueError otherwise."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file name (str or os.PathLike), got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ValueError("path is empty: expected a file name such as 'model.npz'")
    if path.endswith((os.sep, os.altsep or os.sep)) or os.path.basename(path) in (os.curdir, os.pardir):
        raise ValueError(f"path {path!r} names a folder: expected a file name in it, "
                         f"such as {os.path.join(path, 'model.npz')!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file name", path)
    return path


def remove_leftovers(folder: str, base: str) -> list[str]:
    """Remove the temporary files that killed writes of `base` left in `folder`.

    Only names `atomic_write` itself gives, `.<base>.<pid>.<8 random characters>.tmp`, are
    considered, and only when the process `<pid>` no longer exists (POSIX), or, when that
    cannot be told (Windows, or a name without a pid from an older scratchae), when the file
    is older than `STALE_SECONDS`. Best effort: a file that cannot be removed is left alone.
    Returns the names removed.
    """
    pattern = re.compile(rf"\.{re.escape(base)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp")
    try:
        found = [(n, pattern.fullmatch(n)) for n in os.listdir(folder)]
    except OSError:
        return []
    removed = []
    for name, match in found:
        if match is None:
            continue
        full = os.path.join(folder, name)
        if _writer_alive(match.group(1)) is not False and not _old(full):
            continue
        try:
            os.unlink(full)
            removed.append(name)
        except OSError:
            pass
    return removed


def _writer_alive(pid_text: str | None) -> bool | None:
    """Whether the process that named a temporary file still runs; None when it cannot be
    told (no pid in the name, or not POSIX, where os.kill(pid, 0) is no probe)."""
    if pid_text is None or os.name != "posix":
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return True                  # ours: another thread may be writing it right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                  # exists, belongs to someone else
        return True
    return True


def _old(path: str) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > STALE_SECONDS
    except OSError:
        return False


def _naming(exc: OSError, path: str, folder: str) -> OSError:
    """The same kind of OSError (same errno), naming the destination instead of the
    temporary file."""
    if exc.errno is None:
        return OSError(f"cannot write {path!r}: {exc}")
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT and not os.path.isdir(folder):
        why += f" (folder {folder!r} does not exist)"
    return OSError(exc.errno, why, path)
