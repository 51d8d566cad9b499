"""`scratchae grade`: grade exercise submissions with partial credit, for a teacher or an autograder.

    scratchae grade dense my_dense.py                       the checks, their points, the total
    scratchae grade dense my_dense.py --json results.json   Gradescope's results.json, as is
    scratchae grade dense submissions/ --csv grades.csv     a folder: one line per submission
    scratchae grade dense /autograder/submission --one --json /autograder/results/results.json

Each submission runs in a process of its own with a time limit; its score is computed by the
grader from what that process hands back, never from what it prints
(scratchae.exercises.grading). What PATH is:

    a .py file                       one submission
    a folder, with --one             one learner's upload (Gradescope's /autograder/submission):
                                     the one .py file in it or below it, whatever its name; none
                                     or several is that learner's grade of 0, with the reason
    a folder holding exactly one     one submission (its only .py file, whatever its name)
      .py file and no sub-folder
      with a .py file
    any other folder                 a class: each .py file in it is one submission, and so is
                                     each sub-folder holding one .py file; a table

Exit code 0 when the grading ran, whatever the scores; 1 when the grader itself failed on a
submission graded alone (its results.json says so); 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from .._files import atomic_write
from . import EXIT_FAILED, EXIT_OK, UsageError

MAX_TIMEOUT = 24 * 3600.0       # seconds: a longer --timeout is a typo, not a limit
MAX_JOBS = 64

EPILOG = """\
a submission is a .py file made from the template (scratchae gradcheck --exercise PIECE --init FILE),
under any name. Each exercise is worth 10 points, over checks graded one by one (docs/teaching.md).

what PATH is:
  a .py file                     one submission
  a folder, with --one           one learner's upload (Gradescope's /autograder/submission): the one
                                 .py file in it or below it; none or several is a grade of 0 saying so
  a folder with exactly one .py  one submission (its only .py file), when no sub-folder holds a .py file
  any other folder               a class: each .py file, and each sub-folder holding one .py file, is
                                 one submission; a table (--csv), and --json holds one result each
  (names starting with '.' or '_' are skipped)

--hidden takes the check names of the rubric (for dense: forward, ..., by hand); they get
--hidden-visibility in results.json, the rest --visibility.

for Gradescope (docs/gradescope.md: the zip, setup.sh and run_autograder in full), scratchae is
not on PyPI: the autograder zip holds a copy of its repository, and
  setup.sh:        pip3 install /autograder/source/scratchae
  run_autograder:  python3 -m scratchae grade dense /autograder/submission --one \\
                       --hide /autograder/source --json /autograder/results/results.json
