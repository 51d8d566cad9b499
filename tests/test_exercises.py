"""Exercise mode: templates ship and raise NotImplementedError, the reference solutions
(kept in tests/exercise_solutions, not in the package) pass, every shipped mistake fails with
its hint, the hand-worked answers are right, and every error gets a message."""
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


def test_broken_set_covers_the_mistakes_and_every_exercise():
    assert {b.hint for b in BROKEN.values()} >= {"transpose", "mask", "upstream", "scale", "sign", "zero",
                                                 "extra-sigmoid", "bias-correction", "order"}
    assert {b.piece for b in BROKEN.values()} == set(exercises.EXERCISES)
    assert all(b.model for b in BROKEN.values() if b.piece in ("dense", "relu", "sigmoid", "bce", "l1"))


# -- the later exercises: mse, kl, bce-logits, adam, model ---------------------------------------
LATER = sorted(name for name, b in BROKEN.items() if b.model is None)


def check_class(piece, cls):
    return exercises.combine(piece, exercises.run_parts(piece, cls))


@pytest.mark.parametrize("name", LATER)
def test_each_later_mistake_fails_with_its_specific_hint(name):
    b = BROKEN[name]
    rep = check_class(b.piece, b.cls)
    assert not rep.ok, str(rep)
    assert (rep.located.tensor, rep.located.hint.kind) == (b.tensor, b.hint), str(rep)


def test_the_librarys_own_pieces_pass_the_later_exercises():
    """Correct code written differently from the reference solutions passes: scratchae's own."""
    from scratchae.losses import BinaryCrossentropy, MeanSquaredError
    from scratchae.optimizers import Adam
    from scratchae.regularizers import KLSparsity

    class FromLogits(BinaryCrossentropy):
        def __init__(self):
            super().__init__(from_logits=True)

    for piece, cls in (("mse", MeanSquaredError), ("kl", KLSparsity), ("bce-logits", FromLogits),
                       ("adam", Adam)):
        rep = check_class(piece, cls)
        assert rep.ok, str(rep)


def test_the_hand_worked_answers_are_what_scratchae_computes():
    """The known answers of scratchae/exercises/checks.py and adam_model.py, recomputed with the
    library's pieces (so a typo in a hand-worked number fails here, not in a learner's grade)."""
    import numpy as np
    from scratchae.activations import ReLU, Sigmoid
    from scratchae.exercises import adam_model as AM, checks as C
    from scratchae.layers import Dense
    from scratchae.losses import BinaryCrossentropy, MeanSquaredError
    from scratchae.optimizers import Adam
    from scratchae.regularizers import L1, KLSparsity

    d = Dense(3, input_dim=2, dtype="float64")
    d.set_weights([C.DENSE_CASE["kernel"], C.DENSE_CASE["bias"]])
    d.forward(C.DENSE_CASE["x"])
    dx = d.backward(C.DENSE_CASE["dy"])
    got = {"kernel": d.grads["kernel"], "bias": d.grads["bias"], "x": dx}
    for k, v in C.DENSE_ANSWER.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-12)
    for piece, case, answer in ((ReLU(), C.RELU_CASE, C.RELU_ANSWER), (Sigmoid(), C.SIGMOID_CASE, C.SIGMOID_ANSWER)):
        piece.forward(case["x"])
        np.testing.assert_allclose(piece.backward(case["dy"]), answer["x"], rtol=1e-12, atol=1e-15)
    for loss, case, (name, answer) in ((BinaryCrossentropy(), (C.BCE_CASE["p"], C.BCE_CASE["y"]), *C.BCE_ANSWER.items()),
                                       (MeanSquaredError(), (C.MSE_CASE["p"], C.MSE_CASE["y"]), *C.MSE_ANSWER.items()),
                                       (BinaryCrossentropy(from_logits=True), (C.LOGITS_CASE["z"], C.LOGITS_CASE["y"]),
                                        *C.LOGITS_ANSWER.items())):
        loss.forward(*case)
        np.testing.assert_allclose(loss.backward(), answer, rtol=1e-12, atol=1e-15)
    for reg, case, answer in ((L1(0.5), C.L1_CASE, C.L1_ANSWER), (KLSparsity(0.2, 3.0), C.KL_CASE, C.KL_ANSWER)):
        reg.forward(case["h"])
        np.testing.assert_allclose(reg.backward(), answer["h"], rtol=1e-12, atol=1e-15)
    p = AM.ADAM_P0.copy()
    Adam(learning_rate=0.1).apply([("w", p, AM.ADAM_G.copy())])
    np.testing.assert_allclose(p - AM.ADAM_P0, AM.ADAM_FIRST_STEP, rtol=1e-12)
    np.testing.assert_allclose(p, [0.9, -0.9], atol=2e-6)          # "about lr against sign(g)"


