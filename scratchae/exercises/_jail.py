"""Stage 1 of a jailed run (`sandbox.run_jailed`): `python -I -B _jail.py CONFIG`. Standard library only.

It runs between the parent and the submission, with the privileges of the run's setup, and ends
by replacing itself (os.execve) with the submission's interpreter, so that in the namespace modes
the submission's interpreter is PID 1 of the run's PID namespace. CONFIG is a JSON file that
`sandbox.py` writes; read it for the fields. What it does, in order:

  namespace modes ("user+namespaces", root; "namespaces", an unprivileged user namespace where
  it is root): it makes new PID, mount, network and IPC namespaces (unshare(2) through ctypes)
  and forks their PID 1, which mounts the namespace's /proc and goes on; this process, outside
  the PID namespace, waits for PID 1 and ends as it ended (exit code or signal). PID 1:
    1. opens a handle on every path the interpreter needs (`keeps`), then makes every mount
       private and bind-remounts every mount (but /proc) read-only and nosuid;
    2. hides each path of `hides`: a directory under an empty read-only tmpfs, a file under a
       read-only, nodev bind of /dev/null (opening it is refused). A hidden directory that holds
       something kept gets the path down to it rebuilt in its tmpfs and the kept folder bound
       back whole: only the way to what is kept stays visible. As root, every folder on the way
       to a kept path that the run's uid could not cross (/root, mode 700) is treated the same;
    3. mounts fresh tmpfs over /tmp, /var/tmp and /dev/shm (where they hold nothing kept), one
       over the parent's folder of runs (other runs are invisible) and one as the working folder;
    4. writes the files, sets the resource limits and drops privileges: as root to a fresh
       uid/gid with no groups; in "namespaces" into a second user namespace where the
       submission is not root (its mounts are then locked: it cannot unmount what hides);
  "session" mode (no namespaces): only the working folder on disk, the files and the limits.
Then, in every mode: no_new_privs (setuid programs grant nothing), the parent-death signal,
the result channel on fd 3, every other descriptor closed, chdir to the working folder, execve.

A failure before execve is written to the status descriptor (which the parent reads) and ends
the process with 125; the parent raises it as `sandbox.JailError`.
"""
from __future__ import annotations

import base64
import ctypes
import fcntl
import json
import os
import re
import select
import signal
import stat
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1024, 2048, 4096, 1 << 14
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
CHANNEL_FD = 3

_libc = None


def _call(name: str, *args) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(_libc, name)
    if fn(*[ctypes.c_ulong(a) if isinstance(a, int) else a for a in args]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args!r}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else os.fsencode(s))
    _call("mount", enc(source), enc(target), enc(fstype), flags, enc(data))


def _remount_ro(path: str, extra: int = 0) -> None:
    """Bind-remount the mount at `path` read-only and nosuid, keeping its other flags (a mount
    inherited into a user namespace refuses a remount that would clear one). MS_BIND is always
    set: it changes this namespace's mount only, never the file system (the host's)."""
    f = os.statvfs(path).f_flag
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra
    for st_flag, ms_flag in ((os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS_NOATIME),
                             (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME)):
        if f & st_flag:
            flags |= ms_flag
    if not f & (os.ST_NOATIME | os.ST_RELATIME):
        flags |= MS_STRICTATIME
    _mount(None, path, None, flags)


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        points = [line.split()[4] for line in f if line.strip()]
    return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), p) for p in points]


