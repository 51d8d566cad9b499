"""Atomic file writes and bounded reads: a file is either the old one or the complete new one,
never half, and only regular files are written or read.

Every file scratchae writes (model files, IDX files, downloads, figures, histories) goes
through `atomic_write`: the bytes go to a temporary file in the destination's folder, which is
flushed to disk and then renamed over the destination with `os.replace` (atomic on POSIX and
Windows). If writing fails or is interrupted, the temporary file is removed and whatever was at
the destination before is untouched. A process killed mid-write cannot remove its temporary
file: the next write to the same destination does (see `remove_leftovers`).

What a write replaces: a regular file, or, through a symlink, the symlink's final target (the
link stays a link). A folder, a device (/dev/null, /dev/full), a FIFO or a socket at the path is
refused with `SpecialFileError` (or IsADirectoryError) naming what is there: a rename would put
a regular file in its place. The temporary name keeps within the folder's name limit
(`PC_NAME_MAX`), so any name the filesystem takes can be written.

Reads of a file a user names go through `open_regular`: only a regular file is opened (a FIFO
with no writer would block, /dev/zero never ends), without blocking, and never read past the
size it had when opened.

Errors name the destination, never the temporary file: `[Errno 13] Permission denied:
'runs/model.npz'`.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import tempfile
import time
from typing import IO, Any, Callable

#: A temporary file whose writer cannot be identified is a leftover after this many seconds.
STALE_SECONDS = 24 * 3600

#: The name limit assumed where the filesystem cannot be asked (os.pathconf).
DEFAULT_NAME_MAX = 255

#: Bytes a temporary name adds to its stem: '.', '.', a pid of up to 10 digits, '.', mkstemp's
#: 8 random characters and '.tmp'.
_TEMP_OVERHEAD = 1 + 1 + 10 + 1 + 8 + 4


class SpecialFileError(OSError):
    """A path names a device, a FIFO or a socket where a regular file is expected."""

    def __init__(self, path: str, kind: str, expected: str) -> None:
        super().__init__(errno.EINVAL, f"is {kind}, not a regular file; {expected}", path)

    def __str__(self) -> str:
        return f"{self.filename!r} {self.strerror}"


def file_kind(mode: int) -> str:
    """What an `os.stat` mode names, in words: 'a regular file', 'a character device', ..."""
    for test, kind in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], object], *,
                 text: bool = False) -> None:
    """Create or replace `path` with what `write(file)` writes; all or nothing.

    `write` may raise (a failed hash check, say) to abandon the file. The new file gets the
    permissions a plain `open(path, "w")` would give it (mkstemp's own are owner-only).
    `path` must name a file: '' or 'runs/' is a ValueError, an existing folder an
    IsADirectoryError, a device, FIFO or socket a SpecialFileError. A symlink is followed:
    its final target is replaced and the link kept.
    """
    path = target_path(path)
    real = _destination(path)
    folder = os.path.dirname(real) or os.curdir
    base = os.path.basename(real)
    remove_leftovers(folder, base)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{temp_stem(folder, base)}.{os.getpid()}.",
                                   suffix=".tmp", dir=folder)
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
        _check_replaceable(real, path)        # again: something may have appeared meanwhile
        os.replace(tmp, real)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename in (None, tmp):
            raise _naming(exc, path, folder) from None
        raise


def target_path(path: Any) -> str:
    """`path` as a string naming a file to write: a TypeError or ValueError otherwise, an
    IsADirectoryError for a folder, a SpecialFileError for a device, FIFO or socket."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file name (str or os.PathLike), got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ValueError("path is empty: expected a file name such as 'model.npz'")
    if path.endswith((os.sep, os.altsep or os.sep)) or os.path.basename(path) in (os.curdir, os.pardir):
        raise ValueError(f"path {path!r} names a folder: expected a file name in it, "
                         f"such as {os.path.join(path, 'model.npz')!r}")
    _check_replaceable(path, path)
    return path


def _check_replaceable(path: str, named: str) -> None:
    """Nothing, or a regular file, is at `path` (symlinks followed); else an error naming
    `named`, the path the caller was given."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return                       # nothing there (or a dangling link): a file is created
    except OSError as exc:           # a symlink loop, a folder it cannot search, ...
        raise OSError(exc.errno, exc.strerror, named) from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file name", named)
    if not stat.S_ISREG(st.st_mode):
        raise SpecialFileError(named, file_kind(st.st_mode),
                               "refusing to replace it (expected a file name such as 'model.npz')")


def _destination(path: str) -> str:
    """Where the bytes for `path` go: `path` itself, or, when it is a symlink, its final
    target (so `link.npz -> real.npz` updates real.npz and keeps the link)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def name_max(folder: str) -> int:
    """The longest file name (in bytes) `folder`'s filesystem takes."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):    # no pathconf (Windows), or no answer
        return DEFAULT_NAME_MAX
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_NAME_MAX


def temp_stem(folder: str, base: str) -> str:
    """The part of `base` a temporary name in `folder` carries: `base` itself when the whole
    temporary name fits the folder's name limit, else its start and 8 hex digits of its
    SHA-256 (`<start>~<hash>`), one stem per name, so leftovers are still found."""
    room = name_max(folder) - _TEMP_OVERHEAD
    if len(os.fsencode(base)) <= room:
        return base
    digest = hashlib.sha256(os.fsencode(base)).hexdigest()[:8]
    keep = max(room - len(digest) - 1, 0)
    start = base
    while len(os.fsencode(start)) > keep:   # cut whole characters, never inside one
        start = start[:-1]
    return f"{start}~{digest}"


def remove_leftovers(folder: str, base: str) -> list[str]:
    """Remove the temporary files that killed writes of `base` left in `folder`.

    Only names `atomic_write` itself gives, `.<stem>.<pid>.<8 random characters>.tmp` (the
    stem is `base`, shortened for a long name, see `temp_stem`), are considered, and only
    when the process `<pid>` no longer exists (POSIX), or, when that cannot be told
    (Windows, or a name without a pid from an older scratchae), when the file is older than
    `STALE_SECONDS`. Best effort: a file that cannot be removed is left alone. Returns the
    names removed.
    """
    stem = temp_stem(folder, base)
    pattern = re.compile(rf"\.{re.escape(stem)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp")
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


# -- reading ----------------------------------------------------------------------------------
def open_regular(path: str | os.PathLike, expected: str) -> io.BufferedReader:
    """Open the regular file at `path` for reading, never past the size it has now.

    `expected` says what the caller wants, for the errors ('a model file (.npz)'): a missing
    path is a FileNotFoundError, a folder an IsADirectoryError, and a device, FIFO or socket a
    SpecialFileError, each naming `path`. The file is checked with os.stat before it is
    opened, opened with O_NONBLOCK (a FIFO put there meanwhile cannot block the open) and
    checked again on the open descriptor. The reader is seekable and has `.size`.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file name (str or os.PathLike), got {type(path).__name__}")
    name = os.fsdecode(os.fspath(path))
    try:
        found: os.stat_result | None = os.stat(name)
    except FileNotFoundError:
        found = None
    _check_readable(found, name, expected)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    raw = io.FileIO(os.open(name, flags), "rb", closefd=True)
    try:
        st = os.fstat(raw.fileno())
        _check_readable(st, name, expected)
        reader = io.BufferedReader(_Bounded(raw, st.st_size, name))
    except BaseException:
        raw.close()
        raise
    reader.size = st.st_size
    return reader


def _check_readable(st: os.stat_result | None, name: str, expected: str) -> None:
    if st is None:
        raise FileNotFoundError(errno.ENOENT, f"no such file, expected {expected}", name)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"is a folder, expected {expected}", name)
    if not stat.S_ISREG(st.st_mode):
        raise SpecialFileError(name, file_kind(st.st_mode), f"expected {expected}")


class _Bounded(io.RawIOBase):
    """A file read as if it ended at `size` bytes (its size when opened), however it grows."""

    def __init__(self, raw: io.FileIO, size: int, name: str) -> None:
        super().__init__()
        self._raw, self.size, self.name = raw, size, name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        room = self.size - self._raw.tell()
        if room <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        return self._raw.readinto(view[:room]) or 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            offset, whence = self.size + offset, io.SEEK_SET
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
