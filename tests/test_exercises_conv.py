"""The convolutional exercises, conv2d and maxpool: the solutions score 10, every shipped mistake
scores below 10 with the hint that names it, the hand-worked answers are what scratchae's own
layers compute, and a cheating or careless file loses what it breaks."""
from pathlib import Path

import numpy as np
import pytest

from scratchae.exercises import grading, plans, rubric, rubric_conv
from scratchae.exercises.broken import BROKEN

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
CONV = sorted(n for n, b in BROKEN.items() if b.piece in ("conv2d", "maxpool"))
WORDS = {"conv2d-flipped-kernel": ("dL/dx", "the kernel rotated by 180 degrees"),
         "conv2d-wrong-channels": ("dL/dx", "the exact gradient summed over the input channels"),
         "conv2d-bias-mean": ("dL/dbias", "exact / 18, N Ho Wo"),
         "maxpool-every-input": ("dL/dx", "to every input of its window"),
         "maxpool-average": ("dL/dx", "average pooling's backward"),
         "maxpool-every-tie": ("by hand", "every input equal to the window's max got dy")}
SCORES = {"conv2d-flipped-kernel": 7.33, "conv2d-wrong-channels": 8, "conv2d-bias-mean": 8.33,
          "maxpool-every-input": 2.5, "maxpool-average": 2.5, "maxpool-every-tie": 8}


def grade(tmp_path, piece, *edits):
    text = (SOLUTIONS / f"{piece}.py").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{piece}.py"
    path.write_text(text)
    return grading.grade_submission(piece, path, seed=0, timeout=60)


def test_the_shipped_mistakes_are_the_issues_three_and_more():
    assert set(WORDS) == set(CONV)


@pytest.mark.parametrize("name", CONV)
def test_each_conv_mistake_scores_below_10_with_its_hint(name):
    b = BROKEN[name]
    g = grading.check_class(b.piece, b.cls)
    check, words = WORDS[name]
    bad = {c.name: c.message for c in g.checks if not c.passed}
    assert g.status == "graded" and g.score == pytest.approx(SCORES[name], abs=0.01), grading.report(g)
    assert check in bad and words in bad[check], grading.report(g)


@pytest.mark.parametrize("piece", ["conv2d", "maxpool"])
def test_the_solution_scores_10(piece):
    g = grading.grade_submission(piece, SOLUTIONS / f"{piece}.py", seed=0, timeout=60)
    assert g.status == "graded" and g.score == 10, grading.report(g)


def test_a_loop_solution_scores_10_too(tmp_path):
    loops = '''n_, ho, wo, _ = dy.shape
        dx = np.zeros(self.x.shape)
        for n in range(n_):
            for i in range(ho):
                for j in range(wo):
                    for c in range(dy.shape[3]):
                        win = self.x[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
                        a, b = np.unravel_index(np.argmax(win), (2, 2))
                        dx[n, 2 * i + a, 2 * j + b, c] += dy[n, i, j, c]
        return dx'''
    text = (SOLUTIONS / "maxpool.py").read_text()
    start = text.index("        n, h, w, c = self.x.shape\n        ho, wo = h // 2, w // 2\n        cells")
    path = tmp_path / "maxpool.py"
    path.write_text(text[:start] + "        " + loops + "\n")
    g = grading.grade_submission("maxpool", path, seed=0, timeout=60)
    assert g.score == 10, grading.report(g)


def test_a_kernel_flip_kept_from_the_first_call_loses_the_later_half(tmp_path):
    g = grade(tmp_path, "conv2d", ("        ho, wo = dy.shape[1], dy.shape[2]\n",
                                   "        ho, wo = dy.shape[1], dy.shape[2]\n        if not hasattr(self, '_k'):\n"
                                   "            self._k = kernel.copy()\n        kernel = self._k\n"))
    pts = {c.name: c.score for c in g.checks}
    assert pts["dL/dx"] == 1 and pts["dL/dkernel"] == 2, grading.report(g)
    assert "something kept from an earlier call" in next(c.message for c in g.checks if c.name == "dL/dx")


