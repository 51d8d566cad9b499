"""Run an untrusted Python file in a child process that nothing it does outlives or escapes.

    run_jailed(files, argv, stdin, timeout=...) -> JailRun    one run, from any thread
    isolation_available() -> str                              the mode run_jailed uses here
    kill_all()                                                stop every live run (main thread)

The child is `python -I -B *argv`, with this interpreter, in a fresh empty working folder holding
`files`, with `stdin` fed then closed, its stdout and stderr merged and kept (`printed`), and a
pipe for its results (`channel`; the argument "{channel_fd}" names its descriptor). It is started
by a stage-1 program, `_jail.py` (its docstring says each step), in one of three modes:

"user+namespaces" (Linux, run as root): the child is PID 1 of PID, mount, network and IPC
    namespaces of its own (unshare(2), through ctypes: no util-linux needed). When it ends, or
    when the run is killed, the kernel kills every process it started, even one that called
    setsid or forked twice; none can be seen from outside the run nor see any process outside
    it. It runs under a fresh uid/gid (random in 100000-160000, no groups, no capabilities,
    no_new_privs: setuid programs grant nothing). Every mount it sees is read-only and nosuid
    but its own small tmpfs: the working folder, /tmp, /var/tmp and /dev/shm (other runs'
    folders are invisible; one of these three that holds the interpreter is hidden instead,
    read-only, but for the way to it). The paths of `hide` are hidden; the network is a
    loopback that is down; SysV IPC and POSIX message queues die with the run.
"namespaces" (Linux, not root, unprivileged user namespaces allowed): the same, but the child
    keeps the caller's uid (as a non-root uid of a nested user namespace, with no capabilities
    and locked mounts it cannot unmount), so it may read what the caller may read (but what is
    hidden; it can write nowhere but its tmpfs), and RLIMIT_NPROC is not applied (it would
    count the caller's own processes).
"session" (the fallback: other POSIX systems, or where the above is refused): a new session and
    process group, killed as a group, under the resource limits. A process that calls setsid
    escapes the group kill; as a best effort, every process whose /proc/PID/environ still holds
    this run's random marker variable is killed too, but one that re-executes itself with a
    clean environment outlives the run, and run_jailed stops waiting for its output about 1 s
    after the child's exit. `hide` has no effect and the child can write wherever the caller can.
Windows is not supported (no fork, no select on pipes).

In every mode the resource limits of `Limits` apply to each process (RLIMIT_AS is per process:
64 processes may together use more than memory_bytes; no cgroup is set up), core dumps are off,
and run_jailed returns only when every process of the run it can know of is gone. As PID 1 of
its namespace, the submission's interpreter does not die of a signal it sends itself with the
default action (os.kill(os.getpid(), SIGKILL) does nothing); the run's limits and kill still do.

Pipes are read with os.read and a selector in the calling thread against a deadline, so nothing
the child does with its descriptors can block the caller. Ctrl-C (KeyboardInterrupt) or SIGTERM
while run_jailed waits in the main thread kills the run, then re-raises (SIGTERM: the default
action, taken again once the run is gone). With worker threads, the main thread calls kill_all();
each interrupted run_jailed then raises RunKilled. The parent's temporary files are removed
whatever the child did to them.
"""
from __future__ import annotations

import base64
import functools
import importlib.util
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["Limits", "JailRun", "JailError", "RunKilled", "run_jailed", "isolation_available", "kill_all"]

JAIL = Path(__file__).with_name("_jail.py")
MODES = ("user+namespaces", "namespaces", "session")
MARKER = "SCRATCHAE_JAIL_RUN"
GRACE = 1.0          # seconds to wait for the pipes to close once the child has exited


@dataclass(frozen=True)
class Limits:
    """Resource limits of every process of a run (setrlimit, soft = hard; for RLIMIT_CPU the hard
    limit, SIGKILL, is one second after the soft one, SIGXCPU). A limit above the caller's own
    hard limit gets the caller's (only root may raise one)."""
    memory_bytes: int = 2 << 30        # RLIMIT_AS
    cpu_seconds: int | None = None     # RLIMIT_CPU; None: ceil(timeout) + 5
    processes: int = 64                # RLIMIT_NPROC (only where the child has a uid of its own)
    file_bytes: int = 16 << 20         # RLIMIT_FSIZE
    open_files: int = 256              # RLIMIT_NOFILE
    # core dumps always 0


