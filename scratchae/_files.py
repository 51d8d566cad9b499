"""Atomic file writes: a file is either the old one or the complete new one, never half.

Every file scratchae writes (model files, IDX files, downloads, figures, histories) goes
through `atomic_write`: the bytes go to a temporary file in the destination's folder, which is
flushed to disk and then renamed over the destination with `os.replace` (atomic on POSIX and
Windows). If writing fails or is interrupted, the temporary file is removed and whatever was at
the destination before is untouched.
"""
from __future__ import annotations

import os
import tempfile
from typing import IO, Any, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], object], *,
                 text: bool = False) -> None:
    """Create or replace `path` with what `write(file)` writes; all or nothing.

    `write` may raise (a failed hash check, say) to abandon the file. The new file gets the
    permissions a plain `open(path, "w")` would give it (mkstemp's own are owner-only).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
