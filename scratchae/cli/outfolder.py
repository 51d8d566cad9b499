"""The output folder of one `scratchae train` or `scratchae demo` run: its own while the run
lasts, and a record of which files in it the run wrote.

* **The lock.** While a run writes into `--out` it holds an operating-system lock on
  `--out/.scratchae-lock` (flock), and that file names the run: its process id, host, start
  time and command. A second run into the same folder is refused before it trains, in one
  line naming the first. The system drops the lock when its process ends, however it ends;
  a lock file left by a run that was killed outright (SIGKILL, a power cut) is therefore
  free, and the next run takes it over with a note naming the run that left it. The file is
  removed when the run ends. (Where Python has no `fcntl`, on Windows, runs are not locked.)
* **The record.** `--out/scratchae-run.json` says which run wrote the folder last, how it
  ended (finished, interrupted by a signal, or an error), and which files are its own: the
  files it created or rewrote, each with its size and SHA-256. Files that were there before
  and that the run did not write (an earlier run's monitor figures, another model's files)
  are listed apart as `earlier_files`, and never removed: they may be wanted, and the user
  decides.
* **No output over the data, or over another output.** Before anything is written, every
  output name is resolved (through symlinks): one that is a data file (the `--dataset`
  folder's, `$SCRATCHAE_DATA`'s, the download cache's or the bundled subset), or the same file
  as another output of the run, is refused.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import sys
from typing import Any, Iterable

from . import UsageError

LOCK_NAME = ".scratchae-lock"
RECORD_NAME = "scratchae-run.json"

try:
    import fcntl
except ImportError:                         # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _describe(holder: dict[str, Any]) -> str:
    """'pid 1234 on host, started 2024-05-01T10:00:00+02:00: scratchae train vanilla'."""
    if not holder:
        return "a run that had not yet written its name"
    where = f" on {holder['host']}" if holder.get("host") not in (None, socket.gethostname()) else ""
    return (f"pid {holder.get('pid', '?')}{where}, started {holder.get('started', '?')}: "
            f"scratchae {holder.get('command', '?')}")


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64 * 1024).decode("utf-8", "replace")
        holder = json.loads(text) if text.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


class OutputFolder:
    """The lock and the record of one run in `folder` (see the module docstring).

    `own()` takes the lock (a UsageError if another run holds it) and notes what the folder
    holds; `finish(ended)` writes the record and lets the lock go.
    """

    def __init__(self, folder: str, command: str) -> None:
        self.folder, self.command = folder, command
        self.started = _now()
        self.note = ""                       # said when a stale lock was taken over
        self._fd: int | None = None
        self._before: dict[str, tuple] = {}

    @property
    def lock_path(self) -> str:
        return os.path.join(self.folder, LOCK_NAME)

    def own(self) -> None:
        """Take the folder (the lock, then what it holds now), and write a first record: a
        run killed outright leaves one that says it never ended."""
        if fcntl is not None:
            self._lock()
        self._before = self._signatures()
        self._write_record("running (a record that stays so: the run was killed outright)", None)

    def _lock(self) -> None:
        for _ in range(10):                  # the holder may remove the file as we open it
            try:                             # never through a link: the file is truncated
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError as exc:
                raise UsageError(f"cannot take {self.lock_path!r}, which says which run owns --out "
                                 f"{self.folder!r}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise UsageError(f"--out {self.folder!r} is in use by another scratchae run "
                                 f"({_describe(holder)}); wait for it to end, or choose another "
                                 "--out") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.lock_path))
            except FileNotFoundError:
                same = False
            if not same:                     # removed by its last holder meanwhile: again
                os.close(fd)
                continue
            left = _read_holder(fd)
            if left:
                self.note = (f"took over {self.lock_path}, left by a run that ended without "
                             f"releasing it ({_describe(left)})")
            me = {"pid": os.getpid(), "host": socket.gethostname(), "started": self.started,
                  "command": self.command}
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(me) + "\n").encode())
            self._fd = fd
            return
        raise UsageError(f"--out {self.folder!r}: could not take {self.lock_path} (other runs keep "
                         "creating and removing it)")

    def _signatures(self) -> dict[str, tuple]:
        """name -> what identifies the file's current content (a rewrite makes a new file)."""
        signatures = {}
        try:
            names = os.listdir(self.folder)
        except OSError:
            return {}
        for name in names:
            if name in (LOCK_NAME, RECORD_NAME):
                continue
            try:
                st = os.stat(os.path.join(self.folder, name))
            except OSError:
                continue
            if os.path.isfile(os.path.join(self.folder, name)):
                signatures[name] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        return signatures

    def files(self) -> tuple[list[str], list[str]]:
        """(the files this run wrote, the files that were there before and it did not write)."""
        now = self._signatures()
        mine = sorted(n for n, sig in now.items() if self._before.get(n) != sig)
        earlier = sorted(n for n in now if n not in mine)
        return mine, earlier

    def finish(self, ended: str, exit_code: int) -> list[str]:
        """Write the record (how the run ended, its files) and let the lock go; the files of
        earlier runs, for the caller to mention. Never raises for the record: a run's files
        matter more than the list of them."""
        earlier = self._write_record(ended, exit_code)
        self.release()
        return earlier

    def _write_record(self, ended: str, exit_code: int | None) -> list[str]:
        from .common import save_json

        mine, earlier = self.files()
        record = {
            "command": f"scratchae {self.command}",
            "pid": os.getpid(),
            "started": self.started,
            "ended": _now() if exit_code is not None else None,
            "how": ended,
            "exit_code": exit_code,
            "files": {n: _facts(os.path.join(self.folder, n)) for n in mine},
            "earlier_files": earlier,
            "note": ("files: what this run wrote (size, SHA-256); earlier_files: what was "
                     "already in the folder and this run did not write (earlier runs), kept"),
        }
        try:
            save_json(record, os.path.join(self.folder, RECORD_NAME))
        except OSError as exc:
            print(f"scratchae: could not write {RECORD_NAME}: {exc}", file=sys.stderr)
        return earlier

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.lock_path)        # still ours: we hold the lock on this very file
        except OSError:
            pass
        os.close(self._fd)                   # closing drops the lock
        self._fd = None