def _under(path: str, top: str) -> bool:
    """path is top or inside it."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def _tmpfs(path: str, options: str) -> None:
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)


def _hide(path: str, keeps: dict[str, int], mountpoints: list[str]) -> None:
    """Hide `path` (as it is now seen); see the module docstring. keeps: kept path -> O_PATH fd."""
    if not os.path.lexists(path) or path in keeps:
        return
    if not os.path.isdir(path):
        _mount("/dev/null", path, None, MS_BIND)
        _remount_ro(path, MS_NODEV)
        return
    _tmpfs(path, "mode=0755,size=1m,nr_inodes=4096")
    chosen: list[str] = []
    for k in sorted([k for k in keeps if _under(k, path)] + [m for m in mountpoints if _under(m, path)], key=len):
        if any(_under(k, c) and c in keeps for c in chosen):
            continue                                  # inside a folder already bound back whole
        chosen.append(k)
        os.makedirs(k, exist_ok=True)                 # the way down, in the tmpfs
        if k in keeps:
            _mount(f"/proc/self/fd/{keeps[k]}", k, None, MS_BIND | MS_REC)
            _remount_ro(k)
    _remount_ro(path)


def _set_limits(limits: dict[str, int], strict: bool) -> None:
    import resource
    for name, value in limits.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            _soft, hard = resource.getrlimit(which)
            cap = (lambda v: v if hard == resource.RLIM_INFINITY else min(v, hard))
            # CPU: the soft limit sends SIGXCPU, a second later the hard one kills
            resource.setrlimit(which, (cap(value), cap(value + 1 if name == "RLIMIT_CPU" else value)))
        except (OSError, ValueError):
            if strict:
                raise


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def setup(cfg: dict, status_fd: int) -> None:
    mode, uid, gid = cfg["mode"], cfg["uid"], cfg["gid"]
    workdir, base = cfg["workdir"], cfg["base"]
    os.umask(0o022)
    files = {name: base64.b64decode(data) for name, data in cfg["files"].items()}
    # the channel to a low descriptor first: the limit on open files may be lower than its number
    channel = fcntl.fcntl(cfg["channel_fd"], fcntl.F_DUPFD, 10)
    os.close(cfg["channel_fd"])
    if mode != "session":
        keeps = {k: os.open(k, os.O_PATH | os.O_CLOEXEC) for k in cfg["keeps"] if os.path.isdir(k)}
        for point in _mount_points():
            if not _under(point, "/proc"):
                try:
                    _remount_ro(point)
                except OSError:
                    pass                              # shadowed, vanished or not ours to change
        hides = list(cfg["hides"])
        fresh, mountpoints = [], [base]
        for t in ("/tmp", "/var/tmp", "/dev/shm"):
            t = os.path.realpath(t)
            if os.path.isdir(t) and t not in fresh:
                (hides if any(_under(k, t) for k in keeps) else fresh).append(t)
        mountpoints += fresh
        if uid is not None:                           # folders the run's uid could not cross
            for k in list(keeps) + mountpoints:
                parts = k.strip("/").split("/")
                for i in range(1, len(parts)):
                    a = "/" + "/".join(parts[:i])
                    if os.path.isdir(a) and not os.stat(a).st_mode & stat.S_IXOTH:
                        hides.append(a)
        for h in sorted(set(hides), key=len):
            _hide(h, keeps, mountpoints)
        for t in fresh:
            _tmpfs(t, f"mode=1777,size={cfg['tmp_bytes']},nr_inodes=4096")
        os.makedirs(base, exist_ok=True)
        _tmpfs(base, "mode=0755,size=1m,nr_inodes=1024")
        os.makedirs(workdir)
        owner = f",uid={uid},gid={gid}" if uid is not None else ""
        _tmpfs(workdir, f"mode=0700,size={cfg['work_bytes']},nr_inodes=4096{owner}")
        _remount_ro(base)
        for fd in keeps.values():
            os.close(fd)
    else:
        os.makedirs(workdir, exist_ok=True)
    for name, data in files.items():
        path = os.path.normpath(os.path.join(workdir, name))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        while uid is not None and path != workdir and _under(path, workdir):   # it, and the folders made for it
            os.chown(path, uid, gid)
            path = os.path.dirname(path)
    _set_limits(cfg["limits"], strict=mode != "session")
    if mode == "namespaces":
        # a second user namespace: the mounts above become locked (they cannot be unmounted to
        # uncover what they hide), and the submission is not root there (no capabilities)
        _call("unshare", CLONE_NEWUSER | CLONE_NEWNS)
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{cfg['inner_uid']} 0 1")
        _write("/proc/self/gid_map", f"{cfg['inner_uid']} 0 1")
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    if sys.platform.startswith("linux"):
        _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)   # cleared by a change of uid
    os.chdir(workdir)
    os.dup2(channel, CHANNEL_FD)
    if channel != CHANNEL_FD:
        os.close(channel)
    os.closerange(CHANNEL_FD + 1, status_fd)
    os.closerange(status_fd + 1, 1 << 16)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


def _enter_namespaces(cfg: dict) -> None:
    """New PID, mount, network and IPC namespaces (and, in "namespaces", a user namespace where
    this process is root). This process stays outside the PID namespace: it forks the
    namespace's PID 1, which returns to go on with the setup, while this one waits for it and
    ends the same way (exit code or signal), so the parent sees the submission's own status."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC
    _call("unshare", flags | (CLONE_NEWUSER if cfg["mode"] == "namespaces" else 0))
    if cfg["mode"] == "namespaces":
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    alive_r, alive_w = os.pipe()              # closed when this process ends, however it ends
    pid = os.fork()
    if pid:
        os.close(alive_r)
        for fd in (0, 1, 2, cfg["channel_fd"], cfg["status_fd"]):
            os.close(fd)                      # the run's pipes close when the run is gone
        status = os.waitpid(pid, 0)[1]
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    os.close(alive_w)
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if select.select([alive_r], [], [], 0)[0]:
        os._exit(125)                         # the outer process is already gone
    os.close(alive_r)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)   # this namespace's processes


def main(argv: list[str]) -> None:
    with open(argv[1], "rb") as f:
        cfg = json.load(f)
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, OSError, ValueError):
        pass
    status_fd = cfg["status_fd"]
    try:
        if sys.platform.startswith("linux"):
            _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != cfg["parent_pid"]:
                os._exit(125)                  # the parent is already gone
        if cfg["mode"] != "session":
            _enter_namespaces(cfg)
        status_fd = fcntl.fcntl(cfg["status_fd"], fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cfg["status_fd"])
        setup(cfg, status_fd)
    except BaseException as exc:               # noqa: BLE001  (reported, then the run ends)
        try:
            os.write(status_fd, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:4000])
        finally:
            os._exit(125)


if __name__ == "__main__":
    main(sys.argv)
