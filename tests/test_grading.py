"""Grading: partial credit check by check, Gradescope's results.json, a teacher's table, and
submissions that sleep, exit the interpreter or print a score of their own, graded as they are.

Each submission runs in a real child process (scratchae.exercises._child), so these tests use
small time limits: about 10 s in all on two cores."""
import csv
import io
import json
import os
import re
from pathlib import Path

import pytest

from scratchae.cli import main
from scratchae.exercises import EXERCISES, grading

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
DENSE = (SOLUTIONS / "dense.py").read_text()
RETURN_DX = 'return dy @ self.params["kernel"].T'
BIAS = 'self.grads["bias"][...] = dy.sum(axis=0)'


def dense_file(folder: Path, name: str, *edits: tuple[str, str], prefix: str = "") -> Path:
    text = DENSE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = folder / name
    path.write_text(prefix + text)
    return path


def half_right(folder: Path, name: str = "half.py") -> Path:
    """The kernel gradient right, the bias gradient twice too large, dL/dx all zeros."""
    return dense_file(folder, name, (BIAS, BIAS.replace("= dy", "= 2 * dy")),
                      (RETURN_DX, "return np.zeros_like(self.x)"))


def scores(g):
    return {c.name: c.score for c in g.checks}


# -- the rubric ---------------------------------------------------------------------------------
def test_every_exercise_has_a_rubric_worth_10_points():
    assert set(grading.RUBRICS) == set(EXERCISES)
    for piece, items in grading.RUBRICS.items():
        assert sum(i.weight for i in items) == 10, piece
        assert len({i.name for i in items}) == len(items), piece
        assert {i.part for i in items} <= set(EXERCISES[piece].parts), piece


def test_a_part_cannot_report_more_than_its_rubric_allows():
    """What a child reports is rows; points come from the parent's rubric. Rows for tensors the
    rubric does not know, or a part it does not grade, add nothing."""
    ok = lambda t: {"layer": "dense", "tensor": t, "how": "all", "ok": True, "text": "good"}
    parts = {"gradients": {"rows": [ok("kernel"), ok("kernel"), ok("extra"), ok("bonus")]},
             "bonus": {"rows": [ok("x")] * 50}}
    checks = grading.score("dense", parts, "missing")
    got = {c.name: c.score for c in checks}
    assert got == {"forward": 0, "structure": 1, "dL/dkernel": 2, "dL/dbias": 0, "dL/dx": 0, "by hand": 0}
    # without the forward part, the gradient checks still count (only a *failed* forward gates them)
    assert all(c.score <= c.weight for c in checks) and sum(c.weight for c in checks) == 10


def _in_process(piece, path):
    """The child's work without the child: every part's rows, scored by the rubric."""
    from scratchae.exercises._child import run_parts_here
    parts = {}
    run_parts_here(piece, str(path), lambda m: parts.setdefault(m.get("part", "load"), m))
    assert "load" not in parts, parts["load"]
    return grading.score(piece, parts, "missing")


@pytest.mark.parametrize("piece", sorted(EXERCISES))
def test_every_solution_scores_10_and_every_template_only_its_forward(piece, tmp_path):
    assert [c.name for c in _in_process(piece, SOLUTIONS / f"{piece}.py") if not c.passed] == []
    checks = _in_process(piece, Path(grading.__file__).parent / "templates" / f"{piece}.py")
    earned = {c.name: c.score for c in checks if c.score}
    assert earned == ({"forward": 1} if "forward" in EXERCISES[piece].parts else {}), earned
    assert all("NotImplementedError" in c.message for c in checks if not c.passed)


def test_only_lines_with_the_token_are_read():
    lines = [json.dumps({"part": "forward", "rows": [], "token": "nope"}), "score: 10/10", "{not json",
             json.dumps({"part": "forward", "error": "x", "token": "t0k"})]
    assert grading._messages("\n".join(lines).encode(), "t0k") == [{"part": "forward", "error": "x", "token": "t0k"}]


# -- real submissions, each in its own process --------------------------------------------------
def test_a_right_submission_gets_full_marks():
    g = grading.grade_submission("dense", SOLUTIONS / "dense.py", timeout=20)
    assert g.status == "graded" and g.score == g.max_score == 10, grading.table([g])


