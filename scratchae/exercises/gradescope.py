"""Gradescope's results.json for a graded submission, as Gradescope's autograder reads it.

    results(grade, visibility="visible", hidden=(), hidden_visibility="after_due_date") -> dict
    gradescope(grade)                  -> dict   the same, every check visible
    class_results(piece, grades, ...)  -> dict   a folder: one results object per submission
    hidden_checks(piece, "by hand,dL/dx") -> ("by hand", "dL/dx")   names checked against the rubric

What Gradescope reads (its "Autograder Specifications"): the top-level `score`, `max_score`,
`output` (shown to the learner above the tests), `output_format`, `visibility`,
`stdout_visibility` (who sees what run_autograder printed) and `execution_time`, and one entry
in `tests` per check of the rubric, each with `name`, `score`, `max_score`, `status`, `output`,
`output_format` and `visibility`.

`output_format` is "text" everywhere: Gradescope then renders no HTML, Markdown or ANSI, so a
message or a line the learner's code printed is shown as the characters it is, never as markup
(its default for the top-level output, "simple_format", renders HTML). Every string that can
come from a submission (what it printed, the messages its errors produced, its file's name) is
cleaned of ANSI escapes and control characters (`_text.clean`) and cut to a length first.

Hiding checks until the due date: the checks named in `hidden` get `hidden_visibility`
("after_due_date", "after_published" or "hidden"); the others get `visibility`. Gradescope
does not show a learner their total while a test is hidden, so the top-level output then
gives only the points of the checks shown, and what the submission printed (which can show
what a hidden check handed it) moves to an extra test of its own, without points, hidden like
the hidden checks.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from ._text import clean

#: Gradescope's visibility settings, from the most visible to the least.
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
#: What a hidden check can be: anything but "visible".
HIDDEN_VISIBILITIES = ("after_due_date", "after_published", "hidden")
OUTPUT_FORMAT = "text"
PRINTED_LIMIT = 4000        # characters of what the submission printed, in results.json
MESSAGE_LIMIT = 2000        # characters of one check's message
NAME_LIMIT = 200            # characters of a submission's or a check's name
#: The name of the extra test that carries what the code printed, when some checks are hidden.
PRINTED_TEST = "what your code printed"

_WHEN = {"after_due_date": "after the due date", "after_published": "when the grades are published",
         "hidden": "to your teacher only"}
_RANK = {"visible": 0, "after_due_date": 1, "after_published": 1, "hidden": 2}


def _points(x: float) -> float | int:
    """A score as Gradescope shows it: rounded to 2 decimals, an integer when it is one."""
    x = round(float(x), 2)
    return int(x) if x == int(x) else x


def _choice(value: Any, allowed: Sequence[str], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _check_grade(g: Any) -> None:
    missing = [a for a in ("piece", "submission", "status", "checks", "printed", "reason", "seconds")
               if not hasattr(g, a)]
    if missing:
        raise TypeError(f"expected a Grade (scratchae.exercises.grading.Grade), got "
                        f"{type(g).__name__} without {', '.join(missing)}")
    for c in g.checks:
        if not all(hasattr(c, a) for a in ("name", "title", "weight", "score", "message")):
            raise TypeError(f"expected the Grade's checks to be Check objects, got {type(c).__name__}")
        if not (math.isfinite(c.score) and math.isfinite(c.weight)):
            raise ValueError(f"check {c.name!r} has a score that is not a finite number: "
                             f"{c.score!r} of {c.weight!r}")


def split_names(texts: Iterable[str]) -> list[str]:
    """The check names in `--hidden` values: each value a comma-separated list; spaces around a
    name are dropped ("by hand, dL/dx" -> ["by hand", "dL/dx"]); empty names are an error."""
    names: list[str] = []
    for text in texts:
        for name in str(text).split(","):
            name = " ".join(name.split())
            if not name:
                raise ValueError(f"an empty check name in {text!r}: expected names separated by "
                                 "commas, such as 'by hand,dL/dx'")
            if name not in names:
                names.append(name)
    return names


def hidden_checks(piece: str, names: Iterable[str] | str, rubric: Sequence[Any] | None = None) -> tuple[str, ...]:
    """`names` (a comma-separated string, or names) checked against the rubric of `piece`
    (`rubric`: its items, each with `.name`; default: scratchae.exercises.grading.RUBRICS).
    A ValueError names the exercise's checks when one is not among them."""
    if rubric is None:
        from .grading import RUBRICS
        if piece not in RUBRICS:
            raise ValueError(f"unknown exercise {piece!r}: expected one of {', '.join(RUBRICS)}")
        rubric = RUBRICS[piece]
    valid = [item.name for item in rubric]
    wanted = split_names([names] if isinstance(names, str) else names)
    unknown = [n for n in wanted if n not in valid]
    if unknown:
        raise ValueError(f"{', '.join(repr(n) for n in unknown)} {'is not a check' if len(unknown) == 1 else 'are not checks'}"
                         f" of {piece}; its checks are: {', '.join(valid)}")
    return tuple(wanted)


