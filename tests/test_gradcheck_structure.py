"""Structure before numbers: a gradient of the wrong type, shape or values (or missing, or an
exception from the checked code) is a FAIL naming the piece and the tensor, for check_layer,
check_model and an exercise file, never a pass and never a traceback from the checker. Then
the hints that fit the piece, and the kink convention at exactly 0."""
import doctest
from pathlib import Path

import numpy as np
import pytest

from scratchae import _contract, exercises
from scratchae import gradcheck as gradcheck_module
from scratchae.activations import ReLU
from scratchae.gradcheck import check_function, check_layer, check_loss, check_model
from scratchae.layers import Dense
from scratchae.losses import BinaryCrossentropy
from scratchae.models import Sequential
from scratchae.regularizers import L1

SOLUTIONS = Path(__file__).parent / "exercise_solutions"


# -- one mistake per case: as a Dense subclass, and as an edit of the dense exercise's solution
def _raveled(dx, grads):
    return dx.reshape(-1)


def _transposed(dx, grads):
    return dx.T


def _no_return(dx, grads):
    return None


def _kernel_transposed(dx, grads):
    grads["kernel"] = grads["kernel"].T.copy()
    return dx


def _bias_missing(dx, grads):
    del grads["bias"]
    return dx


def _nan(dx, grads):
    return np.full_like(dx, np.nan)


# name: (mistake, tensor, words the layer's message must hold (Dense(2, input_dim=3), x (1, 3)),
#        (old, new) in the exercise solution, words its message must hold (x (5, 3), 4 units))
KERNEL_LINE = 'self.grads["kernel"] += self.x.T @ dy'
RETURN_LINE = 'return dy @ self.params["kernel"].T'
CASES = {
    "raveled dx": (_raveled, "x", ["dL/dx", "shape (1, 3)", "shape (3,)", "raveled"],
                   (RETURN_LINE, f"return ({RETURN_LINE[7:]}).ravel()"),
                   ["dL/dx", "shape (5, 3)", "shape (15,)"]),
    "transposed dx": (_transposed, "x", ["dL/dx", "shape (1, 3)", "shape (3, 1)", "transposed"],
                      (RETURN_LINE, f"return ({RETURN_LINE[7:]}).T"),
                      ["dL/dx", "shape (5, 3)", "shape (3, 5)", "transposed"]),
    "None": (_no_return, "x", ["dL/dx", "shape (1, 3)", "got None", "return dx"],
             (RETURN_LINE, RETURN_LINE[7:]),
             ["dL/dx", "shape (5, 3)", "got None"]),
    "parameter shape": (_kernel_transposed, "kernel", ["grads['kernel']", "shape (3, 2)", "shape (2, 3)"],
                        (KERNEL_LINE, 'self.grads["kernel"] = dy.T @ self.x'),
                        ["grads['kernel']", "shape (3, 4)", "shape (4, 3)"]),
    "missing key": (_bias_missing, "bias", ["grads['bias']", "no entry 'bias'", "shape (2,)"],
                    ('self.grads["bias"] += dy.sum(axis=0)', 'self.grads.pop("bias")'),
                    ["grads['bias']", "no entry 'bias'", "shape (4,)"]),
    "NaN": (_nan, "x", ["dL/dx", "NaN", "3 of 3"],
            (RETURN_LINE, f"return {RETURN_LINE[7:]} * np.nan"),
            ["dL/dx", "NaN", "15 of 15"]),
}


def _broken_dense(mistake):
    class Student(Dense):
        def backward(self, dy):
            return mistake(super().backward(dy), self.grads)
    return Student