def test_an_input_changed_in_place_loses_the_contract(tmp_path):
    g = grade(tmp_path, "maxpool", ("        return dx", "        self.x[...] = 0\n        return dx"))
    pts = {c.name: c.score for c in g.checks}
    assert pts["contract"] == 0 and pts["dL/dx"] == 2, grading.report(g)
    assert "the x handed in was changed in place" in next(c.message for c in g.checks if c.name == "contract")
    g = grade(tmp_path, "conv2d", ("        return dx", "        dy *= 2\n        return dx"))
    pts = {c.name: c.score for c in g.checks}
    assert pts["contract"] == 0 and pts["dL/dx"] == 2 and g.score == 9, grading.report(g)


def test_the_random_maxpool_inputs_have_no_ties_and_the_hand_case_has_three():
    for part in plans.plan("maxpool", np.random.default_rng(3)):
        for c in part["calls"]:
            x = c["inputs"][0]
            n, h, w, ch = x.shape
            cells = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, ch)
            ties = (cells == cells.max(axis=(2, 4), keepdims=True)).sum(axis=(2, 4)) > 1
            assert ties.sum() == (3 if part["name"] == "by hand" else 0)


def test_the_hand_worked_answers_are_what_scratchaes_layers_compute():
    """rubric_conv's known answers against scratchae's own Conv2D and MaxPooling2D (not the
    grader's complex step), on plans.py's cases by hand."""
    from scratchae.conv import Conv2D
    from scratchae.pooling import MaxPooling2D
    c = next(p for p in plans.plan("conv2d", np.random.default_rng(0)) if p["name"] == "by hand")["calls"][0]
    layer = Conv2D(2, 2, dtype="float64")
    layer.build((3, 3, 1))
    layer.params["kernel"][...] = c["params"]["kernel"]
    layer.params["bias"][...] = c["params"]["bias"]
    layer.forward(c["inputs"][0])
    for g in layer.grads.values():
        g[...] = 0
    dx = layer.backward(c["dy"])
    np.testing.assert_allclose(dx, rubric_conv.CONV_HAND["x"], atol=1e-12)
    np.testing.assert_allclose(layer.grads["kernel"], rubric_conv.CONV_HAND["kernel"], atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], rubric_conv.CONV_HAND["bias"], atol=1e-12)
    c = next(p for p in plans.plan("maxpool", np.random.default_rng(0)) if p["name"] == "by hand")["calls"][0]
    pool = MaxPooling2D(dtype="float64")
    pool.forward(c["inputs"][0])
    np.testing.assert_array_equal(pool.backward(c["dy"]), rubric_conv.MAXPOOL_HAND["x"])
    assert rubric.HAND["conv2d"] is rubric_conv.CONV_HAND


def test_a_wrong_gradient_is_told_apart_from_the_right_one_by_the_hints():
    """The hint function names a mistake only when the array is that mistake."""
    c = plans.plan("conv2d", np.random.default_rng(0))[0]["calls"][0]
    want = np.ones((2, 5, 5, 3))
    assert "rotated" not in rubric_conv.hint("conv2d", "x", want * 2, want, c)


class LibraryConv:
    """scratchae.conv.Conv2D (naive and fast) in the conv2d exercise's interface: its params and
    grads are the layer's own dicts, which the grader writes into and zeroes."""

    implementation = "fast"

    def __init__(self, in_channels, filters, kernel_size=3, seed=0):
        from scratchae.conv import Conv2D
        self.layer = Conv2D(filters, kernel_size, dtype="float64", seed=seed, implementation=self.implementation)
        self.layer.build((kernel_size + 3, kernel_size + 3, in_channels))
        self.params, self.grads = self.layer.params, self.layer.grads

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy):
        return self.layer.backward(dy)


class LibraryConvNaive(LibraryConv):
    implementation = "naive"


class LibraryPool:
    def __init__(self):
        from scratchae.pooling import MaxPooling2D
        self.layer = MaxPooling2D(dtype="float64")

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy):
        return self.layer.backward(dy)


@pytest.mark.parametrize("piece, cls", [("conv2d", LibraryConv), ("conv2d", LibraryConvNaive), ("maxpool", LibraryPool)])
def test_the_librarys_own_layers_score_10(piece, cls):
    g = grading.check_class(piece, cls)
    assert g.status == "graded" and g.score == 10, grading.report(g)