def _test_name(piece: str, c: Any) -> str:
    return clean(f"{piece}: {c.name}: {c.title}", NAME_LIMIT)


def results(g: Any, *, visibility: str = "visible", hidden: Iterable[str] = (),
            hidden_visibility: str = "after_due_date", stdout_visibility: str = "hidden",
            printed_limit: int = PRINTED_LIMIT) -> dict:
    """Gradescope's results.json for one Grade: `visibility` for the result and every check but
    those named in `hidden` (names of the grade's checks), which get `hidden_visibility`.
    `stdout_visibility`: who sees what run_autograder printed (default: the teacher only, since
    the terminal report lists the hidden checks too)."""
    _check_grade(g)
    _choice(visibility, VISIBILITIES, "visibility")
    _choice(hidden_visibility, HIDDEN_VISIBILITIES, "hidden_visibility (a hidden check is never 'visible')")
    _choice(stdout_visibility, VISIBILITIES, "stdout_visibility")
    if isinstance(hidden, str):
        hidden = [hidden]
    hidden = set(split_names(hidden))
    names = [c.name for c in g.checks]
    unknown = sorted(hidden - set(names))
    if unknown:
        raise ValueError(f"hidden names {', '.join(map(repr, unknown))}, not checks of this grade; "
                         f"its checks are: {', '.join(names)}")
    if hidden and _RANK[hidden_visibility] < _RANK[visibility]:
        raise ValueError(f"hidden checks ({hidden_visibility}) would be shown before the rest of the "
                         f"result ({visibility}): choose a hidden_visibility at least as strict")
    if not (isinstance(printed_limit, int) and printed_limit > 0):
        raise ValueError(f"printed_limit must be a positive number of characters, got {printed_limit!r}")
    piece = clean(g.piece, NAME_LIMIT)
    shown = [c for c in g.checks if c.name not in hidden]
    lines = []
    if hidden:
        later = sum(c.weight for c in g.checks if c.name in hidden)
        lines.append(f"scratchae exercise {piece}: {_points(sum(c.score for c in shown))} / "
                     f"{_points(sum(c.weight for c in shown))} in the checks shown now ({clean(g.status)}); "
                     f"{_points(later)} more points are in checks shown {_WHEN[hidden_visibility]}")
    else:
        lines.append(f"scratchae exercise {piece}: {_points(g.score)} / {_points(g.max_score)} "
                     f"({clean(g.status)})")
    if g.status != "graded" and g.reason:
        lines.append(f"{clean(g.reason, MESSAGE_LIMIT)}; the checks that did not report score 0")
    printed = clean(g.printed, printed_limit) if g.printed.strip() else ""
    if printed and not hidden:
        lines.append("Your code printed (shown for you, not read by the grader):\n" + printed)
    tests = [{"name": _test_name(piece, c), "score": _points(c.score), "max_score": _points(c.weight),
              "status": "passed" if c.score >= c.weight - 1e-9 else "failed",
              "output": clean(c.message, MESSAGE_LIMIT), "output_format": OUTPUT_FORMAT,
              "visibility": hidden_visibility if c.name in hidden else visibility} for c in g.checks]
    if printed and hidden:
        tests.append({"name": f"{piece}: {PRINTED_TEST} (shown for you, not read by the grader)",
                      "output": printed, "output_format": OUTPUT_FORMAT, "visibility": hidden_visibility})
    return {"score": _points(g.score), "max_score": _points(g.max_score),
            "execution_time": max(0, round(float(g.seconds))),
            "output": "\n".join(lines), "output_format": OUTPUT_FORMAT,
            "visibility": visibility, "stdout_visibility": stdout_visibility, "tests": tests}


def gradescope(g: Any) -> dict:
    """Gradescope's results.json for one Grade, every check visible: `results(g)`."""
    return results(g)


def class_results(piece: str, grades: Sequence[Any], **options: Any) -> dict:
    """A folder's grades as one JSON object: {"piece", "submissions": [{"submission", "status",
    and `results(g, **options)`'s keys}]} (for a teacher's records; Gradescope reads one
    submission's results.json, never this)."""
    return {"piece": piece, "submissions": [
        {"submission": clean(g.submission, NAME_LIMIT), "status": clean(g.status), **results(g, **options)}
        for g in grades]}