@dataclass
class JailRun:
    """What one run left: its output, how it ended, how long it took, how it was isolated."""
    channel: bytes        # what the child wrote to the result channel (at most channel_limit bytes)
    channel_dropped: int  # bytes beyond the limit, not kept
    printed: bytes        # the child's stdout+stderr merged (at most printed_limit bytes)
    printed_dropped: int
    status: str           # "exited" or "timeout"
    returncode: int | None  # the child's exit code (-N: killed by signal N); None on timeout
    seconds: float        # wall clock, start to the moment every process of the run was gone
    isolation: str        # "user+namespaces", "namespaces" or "session"


class JailError(RuntimeError):
    """The run could not be set up (before the submission started); the message says why."""


class RunKilled(RuntimeError):
    """The run was stopped by kill_all() before it ended."""


class _Terminated(BaseException):
    """SIGTERM arrived while run_jailed waited in the main thread."""


_LIVE: set["_Run"] = set()
_LIVE_LOCK = threading.Lock()
_PROBED: dict[str, bool] = {}
_PROBE_LOCK = threading.Lock()
_BASE: list[Path] = []


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].decode().split()
    except OSError:
        return None


def _pids() -> list[int]:
    try:
        return [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return []


class _Run:
    """One live run: its process and how to kill everything it started (idempotent, locked)."""

    def __init__(self, mode: str, token: str):
        self.mode, self.marker = mode, f"{MARKER}={token}".encode()
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.cancelled = False

    def attach(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.proc = proc
        if self.cancelled:
            self.kill()

    def exited(self) -> bool:
        """Has the direct child ended? Not reaped (WNOWAIT): its pid stays ours to signal.
        False while another thread is killing the run (the caller goes on reading the pipes)."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            if self.proc.returncode is not None:
                return True
            if not hasattr(os, "waitid"):
                return self.proc.poll() is not None        # (then a group kill may come late)
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True
        finally:
            self.lock.release()

    def kill(self) -> None:
        """Kill every process of the run and reap the child."""
        with self.lock:
            proc = self.proc
            if proc is None:
                return
            if proc.returncode is None:
                if self.mode == "session":
                    self._signal(lambda: os.killpg(proc.pid, signal.SIGKILL))
                else:
                    self._kill_namespace(proc)
                proc.wait()
        if self.mode == "session":
            self._kill_marked()

    @staticmethod
    def _signal(send) -> None:
        try:
            send()
        except (ProcessLookupError, PermissionError):
            pass

    def _kill_namespace(self, proc: subprocess.Popen) -> None:
        # Our child (the outer stage 1, outside the PID namespace) is stopped so that it cannot
        # fork while we look for its child, the namespace's PID 1. Killing PID 1 makes the
        # kernel kill every process of the namespace, and PID 1 is a zombie once they are all
        # gone; then the outer process, let go on, reaps it and ends.
        pid = proc.pid
        self._signal(lambda: os.kill(pid, signal.SIGSTOP))
        end = time.monotonic() + 1.0
        while (st := _proc_stat(pid)) and st[0] not in "TtZX" and time.monotonic() < end:
            time.sleep(0.001)
        inits = [p for p in _pids() if (s := _proc_stat(p)) and len(s) > 1 and s[1] == str(pid)]
        for p in inits:
            self._signal(lambda: os.kill(p, signal.SIGKILL))
        end = time.monotonic() + 5.0
        while any((s := _proc_stat(p)) and s[0] not in "ZX" for p in inits) and time.monotonic() < end:
            time.sleep(0.002)
        self._signal(lambda: os.kill(pid, signal.SIGCONT))
        try:
            proc.wait(5 if inits else 0.05)
        except subprocess.TimeoutExpired:
            self._signal(lambda: os.kill(pid, signal.SIGKILL))

    def _kill_marked(self) -> None:
        """Best effort (session mode): kill every process that carries the run's marker."""
        if not os.path.isdir("/proc"):
            return
        me, seen = os.getpid(), set()
        for _ in range(5):
            found = []
            for p in _pids():
                try:
                    with open(f"/proc/{p}/environ", "rb") as f:
                        marked = self.marker in f.read().split(b"\0")
                except OSError:
                    continue
                if marked and p != me and (st := _proc_stat(p)) and st[0] not in "ZX":
                    found.append(p)
            if not found:
                break
            for p in found:
                self._signal(lambda: os.kill(p, signal.SIGKILL))
            seen.update(found)
            end = time.monotonic() + 1.0
            while time.monotonic() < end and any((s := _proc_stat(p)) and s[0] not in "ZX" for p in seen):
                time.sleep(0.005)


def kill_all() -> int:
    """Kill every live run of this process (from any thread; meant for the main thread on Ctrl-C
    while worker threads wait in run_jailed). Returns once their processes are gone; each of
    those run_jailed calls raises RunKilled. Returns how many runs were killed."""
    with _LIVE_LOCK:
        runs = list(_LIVE)
    for run in runs:
        run.cancelled = True
        run.kill()
    return len(runs)


def _works(mode: str) -> bool:
    """Can a run in `mode` start here (and import NumPy, if it can be imported at all)? Probed
    once with a real run, then cached. "session" needs only a POSIX system."""
    if mode not in MODES:
        raise ValueError(f"unknown isolation {mode!r}: one of {', '.join(MODES)}")
    with _PROBE_LOCK:
        if mode not in _PROBED:
            ok = os.name == "posix"
            if mode != "session" and ok:
                ok = sys.platform.startswith("linux") and (mode == "namespaces" or os.geteuid() == 0)
                got = ok and _probe(mode)
                # NumPy must import, unless it cannot (-I: no PYTHONPATH, no user site) even without
                # isolation; a mode that cannot reach it is not used
                ok = got == "numpy" or (got == "python" and _probe("session") != "numpy")
            _PROBED[mode] = ok
        return _PROBED[mode]


@functools.lru_cache(maxsize=None)
def _probe(mode: str) -> str:
    """A real run: "numpy" (it works and imports NumPy), "python" (it works, without NumPy) or ""."""
    code = ("import os, sys\ntry:\n    import numpy\n    np = 'numpy'\nexcept ImportError:\n    np = 'python'\n"
            "os.write(int(sys.argv[1]), f'{os.getpid()} {os.getuid()} {np}'.encode())\n")
    try:
        r = _run(mode, {}, ["-c", code, "{channel_fd}"], b"", 30.0, [], Limits(), 1 << 10, 4000, None)
        pid, uid, np = r.channel.decode().split()
    except (OSError, ValueError, JailError):
        return ""
    ok = r.status == "exited" and r.returncode == 0 and (mode == "session" or pid == "1")
    return np if ok and (mode != "user+namespaces" or uid != "0") else ""


def isolation_available() -> str:
    """The strongest mode run_jailed can use here: "user+namespaces", "namespaces" or "session"."""
    return next(m for m in MODES if _works(m))


@functools.lru_cache(maxsize=None)
def _kept_paths() -> list[str]:
    """What the child's interpreter needs, not to be hidden: its prefixes, its folder (and the
    real one), the standard library, NumPy (and the libraries its wheel bundles)."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable)),
             sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]]
    spec = importlib.util.find_spec("numpy")
    if spec is not None and spec.origin:
        numpy_dir = os.path.dirname(spec.origin)
        paths += [numpy_dir, numpy_dir + ".libs"]
    return sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})


def _base_dir() -> Path:
    """The folder of this user's runs (in the namespace modes, hidden from every run)."""
    if not _BASE:
        base = Path(tempfile.gettempdir()) / f"scratchae-jail-{os.geteuid()}"
        try:
            base.mkdir(mode=0o700)
        except FileExistsError:
            pass
        st = os.lstat(base)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            base = Path(tempfile.mkdtemp(prefix="scratchae-jail-"))      # someone else's: not ours
        _sweep(base)
        _BASE.append(base)
    return _BASE[0]


def _sweep(base: Path) -> None:
    """Remove the folders of runs whose parent is gone (a parent killed outright, SIGKILL, cannot
    remove its own); a folder without its config, only once it is 10 minutes old."""
    for d in base.glob("run-*"):
        try:
            pid = json.loads((d / "config.json").read_text())["parent_pid"]
            os.kill(pid, 0)
            continue                                  # its parent is alive (or another user's)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            try:
                if time.time() - d.stat().st_mtime < 600:
                    continue
            except OSError:
                continue
        _remove(d)


def _remove(path: Path) -> None:
    """rmtree that first gives back to us the folders the child made unreadable (never through
    a symbolic link); errors ignored."""
    for _ in range(2):
        for root, dirs, _files in os.walk(path):
            for d in [root] + [os.path.join(root, d) for d in dirs]:
                try:
                    if stat.S_ISDIR(os.lstat(d).st_mode):
                        os.chmod(d, 0o700)
                except OSError:
                    pass
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return


def _check_name(name: str) -> str:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"a file name must be a relative path inside the working folder: {name!r}")
    return name


def run_jailed(files: dict[str, bytes], argv: list[str], stdin: bytes, *, timeout: float,
               hide: Sequence[str | Path] = (), limits: Limits = Limits(),
               channel_limit: int = 32 << 20, printed_limit: int = 20_000,
               env: dict[str, str] | None = None, isolation: str | None = None) -> JailRun:
    """Write `files` (name -> bytes) into a fresh, empty working folder of the child's own, run
    [sys.executable, "-I", "-B", *argv] there with `stdin` fed then closed; every occurrence of
    the string "{channel_fd}" in argv is replaced by the number of the file descriptor of the
    result channel (a pipe the parent reads; it is 3). At most `timeout` seconds of wall clock,
    then everything the run started is killed. Returns when every process of the run is gone.

    hide: paths the child must not see (namespace modes only); one that holds something the
        interpreter needs shows only the way down to it. Paths that do not exist are skipped.
    env: added to the scrubbed environment (PATH=/usr/bin:/bin, LANG=C.UTF-8, HOME=the working
        folder, MPLBACKEND=Agg, one thread for OpenMP/OpenBLAS/MKL, PYTHONUNBUFFERED=1,
        PYTHONDONTWRITEBYTECODE=1; -I makes the interpreter ignore the PYTHON* ones: pass "-u"
        in argv for unbuffered output).
    isolation: None for the strongest available mode (isolation_available()); a mode that is
        not available here raises ValueError.
    Raises JailError if the run could not be set up, RunKilled if kill_all() stopped it.
    """
    if os.name != "posix":
        raise OSError("run_jailed needs a POSIX system (Linux for isolation)")
    mode = isolation or isolation_available()
    if not _works(mode):
        raise ValueError(f"isolation {mode!r} is not available here (isolation_available() is "
                         f"{isolation_available()!r})")
    files = {_check_name(n): bytes(b) for n, b in files.items()}
    hidden = sorted({os.path.realpath(p) for p in hide if os.path.lexists(p)})
    return _run(mode, files, argv, stdin, float(timeout), hidden, limits, channel_limit, printed_limit, env)


def _run(mode: str, files: dict[str, bytes], argv: list[str], stdin: bytes, timeout: float,
         hidden: list[str], limits: Limits, channel_limit: int, printed_limit: int,
         env: dict[str, str] | None) -> JailRun:
    token = secrets.token_hex(12)
    run = _Run(mode, token)
    caps = {"channel": channel_limit, "printed": printed_limit, "status": 4000}
    out = {k: bytearray() for k in caps}
    dropped = {k: 0 for k in caps}
    fds: dict[str, int] = {}
    proc, status, seconds = None, "exited", 0.0
    tmp = Path(tempfile.mkdtemp(prefix="run-", dir=_base_dir()))
    old_term, terminated = _catch_sigterm(), False
    start = time.monotonic()
    try:
        try:
            with _LIVE_LOCK:
                _LIVE.add(run)
            for end in ("in", "out", "ch", "st"):
                fds[end + "_r"], fds[end + "_w"] = os.pipe()
            for k in ("in_w", "out_r", "ch_r", "st_r"):          # the parent's ends never block
                os.set_blocking(fds[k], False)
            config = _config(mode, tmp, files, argv, hidden, limits, timeout, env, token, fds)
            (tmp / "config.json").write_text(json.dumps(config))
            proc = subprocess.Popen([sys.executable, "-I", "-B", str(JAIL), str(tmp / "config.json")],
                                    stdin=fds["in_r"], stdout=fds["out_w"], stderr=fds["out_w"],
                                    pass_fds=(fds["ch_w"], fds["st_w"]), cwd=tmp, close_fds=True,
                                    start_new_session=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
            run.attach(proc)
            for k in ("in_r", "out_w", "ch_w", "st_w"):
                os.close(fds.pop(k))
            status = _pump(run, fds, stdin, start + timeout, out, dropped, caps)
        finally:
            run.kill()
            _drain(fds, out, dropped, caps)
            for fd in fds.values():
                os.close(fd)
            with _LIVE_LOCK:
                _LIVE.discard(run)
            seconds = time.monotonic() - start
            _remove(tmp)
    except _Terminated:
        terminated = True
        raise
    finally:
        _restore_sigterm(old_term)
        if terminated:                      # the default action, now that the run is gone
            os.kill(os.getpid(), signal.SIGTERM)
    if out["status"]:
        raise JailError(out["status"].decode("utf-8", "replace") + "\n" + out["printed"].decode("utf-8", "replace"))
    if run.cancelled:
        raise RunKilled("the run was stopped by kill_all()")
    return JailRun(bytes(out["channel"]), dropped["channel"], bytes(out["printed"]), dropped["printed"],
                   status, proc.returncode if status == "exited" else None, seconds, mode)


def _config(mode: str, tmp: Path, files: dict[str, bytes], argv: list[str], hidden: list[str],
            limits: Limits, timeout: float, env: dict[str, str] | None, token: str,
            fds: dict[str, int]) -> dict:
    """What _jail.py needs to know (see its docstring)."""
    workdir = str(tmp / "work")
    child_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "PYTHONUNBUFFERED": "1",
                 "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
                 "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {}), MARKER: token}
    rl = {"RLIMIT_AS": limits.memory_bytes, "RLIMIT_FSIZE": limits.file_bytes, "RLIMIT_CORE": 0,
          "RLIMIT_NOFILE": limits.open_files,
          "RLIMIT_CPU": limits.cpu_seconds if limits.cpu_seconds is not None else math.ceil(timeout) + 5}
    uid = secrets.randbelow(60000) + 100000 if mode == "user+namespaces" else None
    if uid is not None:
        rl["RLIMIT_NPROC"] = limits.processes
    return {"mode": mode, "uid": uid, "gid": uid, "inner_uid": os.getuid() or 1000,
            "workdir": workdir, "base": str(_base_dir()), "hides": hidden, "keeps": _kept_paths(),
            "files": {n: base64.b64encode(b).decode() for n, b in files.items()},
            "argv": [sys.executable, "-I", "-B", *(a.replace("{channel_fd}", "3") for a in argv)],
            "env": child_env, "limits": rl, "channel_fd": fds["ch_w"], "status_fd": fds["st_w"],
            "parent_pid": os.getpid(), "tmp_bytes": 4 * limits.file_bytes + (16 << 20),
            "work_bytes": sum(map(len, files.values())) + 4 * limits.file_bytes + (16 << 20)}


def _catch_sigterm():
    """In the main thread, while SIGTERM has its default action: make it raise _Terminated."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None

    def raise_terminated(signum, frame):
        raise _Terminated()
    return signal.signal(signal.SIGTERM, raise_terminated)


def _restore_sigterm(old) -> None:
    if old is not None:
        signal.signal(signal.SIGTERM, old)


_READS = {"out_r": "printed", "ch_r": "channel", "st_r": "status"}


def _keep(name: str, data: bytes, out: dict, dropped: dict, limits: dict) -> None:
    room = max(0, limits[name] - len(out[name]))
    out[name] += data[:room]
    dropped[name] += max(0, len(data) - room)


def _pump(run: _Run, fds: dict[str, int], stdin: bytes, deadline: float,
          out: dict, dropped: dict, limits: dict) -> str:
    """Feed stdin, read the pipes until the child has exited and they are closed (or GRACE
    later), or until the deadline. Returns "exited" or "timeout"."""
    sel = selectors.DefaultSelector()
    try:
        for k in _READS:
            sel.register(fds[k], selectors.EVENT_READ, k)
        pending = memoryview(stdin)
        if pending:
            sel.register(fds["in_w"], selectors.EVENT_WRITE, "in_w")
        else:
            os.close(fds.pop("in_w"))
        exited_at = None
        while True:
            now = time.monotonic()
            if exited_at is None and run.exited():
                exited_at = now
                if run.mode == "session":
                    run.kill()      # the group and the marked: what keeps the pipes open, if it can
            reading = any(key.data in _READS for key in sel.get_map().values())
            if exited_at is not None and (not reading or now > exited_at + GRACE):
                return "exited"
            if now >= deadline:
                return "exited" if exited_at is not None else "timeout"
            for key, _ev in sel.select(min(deadline - now, 0.05)):
                if key.data == "in_w":
                    try:
                        pending = pending[os.write(key.fd, pending[:1 << 16]):]
                    except BlockingIOError:
                        continue
                    except OSError:                      # BrokenPipe: the child closed stdin
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fd)
                        os.close(fds.pop("in_w"))
                    continue
                try:
                    data = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if data:
                    _keep(_READS[key.data], data, out, dropped, limits)
                else:
                    sel.unregister(key.fd)
                    os.close(fds.pop(key.data))
    finally:
        sel.close()


def _drain(fds: dict[str, int], out: dict, dropped: dict, limits: dict) -> None:
    """Read what is left in the pipes, without waiting (at most 0.5 s of a flood)."""
    end = time.monotonic() + 0.5
    for k, name in _READS.items():
        while k in fds and time.monotonic() < end:
            try:
                data = os.read(fds[k], 1 << 16)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            _keep(name, data, out, dropped, limits)
