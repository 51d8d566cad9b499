"""The grading child: `python -m scratchae.exercises._child`, started by `grading.grade_submission`.

It reads one JSON line from stdin (the token, the result pipe's file descriptor, the exercise,
the file, the time per part), closes stdin, runs the parts (`run_parts_here`) and writes each
result as a JSON line with the token to that descriptor, never to stdout: stdout and stderr
belong to the submission. It ends with os._exit, so nothing the submission registered to run at
exit can write after the last result.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from . import EXERCISES, load_class, load_piece


class PartTimeout(BaseException):
    """Raised by the alarm in a part that runs too long (a BaseException: `except Exception`
    in the submission does not swallow it)."""


@contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(signum, frame):
        raise PartTimeout()

    old = signal.signal(signal.SIGALRM, ring)
    # rings again every 50 ms until the part ends: a submission that swallows one PartTimeout
    # (a bare `except BaseException` in its loop) is unlikely to swallow them all
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _describe(exc: BaseException, path: str) -> str:
    from ..gradcheck import describe_raised
    if isinstance(exc, SystemExit):
        return f"the submission called sys.exit({exc.code!r})"
    return describe_raised(exc, path)


def _row_dict(r, path: str) -> dict:
    if r.how == "raised" and r.exception is not None:
        text = f"ERROR: {r.layer}.{r.tensor} raised: {_describe(r.exception, path)}"
    elif r.problem is not None:
        text = f"{r.flag}: {r.problem}"
    elif not r.ok:
        where = f"element {r.worst}" if r.worst is not None else "a random direction"
        text = f"WRONG at {where}: yours {r.analytic:.6g}, the check's {r.numeric:.6g}"
    else:
        text = f"{r.verdict} (max rel err {r.error:.1e})"
    return {"layer": r.layer, "tensor": r.tensor, "how": r.how, "ok": bool(r.ok), "text": text[:2000],
            "hint": r.hint.text if (r.hint is not None and not r.ok) else None}


def run_parts_here(piece: str, path: str, emit: Callable[[dict], None],
                   part_timeout: float | None = None) -> None:
    """Import the submission and run every part of the exercise in this process, reporting each
    through `emit` as soon as it is done: {"part", "rows"} or {"part", "error"}; {"load": ...}
    if the file cannot be loaded. Nothing the submission raises (SystemExit included) stops it."""
    try:
        with _alarm(part_timeout):
            cls = load_class(piece, path)
            load_piece(piece, path, cls)
    except PartTimeout:
        emit({"load": f"importing the file took more than {part_timeout:g} s (a loop at module level?)"})
        return
    except BaseException as exc:              # ExerciseError, FileNotFoundError, SystemExit ...
        emit({"load": str(exc) if isinstance(exc, Exception) else _describe(exc, path)})
        return
    for name, part in EXERCISES[piece].parts.items():
        try:
            with _alarm(part_timeout):
                rep = part(cls)
            emit({"part": name, "rows": [_row_dict(r, path) for r in rep.rows]})
        except PartTimeout:
            emit({"part": name, "error": f"this part took more than {part_timeout:g} s (an endless "
                                         "loop, or a sleep?)"})
        except BaseException as exc:
            emit({"part": name, "error": f"the submission raised {type(exc).__name__}: "
                                         f"{_describe(exc, path)}"})




def main() -> None:
    header = json.loads(sys.stdin.readline())
    sys.stdin.close()
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    channel = os.fdopen(header["fd"], "w", encoding="utf-8")
    token = header["token"]

    def emit(message: dict) -> None:
        channel.write(json.dumps({**message, "token": token}) + "\n")
        channel.flush()

    try:
        run_parts_here(header["piece"], header["path"], emit, header["part_timeout"])
        emit({"done": True})
    except BaseException:          # the pipe closed by the submission, or worse: no result
        os._exit(3)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