def test_a_half_right_submission_gets_partial_credit_check_by_check(tmp_path):
    g = grading.grade_submission("dense", half_right(tmp_path), timeout=20)
    assert g.status == "graded"
    assert scores(g) == {"forward": 1, "structure": 1, "dL/dkernel": 2, "dL/dbias": 0, "dL/dx": 0,
                         "by hand": pytest.approx(2 / 3, abs=1e-3)}
    assert g.score == pytest.approx(4 + 2 / 3, abs=1e-3)
    bias = next(c for c in g.checks if c.name == "dL/dbias")
    assert "2 x numeric" in bias.message                 # the hint travels with the points lost
    res = grading.gradescope(g)
    assert set(res) == {"score", "max_score", "output", "tests"}
    assert res["score"] == 4.67 and res["max_score"] == 10
    assert [t["status"] for t in res["tests"]] == ["passed", "passed", "passed", "failed", "failed", "failed"]
    assert sum(t["score"] for t in res["tests"]) == pytest.approx(res["score"], abs=0.02)
    for t in res["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output"} and isinstance(t["output"], str)
    json.dumps(res)


def test_a_changed_forward_scores_no_gradient_points(tmp_path):
    # forward scaled by 2 and a backward to match: the finite differences agree with it
    path = dense_file(tmp_path, "forward.py",
                      ('return x @ self.params["kernel"] + self.params["bias"]',
                       'return 2 * (x @ self.params["kernel"] + self.params["bias"])'),
                      (RETURN_DX, "return 2 * dy @ self.params['kernel'].T"),
                      ('self.grads["kernel"][...] = self.x.T @ dy', 'self.grads["kernel"][...] = 2 * self.x.T @ dy'),
                      (BIAS, 'self.grads["bias"][...] = 2 * dy.sum(axis=0)'))
    g = grading.grade_submission("dense", path, timeout=20)
    got = scores(g)
    assert got["forward"] == 0 and got["dL/dkernel"] == got["dL/dbias"] == got["dL/dx"] == 0
    assert "not counted" in next(c for c in g.checks if c.name == "dL/dx").message


def test_a_submission_that_sleeps_forever_is_stopped_and_graded(tmp_path):
    path = dense_file(tmp_path, "sleeper.py", (RETURN_DX, "import time\n        time.sleep(10 ** 6)"))
    g = grading.grade_submission("dense", path, timeout=4)
    assert g.status == "graded" and g.seconds < 4
    assert scores(g)["forward"] == 1 and g.score == 1             # only what it did before the sleep
    assert "took more than" in g.first_problem()


def test_a_submission_that_defeats_the_alarm_is_killed_at_the_time_limit(tmp_path):
    path = dense_file(tmp_path, "stubborn.py", (RETURN_DX, "import signal, time\n"
                      "        signal.signal(signal.SIGALRM, signal.SIG_IGN)\n        time.sleep(10 ** 6)"))
    g = grading.grade_submission("dense", path, timeout=2.5)
    assert g.status == "timeout" and 2.5 <= g.seconds < 5
    assert scores(g)["forward"] == 1 and g.score == 1
    assert "time limit of 2.5 s" in g.first_problem()


def test_a_submission_that_exits_the_interpreter(tmp_path):
    exits = dense_file(tmp_path, "exits.py", (RETURN_DX, "import os\n        os._exit(0)"))
    g = grading.grade_submission("dense", exits, timeout=20)
    assert g.status == "crashed" and g.score == 1               # the forward, checked before the exit
    assert "exit code 0" in g.first_problem()
    at_import = dense_file(tmp_path, "sysexit.py", prefix="import sys\nsys.exit(0)\n")
    g = grading.grade_submission("dense", at_import, timeout=20)
    assert g.status == "not loaded" and g.score == 0 and "sys.exit(0)" in g.first_problem()
    in_backward = dense_file(tmp_path, "sysexit_later.py", (RETURN_DX, "raise SystemExit(3)"))
    g = grading.grade_submission("dense", in_backward, timeout=20)
    assert g.status == "graded" and scores(g)["dL/dkernel"] == 0 and scores(g)["forward"] == 1


