"""Gradescope: results.json as Gradescope reads it, what PATH is, what is refused, and the
documented autograder (docs/gradescope.md) run as written.

Most tests build `Grade` objects by hand and, for the command line, replace the grader's two
entry points with fakes that record their arguments: they need no child process. The tests of
the last section (END TO END) run the real grader on real files, and the documented
run_autograder with bash.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scratchae.cli import grade as cli_grade
from scratchae.cli import main
from scratchae.exercises import gradescope as gs
from scratchae.exercises import grading
from scratchae.exercises.grading import RUBRICS, Check, Grade

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "gradescope.md"
SOLUTIONS = Path(__file__).parent / "exercise_solutions"
TOP_KEYS = {"score", "max_score", "execution_time", "output", "output_format", "visibility",
            "stdout_visibility", "tests"}
TEST_KEYS = {"name", "score", "max_score", "status", "output", "output_format", "visibility"}


def make_grade(piece="dense", earned=None, *, status="graded", printed="", reason="", messages=None,
               submission="dense.py", seconds=1.6) -> Grade:
    """A Grade over the real rubric of `piece`: `earned` {check name: points} (default: full)."""
    earned, messages = earned or {}, messages or {}
    checks = [Check(i.name, i.title, i.weight, earned.get(i.name, i.weight),
                    messages.get(i.name, f"{i.name} fine")) for i in RUBRICS[piece]]
    return Grade(piece, submission, status, checks, seconds, printed, reason)


def names(piece="dense"):
    return [i.name for i in RUBRICS[piece]]


# =========================================================================================
# results.json, from hand-made grades
# =========================================================================================
def test_results_has_what_gradescope_reads_with_the_points_of_each_check():
    first, last = names()[0], names()[-1]
    g = make_grade(earned={first: 0, last: 2 / 3 * 2}, messages={first: "forward changed"})
    r = gs.results(g)
    assert set(r) == TOP_KEYS
    assert r["score"] == 8.33 and r["max_score"] == 10 and r["execution_time"] == 2
    assert r["output_format"] == "text" and r["visibility"] == "visible" and r["stdout_visibility"] == "hidden"
    assert r["output"] == "scratchae exercise dense: 8.33 / 10 (graded)"
    assert [t["name"] for t in r["tests"]] == [f"dense: {i.name}: {i.title}" for i in RUBRICS["dense"]]
    assert all(set(t) == TEST_KEYS for t in r["tests"])
    by = {t["name"].split(": ")[1]: t for t in r["tests"]}
    assert by[first] == {"name": by[first]["name"], "score": 0, "max_score": 1, "status": "failed",
                         "output": "forward changed", "output_format": "text", "visibility": "visible"}
    assert by[last]["score"] == 1.33 and by[last]["status"] == "failed"       # partial credit: failed
    assert sum(t["status"] == "passed" for t in r["tests"]) == len(names()) - 2
    assert json.loads(json.dumps(r)) == r                                     # plain JSON types


def test_gradescope_is_results_with_the_defaults():
    g = make_grade(earned={"by hand": 1}, printed="hello\n")
    assert gs.gradescope(g) == gs.results(g)
    assert gs.gradescope(g)["tests"][-1]["visibility"] == "visible"
    assert "Your code printed (shown for you, not read by the grader):\nhello" in gs.gradescope(g)["output"]


def test_a_run_that_ended_early_says_why_in_the_output():
    g = make_grade(earned={n: 0 for n in names()}, status="timeout",
                   reason="the time limit of 3 s ran out before this part")
    r = gs.results(g)
    assert r["score"] == 0 and r["output"].splitlines() == [
        "scratchae exercise dense: 0 / 10 (timeout)",
        "the time limit of 3 s ran out before this part; the checks that did not report score 0"]


def test_text_from_the_submission_is_cleaned_and_capped_everywhere_in_results():
    printed = "\x1b[2J\x1b[31mscore: 10/10\x1b[0m\r\x00\x07done\n" + "x" * 10_000
    message = "\x1b]0;pwned\x07wrong at (0, 1)\x1b[1A" + "y" * 5000
    g = make_grade(earned={"dL/dx": 0}, printed=printed, messages={"dL/dx": message},
                   submission="\x1b[2Jevil.py")
    text = json.dumps(gs.results(g))
    for bad in ("\\u001b", "\\r", "\\u0000", "\\u0007"):
        assert bad not in text, bad
    r = gs.results(g)
    shown = r["output"].split("not read by the grader):\n", 1)[1]
    assert shown.startswith("score: 10/10done\nxxx") and len(shown) == gs.PRINTED_LIMIT
    assert shown.endswith("...")
    out = next(t["output"] for t in r["tests"] if t["name"].startswith("dense: dL/dx:"))
    assert out.startswith("wrong at (0, 1)yyy") and len(out) == gs.MESSAGE_LIMIT
    assert "evil.py" in gs.class_results("dense", [g])["submissions"][0]["submission"]
    assert "\x1b" not in gs.class_results("dense", [g])["submissions"][0]["submission"]


def test_hidden_checks_get_their_visibility_and_the_output_hides_the_total():
    g = make_grade(earned={"by hand": 1, names()[2]: 1}, printed="shape (3,)\n")
    r = gs.results(g, hidden=["by hand"], hidden_visibility="after_published")
    vis = {t["name"].split(": ")[1]: t["visibility"] for t in r["tests"]}
    assert vis.pop("by hand") == "after_published"
    assert vis.pop(gs.PRINTED_TEST + " (shown for you, not read by the grader)") == "after_published"
    assert set(vis.values()) == {"visible"} and len(vis) == len(names()) - 1
    assert r["score"] == 8 and r["max_score"] == 10                     # the gradebook's total, whole
    assert r["output"] == ("scratchae exercise dense: 7 / 8 in the checks shown now (graded); "
                           "2 more points are in checks shown when the grades are published")
    assert "shape (3,)" not in r["output"]                            # printed text: hidden too
    extra = r["tests"][-1]
    assert set(extra) == {"name", "output", "output_format", "visibility"} and extra["output"] == "shape (3,)\n"


def test_visibility_of_the_whole_result_applies_to_every_check_not_hidden():
    r = gs.results(make_grade(), visibility="after_due_date", hidden="by hand, dL/dx",
                   hidden_visibility="hidden")
    assert r["visibility"] == "after_due_date"
    assert {t["name"].split(": ")[1]: t["visibility"] for t in r["tests"]} == {
        n: ("hidden" if n in ("by hand", "dL/dx") else "after_due_date") for n in names()}
    assert "to your teacher only" in r["output"]
    assert len(r["tests"]) == len(names())                               # nothing printed: no extra test


@pytest.mark.parametrize("kwargs, words", [
    ({"visibility": "public"}, "visibility must be one of visible, after_due_date, after_published, hidden; got 'public'"),
    ({"hidden": ["by hand"], "hidden_visibility": "visible"}, "a hidden check is never 'visible'"),
    ({"stdout_visibility": "always"}, "stdout_visibility must be one of"),
    ({"hidden": ["by hands"]}, "'by hands', not checks of this grade; its checks are: forward"),
    ({"hidden": "by hand,,dL/dx"}, "an empty check name in 'by hand,,dL/dx'"),
    ({"visibility": "hidden", "hidden": ["by hand"]}, "would be shown before the rest of the result (hidden)"),
    ({"printed_limit": 0}, "printed_limit must be a positive number of characters, got 0"),
])
def test_results_refuses_bad_options_with_what_was_expected(kwargs, words):
    with pytest.raises(ValueError) as info:
        gs.results(make_grade(), **kwargs)
    assert words in str(info.value)


def test_results_refuses_what_is_not_a_grade():
    with pytest.raises(TypeError, match="expected a Grade .* got dict without piece"):
        gs.results({"score": 10})
    bad = make_grade()
    bad.checks[0].score = float("nan")
    with pytest.raises(ValueError, match="check 'forward' has a score that is not a finite number"):
        gs.results(bad)


def test_hidden_checks_are_named_against_the_rubric():
    assert gs.hidden_checks("dense", "by hand, dL/dx") == ("by hand", "dL/dx")
    assert gs.hidden_checks("relu", ["by hand", "by hand"]) == ("by hand",)
    with pytest.raises(ValueError) as info:
        gs.hidden_checks("dense", "by hand,kink")
    assert str(info.value) == f"'kink' is not a check of dense; its checks are: {', '.join(names())}"
    with pytest.raises(ValueError, match="unknown exercise 'conv'"):
        gs.hidden_checks("conv", "by hand")


def test_class_results_holds_one_result_per_submission():
    grades = [make_grade(submission="a.py"), make_grade(earned={"by hand": 0}, submission="b.py")]
    data = gs.class_results("dense", grades, hidden=["by hand"])
    assert data["piece"] == "dense" and [s["submission"] for s in data["submissions"]] == ["a.py", "b.py"]
    assert [s["score"] for s in data["submissions"]] == [10, 8]
    assert all(s["status"] == "graded" and TOP_KEYS <= set(s) for s in data["submissions"])


def test_the_terminal_report_is_cleaned_too():
    g = make_grade(earned={"dL/dx": 0}, messages={"dL/dx": "\x1b[2Jwrong\rhidden"}, printed="\x1b[31mhi",
                   submission="a\x1b[2J.py")
    text = cli_grade.report(g)
    assert "\x1b" not in text and "\r" not in text
    assert "-> wronghidden" in text and "scratchae grade dense a.py:" in text
    assert text.splitlines()[-2] == "total: 8 / 10 (graded, 1.6 s)"


# =========================================================================================
# The command line, with the grader replaced by fakes (no child process)
# =========================================================================================
class FakeGrader:
    """Records how the command called the grader; returns hand-made grades."""

    def __init__(self, monkeypatch, fail: Exception | None = None):
        self.calls: list[tuple] = []
        self.fail = fail
        monkeypatch.setattr(grading, "grade_submission", self.one)
        monkeypatch.setattr(grading, "grade_folder", self.folder)

    def one(self, piece, path, **kw):
        self.calls.append(("one", Path(path), kw))
        if self.fail:
            raise self.fail
        return make_grade(piece, {"by hand": 1}, submission=Path(path).name, printed="hi\n")

    def folder(self, piece, folder, **kw):
        self.calls.append(("folder", Path(folder), kw))
        return [make_grade(piece, submission=p.name) for p in sorted(Path(folder).glob("*.py"))]


def upload(tmp_path, *files, name="submission"):
    """A fake /autograder: submission/ holding `files` (relative paths), results/, source/."""
    root = tmp_path / "autograder"
    for sub in ("submission", "results", "source"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for f in files:
        (root / name / f).parent.mkdir(parents=True, exist_ok=True)
        (root / name / f).write_text("# a learner's file\n")
    return root


def test_a_folder_with_one_py_file_is_one_submission_whatever_its_name(tmp_path, monkeypatch, capsys):
    fake = FakeGrader(monkeypatch)
    root = upload(tmp_path, "dense.py", "notes.txt")
    out = root / "results" / "results.json"
    assert main(["grade", "dense", str(root / "submission"), "--json", str(out), "--hide", str(root / "source")]) == 0
    [(kind, path, kw)] = fake.calls
    assert kind == "one" and path == (root / "submission" / "dense.py").resolve()
    assert {(root / "results").resolve(), (root / "source").resolve()} <= set(kw["hide"])
    r = json.loads(out.read_text())
    assert set(r) == TOP_KEYS and r["score"] == 9
    printed = capsys.readouterr().out
    assert "scratchae grade dense dense.py" in printed and "total: 9 / 10" in printed


@pytest.mark.parametrize("files", [["a.py", "b.py"], ["a.py", "bob/b.py"]])
def test_a_folder_of_several_submissions_is_a_class(tmp_path, monkeypatch, capsys, files):
    fake = FakeGrader(monkeypatch)
    root = upload(tmp_path, *files)
    out = tmp_path / "class.json"
    assert main(["grade", "dense", str(root / "submission"), "--json", str(out), "--jobs", "2"]) == 0
    [(kind, path, kw)] = fake.calls
    assert kind == "folder" and kw["jobs"] == 2 and tmp_path.resolve() in kw["hide"]
    data = json.loads(out.read_text())
    assert data["piece"] == "dense" and "submissions" in data
    assert capsys.readouterr().out.splitlines()[0].startswith("submission")   # the table


def test_one_grades_the_one_py_file_of_an_upload_even_in_a_sub_folder(tmp_path, monkeypatch):
    fake = FakeGrader(monkeypatch)
    root = upload(tmp_path, "hw1/my_dense.py", "__pycache__/x.py", ".git/hook.py", "README.md")
    out = root / "results" / "results.json"
    assert main(["grade", "dense", str(root / "submission"), "--one", "--json", str(out)]) == 0
    assert [(c[0], c[1].name) for c in fake.calls] == [("one", "my_dense.py")]


@pytest.mark.parametrize("files, words", [
    (["a.py", "b.py"], "2 .py files in the upload (a.py, b.py): upload only your exercise file"),
    (["dense.txt"], "no .py file in the upload"),
])
def test_one_with_no_or_several_py_files_is_a_zero_that_says_why(tmp_path, monkeypatch, capsys, files, words):
    fake = FakeGrader(monkeypatch)
    root = upload(tmp_path, *files)
    out = root / "results" / "results.json"
    assert main(["grade", "dense", str(root / "submission"), "--one", "--json", str(out)]) == 0
    assert fake.calls == []                                   # nothing was run
    r = json.loads(out.read_text())
    assert r["score"] == 0 and r["max_score"] == 10 and words in r["output"]
    assert "(not loaded)" in r["output"] and all(t["status"] == "failed" for t in r["tests"])
    assert all(words in t["output"] for t in r["tests"])
    assert words in capsys.readouterr().out


def test_json_dash_prints_only_the_json(tmp_path, monkeypatch, capsys):
    FakeGrader(monkeypatch)
    root = upload(tmp_path, "dense.py")
    assert main(["grade", "dense", str(root / "submission" / "dense.py"), "--json", "-",
                 "--hidden", "by hand", "--csv", str(tmp_path / "g.csv")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (tmp_path / "g.csv").read_text().splitlines()[1].startswith("dense.py,9,10,graded")
    assert r["tests"][-2]["visibility"] == "after_due_date" and r["tests"][0]["visibility"] == "visible"


def test_a_grader_failure_is_still_a_results_json_and_exit_code_1(tmp_path, monkeypatch):
    FakeGrader(monkeypatch, fail=RuntimeError("\x1b[2Jboom"))
    root = upload(tmp_path, "dense.py")
    out = root / "results" / "results.json"
    assert main(["grade", "dense", str(root / "submission"), "--one", "--json", str(out)]) == 1
    r = json.loads(out.read_text())
    assert r["score"] == 0 and "(grader error)" in r["output"] and "RuntimeError: boom" in r["output"]


def test_the_visibility_options_reach_results_json(tmp_path, monkeypatch):
    FakeGrader(monkeypatch)
    root = upload(tmp_path, "dense.py")
    out = root / "results" / "results.json"
    assert main(["grade", "dense", str(root / "submission"), "--json", str(out), "--visibility",
                 "after_published", "--hidden", "dL/dx", "--hidden", "by hand",
                 "--hidden-visibility", "hidden"]) == 0
    r = json.loads(out.read_text())
    assert r["visibility"] == "after_published"
    assert {t["name"].split(": ")[1]: t["visibility"] for t in r["tests"][:len(names())]} == {
        n: ("hidden" if n in ("dL/dx", "by hand") else "after_published") for n in names()}


REFUSALS = [
    (["--json", "{sub}/dense.py"], "is the submission being graded", True),
    (["--csv", "{sub}/dense.py"], "is the submission being graded", True),
    (["--json", "{sub}/results.json"], "is inside the submissions' folder", False),
    (["--csv", "{sub}/deep/grades.csv"], "is inside the submissions' folder", False),
    (["--json", "{res}/r.json", "--csv", "{res}/r.json"], "is the file --json writes too", False),
    (["--json", "{res}"], "is a folder: expected a file name", False),
    (["--json", "{res}/missing/r.json"], "does not exist", False),
    (["--timeout", "nan"], "--timeout must be a number of seconds > 0 and at most 86400", False),
    (["--timeout", "inf"], "got inf", False),
    (["--timeout", "0"], "--timeout must be", False),
    (["--timeout", "-5"], "--timeout must be", False),
    (["--timeout", "86401"], "at most 86400 (a day), got 86401", False),
    (["--jobs", "0"], "--jobs must be between 1 and", False),
    (["--jobs", "65"], "--jobs must be between 1 and", False),
    (["--hide", "{res}/nope"], "no such file or folder (every --hide must exist)", False),
    (["--json", "{res}/r.json", "--hidden", "by hand,bias"], "--hidden: 'bias' is not a check of dense; "
                                                              "its checks are: " + ", ".join(names()), False),
    (["--hidden", "by hand"], "give --json FILE too", False),
    (["--visibility", "hidden"], "give --json FILE too", False),
    (["--json", "{res}/r.json", "--hidden-visibility", "hidden"], "give --hidden CHECK[,CHECK...] too", False),
    (["--json", "{res}/r.json", "--visibility", "hidden", "--hidden", "by hand"],
     "would be shown while the rest of the result (--visibility hidden) never is", False),
]


@pytest.mark.parametrize("extra, words, on_file", REFUSALS, ids=[" ".join(r[0]) for r in REFUSALS])
def test_refusals_are_one_line_exit_2_and_run_nothing(tmp_path, monkeypatch, capsys, extra, words, on_file):
    fake = FakeGrader(monkeypatch)
    root = upload(tmp_path, "dense.py")
    sub, res = root / "submission", root / "results"
    target = sub / "dense.py" if on_file else sub
    argv = ["grade", "dense", str(target)] + [a.format(sub=sub, res=res) for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert fake.calls == []
    assert (sub / "dense.py").read_text() == "# a learner's file\n"      # untouched
    assert sorted(p.name for p in sub.iterdir()) == ["dense.py"]


def test_one_with_a_file_is_refused(tmp_path, monkeypatch, capsys):
    FakeGrader(monkeypatch)
    root = upload(tmp_path, "dense.py")
    assert main(["grade", "dense", str(root / "submission" / "dense.py"), "--one"]) == 2
    assert "--one takes the folder of one learner's upload" in capsys.readouterr().err


def test_the_jobs_limit_follows_the_cpus(tmp_path, monkeypatch, capsys):
    fake = FakeGrader(monkeypatch)
    root = upload(tmp_path, "a.py", "b.py")
    monkeypatch.setattr(cli_grade, "_cpus", lambda: 1)
    assert cli_grade.max_jobs() == 4
    assert main(["grade", "dense", str(root / "submission"), "--jobs", "5"]) == 2
    assert "--jobs must be between 1 and 4 (at most 64, and 4 per CPU: 1 here), got 5" in capsys.readouterr().err
    assert main(["grade", "dense", str(root / "submission"), "--jobs", "4"]) == 0
    monkeypatch.setattr(cli_grade, "_cpus", lambda: 512)
    assert cli_grade.max_jobs() == 64
    assert [c[2]["jobs"] for c in fake.calls] == [4]


def test_the_help_names_an_install_that_works_and_the_path_rule():
    text = cli_grade.EPILOG
    assert "pip install scratchae" not in text and "not on PyPI" in text
    assert "pip3 install /autograder/source/scratchae" in text
    assert "--one" in text and "a folder with exactly one .py" in text
    docs = blocks()
    assert "pip3 install /autograder/source/scratchae" in docs["setup.sh"]
    assert re.search(r"scratchae grade dense /autograder/submission --one", docs["run_autograder"])


# =========================================================================================
# docs/gradescope.md: the example and the scripts agree with the code and the layout
# =========================================================================================
def blocks() -> dict[str, str]:
    """The fenced blocks of docs/gradescope.md that follow a `<!-- file: NAME -->` or
    `<!-- results.json: ... -->` marker, by NAME ('results.json' for the example)."""
    text = DOC.read_text()
    found = {}
    for m in re.finditer(r"<!-- (file: (\S+)|results\.json: [^>]*) -->\n```(\w*)\n(.*?)\n```\n", text, re.S):
        found[m.group(2) or "results.json"] = m.group(4) + "\n"
    return found


def test_the_documented_example_is_what_the_code_writes():
    example = json.loads(blocks()["results.json"])
    # the same kind of grade, made by hand: dL/dbias lost, by hand half right, something printed
    g = make_grade(earned={"dL/dbias": 0, "by hand": 2 * 2 / 3}, printed="bias: (4,)\n")
    real = gs.results(g, hidden=["by hand"])
    assert set(example) == set(real) == TOP_KEYS
    assert [set(t) for t in example["tests"]] == [set(t) for t in real["tests"]]
    assert [t["name"] for t in example["tests"]] == [t["name"] for t in real["tests"]], \
        "docs/gradescope.md's example is out of date: regenerate it with the command it names"
    for key in ("score", "max_score", "output", "output_format", "visibility", "stdout_visibility"):
        assert example[key] == real[key], key
    for ex, re_ in zip(example["tests"], real["tests"]):
        assert {k: ex.get(k) for k in ("score", "max_score", "status", "visibility", "output_format")} == \
               {k: re_.get(k) for k in ("score", "max_score", "status", "visibility", "output_format")}


def test_the_documented_scripts_are_complete_and_match_the_zip_layout():
    docs = blocks()
    for name in ("setup.sh", "run_autograder"):
        lines = docs[name].splitlines()
        assert lines[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in lines, name
        result = subprocess.run(["bash", "-n"], input=docs[name], text=True, capture_output=True)
        assert result.returncode == 0, (name, result.stderr)
    text = DOC.read_text()
    # the zip's copy of the repository lands in /autograder/source/<prefix>, which setup.sh installs
    archive = re.search(r"git archive --format=zip --prefix=(\S+)/ -o \.\./autograder\.zip HEAD \\\n\s+(.+)\n", text)
    assert archive, "the git archive line of docs/gradescope.md"
    assert f"pip3 install /autograder/source/{archive.group(1)}\n" in docs["setup.sh"]
    files = archive.group(2).split()
    assert {"pyproject.toml", "setup.cfg", "scratchae"} <= set(files)
    assert all((REPO / f).exists() for f in files), files
    # everything setup.cfg reads while building is in the archive
    cfg = (REPO / "setup.cfg").read_text().splitlines()
    needed = [line.split("file:", 1)[1].strip() for line in cfg if "= file:" in line]
    start = next(i for i, line in enumerate(cfg) if line.startswith("license_files ="))
    for line in cfg[start + 1:]:
        if not line.startswith((" ", "\t")) or not line.strip():
            break
        needed.append(line.strip())
    assert "README.md" in needed and "LICENSE" in needed, needed
    assert all(any(n == f or n.startswith(f + "/") for f in files) for n in needed), needed
    assert "tests" not in files                       # the reference solutions stay out


# =========================================================================================
# END TO END: the real grader, in child processes (these need a working grader)
# =========================================================================================
def test_end_to_end_a_gradescope_upload_named_like_the_template_scores_10(tmp_path, capsys):
    root = upload(tmp_path)
    shutil.copy(SOLUTIONS / "dense.py", root / "submission" / "dense.py")
    out = root / "results" / "results.json"
    assert main(["grade", "dense", str(root / "submission"), "--json", str(out), "--timeout", "60"]) == 0
    r = json.loads(out.read_text())
    assert r["score"] == 10 and r["output"] == "scratchae exercise dense: 10 / 10 (graded)"
    assert [t["status"] for t in r["tests"]] == ["passed"] * len(names())
    assert "total: 10 / 10 (graded" in capsys.readouterr().out


def test_end_to_end_hidden_by_hand_on_a_wrong_bias(tmp_path, capsys):
    root = upload(tmp_path)
    text = (SOLUTIONS / "dense.py").read_text()
    old = 'self.grads["bias"] += dy.sum(axis=0)'
    assert old in text
    (root / "submission" / "dense.py").write_text(text.replace(old, old.replace("= dy", "= 2 * dy")))
    (root / "submission" / "stray.py").write_text("print('not my exercise')\n")
    assert main(["grade", "dense", str(root / "submission"), "--one", "--json", "-"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["score"] == 0 and "2 .py files in the upload (dense.py, stray.py)" in r["output"]
    (root / "submission" / "stray.py").unlink()
    out = root / "results" / "results.json"
    assert main(["grade", "dense", str(root / "submission"), "--one", "--hidden", "by hand",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    points = {t["name"].split(": ")[1]: t["score"] for t in r["tests"]}
    assert points["dL/dbias"] == 0 and points["dL/dkernel"] == 2 and points["dL/dx"] == 2
    assert points["accumulates"] == 1                  # it adds (+=): twice too much, but added
    assert 0 < points["by hand"] < 2 and r["score"] == pytest.approx(7 + points["by hand"])
    assert r["tests"][-1]["visibility"] == "after_due_date" and "in the checks shown now" in r["output"]


def test_end_to_end_the_documented_run_autograder_runs_as_is(tmp_path):
    """docs/gradescope.md's run_autograder, with /autograder rewritten to a folder under
    tmp_path and python3 to this interpreter (running this checkout), run by bash."""
    root = upload(tmp_path)
    (root / "source" / "setup.sh").write_text(blocks()["setup.sh"])
    shutil.copy(SOLUTIONS / "dense.py", root / "submission" / "my_dense.py")
    script = blocks()["run_autograder"]
    assert script.count("/autograder") >= 3 and "python3 -m scratchae" in script
    script = script.replace("/autograder", str(root)).replace("python3 -m scratchae",
                                                              f"{sys.executable} -m scratchae")
    (root / "run_autograder").write_text(script)
    os.chmod(root / "run_autograder", 0o755)
    shutil.rmtree(root / "results")                          # mkdir -p in the script makes it
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    r = json.loads((root / "results" / "results.json").read_text())
    assert set(r) == TOP_KEYS and r["score"] == 10 and r["max_score"] == 10
    assert [t["name"].split(": ")[1] for t in r["tests"]] == names()
    assert "wrote" in done.stdout and "total: 10 / 10 (graded" in done.stdout
    assert sorted(p.name for p in (root / "submission").iterdir()) == ["my_dense.py"]


@pytest.mark.parametrize("piece, wrong, words", [
    ("sampling", ("np.exp(0.5 * log_var)", "np.exp(log_var)"), "used as the standard deviation"),
    ("gaussian-kl", ("terms.sum() / mu.shape[0]", "terms.mean()"), "averaged over the 3 latent units"),
    ("conv2d", ("dy @ kernel[p, q].T", "dy @ kernel[kh - 1 - p, kw - 1 - q].T"), "rotated by 180 degrees"),
    ("maxpool", ("np.argmax(cells, axis=-1)", "3 - np.argmax(cells[..., ::-1], axis=-1)"), "goes to the arg-max")])
def test_end_to_end_the_vae_and_conv_exercises_give_results_json(piece, wrong, words, tmp_path):
    """The two VAE exercises through the real grader: 10 / 10 for the solution, one test per
    check of their own rubric, and a mistake's hint in the failed test's output."""
    right = gs.results(grading.grade_submission(piece, SOLUTIONS / f"{piece}.py", seed=0, timeout=30))
    assert right["score"] == right["max_score"] == 10
    assert [t["name"] for t in right["tests"]] == [f"{piece}: {i.name}: {i.title}" for i in RUBRICS[piece]]
    assert all(t["status"] == "passed" for t in right["tests"])
    path = tmp_path / f"{piece}.py"
    path.write_text((SOLUTIONS / f"{piece}.py").read_text().replace(*wrong))
    r = gs.results(grading.grade_submission(piece, path, seed=0, timeout=30))
    assert r["score"] < 10 and set(r) == TOP_KEYS
    assert any(t["status"] == "failed" and words in t["output"] for t in r["tests"]), r
