"""Exercise mode: templates ship and raise NotImplementedError, the reference solutions
(kept in tests/exercise_solutions, not in the package) pass, and every error gets a message."""
from pathlib import Path

import pytest

from scratchae import exercises
from scratchae.exercises.broken import BROKEN

SOLUTIONS = Path(__file__).parent / "exercise_solutions"


@pytest.mark.parametrize("piece", sorted(exercises.EXERCISES))
def test_template_is_unfinished(piece, tmp_path):
    path = exercises.write_template(piece, tmp_path / f"my_{piece}.py")
    assert "NotImplementedError" in path.read_text()
    with pytest.raises(exercises.ExerciseError, match="NotImplementedError"):
        exercises.run_exercise(piece, path)


@pytest.mark.parametrize("piece", sorted(exercises.EXERCISES))
def test_reference_solution_passes(piece):
    rep = exercises.run_exercise(piece, SOLUTIONS / f"{piece}.py")
    assert rep.ok, str(rep)


def test_relu_exercise_input_sits_on_the_kink():
    rep = exercises.run_exercise("relu", SOLUTIONS / "relu.py")
    assert rep.rows[0].kinks >= 1


def test_wrong_solution_gets_a_hint(tmp_path):
    text = (SOLUTIONS / "bce.py").read_text().replace(" / self.p.size", "")
    path = tmp_path / "bce.py"
    path.write_text(text)
    rep = exercises.run_exercise("bce", path)
    assert not rep.ok and rep.located.hint.kind == "scale" and "1/20" in rep.located.hint.text


def test_errors_have_clear_messages(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        exercises.run_exercise("dense", tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("class Dense(:\n    pass\n")
    with pytest.raises(exercises.ExerciseError, match="line 1: syntax error"):
        exercises.run_exercise("dense", bad)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(exercises.ExerciseError, match="no class 'Dense'"):
        exercises.run_exercise("dense", empty)
    with pytest.raises(FileExistsError):
        exercises.write_template("dense", empty)
    with pytest.raises(ValueError):
        exercises.template_text("conv")


def test_no_solutions_ship_in_the_package():
    pkg = Path(exercises.__file__).parent
    for f in (pkg / "templates").glob("*.py"):
        if f.name != "__init__.py":
            assert "raise NotImplementedError" in f.read_text()


def test_broken_set_covers_the_five_mistakes_and_pieces():
    assert {b.hint for b in BROKEN.values()} >= {"transpose", "mask", "upstream", "scale", "sign", "zero"}
    assert {b.piece for b in BROKEN.values()} == {"dense", "relu", "sigmoid", "bce", "l1"}
