"""Exercise mode: templates ship and raise NotImplementedError, the reference solutions
(kept in tests/exercise_solutions, not in the package) pass, every shipped mistake fails with
its hint, the hand-worked answers are right, and every error gets a message.

A learner's check (`run_exercise`, `scratchae gradcheck --exercise`) is the grader's run: the
grade's checks are what these tests read (tests/test_grading.py has the attacks)."""
from pathlib import Path

import numpy as np
import pytest

from scratchae import exercises
from scratchae.exercises import grading, plans, rubric, runner
from scratchae.exercises.broken import BROKEN

SOLUTIONS = Path(__file__).parent / "exercise_solutions"


def full(g):
    return g.status == "graded" and g.score == g.max_score == 10


def lost(g):
    return " ".join(f"{c.name}: {c.message}" for c in g.checks if not c.passed)


@pytest.mark.parametrize("piece", sorted(exercises.EXERCISES))
def test_template_is_unfinished(piece, tmp_path):
    path = exercises.write_template(piece, tmp_path / f"my_{piece}.py")
    assert "NotImplementedError" in path.read_text()
    g = exercises.run_exercise(piece, path, seed=0)
    assert not full(g) and "NotImplementedError" in lost(g)


def test_relu_exercise_input_sits_on_the_kink():
    calls = plans.plan("relu", np.random.default_rng(0))[0]["calls"]
    x = calls[0]["inputs"][0]
    assert (x == 0).sum() >= 1 and ((np.abs(x) < 1e-5) & (x != 0)).sum() >= 2


def test_wrong_solution_gets_a_hint(tmp_path):
    text = (SOLUTIONS / "bce.py").read_text().replace(" / self.p.size", "")
    path = tmp_path / "bce.py"
    path.write_text(text)
    g = exercises.run_exercise("bce", path, seed=0)
    assert not full(g) and "missing 1/20" in lost(g)


