"""Grading an exercise like a course: partial credit, machine-readable, and a crash never helps.

    grade_submission(piece, path)   -> Grade        one file, run in a separate Python process
    grade_folder(piece, folder)     -> list[Grade]  every submission in a folder
    gradescope(grade)               -> dict         Gradescope's results.json, as is
    table(grades), csv_text(grades)                 one line per submission, for the teacher

The rubric (`RUBRICS`): each exercise is worth 10 points, split over checks that are graded one
by one and never stop at the first failure: the forward unchanged (1), the structure of the
gradients (1), each tensor's gradient against finite differences, the kink convention where
there is one, and a known answer worked by hand (2). Adam and the model's backward, which have
no gradient of their own, are graded on their closed form and hand-made pieces instead. A
forward that differs from the template's scores its gradient checks 0 (they compare the
backward with *that* forward). No reference solution is involved anywhere.

How a submission runs (this module is the parent's side; `_child.py` the child's). The
parent starts `python -m scratchae.exercises._child` in a new
session, in an empty temporary folder, and sends it (on stdin, then closed) the file, the
exercise and a random token. The child imports the file and runs the exercise's parts one at a
time, each under an alarm (`part_timeout`), and writes one JSON line per part, with the token,
to a pipe the parent created and handed over as an extra file descriptor. The parent reads
only that pipe: what the submission prints (stdout, stderr) is kept as feedback, never parsed,
so a printed "score: 10/10" changes nothing. The whole run has a wall-clock limit (`timeout`),
after which the process group is killed; parts that did not report score 0, with the reason
(time limit, or the interpreter ended: sys.exit in a part is caught, os._exit is not). Scores
are computed in the parent from its own rubric: a part can at most report its rows passed.

What it is not: a sandbox. The submission runs with the grader's rights, in the grader's
interpreter; code written to attack the grader (read the token from memory, patch numpy) can
forge a result. Run untrusted code in a container, as Gradescope does.
"""
from __future__ import annotations

import csv
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import EXERCISES

PARAMS = ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias")


@dataclass(frozen=True)
class Item:
    """One graded check: `name` (a table column), `title` (what it checks), points, and the
    rows it reads: those of `part` named in `tensors` (all of the part's rows if empty), or,
    kind "structure", whether any row of `part` is a STRUCTURE or ERROR row."""

    name: str
    title: str
    weight: float
    part: str
    tensors: tuple[str, ...] = ()
    kind: str = "rows"


def _standard(tensors: list[tuple[str, str, float]], kink: tuple[str, float] | None = None) -> tuple:
    items = [Item("forward", "forward unchanged from the template", 1, "forward", ("forward",)),
             Item("structure", "gradients: float arrays of the right shapes, no exception", 1,
                  "gradients", kind="structure")]
    items += [Item(label, f"{label} against finite differences", w, "gradients", (t,))
              for label, t, w in tensors]
    if kink:
        items.append(Item("kink", "the convention at exactly 0: gradient 0", kink[1], "gradients", (kink[0],)))
    return tuple(items) + (Item("by hand", "a known answer worked by hand", 2, "by hand"),)


RUBRICS: dict[str, tuple[Item, ...]] = {
    "dense": _standard([("dL/dkernel", "kernel", 2), ("dL/dbias", "bias", 2), ("dL/dx", "x", 2)]),
    "relu": _standard([("dL/dx", "x", 4)], ("x at 0", 2)),
    "sigmoid": _standard([("dL/dx", "x", 6)]),
    "bce": _standard([("dL/dp", "y_pred", 6)]),
    "mse": _standard([("dL/dp", "y_pred", 6)]),
    "l1": _standard([("dL/dh", "h", 4)], ("h at 0", 2)),
    "kl": _standard([("dL/dh", "h", 6)]),
    "bce-logits": _standard([("dL/dz", "z", 6)]),
    "adam": (Item("in place", "apply updates the caller's arrays in place", 1, "in place"),
             Item("by hand", "the first step, worked by hand", 2, "by hand"),
             Item("closed form", "5 steps against the closed form", 5, "closed form"),
             Item("two params", "two parameters in one apply: own m and v, one t", 2, "two parameters")),
    "model": (Item("structure", "returns (dx, grads): arrays of the right shapes, every key", 1,
                   "gradients", kind="structure"),
              Item("dL/dx", "dL/dx against finite differences", 2, "gradients", ("model/x",)),
              Item("params", "every parameter gradient against finite differences", 5, "gradients", PARAMS),
              Item("by hand", "order, chaining and values on hand-made pieces", 2, "by hand")),
}