"""


def add_commands(sub) -> None:
    from ..exercises import EXERCISES
    from ..exercises.gradescope import HIDDEN_VISIBILITIES, VISIBILITIES

    p = sub.add_parser("grade", help="grade exercise submissions (partial credit, Gradescope JSON)",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("piece", metavar="PIECE", help="the exercise: " + ", ".join(EXERCISES))
    p.add_argument("path", metavar="PATH",
                   help="a submission file; a folder holding one (its only .py file); or a folder of "
                        "submissions (a class: each .py file, and each sub-folder holding one .py file)")
    p.add_argument("--one", action="store_true",
                   help="PATH is one learner's upload: grade the one .py file in the folder or below it "
                        "(Gradescope's /autograder/submission); none or several is a grade of 0 that says so")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON (one submission: Gradescope's "
                                                 "results.json; '-' prints it instead of the report)")
    p.add_argument("--csv", metavar="FILE", help="write the table as CSV, a column per check")
    p.add_argument("--visibility", choices=VISIBILITIES, default=None,
                   help="results.json: when the learner sees the result and its checks (default: visible)")
    p.add_argument("--hidden", metavar="CHECK[,CHECK...]", action="append", default=[],
                   help="results.json: checks (rubric names, such as 'by hand') shown to the learner only "
                        "at --hidden-visibility; may be given more than once")
    p.add_argument("--hidden-visibility", choices=HIDDEN_VISIBILITIES, default=None,
                   help="when the --hidden checks are shown (default: after_due_date)")
    p.add_argument("--hide", metavar="PATH", action="append", default=[],
                   help="a file or folder the submissions' processes must not read (it must exist); "
                        "may be given more than once. The submissions' folder, the scratchae source "
                        "checkout and the folders of --json and --csv are hidden always")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help=f"wall-clock seconds per submission, at most {MAX_TIMEOUT:g} (default: 60)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help=f"submissions graded at the same time, at most {MAX_JOBS} and 4 per CPU (default: 1)")
    p.set_defaults(run=run)


# -- checking the arguments -----------------------------------------------------------------------
def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def max_jobs() -> int:
    """The largest --jobs: 64, or 4 per CPU this process may use, whichever is lower."""
    return max(1, min(MAX_JOBS, 4 * _cpus()))


def _check_numbers(args) -> None:
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_TIMEOUT):
        raise UsageError(f"--timeout must be a number of seconds > 0 and at most {MAX_TIMEOUT:g} "
                         f"(a day), got {args.timeout:g}")
    limit = max_jobs()
    if not 1 <= args.jobs <= limit:
        raise UsageError(f"--jobs must be between 1 and {limit} (at most {MAX_JOBS}, and 4 per CPU: "
                         f"{_cpus()} here), got {args.jobs}")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_outputs(args, submission: Path | None, folder: Path | None) -> list[Path]:
    """Refuse --json/--csv files that would overwrite the submission, land in the submissions'
    folder, or cannot be written; return the paths the submissions must not read because of them."""
    outputs = [(flag, value) for flag, value in (("--json", args.json), ("--csv", args.csv))
               if value and value != "-"]
    hides: list[Path] = []
    seen: dict[Path, str] = {}
    for flag, value in outputs:
        target = Path(value).expanduser().resolve()
        if target in seen:
            raise UsageError(f"{flag} {value} is the file {seen[target]} writes too: give two files")
        seen[target] = flag
        if submission is not None and target == submission:
            raise UsageError(f"{flag} {value} is the submission being graded: writing it would "
                             "overwrite the learner's work; write the results elsewhere")
        if folder is not None and _inside(target, folder):
            raise UsageError(f"{flag} {value} is inside the submissions' folder {args.path}: it would "
                             "overwrite a learner's file or be read as a submission; write it elsewhere")
        if target.is_dir():
            raise UsageError(f"{flag} {value} is a folder: expected a file name, such as "
                             f"{os.path.join(value, 'results.json' if flag == '--json' else 'grades.csv')}")
        if not target.parent.is_dir():
            raise UsageError(f"{flag} {value}: the folder {target.parent} does not exist")
        hides.append(target.parent)
    return hides


def _check_hides(values: list[str]) -> list[Path]:
    out = []
    for value in values:
        path = Path(value).expanduser()
        if not path.exists():
            raise UsageError(f"--hide {value}: no such file or folder (every --hide must exist)")
        out.append(path.resolve())
    return out


def _check_visibility(args) -> dict[str, Any]:
    """The options of results.json, checked against the exercise's rubric."""
    from ..exercises.gradescope import hidden_checks

    if (args.visibility or args.hidden or args.hidden_visibility) and not args.json:
        raise UsageError("--visibility, --hidden and --hidden-visibility set what results.json shows: "
                         "give --json FILE too")
    if args.hidden_visibility and not args.hidden:
        raise UsageError("--hidden-visibility says when the --hidden checks are shown: give "
                         "--hidden CHECK[,CHECK...] too")
    try:
        hidden = hidden_checks(args.piece, args.hidden) if args.hidden else ()
    except ValueError as exc:
        raise UsageError(f"--hidden: {exc}") from None
    options = {"visibility": args.visibility or "visible", "hidden": hidden,
               "hidden_visibility": args.hidden_visibility or "after_due_date"}
    if hidden and options["visibility"] == "hidden" and options["hidden_visibility"] != "hidden":
        raise UsageError(f"--hidden checks at {options['hidden_visibility']} would be shown while the "
                         "rest of the result (--visibility hidden) never is: drop --hidden, or give "
                         "--hidden-visibility hidden")
    return options


# -- what PATH is ---------------------------------------------------------------------------------
def _visible(path: Path, top: Path) -> bool:
    """Not a hidden name (. or _ first) anywhere between `top` and `path`."""
    return not any(part.startswith((".", "_")) for part in path.relative_to(top).parts)


