"""Run a piece of a test in a forked child: as another user, under a memory limit, or where
a wrong result would be to hang or to read without end.

The child is a fork of the test process, so it needs no interpreter to start and no file of
the installation to read (a user dropped to `nobody` may not read root's Python). It reports
what `fn()` returned or raised, as `(kind, text)`: `("ok", repr(result))` or the exception's
class name and message. A child that does not finish within `seconds` is ended by its own
SIGALRM, which the parent reports as a failure: that bound is a safety net for behaviour
that is already wrong (a read that never ends), never a condition a passing test depends on.
"""
from __future__ import annotations

import json
import os
import resource
import signal
from typing import Any, Callable

#: The uid and gid of `nobody` on Linux, the user the root-only tests drop to.
NOBODY = 65534


def run_in_child(fn: Callable[[], Any], *, uid: int | None = None, memory: int | None = None,
                 seconds: int = 120) -> tuple[str, str]:
    """`fn()` in a forked child, as `uid` (and its gid) when given, with at most `memory`
    more bytes of address space than the child starts with when given."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                        # the child: never returns
        try:
            os.close(read_end)
            signal.alarm(seconds)
            if memory is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_AS)
                resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + memory, hard))
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            try:
                out = ("ok", repr(fn()))
            except BaseException as exc:                # noqa: BLE001 (reported, not hidden)
                out = (type(exc).__name__, str(exc))
            os.write(write_end, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()                                 # until the child's end closes the pipe
    _, status = os.waitpid(pid, 0)
    if not data:
        raise AssertionError(f"the child ended without a result (wait status {status}): "
                             f"it hung for {seconds} s or crashed")
    kind, text = json.loads(data)
    return kind, text


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")