@dataclass
class Check:
    """One graded check of one submission: points earned of `weight`, and why."""

    name: str
    title: str
    weight: float
    score: float
    message: str

    @property
    def passed(self) -> bool:
        return self.score >= self.weight - 1e-9


@dataclass
class Grade:
    """The grade of one submission: its checks, how its run ended, what it printed."""

    piece: str
    submission: str
    status: str                      # "graded", "not loaded", "timeout" or "crashed"
    checks: list[Check]
    seconds: float = 0.0
    printed: str = ""                # the submission's stdout and stderr (feedback only)
    reason: str = ""                 # why the run ended early (status other than "graded")

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.weight for c in self.checks)

    def first_problem(self) -> str:
        """Why the run ended early, else the first check that lost points and why."""
        if self.reason:
            return self.reason
        bad = next((c for c in self.checks if not c.passed), None)
        return "" if bad is None else f"{bad.name}: {bad.message}"


# -- scoring (in the parent) --------------------------------------------------------------------
def _row_text(r: dict) -> str:
    return r["text"] + (f" (hint: {r['hint']})" if r.get("hint") else "")


def score(piece: str, parts: dict[str, dict], missing: str) -> list[Check]:
    """The rubric's checks from what each part reported ({part: {"rows": [...]} or {"error": ...}});
    a part that did not report scores 0 with the reason `missing`."""
    checks = []
    forward_ok = True
    for item in RUBRICS[piece]:
        got = parts.get(item.part)
        if got is None or "rows" not in got:
            why = got["error"] if got else missing
            checks.append(Check(item.name, item.title, item.weight, 0.0, f"not graded: {why}"))
            continue
        rows = got["rows"]
        if item.kind == "structure":
            bad = [r for r in rows if r["how"] in ("structure", "raised")]
            frac = 0.0 if bad or not rows else 1.0
            msg = _row_text(bad[0]) if bad else "every gradient a finite float array of the right shape"
        else:
            wanted = item.tensors or tuple(f"{r['layer']}/{r['tensor']}" for r in rows)
            found = {}
            for r in rows:
                for key in (r["tensor"], f"{r['layer']}/{r['tensor']}"):
                    if key in wanted and (key not in found or not r["ok"]):
                        found[key] = r
            good = [t for t in wanted if t in found and found[t]["ok"]]
            frac = len(good) / len(wanted) if wanted else 0.0
            bad = [found.get(t) for t in wanted if t not in good]
            if not wanted or (bad and bad[0] is None):
                raised = next((r for r in rows if r["how"] in ("raised", "structure")), None)
                msg = _row_text(raised) if raised else "not checked: " + ", ".join(
                    t for t in wanted if t not in found)
            elif bad:
                msg = _row_text(bad[0])
            else:
                msg = "; ".join(found[t]["text"] for t in wanted[:3]) + (" ..." if len(wanted) > 3 else "")
        if item.part == "forward":
            forward_ok = frac == 1.0
        elif item.part == "gradients" and not forward_ok and piece not in ("adam", "model"):
            frac, msg = 0.0, ("not counted: your forward differs from the template's, and the "
                              "finite differences check your backward against your forward")
        checks.append(Check(item.name, item.title, item.weight, round(item.weight * frac, 4), msg))
    return checks


