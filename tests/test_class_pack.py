"""The class pack (`scratchae gradcheck --exercise all --init FOLDER`): every template, a README
for learners, and nothing of the reference solutions; a learner's files are never replaced."""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from scratchae import exercises
from scratchae.cli import main
from scratchae.exercises import pack
from test_exercise_sources import SOLUTIONS, solution_bodies

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "scratchae" / "exercises" / "templates"
FOURTEEN = ["adam", "bce", "bce-logits", "conv2d", "dense", "gaussian-kl", "kl", "l1", "maxpool",
            "model", "mse", "relu", "sampling", "sigmoid"]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class") / "pack"          # does not exist yet: created
    assert main(["gradcheck", "--exercise", "all", "--init", str(folder)]) == 0
    return folder


def solution_only_lines(piece: str) -> set[str]:
    """The lines of `piece`'s reference solution that its template does not have (stripped)."""
    template = (TEMPLATES / f"{piece}.py").read_text()
    body = [line for b in solution_bodies(template, (SOLUTIONS / f"{piece}.py").read_text()) for line in b]
    ours = {line.strip() for line in template.splitlines()}
    return {line.strip() for line in body if line.strip() and line.strip() not in ours}


def solution_lines_in(folder: Path) -> list[str]:
    """Every line of any reference solution's body found in any file of `folder`."""
    found = []
    shipped = {piece: solution_only_lines(piece) for piece in exercises.EXERCISES}
    for path in sorted(folder.iterdir()):
        lines = {line.strip() for line in path.read_text().splitlines()}
        for piece, body in shipped.items():
            found += [f"{path.name}: {line!r} (from the {piece} solution)" for line in sorted(body & lines)]
    return found


def test_the_registry_holds_the_fourteen_exercises():
    assert sorted(exercises.EXERCISES) == FOURTEEN
    assert sorted(p.stem for p in TEMPLATES.glob("*.py") if p.stem != "__init__") == FOURTEEN
    assert sorted(pack.course_order()) == FOURTEEN


def test_the_pack_holds_every_template_and_the_readme(made):
    assert sorted(p.name for p in made.iterdir()) == sorted(["README.md"] + [f"{p}.py" for p in FOURTEEN])
    for piece in exercises.EXERCISES:
        assert (made / f"{piece}.py").read_text() == (TEMPLATES / f"{piece}.py").read_text(), piece


@pytest.mark.parametrize("piece", FOURTEEN)
def test_no_file_of_the_pack_passes_the_grader(made, piece):
    grade = exercises.run_exercise(piece, made / f"{piece}.py")
    assert grade.status == "graded" and grade.score < grade.max_score - 1, (piece, grade.score)


def test_no_line_of_a_solution_is_in_the_pack(made):
    assert all(solution_only_lines(piece) for piece in FOURTEEN)     # each has lines to look for
    assert solution_lines_in(made) == []


def test_the_solution_search_finds_a_solution_put_in_a_pack(made, tmp_path):
    """The check above catching a pack that did ship one: the dense solution in place of dense.py."""
    for path in made.iterdir():
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "dense.py").write_text((SOLUTIONS / "dense.py").read_text())
    found = solution_lines_in(tmp_path)
    assert found and all(f.startswith("dense.py: ") and "(from the dense solution)" in f for f in found)
    assert exercises.run_exercise("dense", tmp_path / "dense.py").score == 10  # and it would pass


def course_path_of_teaching_md() -> list[str]:
    """The exercises of docs/teaching.md's course path table, in its order."""
    text = (REPO / "docs" / "teaching.md").read_text()
    section = text.split("## A course path", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| \d+ \| `([\w-]+)` \|", section, re.M)


def test_the_readme_gives_every_exercise_its_command_in_the_course_order(made):
    readme = (made / "README.md").read_text()
    order = course_path_of_teaching_md()
    assert sorted(order) == FOURTEEN
    commands = re.findall(r"^    check: +scratchae gradcheck --exercise ([\w-]+) ([\w-]+\.py)$", readme, re.M)
    assert commands == [(piece, f"{piece}.py") for piece in order]
    numbered = re.findall(r"^ ?(\d+)\. ([\w-]+)\.py \((\w+)\)", readme, re.M)
    assert numbered == [(str(k), piece, exercises.EXERCISES[piece].class_name)
                        for k, piece in enumerate(order, start=1)]
    assert "scratchae grade PIECE FILE" in readme and "Gradescope" in readme
    for session in ("Session 1", "Session 5"):
        assert session in readme
    assert not [line for line in readme.splitlines() if len(line) > 100]


def test_each_derivation_the_readme_names_is_a_section_of_backprop_md(made):
    headings = set(re.findall(r"^#{2,3} (.+)$", (REPO / "docs" / "backprop.md").read_text(), re.M))
    named = re.findall(r'^    derivation: docs/backprop\.md, section "(.+)"$', (made / "README.md").read_text(), re.M)
    assert len(named) == len(FOURTEEN) and set(named) <= headings, set(named) - headings


def raising_methods(piece: str) -> list[str]:
    """The template's methods whose body raises NotImplementedError: what the learner writes."""
    tree = ast.parse((TEMPLATES / f"{piece}.py").read_text())
    return [f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
            and any(isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n) for n in ast.walk(f))]


