"""Grading an exercise like a course: partial credit, machine-readable, a verdict the file cannot touch.

    grade_submission(piece, path)   -> Grade        one file, run in a process of its own
    grade_folder(piece, folder)     -> list[Grade]  every submission in a folder
    check_class(piece, cls)         -> Grade        a trusted class, in this process (the shipped
                                                    wrong pieces of `scratchae gradcheck --broken`)
    table(grades), csv_text(grades)                 one line per submission, for the teacher

The judge and the judged. The grader (this module, the parent) reads the file, screens it
(`screen.py`), draws this run's calls (`plans.py`, a fresh seed each run), and starts the child:
`runner.py` as a plain script, in a process of its own (`sandbox.py`: where the grader runs as
root, its own PID and mount namespaces, an unprivileged uid, resource limits, an empty working
folder, and the solutions, the other submissions and the grader's outputs hidden). The child
imports the submission without scratchae, runs each call and writes back raw records (arrays)
on a pipe; the parent validates them (`channel.py`) and scores them against exact answers it
computes itself (`rubric.py`, `exact.py`). What the submission prints is kept as feedback
(cleaned of control characters), never parsed. Nothing the submission does in its own
interpreter (patching the checker, NumPy, the runner; walking the stack to the sender) can
reach a comparison: at most it changes the arrays it hands back, and a second record for one
call voids the grade. Every process of the run is gone when `grade_submission` returns, so
a grade written after it is the last word. docs/teaching.md says what holds where.

The rubric (`RUBRICS`): each exercise is worth 10 points over checks graded one by one
(`rubric.py`'s docstring lists the kinds).
"""
from __future__ import annotations

import csv
import io
import json
import math
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from . import EXERCISES, runner
from ._text import clean
from .channel import Records, read, say
from .plans import calls_of, plan
from .rubric import RUBRICS, Check, Item, score  # noqa: F401  (the rubric's names, re-exported)
from .screen import refusal, screen

RUNNER = Path(runner.__file__)
MAX_SOURCE = 1 << 20          # a submission file larger than 1 MiB is not an exercise


@dataclass
class Grade:
    """The grade of one submission: its checks, how its run ended, what it printed."""

    piece: str
    submission: str
    status: str                      # graded, not loaded, refused, tampered, timeout, crashed, grader error
    checks: list[Check]
    seconds: float = 0.0
    printed: str = ""                # the submission's stdout and stderr, cleaned (feedback only)
    reason: str = ""                 # why the run ended early (status other than "graded")
    isolation: str = ""              # how the child was isolated (sandbox.run_jailed)

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


def _zero(piece: str, why: str) -> list[Check]:
    return [Check(i.name, i.title, i.weight, 0.0, f"not graded: {why}") for i in RUBRICS[piece]]


def not_graded(piece: str, name: str, status: str, why: str) -> Grade:
    """A grade of 0 on every check of the rubric, with the reason (no process was run)."""
    return Grade(piece, name, status, _zero(piece, why), reason=why)


def _request(piece: str, seed: int | None) -> list[dict]:
    rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
    return plan(piece, rng)


def _expected(parts: list[dict]) -> dict[str, int]:
    return {p["name"]: calls_of(p) for p in parts}


def _part_timeout(piece: str, timeout: float, part_timeout: float | None) -> float:
    if part_timeout is None:
        return timeout / (2 * (len(_request(piece, 0)) + 1))
    if not (isinstance(part_timeout, (int, float)) and not isinstance(part_timeout, bool)
            and 0 < part_timeout < math.inf):
        raise ValueError(f"part_timeout must be a number of seconds > 0, got {part_timeout!r}")
    return float(part_timeout)


