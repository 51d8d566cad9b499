"""scratchae.exercises.sandbox: a run leaves nothing behind and sees nothing it should not.

Real processes, small timeouts, no bound on how fast the machine is (only "returns within the
timeout plus a few seconds"). Tests of a mode that this machine does not offer are skipped with
the reason; CI runs as root, where every mode is there.
"""
from __future__ import annotations

import importlib.util
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scratchae.exercises import sandbox
from scratchae.exercises.sandbox import JailError, Limits, RunKilled, isolation_available, kill_all, run_jailed

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is tested on Linux")

REPO = Path(__file__).resolve().parents[1]
ROOT = os.geteuid() == 0
NEEDS_ROOT = pytest.mark.skipif(not ROOT, reason="needs root (a uid of the run's own); CI runs as root")
ISOLATED = ("user+namespaces", "namespaces")


def need(mode: str) -> None:
    if mode == "user+namespaces" and not ROOT:
        pytest.skip("needs root (a uid of the run's own); CI runs as root")
    if not sandbox._works(mode):
        pytest.skip(f"isolation {mode!r} is not available here (util-linux unshare, namespaces); "
                    f"isolation_available() is {isolation_available()!r}")


def run(code: str, *extra: str, timeout: float = 20, **kw) -> sandbox.JailRun:
    """Run `code` as sub.py; argv[1] is the channel's descriptor, then `extra`."""
    files = {"sub.py": textwrap.dedent(code).encode(), **kw.pop("files", {})}
    return run_jailed(files, ["sub.py", "{channel_fd}", *extra], kw.pop("stdin", b""), timeout=timeout, **kw)