def test_the_readme_says_which_methods_to_write(made):
    readme = (made / "README.md").read_text()
    said = dict(zip(re.findall(r"^ ?\d+\. ([\w-]+)\.py", readme, re.M),
                    re.findall(r"^    write: +(.+)$", readme, re.M)))
    assert sorted(said) == FOURTEEN
    for piece, line in said.items():
        methods = raising_methods(piece)
        assert methods and all(f"{m}()" in line for m in methods), (piece, methods, line)
    assert raising_methods("sampling") == ["forward", "backward"]


def test_the_readme_quotes_the_verdicts_the_check_prints(made, capsys):
    readme = (made / "README.md").read_text()
    assert main(["gradcheck", "--exercise", "mse", str(SOLUTIONS / "mse.py")]) == 0
    well_done = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Well done")]
    assert len(well_done) == 1 and f"`{well_done[0]}`" in readme
    assert main(["gradcheck", "--exercise", "mse", str(made / "mse.py")]) == 1
    not_yet = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Not yet")]
    assert len(not_yet) == 1 and not_yet[0].startswith("Not yet: MeanSquaredError's method still raises "
                                                       "NotImplementedError")
    assert "`Not yet: CLASS's method still raises NotImplementedError`" in readme
    assert "10 / 10" in readme and "exits with 0" in readme and "exits with 1" in readme


# -- what is never lost ---------------------------------------------------------------------
def test_a_folder_that_is_not_empty_is_refused_and_left_as_it_was(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("my notes")
    assert main(["gradcheck", "--exercise", "all", "--init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not empty (notes.txt)" in err and "--force" in err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_pack_made_twice_is_refused_the_second_time(made, capsys):
    before = {p.name: p.read_text() for p in made.iterdir()}
    assert main(["gradcheck", "--exercise", "all", "--init", str(made)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in made.iterdir()} == before


def test_force_adds_the_missing_files_and_keeps_every_file_there(tmp_path, capsys):
    mine = "class Dense:\n    pass  # my work, half done\n"
    (tmp_path / "dense.py").write_text(mine)
    (tmp_path / "README.md").write_text(pack.readme_text())        # as the pack has it
    (tmp_path / "relu.py").mkdir()                                 # something else at a pack name
    assert main(["gradcheck", "--exercise", "all", "--init", str(tmp_path), "--force"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "dense.py").read_text() == mine and (tmp_path / "relu.py").is_dir()
    assert f"kept {tmp_path / 'dense.py'} as it is: it differs from the pack's" in out
    assert f"kept {tmp_path / 'relu.py'} as it is" in out
    assert "kept 1 already as the pack has them: README.md" in out
    written = sorted(set(FOURTEEN) - {"dense", "relu"})
    assert re.search(rf"wrote {len(written)} files in ", out)
    for piece in written:
        assert (tmp_path / f"{piece}.py").read_text() == (TEMPLATES / f"{piece}.py").read_text()


def test_an_interrupted_pack_leaves_whole_files_and_force_completes_it(tmp_path, monkeypatch):
    real, calls = pack.atomic_write, []

    def dies_on_the_fifth(path, write, **kw):
        calls.append(path)

        def half(f):
            if len(calls) == 5:
                f.write("half a file")
                raise KeyboardInterrupt
            write(f)
        real(path, half, **kw)

    monkeypatch.setattr(pack, "atomic_write", dies_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        pack.write_pack(tmp_path / "p")
    names = sorted(os.listdir(tmp_path / "p"))
    assert len(names) == 4 and not [n for n in names if n.endswith(".tmp")]
    monkeypatch.setattr(pack, "atomic_write", real)
    result = pack.write_pack(tmp_path / "p", force=True)
    assert sorted(result.kept) == names and not result.kept_differing and len(result.written) == 11
    assert {p.name: p.read_text() for p in (tmp_path / "p").iterdir()} == pack.pack_files()


# -- bad arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--exercise", "all"], "--exercise all only goes with --init FOLDER"),
    (["--exercise", "all", "mine.py"], "--exercise all only goes with --init FOLDER"),
    (["--exercise", "all", "--init", "{tmp}/pack", "mine.py"], "takes no other PATH (got 'mine.py')"),
    (["--exercise", "all", "--init", "{tmp}/no/pack"], "does not exist: make it first"),
    (["--exercise", "all", "--init", "{tmp}/a_file.py"], "a_file.py is a file, not a folder"),
    (["--exercise", "everything", "--init", "{tmp}/pack"], "or all (with --init FOLDER: the class pack)"),
])
def test_bad_arguments_say_what_was_expected(args, says, tmp_path, capsys):
    (tmp_path / "a_file.py").write_text("x = 1\n")
    assert main(["gradcheck", *[a.format(tmp=tmp_path) for a in args]]) == 2
    assert says in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file.py"]     # nothing written


def test_write_pack_refuses_what_is_not_a_folder_name():
    with pytest.raises(TypeError, match="folder must be a folder name .*got int"):
        pack.write_pack(3)
    with pytest.raises(ValueError, match="folder is empty"):
        pack.write_pack("")


def test_a_course_that_leaves_an_exercise_out_is_refused(monkeypatch):
    monkeypatch.setattr(pack, "COURSE", pack.COURSE[:-1])
    with pytest.raises(RuntimeError, match=r"not in the course \['conv2d', 'maxpool'\]"):
        pack.readme_text()