def _facts(path: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except OSError:
        return {}
    return {"bytes": size, "sha256": digest.hexdigest()}


# -- outputs that would replace the data, or each other ------------------------------------
def data_files(dataset: str | None) -> dict[str, str]:
    """realpath -> how to name it, for every file the data of a run may be read from."""
    from ..datasets import _download
    from ..datasets import mnist

    folders = [os.path.join(os.path.dirname(mnist.__file__), "data")]
    if os.environ.get("SCRATCHAE_DATA"):
        folders.append(os.environ["SCRATCHAE_DATA"])
    try:
        cache = str(_download.cache_root())
        folders += [os.path.join(cache, "mnist"), os.path.join(cache, "fashion-mnist")]
    except Exception:                           # no usable cache root: nothing cached there
        pass
    if dataset and os.path.isdir(os.path.expanduser(dataset)):
        folders.append(os.path.expanduser(dataset))
    found: dict[str, str] = {}
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                found.setdefault(os.path.realpath(path), path)
    return found


def check_outputs(folder: str, names: Iterable[str], dataset: str | None) -> None:
    """Refuse outputs that are a data file, or the same file as another output (a symlink in
    `folder`), before anything is written: a UsageError naming both."""
    data = data_files(dataset)
    seen: dict[str, str] = {}
    for name in tuple(names) + (RECORD_NAME, LOCK_NAME):
        path = os.path.join(folder, name)
        real = os.path.realpath(path)
        if real in data:
            raise UsageError(f"{path!r} is the data file {data[real]!r} (a link to it): a run "
                             "never writes over its data; choose another --out")
        if real in seen:
            raise UsageError(f"{path!r} and {seen[real]!r} are the same file (a link): one "
                             "output would replace the other; remove the link or choose another --out")
        seen[real] = path