def source_checkout() -> Path | None:
    """The source repository this scratchae runs from (an editable install), if it is one: the
    folder holding scratchae/ beside tests/ or .git. Its tests/ hold the reference solutions."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "tests").is_dir() or (root / ".git").exists() else None


def default_hides(path: Path) -> list[Path]:
    """What a submission's process never sees: its own folder (the other submissions), and the
    source checkout scratchae runs from (the solutions)."""
    hides = [path.resolve().parent]
    root = source_checkout()
    if root is not None:
        hides.append(root)
    return hides


def grade_submission(piece: str, path: str | Path, *, timeout: float = 60.0,
                     part_timeout: float | None = None, name: str | None = None,
                     hide: Iterable[str | Path] = (), seed: int | None = None,
                     isolation: str | None = None, screened: bool = True) -> Grade:
    """Grade one file in a process of its own: at most `timeout` seconds of wall clock for the
    whole run, `part_timeout` (default: timeout / (2 x (parts + 1))) for its import and each
    part. `hide`: more paths its process must not read (its folder and the source checkout are
    always hidden). `seed` fixes this run's inputs (default: fresh ones). `screened=False`
    skips the reading of the file (`screen.py`): only for tests of what the run itself holds."""
    if piece not in EXERCISES:
        raise ValueError(f"unknown exercise {piece!r}: expected one of {sorted(EXERCISES)}")
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    per_part = _part_timeout(piece, timeout, part_timeout)
    path = Path(path)
    label = name or path.name
    try:
        if path.stat().st_size > MAX_SOURCE:
            why = f"{path.name} is larger than {MAX_SOURCE >> 20} MiB: not an exercise file"
            return Grade(piece, label, "not loaded", _zero(piece, why), reason=why)
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        why = f"{path.name}: no such file"
        return Grade(piece, label, "not loaded", _zero(piece, why), reason=why)
    except (OSError, UnicodeDecodeError) as exc:
        why = f"{path.name} cannot be read as UTF-8 text: {exc}"
        return Grade(piece, label, "not loaded", _zero(piece, why), reason=why)
    if screened:
        findings = screen(source)
        if findings:
            why = refusal(findings)
            return Grade(piece, label, "refused", _zero(piece, why), reason=why)
    return _run(piece, source, path.name, label, timeout, per_part,
                [*default_hides(path), *hide], seed, isolation)


def _run(piece, source, filename, label, timeout, per_part, hide, seed, isolation) -> Grade:
    from .sandbox import run_jailed

    parts = _request(piece, seed)
    token = secrets.token_hex(16)
    request = {"token": token, "class": EXERCISES[piece].class_name, "source": source,
               "filename": filename, "part_timeout": per_part, "parts": _wire(parts)}
    run = run_jailed({"runner.py": RUNNER.read_bytes()}, ["-u", "runner.py", "{channel_fd}"],
                     (json.dumps(request) + "\n").encode(), timeout=timeout, hide=hide,
                     isolation=isolation)
    records = read(run.channel, token, _expected(parts))
    printed = clean(run.printed.decode("utf-8", "replace"), 20_000) + (
        f"\n[... {run.printed_dropped} more bytes not kept]" if run.printed_dropped else "")
    return _verdict(piece, parts, records, filename, label, run.status == "timeout", run.returncode,
                    timeout, run.seconds, printed, run.isolation)


def _verdict(piece, parts, records: Records, filename, label, timed_out, returncode, timeout,
             seconds, printed="", isolation="") -> Grade:
    if records.tampered:
        why = ("the grader's result channel carried records the grader did not ask for "
               f"({records.tampered[0]}): the submission wrote to it itself")
        return Grade(piece, label, "tampered", _zero(piece, why), seconds, printed, why, isolation)
    if records.load is not None:
        why = f"{filename} could not be loaded: {say(records.load, filename)}"
        return Grade(piece, label, "not loaded", _zero(piece, why), seconds, printed, why, isolation)
    if records.done:
        status, missing = "graded", "no result"
    elif timed_out:
        status, missing = "timeout", f"the time limit of {timeout:g} s ran out before this part"
    else:
        status = "crashed"
        missing = (f"the Python process ended (exit code {returncode}) before this part: an "
                   "os._exit, a crash, or a resource limit (memory, processes, file size)?")
    checks = score(piece, parts, records, filename=filename, missing=missing)
    return Grade(piece, label, status, checks, seconds, printed, "" if status == "graded" else missing,
                 isolation)


def _wire(obj: Any) -> Any:
    """The request with its arrays in the channel's encoding."""
    if isinstance(obj, np.ndarray):
        return runner.encode(obj)
    if isinstance(obj, dict):
        return {k: _wire(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_wire(v) for v in obj]
    return obj


def check_class(piece: str, cls: type, *, seed: int | None = 0, label: str | None = None) -> Grade:
    """Grade a *trusted* class in this process, by the same calls and the same rubric (no
    process, no limits: for scratchae's own wrong pieces, never for a learner's file)."""
    parts = _request(piece, seed)
    token = "in-process"
    lines: list[str] = []

    def emit(message: dict) -> None:
        lines.append(json.dumps({**message, "token": token}))

    start = time.perf_counter()
    with np.errstate(all="ignore"):
        runner.run_parts(cls, runner.decode_trusted(_wire(parts)), emit, filename="<class>")
    lines.append(json.dumps({"done": True, "token": token}))
    records = read("\n".join(lines).encode(), token, _expected(parts))
    return _verdict(piece, parts, records, "<class>", label or cls.__name__, False, 0, 0,
                    time.perf_counter() - start)


# -- a folder -----------------------------------------------------------------------------------------
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
                 part_timeout: float | None = None, jobs: int = 1,
                 hide: Iterable[str | Path] = (), seed: int | None = None,
                 isolation: str | None = None, screened: bool = True) -> list[Grade]:
    """Grade every submission in `folder` (see `submissions`), `jobs` at a time. The whole folder
    is hidden from each run; one submission's failure, whatever it is, is its own grade
    ("grader error"), never the end of the folder's run. Options as `grade_submission`'s."""
    from concurrent.futures import ThreadPoolExecutor

    folder = Path(folder)
    hide = [folder.resolve(), *hide]
    entries = submissions(folder)

    def one(entry):
        name, path, problem = entry
        if path is None:
            return Grade(piece, name, "not loaded", _zero(piece, problem), reason=problem)
        try:
            return grade_submission(piece, path, timeout=timeout, part_timeout=part_timeout, name=name,
                                    hide=hide, seed=seed, isolation=isolation, screened=screened)
        except (ValueError, TypeError):
            raise
        except Exception as exc:        # the grader's own failure on this one: graded as such
            why = f"the grader failed on this submission: {type(exc).__name__}: {clean(exc, 300)}"
            return Grade(piece, name, "grader error", _zero(piece, why), reason=why)

    if jobs <= 1:
        return [one(entry) for entry in entries]
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        return list(pool.map(one, entries))
    except BaseException:
        from .sandbox import kill_all
        kill_all()                # Ctrl-C lands in this thread: stop every run still going
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- output ---------------------------------------------------------------------------------------
def _num(x: float) -> float | int:
    x = round(x, 2)
    return int(x) if x == int(x) else x