# -- running a submission (in the parent) -----------------------------------------------------------
class _Reader(threading.Thread):
    """Reads a stream to its end in the background, keeping at most `limit` bytes."""

    def __init__(self, stream, limit: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.limit, self.data, self.dropped = stream, limit, bytearray(), 0
        self.start()

    def run(self) -> None:
        try:
            while chunk := self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536):
                keep = max(0, self.limit - len(self.data))
                self.data += chunk[:keep]
                self.dropped += len(chunk) - min(len(chunk), keep)
        except (OSError, ValueError):
            pass


def _messages(data: bytes, token: str) -> list[dict]:
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("token") == token:
            out.append(msg)
    return out


def _valid_rows(rows: Any) -> list[dict] | None:
    if not isinstance(rows, list):
        return None
    keys = {"layer": str, "tensor": str, "how": str, "ok": bool, "text": str}
    clean = []
    for r in rows:
        if not (isinstance(r, dict) and all(isinstance(r.get(k), t) for k, t in keys.items())):
            return None
        clean.append({**{k: r[k] for k in keys}, "hint": r.get("hint") if isinstance(r.get("hint"), str) else None})
    return clean


def _env() -> dict:
    root = str(Path(__file__).resolve().parents[2])          # the folder holding this scratchae
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def grade_submission(piece: str, path: str | Path, *, timeout: float = 60.0,
                     part_timeout: float | None = None, name: str | None = None) -> Grade:
    """Grade one file in a separate process: at most `timeout` seconds of wall clock for the
    whole run, `part_timeout` (default: timeout / (2 x (parts + 1))) for its import and each part."""
    if piece not in EXERCISES:
        raise ValueError(f"unknown exercise {piece!r}: expected one of {sorted(EXERCISES)}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    path = Path(path)
    label = name or path.name
    if part_timeout is None:
        part_timeout = timeout / (2 * (len(EXERCISES[piece].parts) + 1))
    elif not (isinstance(part_timeout, (int, float)) and 0 < part_timeout < float("inf")):
        raise ValueError(f"part_timeout must be a number of seconds > 0, got {part_timeout!r}")
    start = time.perf_counter()
    if not path.is_file():
        return Grade(piece, label, "not loaded", score(piece, {}, f"{path}: no such file"),
                     reason=f"{path.name}: no such file")
    token = secrets.token_hex(16)
    r, w = os.pipe()
    header = {"token": token, "fd": w, "piece": piece, "path": str(path.resolve()),
              "part_timeout": part_timeout}
    timed_out = False
    with tempfile.TemporaryDirectory(prefix="scratchae-grade-") as tmp:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "scratchae.exercises._child"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    pass_fds=(w,), cwd=tmp, env=_env(), start_new_session=True)
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        _LIVE.add(proc.pid)
        channel = _Reader(os.fdopen(r, "rb"), 1 << 20)
        printed = _Reader(proc.stdout, 20_000)
        try:
            proc.stdin.write((json.dumps(header) + "\n").encode())
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:                 # also on Ctrl-C: the child and anything it started, running or not
            _kill_group(proc.pid)
            proc.wait()
        channel.join(5)
        printed.join(5)
        channel.stream.close()
        proc.stdout.close()
    seconds = time.perf_counter() - start
    parts: dict[str, dict] = {}
    load_error = done = None
    for msg in _messages(bytes(channel.data), token):
        if "load" in msg and load_error is None:         # the file's name, not the grader's path
            load_error = str(msg["load"]).replace(str(path.resolve()), path.name)[:2000]
        elif msg.get("done"):
            done = True
        elif isinstance(msg.get("part"), str) and msg["part"] not in parts:
            rows = _valid_rows(msg.get("rows"))
            parts[msg["part"]] = {"rows": rows} if rows is not None else {
                "error": str(msg.get("error", "no result"))[:2000]}
    output = bytes(printed.data).decode("utf-8", "replace") + (
        f"\n[... {printed.dropped} more bytes not kept]" if printed.dropped else "")
    if load_error is not None:
        status, missing = "not loaded", load_error
    elif done:
        status, missing = "graded", "no result"
    elif timed_out:
        status, missing = "timeout", f"the time limit of {timeout:g} s ran out before this part"
    else:
        status = "crashed"
        missing = (f"the Python process ended (exit code {proc.returncode}) before this part: an "
                   "os._exit or a crash in the submission?")
    return Grade(piece, label, status, score(piece, parts, missing), seconds, output,
                 "" if status == "graded" else missing)