def _variant(tmp_path, piece, old, new):
    text = (SOLUTIONS / f"{piece}.py").read_text()
    assert old in text, old
    path = tmp_path / f"my_{piece.replace('-', '_')}.py"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("piece, old, new, tensor, kind, words", [
    ("mse", "2.0 * (self.p - self.y)", "2.0 * (self.y - self.p)", "y_pred", "sign", "sign flipped"),
    ("kl", "dq / self.h.shape[0]", "dq / self.h.size", "h", "scale", "numeric / 5"),
    ("bce-logits", "(p - self.y) / self.z.size", "(p - self.y)", "z", "scale", "missing 1/20"),
    ("adam", "        self.iterations += 1\n        t = self.iterations\n",
     "        t = self.iterations + 1\n", "step 2", None, ""),
    ("adam", "            param -= a_t", "            self.iterations += 0 * len(path)\n            param -= a_t", None, None, ""),
    ("model", "            dy = piece.backward(dy)", "            piece.backward(dy)", "chain", "chain",
     "the gradient returned by the piece after it"),
    ("model", "                grads[f\"{piece.name}/{key}\"] = piece.grads[key].copy()", "                pass",
     "kernel", "structure", "grads has no entry 'dense/kernel'"),
])
def test_a_mistake_in_a_later_exercise_is_located_and_hinted(tmp_path, piece, old, new, tensor, kind, words):
    rep = exercises.run_exercise(piece, _variant(tmp_path, piece, old, new))
    if tensor is None:                       # a harmless edit: still right
        assert rep.ok, str(rep)
        return
    assert not rep.ok, str(rep)
    failing = [r for r in rep.all_rows() if not r.ok]
    assert any(r.tensor == tensor and (kind is None or (r.hint and r.hint.kind == kind)) for r in failing), str(rep)
    assert words in str(rep)


def test_adam_with_t_counted_per_parameter_gets_the_state_hint(tmp_path):
    start = "        self.iterations += 1\n"
    loop = "        for path, param, grad in parameters:\n"
    text = (SOLUTIONS / "adam.py").read_text()
    head = text[text.index(start):text.index(loop)]          # iterations, t and a_t, once per step
    moved = loop + "".join("    " + line + "\n" for line in head.splitlines())   # ... once per parameter
    path = _variant(tmp_path, "adam", head + loop, moved)
    rep = exercises.run_exercise("adam", path)
    two = next(r for r in rep.all_rows() if r.tensor == "two parameters")
    assert not two.ok and two.hint.kind == "state", str(rep)
    assert all(r.ok for r in rep.rows), str(rep)        # one parameter at a time: still right


def test_a_changed_forward_is_caught_even_with_a_matching_backward(tmp_path):
    # the forward sums instead of averaging and the backward matches it: the differences agree,
    # the forward check and the known answer do not
    path = _variant(tmp_path, "mse", "return float(np.mean((y_pred - y_true) ** 2))",
                    "return float(np.sum((y_pred - y_true) ** 2))")
    path.write_text(path.read_text().replace(" / self.p.size", ""))
    rep = exercises.run_exercise("mse", path)
    assert all(r.ok for r in rep.rows), str(rep)
    assert not rep.ok and "forward differs from the template's" in str(rep)


@pytest.mark.parametrize("piece", sorted(exercises.EXERCISES))
def test_every_template_states_shapes_and_how_to_check_it(piece):
    text = exercises.template_text(piece)
    assert "shape" in text and f"--exercise {piece} THIS_FILE.py" in text