def gradescope(g: Grade) -> dict:
    """Gradescope's results.json for one submission (scratchae.exercises.gradescope)."""
    from .gradescope import gradescope as make
    return make(g)


def report(g: Grade, title: str | None = None) -> str:
    """One submission's checks for the learner: points, what each checks, why points were lost.
    Everything that came from the submission is cleaned of escapes and control characters."""
    width = max((len(c.name) for c in g.checks), default=5)
    lines = [title or f"scratchae grade {g.piece} {clean(g.submission, 200)}: each check on its own, "
                      "in a separate process"]
    for c in g.checks:
        points = f"{_num(c.score)} / {_num(c.weight)}"
        lines.append(f"  {c.name:<{width}}  {points:>9}  {c.title}")
        if not c.passed:
            lines.append(f"  {'':<{width}}  {'':>9}  -> {clean(c.message, 2000)}")
    lines.append(f"total: {_num(g.score)} / {_num(g.max_score)} ({g.status}, {g.seconds:.1f} s)")
    if g.reason and g.status != "graded":
        lines.append(f"why: {clean(g.reason, 2000)}")
    if g.printed.strip():
        lines.append(f"(your code printed {len(g.printed)} characters; the grader does not read them)")
    return "\n".join(lines)


def table(grades: list[Grade]) -> str:
    """One line per submission: score, status, each check's points, the first problem."""
    if not grades:
        return "(no submissions)"
    names = [c.name for c in grades[0].checks]
    head = ["submission", "score", "status"] + names + ["first problem"]
    body = [[clean(g.submission, 60), f"{_num(g.score)} / {_num(g.max_score)}", g.status]
            + [f"{_num(c.score)}" for c in g.checks] + [_short(g.first_problem(), 80)] for g in grades]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [head] + body)


def _short(text: str, n: int) -> str:
    text = " ".join(clean(text).split())
    return text if len(text) <= n else text[:n - 3] + "..."


def csv_text(grades: list[Grade]) -> str:
    """The table as CSV, each check's points in its own column, the first problem in full."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    names = [c.name for c in grades[0].checks] if grades else []
    writer.writerow(["submission", "score", "max_score", "status"] + names + ["first_problem"])
    for g in grades:
        writer.writerow([clean(g.submission), _num(g.score), _num(g.max_score), g.status]
                        + [_num(c.score) for c in g.checks] + [clean(g.first_problem())])
    return buf.getvalue()