def test_errors_have_clear_messages(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        exercises.run_exercise("dense", tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("class Dense(:\n    pass\n")
    g = exercises.run_exercise("dense", bad)
    assert g.status == "not loaded" and "SyntaxError at bad.py line 1" in g.reason
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    g = exercises.run_exercise("dense", empty)
    assert g.status == "not loaded" and "no class 'Dense'" in g.reason
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
HINT_WORDS = {"mse-no-two": "exact / 2", "kl-no-mean": "the 1/N of the mean is missing",
              "bce-logits-extra-sigmoid": "p (1 - p) cancels", "adam-no-bias-correction": "without its bias correction",
              "model-forward-order": "the last piece first",
              "sampling-sigma-as-variance": "exp(log_var) is the variance sigma^2, used as the standard deviation",
              "sampling-eps-redrawn": "backward drew new noise",
              "sampling-no-half": "the 0.5 of d exp(0.5 log_var)/d log_var = 0.5 sigma is lost",
              "gaussian-kl-sign": "the KL's sign is flipped",
              "gaussian-kl-mean-latents": "the KL is averaged over the 3 latent units: it should be summed over them",
              "gaussian-kl-no-mean": "the 1/N of the mean over the 5 rows is missing",
              "conv2d-flipped-kernel": "the kernel rotated by 180 degrees",
              "conv2d-wrong-channels": "summed over the input channels",
              "conv2d-bias-mean": "N Ho Wo", "maxpool-every-input": "to every input of its window",
              "maxpool-average": "average pooling's backward",
              "maxpool-every-tie": "every input equal to the window's max got dy"}


@pytest.mark.parametrize("name", LATER)
def test_each_later_mistake_fails_with_its_specific_hint(name):
    b = BROKEN[name]
    g = grading.check_class(b.piece, b.cls)
    assert not full(g) and HINT_WORDS[name] in lost(g), grading.report(g)


def test_the_librarys_own_pieces_pass_the_later_exercises():
    """Correct code written differently from the reference solutions passes: scratchae's own."""
    from scratchae.losses import BinaryCrossentropy, MeanSquaredError
    from scratchae.optimizers import Adam
    from scratchae.regularizers import KLSparsity

    class FromLogits(BinaryCrossentropy):
        def __init__(self):
            super().__init__(from_logits=True)

    for piece, cls in (("mse", MeanSquaredError), ("kl", KLSparsity), ("bce-logits", FromLogits),
                       ("adam", Adam), ("sampling", LibrarySampling), ("gaussian-kl", LibraryKL)):
        g = grading.check_class(piece, cls)
        assert full(g), grading.report(g)


class LibrarySampling:
    """scratchae.vae.Sampling (kl_weight 0: the sampling alone) in the sampling exercise's interface."""

    def __init__(self):
        from scratchae.vae import Sampling
        self.layer, self.rng = Sampling(kl_weight=0.0, dtype="float64"), None

    def forward(self, mu, log_var):
        self.layer.rng = self.rng
        return self.layer.forward([mu, log_var], training=True)

    def backward(self, dz):
        return tuple(self.layer.backward(dz))


class LibraryKL:
    """scratchae.vae.Sampling's KL term in the gaussian-kl exercise's interface (predict: z = mu)."""

    def __init__(self):
        from scratchae.vae import Sampling
        self.layer = Sampling(dtype="float64")

    def forward(self, mu, log_var):
        self.layer.forward([mu, log_var])
        return self.layer.loss_terms()["kl"]

    def backward(self):
        return tuple(self.layer.backward(np.zeros_like(self.layer._mu)))


def test_the_hand_worked_answers_are_what_scratchae_computes():
    """rubric.HAND's known answers, recomputed with the library's own pieces on plans.py's
    by-hand cases (so a typo in a hand-worked number fails here, not in a learner's grade)."""
    from scratchae.activations import ReLU, Sigmoid
    from scratchae.layers import Dense
    from scratchae.losses import BinaryCrossentropy, MeanSquaredError
    from scratchae.optimizers import Adam
    from scratchae.regularizers import L1, KLSparsity

    def case(piece):
        parts = plans.plan(piece, np.random.default_rng(0))
        part = next(p for p in parts if p["name"] == "by hand")
        return part, part["calls"][0]

    _, c = case("dense")
    d = Dense(3, input_dim=2, dtype="float64")
    d.set_weights([c["params"]["kernel"], c["params"]["bias"]])
    d.forward(c["inputs"][0])
    dx = d.backward(c["dy"])
    got = {"kernel": d.grads["kernel"], "bias": d.grads["bias"], "x": dx}
    for k, v in rubric.HAND["dense"].items():
        np.testing.assert_allclose(got[k], v, rtol=1e-12)
    for piece, obj in (("relu", ReLU()), ("sigmoid", Sigmoid())):
        _, c = case(piece)
        obj.forward(c["inputs"][0])
        np.testing.assert_allclose(obj.backward(c["dy"]), rubric.HAND[piece]["x"], rtol=1e-12, atol=1e-15)
    for piece, obj in (("bce", BinaryCrossentropy()), ("mse", MeanSquaredError()),
                       ("bce-logits", BinaryCrossentropy(from_logits=True))):
        _, c = case(piece)
        obj.forward(*c["inputs"])
        (answer,) = rubric.HAND[piece].values()
        np.testing.assert_allclose(obj.backward(), answer, rtol=1e-12, atol=1e-15)
    for piece, make in (("l1", L1), ("kl", KLSparsity)):
        part, c = case(piece)
        reg = make(*part["init"])
        reg.forward(c["inputs"][0])
        np.testing.assert_allclose(reg.backward(), rubric.HAND[piece]["h"], rtol=1e-12, atol=1e-15)
    from scratchae.exercises import rubric_vae
    from scratchae.vae import Sampling
    _, c = case("sampling")
    s = Sampling(kl_weight=0.0, dtype="float64")
    s.rng = runner.noise(c["rng"])
    z = s.forward(c["inputs"], training=True)
    dmu, dlv = s.backward(c["dy"])
    for got, key in ((z, "z"), (dmu, "mu"), (dlv, "log_var")):
        np.testing.assert_allclose(got, rubric_vae.SAMPLING_HAND[key], rtol=1e-12, atol=1e-15)
    _, c = case("gaussian-kl")
    s = Sampling(dtype="float64")
    s.forward(c["inputs"])
    assert s.loss_terms()["kl"] == pytest.approx(rubric_vae.KL_HAND["KL"], rel=1e-12)
    dmu, dlv = s.backward(np.zeros((2, 2)))
    np.testing.assert_allclose(dmu, rubric_vae.KL_HAND["mu"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dlv, rubric_vae.KL_HAND["log_var"], rtol=1e-12, atol=1e-15)
    step = plans.plan("adam", np.random.default_rng(0))[1]["steps"][0][0]
    p = step[1].copy()
    Adam(learning_rate=0.1).apply([("w", p, step[2].copy())])
    np.testing.assert_allclose(p - step[1], rubric.ADAM_FIRST_STEP, rtol=1e-12)
    np.testing.assert_allclose(p, [0.9, -0.9], atol=2e-6)          # "about lr against sign(g)"


def _variant(tmp_path, piece, old, new):
    text = (SOLUTIONS / f"{piece}.py").read_text()
    assert old in text, old
    path = tmp_path / f"my_{piece.replace('-', '_')}.py"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("piece, old, new, check, words", [
    ("mse", "2.0 * (self.p - self.y)", "2.0 * (self.y - self.p)", "sign", "wrong sign"),
    ("kl", "dq / self.h.shape[0]", "dq / self.h.size", "dL/dh", "exact / 5"),
    ("bce-logits", "(p - self.y) / self.z.size", "(p - self.y)", "dL/dz", "missing 1/20"),
    ("adam", "        self.iterations += 1\n        t = self.iterations\n",
     "        t = self.iterations + 1\n", "closed form", "step 2"),
    ("adam", "            param -= a_t", "            self.iterations += 0 * len(path)\n            param -= a_t", None, ""),
    ("model", "            dy = piece.backward(dy)", "            piece.backward(dy)", "by hand",
     "what the piece after it returned"),
    ("model", "                grads[f\"{piece.name}/{key}\"] = piece.grads[key].copy()", "                pass",
     "params", "grads has no entry 'dense/kernel'"),
    ("sampling", "np.exp(0.5 * log_var)                # the standard deviation",
     "np.exp(log_var) ** 0.5", None, ""),
    ("sampling", "return dz.copy(), dz * 0.5 * self.sigma * self.eps", "return dz.copy(), dz * self.sigma * self.eps",
     "dL/dlog_var", "the 0.5 of d exp(0.5 log_var)/d log_var"),
    ("sampling", "return dz.copy(), dz", "return dz.copy() * 0.5 * self.sigma * self.eps, dz", "dL/dmu",
     "dL/dmu is wrong"),
    ("gaussian-kl", "return float(terms.sum() / mu.shape[0])", "return float(terms.sum())", "KL",
     "summed over the 5 rows of the batch: it should be averaged over them"),
    ("gaussian-kl", "return float(terms.sum() / mu.shape[0])", "return float(np.mean(terms.sum(axis=1)))", None, ""),
    ("gaussian-kl", "0.5 * (np.exp(self.log_var) - 1) / n", "0.5 * np.exp(self.log_var) / n", "dKL/dlog_var",
     "the -0.5 of the log_var term"),
])
def test_a_mistake_in_a_later_exercise_is_located_and_hinted(tmp_path, piece, old, new, check, words):
    g = exercises.run_exercise(piece, _variant(tmp_path, piece, old, new), seed=0)
    if check is None:                       # a harmless edit: still right
        assert full(g), grading.report(g)
        return
    bad = {c.name: c.message for c in g.checks if not c.passed}
    assert check in bad and words in bad[check], grading.report(g)


def test_a_changed_forward_is_caught_even_with_a_matching_backward(tmp_path):
    # the forward sums instead of averaging and the backward matches it: the gradient would
    # agree with that forward, so the gradients are not counted
    path = _variant(tmp_path, "mse", "return float(np.mean((y_pred - y_true) ** 2))",
                    "return float(np.sum((y_pred - y_true) ** 2))")
    path.write_text(path.read_text().replace(" / self.p.size", ""))
    g = exercises.run_exercise("mse", path, seed=0)
    got = {c.name: c.score for c in g.checks}
    assert got["forward"] == 0 and got["dL/dp"] == 0 and got["contract"] == 1, grading.report(g)
    assert "differs from the template's" in lost(g)


@pytest.mark.parametrize("piece", sorted(exercises.EXERCISES))
def test_every_template_states_shapes_and_how_to_check_it(piece):
    text = exercises.template_text(piece)
    assert "shape" in text and f"--exercise {piece} THIS_FILE.py" in text