def alive(tag: str) -> list[int]:
    """Live (not zombie) processes whose command line holds `tag`."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
            state = Path(f"/proc/{p}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if tag.encode() in cmd and state not in (b"Z", b"X"):
            found.append(int(p))
    return found


def read_or_empty(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:                                   # another process's run, just ended
        return ""


def gone(tag: str, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while alive(tag) and time.monotonic() < end:
        time.sleep(0.05)
    return not alive(tag)


def test_isolation_available_is_the_strongest_mode_and_probed_once():
    mode = isolation_available()
    assert mode in sandbox.MODES and isolation_available() == mode and mode in sandbox._PROBED
    if ROOT and shutil.which("unshare") and subprocess.run(["unshare", "-m", "-p", "-f", "--mount-proc", "true"],
                                                           capture_output=True).returncode == 0:
        assert mode == "user+namespaces"          # no silent fallback where root isolation works


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_channel_printed_stdin_and_environment(mode):
    need(mode)
    stdin = secrets.token_bytes(300_000)              # more than a pipe holds: fed without blocking
    r = run("""
        import hashlib, json, os, sys, numpy
        data = sys.stdin.buffer.read()
        print("to stdout"); print("to stderr", file=sys.stderr)
        os.write(int(sys.argv[1]), json.dumps({"stdin": hashlib.sha256(data).hexdigest(), "cwd": os.getcwd(),
                 "files": sorted(os.listdir(".")), "env": dict(os.environ), "sum": float(numpy.ones(3).sum())}).encode())
        """, stdin=stdin, env={"EXTRA": "yes"}, isolation=mode)
    assert (r.status, r.returncode, r.isolation) == ("exited", 0, mode)
    got = json.loads(r.channel)
    assert got["stdin"] == __import__("hashlib").sha256(stdin).hexdigest() and got["sum"] == 3.0
    assert got["files"] == ["sub.py"]
    assert b"to stdout" in r.printed and b"to stderr" in r.printed and r.printed_dropped == 0
    env = got["env"]
    assert env["HOME"] == got["cwd"] and env["PATH"] == "/usr/bin:/bin" and env["EXTRA"] == "yes"
    assert env["MPLBACKEND"] == "Agg" and env["OPENBLAS_NUM_THREADS"] == "1" and "VIRTUAL_ENV" not in env


DOUBLE_FORK = """
    import os, sys, time
    if os.fork() == 0:                    # a grandchild in a session of its own, holding every pipe
        os.setsid()
        if os.fork() == 0:
            time.sleep(3)
            open(sys.argv[3], "w").write("escaped")
            os._exit(0)
        os._exit(0)
    time.sleep(0.3)
    print("child", os.getpid(), flush=True)
    if sys.argv[4] == "sleep":
        time.sleep(60)
    """


def test_a_double_forked_setsid_grandchild_dies_with_the_run():
    modes = [m for m in sandbox.MODES if (m != "user+namespaces" or ROOT) and sandbox._works(m)]
    cases = [(m, how) for m in modes for how in ("exit", "sleep")]
    folder = scratch_folder()                                  # a folder of the parent's
    tags = {c: f"tag-{secrets.token_hex(6)}" for c in cases}
    try:
        def one(case):
            mode, how = case
            t = time.monotonic()
            r = run(DOUBLE_FORK, tags[case], str(folder / tags[case]), how, timeout=2.5, isolation=mode)
            return r, time.monotonic() - t
        start = time.monotonic()
        with ThreadPoolExecutor(len(cases)) as pool:        # one run per thread, all at once
            results = dict(zip(cases, pool.map(one, cases)))
        for (mode, how), (r, took) in results.items():
            assert r.status == ("exited" if how == "exit" else "timeout"), (mode, how, r)
            assert took < 2.5 + 20 and b"child" in r.printed, (mode, how, took, r)
            assert gone(tags[mode, how], 10.0), (mode, how, "a process of the run outlived it")
        time.sleep(max(0.0, start + 4.5 - time.monotonic()))   # past the grandchild's 3 s
        written = sorted(p.name for p in folder.iterdir())
        assert not [c for c in cases if c[0] != "session" and tags[c] in written]
    finally:
        remove(folder)


@pytest.mark.parametrize("mode", ISOLATED)
def test_a_run_sees_only_its_own_processes_and_cannot_kill_another(mode):
    need(mode)
    tag = f"tag-{secrets.token_hex(6)}"
    killer = """
        import os, signal, sys
        seen, killed = [], []
        for p in os.listdir("/proc"):
            if p.isdigit():
                seen.append(int(p))
                try:
                    if b"python" in open(f"/proc/{p}/cmdline", "rb").read() and int(p) != os.getpid():
                        os.kill(int(p), signal.SIGKILL); killed.append(int(p))
                except OSError:
                    pass
        os.write(int(sys.argv[1]), repr((seen, killed, os.getpid())).encode())
        """
    with ThreadPoolExecutor(1) as pool:
        victim = pool.submit(run, "import time\ntime.sleep(60)\n", tag, timeout=60, isolation=mode)
        end = time.monotonic() + 30
        while not alive(tag) and time.monotonic() < end:
            time.sleep(0.05)
        assert alive(tag)
        k = run(killer, isolation=mode)                  # while the other run is there
        assert (k.status, k.returncode) == ("exited", 0)
        assert eval(k.channel) == ([1], [], 1)           # itself, PID 1 of its namespace, nothing else
        assert alive(tag) and not victim.done()          # the other run is unharmed
        kill_all()
        with pytest.raises(RunKilled):
            victim.result(timeout=10)


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_a_child_that_deletes_and_locks_its_working_folder(mode):
    need(mode)
    r = run("""
        import os, shutil, sys
        fd = int(sys.argv[1])
        here = os.getcwd()
        os.makedirs("deep/er"); open("deep/er/f", "w").write("x")
        os.chmod("deep/er", 0); os.chmod("deep", 0)
        for name in os.listdir("."):
            if name != "deep":
                os.remove(name)
        try:
            os.rmdir(here)
        except OSError:
            pass
        os.chmod(here, 0)
        os.write(fd, here.encode())
        """, isolation=mode)
    assert (r.status, r.returncode) == ("exited", 0), r
    here = Path(r.channel.decode())
    assert here.parent.parent == sandbox._base_dir()
    assert not here.parent.exists()                 # the parent's temporary files are gone


FRESH = ("/tmp", "/var/tmp", "/dev/shm")           # what every run sees fresh (or read-only)


def _inside(path: Path, tops) -> bool:
    return any(path == Path(t) or Path(t) in path.parents for t in tops)


def scratch_folder() -> Path:
    """A folder of the parent's that is not under /tmp, /var/tmp or /dev/shm (which every run
    sees fresh): the repository's .pytest_cache (git ignores it), or, when the repository itself
    lies under /tmp (a CI clone there), a folder under /var/cache or /run."""
    candidates = [REPO / ".pytest_cache", Path("/var/cache/scratchae-tests"), Path("/run/scratchae-tests")]
    for base in candidates:
        if _inside(base.resolve(), FRESH):
            continue
        try:
            base.mkdir(parents=True, exist_ok=True)
            base.chmod(0o755)
            folder = Path(tempfile.mkdtemp(dir=base, prefix="sandbox-"))
        except OSError:
            continue
        folder.chmod(0o755)                             # readable by the run's uid, as a repository is
        return folder
    pytest.skip("no writable folder outside /tmp, /var/tmp and /dev/shm for a scratch folder")


PREFIX_IN_FRESH = _inside(Path(sys.prefix).resolve(), FRESH)


def remove(folder: Path) -> None:
    for p in sorted(folder.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() and not p.is_symlink() else p.unlink()
    folder.rmdir()


READ = textwrap.dedent("""
    import json, os, sys
    def read(p):
        try:
            return open(p).read()
        except OSError as e:
            return type(e).__name__
    """)


@pytest.mark.parametrize("mode", ISOLATED)
def test_hidden_paths_are_refused(mode):
    need(mode)
    top = scratch_folder()
    try:
        (top / "secret").mkdir()
        (top / "secret" / "answer.txt").write_text("42")
        (top / "lone.txt").write_text("hidden file")
        (top / "visible.txt").write_text("shown")
        r = run(READ + textwrap.dedent("""
            top = sys.argv[2]
            out = {k: read(os.path.join(top, k)) for k in ("secret/answer.txt", "lone.txt", "visible.txt")}
            out["listing"] = sorted(os.listdir(os.path.join(top, "secret")))
            try:
                open(os.path.join(top, "written"), "w")
                out["write"] = "written"
            except OSError as e:
                out["write"] = type(e).__name__
            os.write(int(sys.argv[1]), json.dumps(out).encode())
            """), str(top), hide=[top / "secret", top / "lone.txt", top / "missing"], isolation=mode)
        assert (r.status, r.returncode) == ("exited", 0), r
        got = json.loads(r.channel)
        assert got["secret/answer.txt"] == "FileNotFoundError" and got["listing"] == []
        assert got["lone.txt"] in ("PermissionError", "")               # never its text
        assert got["visible.txt"] == "shown" and got["write"] == "OSError"     # read-only
        assert not (top / "written").exists()
    finally:
        remove(top)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


@pytest.mark.parametrize("mode", ISOLATED)
def test_hiding_the_repository_and_the_folder_of_the_interpreter(mode):
    """The repository's tests/ are refused; a hidden folder that holds the interpreter's prefix
    (the repository itself, in CI) shows only the way down to it, and numpy imports."""
    need(mode)
    prefix_parent = os.path.dirname(os.path.realpath(sys.prefix))
    hide = [REPO]
    if not any(_under(os.path.realpath(p), prefix_parent) for p in ("/usr/lib", "/lib", "/usr/bin", "/bin")):
        hide.append(prefix_parent)                     # (not where the system's libraries live)
    r = run(READ + textwrap.dedent("""
        import numpy
        os.write(int(sys.argv[1]), json.dumps({"tests": read(sys.argv[2]), "listing": sorted(os.listdir(sys.argv[3])),
                 "numpy": float(numpy.arange(4).sum()), "prefix": sys.prefix}).encode())
        """), str(REPO / "tests" / "test_sandbox.py"), prefix_parent, hide=hide, isolation=mode)
    assert (r.status, r.returncode) == ("exited", 0), r
    got = json.loads(r.channel)
    assert got["tests"] == "FileNotFoundError" and got["numpy"] == 6.0 and got["prefix"] == sys.prefix
    if prefix_parent in map(str, hide):
        kept = {os.path.basename(p) for p in sandbox._kept_paths()} | {sandbox._base_dir().name}
        assert set(got["listing"]) <= kept                 # (and the runs' own folder, if it is there)
        assert os.path.basename(os.path.realpath(sys.prefix)) in got["listing"]


@pytest.mark.parametrize("mode", ISOLATED)
def test_hiding_a_folder_that_holds_the_virtual_environment(mode, tmp_path):
    """CI's case: the venv inside the repository, and the repository hidden."""
    need(mode)
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "solution.py").write_text("ANSWER = 42")
    venv = repo / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    numpy_site = os.path.dirname(os.path.dirname(importlib.util.find_spec("numpy").origin))
    (site / "outer.pth").write_text(numpy_site + "\n")          # numpy, from this interpreter's site
    driver = f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from scratchae.exercises.sandbox import run_jailed
        code = b'''import json, os, sys, numpy
        def read(p):
            try:
                return open(p).read()
            except OSError as e:
                return type(e).__name__
        os.write(3, json.dumps({{"prefix": sys.prefix, "numpy": float(numpy.ones(2).sum()),
                 "repo": sorted(os.listdir({str(repo)!r})), "solution": read({str(repo / "tests" / "solution.py")!r})}}).encode())
        '''
        r = run_jailed({{"s.py": code}}, ["s.py"], b"", timeout=30, hide=[{str(repo)!r}], isolation={mode!r})
        print(json.dumps({{"channel": r.channel.decode(), "printed": r.printed.decode(), "rc": r.returncode}}))
        """
    p = subprocess.run([str(venv / "bin" / "python"), "-c", textwrap.dedent(driver)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["rc"] == 0, out
    got = json.loads(out["channel"])
    assert got["prefix"] == str(venv) and got["numpy"] == 2.0
    assert got["repo"] == [".venv"] and got["solution"] in ("FileNotFoundError", "PermissionError")


@NEEDS_ROOT
def test_limits_and_a_uid_of_its_own_under_root():
    need("user+namespaces")
    code = """
        import json, os, resource, sys
        names = ["RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE"]
        status = dict(l.split(":", 1) for l in open("/proc/self/status"))
        os.write(int(sys.argv[1]), json.dumps({"limits": {n: resource.getrlimit(getattr(resource, n))[0] for n in names},
            "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "pid": os.getpid(),
            "nnp": status["NoNewPrivs"].strip(), "caps": status["CapEff"].strip()}).encode())
        """
    r = run(code, limits=Limits(memory_bytes=1 << 30, cpu_seconds=7, processes=32, file_bytes=1 << 20, open_files=128),
            isolation="user+namespaces")
    got = json.loads(r.channel)
    assert got["limits"] == {"RLIMIT_AS": 1 << 30, "RLIMIT_CPU": 7, "RLIMIT_NPROC": 32, "RLIMIT_FSIZE": 1 << 20,
                             "RLIMIT_NOFILE": 128, "RLIMIT_CORE": 0}
    assert 100000 <= got["uid"] < 160000 and got["gid"] == got["uid"] and got["groups"] == []
    assert got["pid"] == 1 and got["nnp"] == "1" and int(got["caps"], 16) == 0
    r = run(code, timeout=4.2, isolation="user+namespaces")                      # default limits
    assert json.loads(r.channel)["limits"]["RLIMIT_CPU"] == 10          # ceil(4.2) + 5


def test_limits_in_an_unprivileged_user_namespace():
    need("namespaces")
    r = run("""
        import json, os, resource, sys
        os.write(int(sys.argv[1]), json.dumps([resource.getrlimit(resource.RLIMIT_NPROC)[0],
                 resource.getrlimit(resource.RLIMIT_AS)[0], os.getuid(), os.getpid()]).encode())
        """, limits=Limits(processes=5), isolation="namespaces")
    nproc, mem, uid, pid = json.loads(r.channel)
    assert nproc == resource.getrlimit(resource.RLIMIT_NPROC)[0]   # not applied: it counts the caller's
    assert mem == 2 << 30 and uid != 0 and pid == 1


def test_floods_are_capped():
    r = run("""
        import os, sys
        for _ in range(10):
            os.write(int(sys.argv[1]), b"c" * 100_000)
        while True:
            sys.stdout.write("x" * 10_000)
        """, timeout=3, channel_limit=1000)
    assert (r.status, r.returncode) == ("timeout", None)
    assert r.channel == b"c" * 1000 and r.channel_dropped == 1_000_000 - 1000
    assert r.printed == b"x" * 20_000 and r.printed_dropped > 0


HOSTILE = """
    import os, signal, sys, time
    import numpy as np
    fd = int(sys.argv[1])
    for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
        signal.signal(s, signal.SIG_IGN)
    try:
        np.ones(10 << 30, dtype=np.uint8)
        os.write(fd, b"allocated ")
    except MemoryError:
        os.write(fd, b"MemoryError ")
    forked = 0
    for _ in range(100):
        try:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            forked += 1
        except OSError:
            pass
    os.write(fd, str(forked).encode())
    os.dup2(fd, 1); os.close(fd); os.close(0)
    while True:
        time.sleep(1)
    """


def test_a_hostile_child_ends_with_the_timeout():
    """10 GB, a hundred processes, signals ignored, descriptors shuffled: every mode at once."""
    modes = [m for m in sandbox.MODES if (m != "user+namespaces" or ROOT) and sandbox._works(m)]
    tags = {m: f"tag-{secrets.token_hex(6)}" for m in modes}

    def one(mode):
        t = time.monotonic()
        return run(HOSTILE, tags[mode], timeout=15, isolation=mode), time.monotonic() - t
    with ThreadPoolExecutor(len(modes)) as pool:
        results = dict(zip(modes, pool.map(one, modes)))
    for mode, (r, took) in results.items():
        assert took < 15 + 15 and (r.status, r.returncode) == ("timeout", None), (mode, r)
        mem, forked = r.channel.split()
        assert mem == b"MemoryError" and 0 < int(forked) <= (63 if mode == "user+namespaces" else 100), mode
        assert gone(tags[mode], 10.0), mode


@pytest.mark.parametrize("mode", ISOLATED)
def test_a_child_that_fills_its_folders(mode):
    need(mode)
    r = run("""
        import os, sys
        out = []
        for folder in (".", "/tmp", "/dev/shm"):
            n = 0
            try:
                while n < 1000:
                    with open(os.path.join(folder, f"f{n}"), "wb") as f:
                        f.write(b"x" * (1 << 20))
                    n += 1
            except OSError as e:
                out.append(f"{n}:{e.errno}")
        os.write(int(sys.argv[1]), " ".join(out).encode())
        """, limits=Limits(file_bytes=2 << 20), isolation=mode)
    assert (r.status, r.returncode) == ("exited", 0), r
    counts = [int(x.split(":")[0]) for x in r.channel.decode().split()]
    assert len(counts) == 3 and all(n < 100 for n in counts) and counts[0] > 0   # tmpfs of a bounded size
    if not PREFIX_IN_FRESH:                  # else /tmp is read-only: it holds the interpreter
        assert all(n > 0 for n in counts), counts


def test_the_session_fallback_returns_on_time_even_when_a_process_escapes():
    need("session")
    tag = f"tag-{secrets.token_hex(6)}"
    try:
        t = time.monotonic()
        r = run("""
            import os, sys, time
            if os.fork() == 0:
                os.setsid()           # out of the group, and a clean environment: out of reach
                os.execve(sys.executable, [sys.executable, "-c", "import time; time.sleep(30)", sys.argv[2]], {})
            time.sleep(0.3)
            os.write(int(sys.argv[1]), b"bye")
            """, tag, timeout=10, isolation="session")
        assert time.monotonic() - t < 10 + 15
        assert (r.status, r.returncode, r.channel, r.isolation) == ("exited", 0, b"bye", "session")
        t = time.monotonic()
        r = run("import time\ntime.sleep(30)\n", timeout=1.5, isolation="session")
        assert time.monotonic() - t < 1.5 + 5 and r.status == "timeout"
    finally:
        for p in alive(tag):
            os.kill(p, signal.SIGKILL)


def test_runs_in_threads_at_once():
    code = "import os, sys\nos.write(int(sys.argv[1]), sys.argv[2].encode())\n"
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda i: run(code, str(i)), range(4)))
    assert [r.channel for r in runs] == [b"0", b"1", b"2", b"3"]


def test_kill_all_stops_the_runs_of_worker_threads():
    tag = f"tag-{secrets.token_hex(6)}"
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run, "import time\ntime.sleep(60)\n", tag, timeout=60)
        end = time.monotonic() + 20
        while not alive(tag) and time.monotonic() < end:
            time.sleep(0.05)
        assert alive(tag)
        assert kill_all() == 1
        with pytest.raises(RunKilled):
            future.result(timeout=10)
    assert not alive(tag) and not sandbox._LIVE


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_ctrl_c_sigterm_or_the_death_of_the_parent_kills_the_run(sig):
    if sig == signal.SIGKILL and isolation_available() == "session":
        pytest.skip("in session mode a process that calls setsid outlives a parent killed outright")
    tag = f"tag-{secrets.token_hex(6)}"
    driver = f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from scratchae.exercises.sandbox import run_jailed
        code = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\ntime.sleep(60)"
        run_jailed({{}}, ["-c", code, sys.argv[1][::-1]], b"", timeout=60)
        """
    def default_signals():        # the suite may run in the background (SIGINT ignored) or under nohup
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})

    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(driver), tag[::-1]], preexec_fn=default_signals)
    try:
        end = time.monotonic() + 30
        while not alive(tag) and time.monotonic() < end and p.poll() is None:
            time.sleep(0.05)
        assert alive(tag)
        p.send_signal(sig)
        rc = p.wait(timeout=60)
        assert rc == -sig if sig != signal.SIGINT else rc != 0
        assert gone(tag, 10.0)
        left = [d for d in sandbox._base_dir().glob("run-*") if tag in read_or_empty(d / "config.json")]
        assert len(left) == (sig == signal.SIGKILL)   # only a parent killed outright leaves its folder,
        sandbox._sweep(sandbox._base_dir())           # which the next process removes
        assert not any(d.exists() for d in left)
    finally:
        p.kill()
        p.wait()


def test_bad_arguments_and_a_setup_that_fails():
    with pytest.raises(ValueError):
        run_jailed({"../escape.py": b""}, ["-c", "pass"], b"", timeout=5)
    with pytest.raises(ValueError):
        run_jailed({}, ["-c", "pass"], b"", timeout=5, isolation="chroot")
    with pytest.raises(JailError):                      # "a" is a file, then a folder
        run_jailed({"a": b"", "a/b": b""}, ["-c", "pass"], b"", timeout=5)