#: Process groups of the submissions running now (so a Ctrl-C in grade_folder can stop them).
_LIVE: set[int] = set()


def _kill_group(pid: int) -> None:
    """SIGKILL a submission's process group (it and anything it started), once."""
    _LIVE.discard(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def submissions(folder: str | Path) -> list[tuple[str, Path | None, str]]:
    """(name, file, problem) for each submission in `folder`: each .py file in it, and each
    sub-folder holding exactly one .py file (its name is the sub-folder's)."""
    out = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix == ".py":
            out.append((entry.name, entry, ""))
        elif entry.is_dir():
            files = sorted(p for p in entry.glob("*.py") if not p.name.startswith((".", "_")))
            if len(files) == 1:
                out.append((entry.name, files[0], ""))
            else:
                out.append((entry.name, None, f"{len(files)} .py files in {entry.name}/, expected one"))
    return out


def grade_folder(piece: str, folder: str | Path, *, timeout: float = 60.0,
                 part_timeout: float | None = None, jobs: int = 1) -> list[Grade]:
    """Grade every submission in `folder` (see `submissions`), `jobs` at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(entry):
        name, path, problem = entry
        if path is None:
            return Grade(piece, name, "not loaded", score(piece, {}, problem), reason=problem)
        return grade_submission(piece, path, timeout=timeout, part_timeout=part_timeout, name=name)

    if jobs <= 1:                       # in this thread: Ctrl-C reaches grade_submission's cleanup
        return [one(entry) for entry in submissions(folder)]
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        return list(pool.map(one, submissions(folder)))
    except BaseException:
        # Ctrl-C lands in this thread, not in the workers: stop every submission still running
        # (each in its own session, so the terminal's signal never reached them)
        for pid in list(_LIVE):
            _kill_group(pid)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- output ---------------------------------------------------------------------------------------
def _num(x: float) -> float | int:
    x = round(x, 2)
    return int(x) if x == int(x) else x


def gradescope(g: Grade) -> dict:
    """Gradescope's results.json for one submission: score, max_score, output, tests."""
    lines = [f"scratchae exercise {g.piece}: {_num(g.score)} / {_num(g.max_score)} ({g.status})"]
    if g.status != "graded":
        lines.append(f"{g.reason}; the checks that did not report score 0")
    if g.printed.strip():
        lines.append("Your code printed (shown for you, not read by the grader):\n" + g.printed[:1500])
    return {"score": _num(g.score), "max_score": _num(g.max_score), "output": "\n".join(lines),
            "tests": [{"name": f"{g.piece}: {c.name}: {c.title}", "score": _num(c.score),
                       "max_score": _num(c.weight), "status": "passed" if c.passed else "failed",
                       "output": c.message} for c in g.checks]}


def table(grades: list[Grade]) -> str:
    """One line per submission: score, status, each check's points, the first problem."""
    if not grades:
        return "(no submissions)"
    names = [c.name for c in grades[0].checks]
    head = ["submission", "score", "status"] + names + ["first problem"]
    body = [[g.submission, f"{_num(g.score)} / {_num(g.max_score)}", g.status]
            + [f"{_num(c.score)}" for c in g.checks] + [_short(g.first_problem(), 80)] for g in grades]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [head] + body)


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 3] + "..."


def csv_text(grades: list[Grade]) -> str:
    """The table as CSV, each check's points in its own column, the first problem in full."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    names = [c.name for c in grades[0].checks] if grades else []
    writer.writerow(["submission", "score", "max_score", "status"] + names + ["first_problem"])
    for g in grades:
        writer.writerow([g.submission, _num(g.score), _num(g.max_score), g.status]
                        + [_num(c.score) for c in g.checks] + [g.first_problem()])
    return buf.getvalue()