def upload_file(folder: Path) -> tuple[Path | None, str]:
    """The one .py file of one learner's upload (`--one`): in `folder` or any folder below it,
    names starting with '.' or '_' skipped. (file, "") or (None, why not)."""
    found = sorted(p for p in folder.rglob("*.py") if p.is_file() and _visible(p, folder))
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"no .py file in the upload: upload your exercise file (a .py file made from the template)"
    names = ", ".join(str(p.relative_to(folder)) for p in found[:10]) + (" ..." if len(found) > 10 else "")
    return None, f"{len(found)} .py files in the upload ({names}): upload only your exercise file"


def single_file(folder: Path) -> Path | None:
    """The folder's only .py file when the folder is one submission: exactly one .py file in it
    and no sub-folder holding a .py file (names starting with '.' or '_' skipped); else None."""
    from ..exercises.grading import submissions

    entries = submissions(folder)
    if len(entries) == 1 and entries[0][1] is not None and entries[0][1].parent == folder:
        return entries[0][1]
    return None


# -- output ---------------------------------------------------------------------------------------
def _write(path: str, text: str) -> None:
    try:
        atomic_write(path, lambda f: f.write(text), text=True)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None


def report(g) -> str:
    """One submission's checks for the learner (scratchae.exercises.grading.report)."""
    from ..exercises.grading import report as text
    return text(g)


def _not_graded(piece: str, name: str, status: str, why: str):
    """A grade of 0 on every check of the rubric, with the reason (no process was run)."""
    from ..exercises.grading import not_graded
    return not_graded(piece, name, status, why)


def _json_text(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def run(args) -> int:
    from ..exercises import EXERCISES, grading
    from ..exercises._text import clean
    from ..exercises.gradescope import class_results, results

    if args.piece not in EXERCISES:
        raise UsageError(f"unknown exercise {args.piece!r}; choose from {', '.join(EXERCISES)}")
    _check_numbers(args)
    options = _check_visibility(args)
    hide = _check_hides(args.hide)
    path = Path(args.path).expanduser()
    if not path.exists():
        raise UsageError(f"{args.path}: no such file or folder")
    if path.is_file() and args.one:
        raise UsageError(f"--one takes the folder of one learner's upload; {args.path} is a file "
                         "(a file is one submission already: drop --one)")
    if not (path.is_file() or path.is_dir()):
        raise UsageError(f"{args.path}: neither a file nor a folder")
    folder = path.resolve() if path.is_dir() else None
    file = path.resolve() if path.is_file() else None
    problem = ""
    if folder is not None and args.one:
        file, problem = upload_file(folder)
    elif folder is not None:
        file = single_file(folder)
    hide += _check_outputs(args, file, folder)

    if file is None and not args.one:                   # a class
        grades = grading.grade_folder(args.piece, path, timeout=args.timeout, jobs=args.jobs, hide=hide)
        if not grades:
            raise UsageError(f"no submissions in {args.path} (.py files, or sub-folders with one .py file)")
        if args.json:
            text = _json_text(class_results(args.piece, grades, **options))
            if args.json == "-":
                sys.stdout.write(text)
            else:
                _write(args.json, text)
        if args.json != "-":
            print(grading.table(grades))
        if args.csv:
            _write(args.csv, grading.csv_text(grades))
        return EXIT_OK

    code = EXIT_OK
    if file is None:                                    # --one, and not one .py file
        g = _not_graded(args.piece, clean(path.name, 200), "not loaded", problem)
    else:
        try:
            g = grading.grade_submission(args.piece, file, timeout=args.timeout, hide=hide)
        except (ValueError, TypeError):
            raise
        except Exception as exc:        # the grader's own failure: say so in results.json too
            why = (f"the grader failed on this submission ({type(exc).__name__}: {clean(exc, 300)}); "
                   "this is not your code's fault: ask your teacher to regrade it")
            g, code = _not_graded(args.piece, clean(file.name, 200), "grader error", why), EXIT_FAILED
    if args.csv:
        _write(args.csv, grading.csv_text([g]))
    if args.json:
        text = _json_text(results(g, **options))
        if args.json == "-":
            sys.stdout.write(text)
            return code
        _write(args.json, text)
    print(report(g))
    if args.json:
        print(f"wrote {os.path.normpath(args.json)}")
    return code