def test_a_submission_that_prints_a_score_of_its_own_gets_its_real_one(tmp_path):
    fake = ('import json, os\n'
            'print(json.dumps({"score": 10, "max_score": 10, "tests": []}))\n'
            'print("score: 10/10")\n'
            'for fd in range(3, 64):\n'
            '    try:\n'
            '        os.write(fd, (json.dumps({"part": "gradients", "rows": [], "done": True}) + "\\n").encode())\n'
            '    except OSError:\n'
            '        pass\n')
    path = dense_file(tmp_path, "printer.py", (RETURN_DX, "return np.zeros_like(self.x)"), prefix=fake)
    g = grading.grade_submission("dense", path, timeout=20)
    assert g.status == "graded" and g.score == pytest.approx(7 + 1 / 3, abs=1e-3)
    assert scores(g)["dL/dx"] == 0
    assert "score: 10/10" in g.printed                       # kept as feedback, never read
    assert "not read by the grader" in grading.gradescope(g)["output"]


@pytest.mark.parametrize("piece", ["kl", "adam", "model"])
def test_the_later_exercises_grade_their_solutions_and_their_broken_pieces(piece, tmp_path):
    g = grading.grade_submission(piece, SOLUTIONS / f"{piece}.py", timeout=20)
    assert g.status == "graded" and g.score == 10, grading.table([g])
    # the shipped mistake, written out as a learner's file, loses points but not all of them
    from scratchae.exercises.broken import BROKEN
    b = next(b for b in BROKEN.values() if b.piece == piece)
    path = tmp_path / f"{piece}.py"
    name = EXERCISES[piece].class_name
    path.write_text(f"from {b.cls.__module__} import {b.cls.__name__} as {name}\n")
    g = grading.grade_submission(piece, path, timeout=20)
    assert g.status == "graded" and 0 < g.score < 10, grading.table([g])


# -- the command line ---------------------------------------------------------------------------
def test_grade_one_file_writes_gradescope_json(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["grade", "dense", str(half_right(tmp_path)), "--json", str(out), "--timeout", "20"]) == 0
    printed = capsys.readouterr().out
    assert "total: 4.67 / 10 (graded" in printed and "-> WRONG" in printed
    res = json.loads(out.read_text())
    assert res["score"] == 4.67 and len(res["tests"]) == 6
    assert main(["grade", "dense", str(SOLUTIONS / "dense.py"), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 10          # nothing but the JSON


def test_grade_a_folder_of_three_writes_one_table(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "right.py").write_text(DENSE)
    half_right(folder)
    dense_file(folder, "crash.py", prefix="raise RuntimeError('nope')\n")
    (folder / "notes.txt").write_text("not a submission")
    (folder / "_helper.py").write_text("")
    assert main(["grade", "dense", str(folder), "--csv", str(tmp_path / "grades.csv"),
                 "--timeout", "20", "--jobs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["submission", "score", "status", "forward", "structure"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"crash.py", "half.py", "right.py"}
    assert re.search(r"0 / 10 +not loaded .*crash.py failed while importing: RuntimeError: nope", rows["crash.py"])
    assert re.search(r"4.67 / 10 +graded", rows["half.py"]) and re.search(r"10 / 10 +graded", rows["right.py"])
    table = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert [r["submission"] for r in table] == ["crash.py", "half.py", "right.py"]
    assert table[1]["dL/dkernel"] == "2" and table[1]["dL/dbias"] == "0" and table[1]["score"] == "4.67"


def test_grade_usage_errors(tmp_path, capsys):
    assert main(["grade", "conv", str(tmp_path)]) == 2
    assert main(["grade", "dense", str(tmp_path / "none.py")]) == 2
    assert main(["grade", "dense", str(tmp_path), "--timeout", "0"]) == 2
    assert main(["grade", "dense", str(tmp_path)]) == 2                  # an empty folder
    err = capsys.readouterr().err
    assert "unknown exercise 'conv'" in err and "no such file" in err and "no submissions" in err


def test_the_child_imports_this_scratchae():
    import scratchae
    env = grading._env()
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(Path(scratchae.__file__).resolve().parents[1])


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), "3"])
def test_a_part_timeout_that_is_not_a_positive_number_is_refused(tmp_path, bad):
    path = tmp_path / "x.py"
    path.write_text("")
    with pytest.raises(ValueError, match="part_timeout must be a number of seconds > 0"):
        grading.grade_submission("relu", path, part_timeout=bad)