def _structure_failure(rep, piece, tensor):
    assert not rep.ok, str(rep)
    rows = [r for r in rep.failures if r.how == "structure" and r.layer == piece and r.tensor == tensor]
    assert rows, str(rep)
    assert rows[0].verdict == "wrong" and rows[0].flag == "STRUCTURE"
    text = str(rep)
    assert "STRUCTURE" in text and "FAIL:" in text and "PASS" not in text.splitlines()[-1]
    return rows[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_layer_fails_on_structure(case):
    mistake, tensor, words, _, _ = CASES[case]
    layer = _broken_dense(mistake)(2, input_dim=3, seed=0, dtype="float64", name="student")
    rep = check_layer(layer, np.array([[0.5, -1.0, 2.0]]))
    row = _structure_failure(rep, "student", tensor)
    assert row.problem.startswith("student: ")
    for w in words:
        assert w in row.problem + " " + row.hint.text, (w, row.problem, row.hint.text)
    # the other tensors were still compared, and pass
    assert all(r.ok for r in rep.rows if r.tensor != tensor), str(rep)


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_model_names_the_piece(case):
    mistake, tensor, words, _, _ = CASES[case]
    model = Sequential([Dense(3, input_dim=3, seed=0, name="first"),
                        _broken_dense(mistake)(2, seed=1, name="student"),
                        Dense(3, activation="sigmoid", seed=2, name="last")])
    model.compile(loss="binary_crossentropy")
    x = np.array([[0.2, 0.9, 0.4]])
    rep = check_model(model, x, x)
    assert not rep.ok and rep.located is not None, str(rep)
    assert (rep.located.layer, rep.located.tensor, rep.located.how) == ("student", tensor, "structure"), str(rep)
    for w in words:
        assert w in rep.located.problem + " " + rep.located.hint.text, (w, rep.located.problem)
    assert "First wrong piece: student" in str(rep)


def _exercise_file(tmp_path, piece, old, new, name=None):
    text = (SOLUTIONS / f"{piece}.py").read_text()
    assert old in text, old
    path = tmp_path / (name or f"my_{piece}.py")
    path.write_text(text.replace(old, new))
    return path


def _lost(g):
    """{check: message} of the checks of a Grade that lost points."""
    return {c.name: c.message for c in g.checks if not c.passed}


@pytest.mark.parametrize("case", sorted(CASES))
def test_exercise_file_fails_on_structure(case, tmp_path):
    _, tensor, _, (old, new), words = CASES[case]
    g = exercises.run_exercise("dense", _exercise_file(tmp_path, "dense", old, new), seed=0)
    lost = _lost(g)
    assert "dL/d" + tensor in lost and g.score < 10, lost
    text = lost["dL/d" + tensor] + " " + lost.get("contract", "")
    for w in words:
        w = w.replace("grads['kernel']", "dL/dkernel").replace("grads['bias']", "dL/dbias")
        assert w in text, (w, text)


def test_cli_says_not_yet_for_a_raveled_gradient(tmp_path, capsys):
    from scratchae.cli import main
    _, _, _, (old, new), _ = CASES["raveled dx"]
    path = _exercise_file(tmp_path, "dense", old, new)
    assert main(["gradcheck", "--exercise", "dense", str(path)]) == 1
    out = capsys.readouterr().out
    assert "Not yet" in out and "Well done" not in out and "raveled" in out
    assert "shape (15,)" in out


# -- exceptions from the checked code --------------------------------------------------------
def test_an_exception_in_backward_is_an_error_row():
    class Student(Dense):
        def backward(self, dy):
            return dy @ self.params["kernel"]          # kernel not transposed: (1, 2) @ (3, 2)
    rep = check_layer(Student(2, input_dim=3, seed=0, name="student"), np.ones((1, 3)))
    assert not rep.ok
    row = rep.located
    assert (row.layer, row.tensor, row.flag) == ("student", "backward", "ERROR")
    assert isinstance(row.exception, ValueError) and "ValueError" in row.problem
    assert "dy (1, 2)" in row.problem                  # the arrays where it was raised
    assert "ERROR" in str(rep) and "student, backward raised ValueError" in str(rep)


def test_an_exception_in_forward_is_an_error_row():
    class Student(ReLU):
        def forward(self, x):
            raise IndexError("tuple index out of range")
    rep = check_layer(Student(), np.ones((2, 3)), name="mine")
    assert not rep.ok and rep.located.tensor == "forward" and rep.located.layer == "mine"
    assert "IndexError: tuple index out of range" in rep.located.problem


def test_exercise_exception_names_the_learners_file_line_and_arrays(tmp_path):
    old = RETURN_LINE
    new = "dz = dy * 1.0\n        return dz @ self.params[\"kernel\"]"
    path = _exercise_file(tmp_path, "dense", old, new, name="my_dense.py")
    line = path.read_text().splitlines().index('        return dz @ self.params["kernel"]') + 1
    g = exercises.run_exercise("dense", path, seed=0)
    text = _lost(g)["contract"]
    assert f"my_dense.py line {line}" in text, text
    assert "ValueError" in text and "matmul" in text
    for arrays in ("dy (5, 4)", "dz (5, 4)", "self.x (5, 3)", "self.params['kernel'] (3, 4)"):
        assert arrays in text, (arrays, text)


def test_cli_exception_report(tmp_path, capsys):
    from scratchae.cli import main
    path = _exercise_file(tmp_path, "dense", RETURN_LINE, "return dy @ self.params['kernel']",
                          name="mine.py")
    assert main(["gradcheck", "--exercise", "dense", str(path)]) == 1
    out = capsys.readouterr().out
    assert "mine.py line" in out and "Not yet" in out and "Well done" not in out
    assert "Traceback" not in out


def test_loss_and_function_gradients_are_checked_for_structure():
    class Flat(BinaryCrossentropy):
        def backward(self):
            return super().backward().ravel()
    rng = np.random.default_rng(0)
    rep = check_loss(Flat(), rng.uniform(0.1, 0.9, (2, 3)), rng.uniform(0, 1, (2, 3)), name="mine")
    row = _structure_failure(rep, "mine", "y_pred")
    assert "dL/dy_pred" in row.problem and "shape (2, 3)" in row.problem and "shape (6,)" in row.problem

    f = lambda a, b: float((a * b).sum())
    rep = check_function(f, lambda a, b: (b, None), np.ones(2), np.ones(2))
    assert not rep.ok and rep.rows[0].ok and rep.rows[1].flag == "STRUCTURE"
    assert "got None" in rep.rows[1].problem
    rep = check_function(f, lambda a, b: b, np.ones(2), np.ones(2))       # one gradient for two inputs
    assert not rep.ok and all(r.flag == "STRUCTURE" for r in rep.rows)


def test_an_integer_mask_is_not_a_float_gradient():
    class MaskOnly(ReLU):
        def backward(self, dy):
            return self._cached()               # the boolean mask, dy never multiplied in
    rep = check_layer(MaskOnly(), np.array([[1.0, -1.0, 2.0]]), name="relu")
    row = _structure_failure(rep, "relu", "x")
    assert "bool" in row.problem and "float" in row.problem


# -- hints that fit the piece ----------------------------------------------------------------
def test_relu_mask_bug_hint_speaks_of_relu_not_sigmoid(tmp_path):
    path = _exercise_file(tmp_path, "relu", "return dy * (self.x > 0)", "return dy * (self.x < 0)")
    text = _lost(exercises.run_exercise("relu", path, seed=0))["dL/dx"]
    assert "not a constant factor" in text and "sigmoid" not in text.lower() and "ReLU" in text


def test_dense_formula_bug_hint_does_not_mention_sigmoid(tmp_path):
    path = _exercise_file(tmp_path, "dense", KERNEL_LINE, KERNEL_LINE + " ** 2")
    lost = _lost(exercises.run_exercise("dense", path, seed=0))
    assert set(lost) == {"dL/dkernel", "by hand"}, lost
    assert "sigmoid" not in lost["dL/dkernel"].lower() and "kernel" in lost["dL/dkernel"].split("hint:")[1]


def test_sigmoid_formula_hint_still_speaks_of_sigmoid(tmp_path):
    path = _exercise_file(tmp_path, "sigmoid", "return dy * self.y * (1 - self.y)",
                          "return dy * self.y * (1 + self.y)")
    assert "y (1 - y)" in _lost(exercises.run_exercise("sigmoid", path, seed=0))["dL/dx"]


def test_mean_where_a_sum_belongs_dense_bias():
    class MeanBias(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["bias"] /= len(dy)
            return dx
    rep = check_layer(MeanBias(3, input_dim=4, seed=0, dtype="float64"),
                      np.random.default_rng(1).standard_normal((5, 4)))
    assert rep.located.tensor == "bias"
    assert "a mean where a sum belongs" in rep.located.hint.text and "5" in rep.located.hint.text


def test_mean_where_a_sum_belongs_l1_exercise(tmp_path):
    path = _exercise_file(tmp_path, "l1", "return self.factor * np.sign(self.h)",
                          "return self.factor * np.sign(self.h) / self.h.size")
    text = _lost(exercises.run_exercise("l1", path, seed=0))["dL/dh"]
    assert "a mean where a sum belongs" in text and "20" in text         # h is (4, 5)


def test_sum_where_a_mean_belongs_bce_exercise(tmp_path):
    path = _exercise_file(tmp_path, "bce", " / self.p.size", "")
    text = _lost(exercises.run_exercise("bce", path, seed=0))["dL/dp"]
    assert "a sum where a mean belongs" in text and "missing 1/20" in text


def test_wrong_l1_factor_is_named_with_both_values():
    class DoubleL1(L1):
        def gradient(self, h):
            return 0.2 * np.sign(h)
    rep = check_layer(DoubleL1(0.1), np.random.default_rng(2).standard_normal((3, 4)))
    hint = rep.located.hint
    assert hint.kind == "factor"
    assert "your factor is 0.2" in hint.text and "the layer's l1 is 0.1" in hint.text


def test_wrong_l1_factor_in_the_exercise(tmp_path):
    path = _exercise_file(tmp_path, "l1", "return self.factor * np.sign(self.h)",
                          "return 0.3 * np.sign(self.h)")
    text = _lost(exercises.run_exercise("l1", path, seed=0))["dL/dh"]
    assert "your factor is 0.3" in text and "factor is 0.1" in text


# -- the kink convention -----------------------------------------------------------------------
def _kink_rows(rep):
    return [r for r in rep.rows if r.how == "kink"]


def test_relu_exercise_grades_the_convention_at_zero(tmp_path):
    path = _exercise_file(tmp_path, "relu", "return dy * (self.x > 0)", "return dy * (self.x >= 0)")
    g = exercises.run_exercise("relu", path, seed=0)
    lost = _lost(g)
    assert list(lost) == ["kink"], lost                  # no false alarm near the kink, charged once
    assert "exactly 0" in lost["kink"] and ">= 0 where > 0" in lost["kink"]


def test_reference_solutions_pass_the_kink_convention():
    for piece in ("relu", "l1"):
        g = exercises.run_exercise(piece, SOLUTIONS / f"{piece}.py", seed=0)
        kink = next(c for c in g.checks if c.name == "kink")
        assert kink.passed and "0 at all" in kink.message, kink


def test_l1_exercise_with_one_at_zero_fails_the_convention(tmp_path):
    path = _exercise_file(tmp_path, "l1", "return self.factor * np.sign(self.h)",
                          "return self.factor * np.where(self.h >= 0, 1.0, -1.0)")
    lost = _lost(exercises.run_exercise("l1", path, seed=0))
    assert list(lost) == ["kink"] and "is 0.1 at element" in lost["kink"], lost


def test_templates_state_the_convention():
    for piece in ("relu", "l1"):
        text = exercises.template_text(piece)
        assert "pick 0" in text and "graded" in text


def test_kink_convention_is_opt_in_and_the_library_meets_it():
    x = np.array([[0.0, 1.0, -2.0]])
    assert not _kink_rows(check_layer(ReLU(), x))
    for piece in (ReLU(), L1(0.5)):
        rep = check_layer(piece, x, kink_convention=True)
        assert rep.ok and len(_kink_rows(rep)) == 1, str(rep)


# -- the contract's own examples ---------------------------------------------------------------
def test_doctests():
    for module in (_contract, gradcheck_module):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0
