"""`scratchae grade`: grade exercise submissions with partial credit, for a teacher or an autograder.

    scratchae grade dense my_dense.py                       the checks, their points, the total
    scratchae grade dense my_dense.py --json results.json   Gradescope's results.json, as is
    scratchae grade dense submissions/ --csv grades.csv     a folder: one line per submission

Each submission runs in its own Python process with a time limit; its score is read from a
pipe the grader created, never from what it prints (scratchae.exercises.grading). Exit code 0
when the grading ran, whatever the scores; 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from .._files import atomic_write
from . import EXIT_OK, UsageError

EPILOG = """\
a submission is a .py file made from the template (scratchae gradcheck --exercise PIECE --init FILE);
in a folder, each .py file is one submission, and so is each sub-folder holding one .py file.
Each exercise is worth 10 points, over checks graded one by one (see docs/teaching.md).

for Gradescope, the autograder's run_autograder can be:
  pip install scratchae
  scratchae grade dense /autograder/submission/my_dense.py --json /autograder/results/results.json
"""


def add_commands(sub) -> None:
    from ..exercises import EXERCISES

    p = sub.add_parser("grade", help="grade exercise submissions (partial credit, Gradescope JSON)",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("piece", metavar="PIECE", help="the exercise: " + ", ".join(EXERCISES))
    p.add_argument("path", metavar="PATH", help="a submission file, or a folder of submissions")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON (one file: Gradescope's "
                                                 "results.json; '-' prints it instead of the table)")
    p.add_argument("--csv", metavar="FILE", help="write the table as CSV, a column per check")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="wall-clock seconds per submission (default: 60)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="submissions graded at the same time (default: 1)")
    p.set_defaults(run=run)


def _write(path: str, text: str) -> None:
    try:
        atomic_write(path, lambda f: f.write(text), text=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def report(g) -> str:
    """One submission's checks for the learner: points, what each checks, why points were lost."""
    from ..exercises.grading import _num

    width = max(len(c.name) for c in g.checks)
    lines = [f"scratchae grade {g.piece} {g.submission}: each check on its own, in a separate process"]
    for c in g.checks:
        points = f"{_num(c.score)} / {_num(c.weight)}"
        lines.append(f"  {c.name:<{width}}  {points:>9}  {c.title}")
        if not c.passed:
            lines.append(f"  {'':<{width}}  {'':>9}  -> {c.message}")
    lines.append(f"total: {_num(g.score)} / {_num(g.max_score)} ({g.status}, {g.seconds:.1f} s)")
    if g.printed.strip():
        lines.append(f"(your code printed {len(g.printed)} characters; the grader does not read them)")
    return "\n".join(lines)


def run(args) -> int:
    from ..exercises import EXERCISES, grading

    if args.piece not in EXERCISES:
        raise UsageError(f"unknown exercise {args.piece!r}; choose from {', '.join(EXERCISES)}")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be a positive integer, got {args.jobs}")
    path = Path(args.path)
    if path.is_dir():
        grades = grading.grade_folder(args.piece, path, timeout=args.timeout, jobs=args.jobs)
        if not grades:
            raise UsageError(f"no submissions in {path} (.py files, or sub-folders with one .py file)")
        if args.json:
            data = {"piece": args.piece, "submissions": [
                {"submission": g.submission, "status": g.status, **grading.gradescope(g)} for g in grades]}
            text = json.dumps(data, indent=2) + "\n"
            if args.json == "-":
                sys.stdout.write(text)
            else:
                _write(args.json, text)
        if args.json != "-":
            print(grading.table(grades))
        if args.csv:
            _write(args.csv, grading.csv_text(grades))
        return EXIT_OK
    if not path.is_file():
        raise UsageError(f"{path}: no such file or folder")
    g = grading.grade_submission(args.piece, path, timeout=args.timeout)
    if args.json:
        text = json.dumps(grading.gradescope(g), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
            return EXIT_OK
        _write(args.json, text)
    print(report(g))
    if args.csv:
        _write(args.csv, grading.csv_text([g]))
    if args.json:
        print(f"wrote {os.path.normpath(args.json)}")
    return EXIT_OK
