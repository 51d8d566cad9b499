"""Grading: partial credit that a wrong or hostile submission cannot game.

Every submission here runs as a real one does: a file, a child process started by the grader
(scratchae.exercises.sandbox), raw records back, the verdict made in this process. The inputs
are fixed by `seed=0` so that scores are exact. A table of wrong answers and attacks, each with
the score it must get; every correct rewrite we could think of must score 10.
"""
import csv
import os
import signal
import subprocess
import sys
import time
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from scratchae.cli import main
from scratchae.exercises import EXERCISES, channel, grading, plans, rubric, runner, screen

SOLUTIONS = Path(__file__).parent / "exercise_solutions"
TEMPLATES = Path(grading.__file__).parent / "templates"
DX = 'return dy @ self.params["kernel"].T'
KERNEL = 'self.grads["kernel"] += self.x.T @ dy'
BIAS = 'self.grads["bias"] += dy.sum(axis=0)'
SIG = "return dy * self.y * (1 - self.y)"
BCE = "return (self.p - self.y) / (self.p * (1 - self.p)) / self.p.size"
ADAM = "param -= a_t * m / (np.sqrt(v) + self.epsilon)"
SIGMA = "np.exp(0.5 * log_var)                # the standard deviation"
Z = "return mu + self.sigma * self.eps"
DLV = "return dz.copy(), dz * 0.5 * self.sigma * self.eps"
KL_VALUE = "return float(terms.sum() / mu.shape[0])"
KL_GRAD = "return self.mu / n, 0.5 * (np.exp(self.log_var) - 1) / n"
LOGITS = """p = np.where(self.z >= 0, 1.0 / (1.0 + np.exp(-np.abs(self.z))),
                     np.exp(-np.abs(self.z)) / (1.0 + np.exp(-np.abs(self.z))))"""


def variant(piece, *edits, prefix=""):
    text = (SOLUTIONS / f"{piece}.py").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return prefix + text


def grade(tmp_path, piece, text, name=None, **kw):
    path = tmp_path / (name or f"{piece}.py")
    path.write_text(text)
    kw.setdefault("timeout", 30)
    return grading.grade_submission(piece, path, seed=0, **kw)


def points(g):
    return {c.name: c.score for c in g.checks}


def message(g, check):
    return next(c.message for c in g.checks if c.name == check)


# -- the rubric ---------------------------------------------------------------------------------
def test_every_exercise_has_a_rubric_worth_10_points():
    assert set(grading.RUBRICS) == set(EXERCISES) == set(plans.PLANS)
    for piece, items in grading.RUBRICS.items():
        assert sum(i.weight for i in items) == 10, piece
        assert len({i.name for i in items}) == len(items), piece


@pytest.mark.parametrize("piece", sorted(EXERCISES))
def test_every_solution_scores_10_and_every_template_only_its_forward(piece, tmp_path):
    g = grading.grade_submission(piece, SOLUTIONS / f"{piece}.py", seed=0, timeout=30)
    assert g.status == "graded" and g.score == 10, grading.report(g)
    g = grading.grade_submission(piece, TEMPLATES / f"{piece}.py", seed=0, timeout=30)
    earned = {c.name: c.score for c in g.checks if c.score}
    # the VAE's two leave the forward to the learner as well: their templates earn nothing
    assert earned == ({} if piece in ("adam", "model", "sampling", "gaussian-kl") else {"forward": 1}), \
        grading.report(g)
    assert any("NotImplementedError" in c.message for c in g.checks)


def test_the_inputs_are_drawn_afresh_for_each_run():
    a, b = grading._request("dense", None), grading._request("dense", None)
    assert not np.array_equal(a[0]["calls"][0]["inputs"][0], b[0]["calls"][0]["inputs"][0])
    c, d = grading._request("dense", 5), grading._request("dense", 5)
    assert np.array_equal(c[0]["calls"][0]["inputs"][0], d[0]["calls"][0]["inputs"][0])


# -- every correct rewrite scores 10 ------------------------------------------------------------
REWRITES = {
    "dense einsum": ("dense", (KERNEL, 'self.grads["kernel"] += np.einsum("ni,nj->ij", self.x, dy)'),
                     (DX, 'return np.einsum("nj,ij->ni", dy, self.params["kernel"])')),
    "dense loops": ("dense", (KERNEL, 'for i in range(self.x.shape[1]):\n'
                                      '            for j in range(dy.shape[1]):\n'
                                      '                self.grads["kernel"][i, j] += sum(self.x[n, i] * dy[n, j] for n in range(len(dy)))'),
                    (BIAS, 'self.grads["bias"][:] += np.add.reduce(dy, axis=0)')),
    # adding written out: np.add into the array itself, and a sum of the gradient's rows
    "dense np.add out=": ("dense", (KERNEL, 'np.add(self.grads["kernel"], np.dot(self.x.T, dy), out=self.grads["kernel"])'),
                          (BIAS, 'g = self.grads["bias"]\n        g += np.sum(dy, 0)'),
                          (DX, 'return (self.params["kernel"] @ dy.T).T')),
    # adds only where something is there to add to: on zeroed grads that is writing, so it is adding
    "dense adds when nonzero": ("dense", (KERNEL, 'if np.any(self.grads["kernel"]):\n'
                                                  '            self.grads["kernel"] += self.x.T @ dy\n'
                                                  '        else:\n'
                                                  '            self.grads["kernel"][...] = self.x.T @ dy')),
    "relu where": ("relu", ("return dy * (self.x > 0)", "return np.where(self.x > 0, dy, 0.0)")),
    "relu copy": ("relu", ("return dy * (self.x > 0)", "dx = dy.copy()\n        dx[self.x <= 0] = 0\n        return dx")),
    "sigmoid order": ("sigmoid", (SIG, "return (self.y - self.y ** 2) * dy")),
    "bce terms": ("bce", (BCE, "n = self.p.size\n        return (-self.y / self.p + (1 - self.y) / (1 - self.p)) / n")),
    "mse": ("mse", ("return 2.0 * (self.p - self.y) / self.p.size", "return (self.p - self.y) * (2.0 / np.size(self.p))")),
    "l1 where": ("l1", ("return self.factor * np.sign(self.h)",
                        "return self.factor * (np.where(self.h > 0, 1.0, 0.0) - np.where(self.h < 0, 1.0, 0.0))")),
    "bce-logits tanh": ("bce-logits", (LOGITS, "p = 0.5 * (1 + np.tanh(0.5 * self.z))")),
    # reads what the model left in grads and writes it back plus this call's gradient: that is
    # adding, whatever it is called (the grader sees G0 + g in the same array, for a G0 drawn per run)
    "dense reads then writes the sum": ("dense", (KERNEL, 'seen = self.grads["kernel"].copy()\n'
                                                          '        self.grads["kernel"][...] = seen + self.x.T @ dy')),
    "adam bracket": ("adam", (ADAM, "param[...] = param - a_t * m / (np.sqrt(v) + self.epsilon)")),
    "sampling sqrt of the variance": ("sampling", (SIGMA, "np.sqrt(np.exp(log_var))")),
    "sampling keeps z - mu": ("sampling", (Z, "self.spread = self.sigma * self.eps\n        return mu + self.spread"),
                              (DLV, "return dz * 1.0, 0.5 * dz * self.spread")),
    "gaussian-kl row sums": ("gaussian-kl", (KL_VALUE, "return float(np.mean(np.sum(terms, axis=1)))"),
                             ("n = self.mu.shape[0]", "n = len(self.log_var)")),
    "model list": ("model", ("grads[f\"{piece.name}/{key}\"] = piece.grads[key].copy()",
                             "grads[piece.name + '/' + key] = np.array(piece.grads[key])")),
}


@pytest.mark.parametrize("name", sorted(REWRITES))
def test_a_correct_rewrite_scores_10(name, tmp_path):
    piece, *edits = REWRITES[name]
    g = grade(tmp_path, piece, variant(piece, *edits))
    assert g.status == "graded" and g.score == 10, grading.report(g)


# -- wrong answers: what each one costs ---------------------------------------------------------
CACHE_XT = 'if not hasattr(self, "_xt"):\n            self._xt = self.x.T\n        '
WRONG = {
    # a value computed on the first call and reused: named as a kept value, costs its later half
    "dense stale x.T": ("dense", [(KERNEL, CACHE_XT + 'self.grads["kernel"] += self._xt[:, :len(dy)] @ dy[:self._xt.shape[1]]')],
                        {"dL/dkernel": 1, "contract": 1, "accumulates": 1}, "something kept from an earlier call"),
    "sigmoid stale y(1-y)": ("sigmoid", [(SIG, 'if not hasattr(self, "_d"):\n            self._d = self.y * (1 - self.y)\n'
                                               '        return dy * np.resize(self._d, dy.shape)')],
                             {"every call": 0, "extreme": 0, "dL/dx": 1}, "kept from an earlier call"),
    "bce stale denominator": ("bce", [(BCE, 'if not hasattr(self, "_n"):\n            self._n = self.p.size\n'
                                            '        return (self.p - self.y) / (self.p * (1 - self.p)) / self._n')],
                              {"every call": 0, "dL/dp": 2, "by hand": 2}, "kept from an earlier call"),
    # the caller's dy overwritten: the values are right, the contract is not
    "dense writes into dy": ("dense", [(DX, "out = dy @ self.params['kernel'].T\n        dy *= 0\n        return out")],
                             {"contract": 0, "dL/dx": 2, "dL/dkernel": 2}, "changed in place"),
    # the stability lesson: NaN at z = 800
    "bce-logits exp(z)": ("bce-logits", [(LOGITS, "e = np.exp(self.z)\n        p = e / (1 + e)")],
                          {"extreme": 0, "dL/dz": 1, "every call": 1}, "NaN"),
    "sigmoid from exp(-x)": ("sigmoid", [("self.y = y", "self.y, self.x = y, x"),
                                         (SIG, "return dy * np.exp(-self.x) / (1 + np.exp(-self.x)) ** 2")],
                             {"extreme": 0, "dL/dx": 1}, "NaN"),
    # one convention, charged once
    "relu >= 0": ("relu", [("self.x > 0", "self.x >= 0")], {"kink": 0, "dL/dx": 1, "every call": 1, "by hand": 2},
                  "exactly 0"),
    # one-tensor exercises: a lost sign and a nonsense formula do not score the same
    "sigmoid lost minus": ("sigmoid", [(SIG, "return -dy * self.y * (1 - self.y)")], {"sign": 0, "scale": 1.5},
                           "wrong sign"),
    "sigmoid nonsense": ("sigmoid", [(SIG, "return dy * self.y")], {"sign": 0.5, "scale": 0}, "formula itself"),
    "bce without the mean": ("bce", [(" / self.p.size", "")], {"sign": 0.5, "scale": 1.5, "dL/dp": 0}, "20 x exact"),
    # a raising dx line keeps the kernel's and the bias's points
    "dense dx raises": ("dense", [(DX, 'return dy @ self.params["kernel"]')],
                        {"dL/dkernel": 2, "dL/dbias": 1, "dL/dx": 0, "contract": 0, "accumulates": 1},
                        "raised ValueError"),
    # Adam: a rebound parameter loses "in place" only; the paper's form loses "epsilon hat" only
    "adam rebound": ("adam", [(ADAM, "param = param - a_t * m / (np.sqrt(v) + self.epsilon)")],
                     {"in place": 0, "closed form": 4, "by hand": 2, "two params": 2}, "param = param -"),
    "adam paper form": ("adam", [(ADAM, "t = self.iterations\n            param -= self.learning_rate * "
                                        "(m / (1 - self.beta_1 ** t)) / (np.sqrt(v / (1 - self.beta_2 ** t)) + self.epsilon)")],
                        {"epsilon hat": 0, "closed form": 4, "by hand": 2, "in place": 1}, "paper's form"),
    "adam t per parameter": ("adam", [("        self.iterations += 1\n        t = self.iterations\n"
                                       "        a_t = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)\n", ""),
                                      ("        for path, param, grad in parameters:\n",
                                       "        for path, param, grad in parameters:\n            self.iterations += 1\n"
                                       "            t = self.iterations\n            a_t = self.learning_rate * "
                                       "math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)\n")],
                             {"two params": 0, "closed form": 4}, "once per apply"),
    # backward writes its parameter gradients where the contract adds: that item only, whatever the
    # way of writing (a new array, into the array, a ufunc's out=, clearing what it finds first)
    "dense writes =": ("dense", [(KERNEL, 'self.grads["kernel"] = self.x.T @ dy'), (BIAS, 'self.grads["bias"] = dy.sum(axis=0)')],
                       {"accumulates": 0, "dL/dkernel": 2, "dL/dbias": 1, "dL/dx": 2, "by hand": 2, "contract": 1},
                       "wrote grads['kernel'] instead of adding to it: use += (the model zeroes grads before each "
                       "step, so a shared weight gets both paths)"),
    "dense writes [...] =": ("dense", [(KERNEL, 'self.grads["kernel"][...] = self.x.T @ dy'),
                                       (BIAS, 'self.grads["bias"][...] = dy.sum(axis=0)')],
                             {"accumulates": 0, "dL/dkernel": 2, "dL/dbias": 1}, "instead of adding to it: use +="),
    "dense writes out=": ("dense", [(KERNEL, 'np.matmul(self.x.T, dy, out=self.grads["kernel"])'),
                                    (BIAS, 'np.sum(dy, axis=0, out=self.grads["bias"])')],
                          {"accumulates": 0, "dL/dkernel": 2, "dL/dbias": 1}, "instead of adding to it: use +="),
    "dense clears what it finds": ("dense", [(KERNEL, 'self.grads["kernel"] -= self.grads["kernel"].copy()\n'
                                                      '        self.grads["kernel"] += self.x.T @ dy')],
                                   {"accumulates": 0.5, "dL/dkernel": 2}, "wrote grads['kernel'] instead of adding"),
    # the right sum in a new array: a weight shared by two layers would lose the other's share
    "dense rebinds the sum": ("dense", [(KERNEL, 'self.grads["kernel"] = self.grads["kernel"] + self.x.T @ dy')],
                              {"accumulates": 0.5, "dL/dkernel": 2}, "replaced grads['kernel'] by a new array"),
    # a sum of its own that the model's zeroing does not clear: wrong after the first call
    "dense running sum": ("dense", [(KERNEL, 'self._sum = getattr(self, "_sum", 0) + self.x.T @ dy\n'
                                             '        self.grads["kernel"][...] = self._sum')],
                          {"accumulates": 0.5, "dL/dkernel": 1}, "keep no running sum of your own"),
    # a model that leaves the pieces' grads as the step before left them: that point only
    "model no zeroing": ("model", [("        for piece in self.pieces:                    # the pieces add into grads: start at 0\n"
                                    "            for g in piece.grads.values():\n                g[...] = 0\n", "")],
                         {"zeroes": 0, "params": 3, "dL/dx": 2, "copies": 1, "by hand": 2},
                         "still held the gradients of a step before"),
    # the model: live references where copies were asked for
    "model live grads": ("model", [("piece.grads[key].copy()", "piece.grads[key]")], {"copies": 0, "params": 3},
                         "not a copy"),
    # the VAE's two, as a cheating or careless student writes them
    "sampling keeps 0.5 sigma from call 1": ("sampling", [(DLV, 'if not hasattr(self, "_half"):\n'
                                                               '            self._half = 0.5 * self.sigma\n'
                                                               '        return dz.copy(), dz * np.resize(self._half, dz.shape) * self.eps')],
                                             {"dL/dlog_var": 1, "dL/dmu": 1.5, "z": 2, "by hand": 1.5},
                                             "something kept from an earlier call"),
    "sampling halves log_var in place": ("sampling", [(SIGMA, "np.exp(np.multiply(log_var, 0.5, out=log_var))")],
                                         {"contract": 0, "z": 2, "moments": 2, "dL/dlog_var": 2},
                                         "the log_var handed in was changed in place"),
    "sampling redraws eps in backward": ("sampling", [(DLV, "eps = self.rng.standard_normal(dz.shape)\n"
                                                            "        return dz.copy(), dz * 0.5 * self.sigma * eps")],
                                         {"dL/dlog_var": 0, "z": 2, "moments": 2, "dL/dmu": 1.5},
                                         "backward drew new noise"),
    "sampling draws twice in forward": ("sampling", [(Z, "return mu + self.sigma * self.rng.standard_normal(mu.shape)")],
                                        {"z": 0, "moments": 2, "dL/dmu": 1.5, "dL/dlog_var": 2},
                                        "the noise is drawn twice in forward"),
    "sampling noise from np.random": ("sampling", [("self.eps = self.rng.standard_normal(mu.shape)",
                                                    "self.eps = np.random.standard_normal(mu.shape)")],
                                      {"z": 0, "moments": 2, "dL/dlog_var": 0},
                                      "its mean and variance are right, see `moments`"),
    "sampling sigma as variance": ("sampling", [(SIGMA, "np.exp(log_var)"),
                                                (DLV, "return dz.copy(), dz * self.sigma * self.eps")],
                                   {"z": 0, "moments": 0, "dL/dlog_var": 0, "dL/dmu": 1.5},
                                   "exp(log_var) is used as the standard deviation, where it is the variance"),
    "gaussian-kl keeps N from call 1": ("gaussian-kl", [("n = self.mu.shape[0]",
                                                         'n = getattr(self, "_n", self.mu.shape[0])\n        self._n = n')],
                                        {"dKL/dmu": 1, "dKL/dlog_var": 1, "KL": 2, "sign": 0.5, "scale": 1.5},
                                        "something kept from an earlier call"),
    "gaussian-kl scales mu in place": ("gaussian-kl", [(KL_GRAD, "self.mu /= n\n        return self.mu, "
                                                                 "0.5 * (np.exp(self.log_var) - 1) / n")],
                                       {"contract": 0, "dKL/dmu": 2, "KL": 2},
                                       "the mu handed in was changed in place"),
    "gaussian-kl np.mean": ("gaussian-kl", [(KL_VALUE, "return float(np.mean(terms))"),
                                            ("n = self.mu.shape[0]", "n = self.mu.size")],
                            {"KL": 0, "dKL/dmu": 0, "scale": 1.5, "sign": 0.5},
                            "the KL is averaged over the 3 latent units: it should be summed over them"),
    "gaussian-kl sign": ("gaussian-kl", [("terms = -0.5 *", "terms = 0.5 *"), (KL_GRAD, "return -self.mu / n, "
                                                                                        "-0.5 * (np.exp(self.log_var) - 1) / n")],
                         {"KL": 0, "sign": 0, "scale": 1.5}, "sign is flipped"),
    "gaussian-kl exp(lv) as sigma": ("gaussian-kl", [("1 + log_var - mu ** 2 - np.exp(log_var)",
                                                      "1 + 2 * log_var - mu ** 2 - np.exp(2 * log_var)"),
                                                     (KL_GRAD, "return self.mu / n, (np.exp(2 * self.log_var) - 1) / n")],
                                     {"KL": 0, "dKL/dmu": 2, "dKL/dlog_var": 0, "scale": 0},
                                     "exp(log_var) taken as sigma"),
}
SCORES = {"dense stale x.T": 9, "sigmoid stale y(1-y)": 7, "bce stale denominator": 8,
          "dense writes into dy": 9, "bce-logits exp(z)": 8, "sigmoid from exp(-x)": 8, "relu >= 0": 8,
          "sigmoid lost minus": 3.5, "sigmoid nonsense": 2.5, "bce without the mean": 4,
          "dense dx raises": 6.33, "adam rebound": 9, "adam paper form": 9, "adam t per parameter": 8,
          "model live grads": 9, "dense writes =": 9, "dense writes [...] =": 9, "dense writes out=": 9,
          "dense clears what it finds": 9.5, "dense rebinds the sum": 9.5, "dense running sum": 8.5,
          "model no zeroing": 9, "sampling keeps 0.5 sigma from call 1": 9, "sampling halves log_var in place": 9,
          "sampling redraws eps in backward": 6, "sampling draws twice in forward": 5.5,
          "sampling noise from np.random": 5, "sampling sigma as variance": 3,
          "gaussian-kl keeps N from call 1": 8, "gaussian-kl scales mu in place": 9, "gaussian-kl np.mean": 3,
          "gaussian-kl sign": 2.5, "gaussian-kl exp(lv) as sigma": 3.83}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_answer_loses_the_points_of_what_it_breaks(name, tmp_path):
    piece, edits, some, words = WRONG[name]
    g = grade(tmp_path, piece, variant(piece, *edits))
    assert g.status == "graded", grading.report(g)
    got = points(g)
    assert {k: got[k] for k in some} == pytest.approx(some, abs=0.01), grading.report(g)
    assert g.score == pytest.approx(SCORES[name], abs=0.01), grading.report(g)
    assert words in " ".join(c.message for c in g.checks if not c.passed), grading.report(g)


def test_writing_instead_of_adding_costs_the_accumulates_point_and_nothing_else(tmp_path):
    g = grade(tmp_path, "dense", variant("dense", *WRONG["dense writes ="][1]))
    lost = {c.name: c.score for c in g.checks if not c.passed}
    assert lost == {"accumulates": 0} and g.score == 9, grading.report(g)
    # the same file with += scores 10: the check is what tells them apart
    assert grade(tmp_path, "dense", variant("dense"), name="adds.py").score == 10


def test_the_grader_zeroes_grads_between_calls_as_a_model_does():
    """The reference solution adds (+=) and never zeroes: right on every call only because the
    runner zeroes the grads before each backward. Run by hand without zeroing, the same calls
    leave a running sum, which the rubric would mark wrong after the first call."""
    from scratchae.exercises import load_class
    cls = load_class("dense", SOLUTIONS / "dense.py")        # (runner.load would block scratchae here)
    part = next(p for p in plans.plan("dense", np.random.default_rng(0)) if p["name"] == "calls")
    records = []
    runner.run_piece(cls, part, records.append, "<dense>")
    obj, total = cls(3, 4, seed=0), np.zeros((3, 4))
    for call, rec in zip(part["calls"], records):
        x, dy, params = call["inputs"][0], call["dy"], call["params"]
        exact = x.T @ dy                                          # the kernel gradient of this call alone
        assert np.allclose(channel.value(rec["grads"])["kernel"], exact, rtol=1e-12)
        for k, v in params.items():
            obj.params[k][...] = v
        obj.forward(x)
        obj.backward(dy)                                          # no zeroing: it adds onto the last call's
        total += exact
        assert np.allclose(obj.grads["kernel"], total, rtol=1e-12)
    assert not np.allclose(total, exact)                          # so zeroing is what made calls 2 and 3 right


def test_the_accumulate_check_uses_a_known_array_drawn_for_each_run():
    a = next(p for p in grading._request("dense", None) if p["name"] == "accumulate")
    b = next(p for p in grading._request("dense", None) if p["name"] == "accumulate")
    filled = [c for c in a["calls"] if c.get("grads")]
    assert len(filled) == 2 and all(np.all(c["grads"]["kernel"] != 0) for c in filled)
    assert not np.array_equal(filled[0]["grads"]["kernel"], b["calls"][1]["grads"]["kernel"])
    for zeroed, full in zip(a["calls"][::2], a["calls"][1::2]):       # each filled call repeats a zeroed one
        assert zeroed.get("grads") is None
        assert np.array_equal(zeroed["inputs"][0], full["inputs"][0]) and np.array_equal(zeroed["dy"], full["dy"])


# -- a backward that is not one ---------------------------------------------------------------------
FD = '''dx = np.zeros_like(self.x)
        x0 = self.x.copy()
        for i in range(x0.size):
            xp, xm = x0.copy(), x0.copy()
            xp.flat[i] += 1e-6
            xm.flat[i] -= 1e-6
            dx.flat[i] = ((self.forward(xp) - self.forward(xm)) * dy).sum() / 2e-6
        self.x = x0
        return dx'''


def test_a_backward_that_takes_finite_differences_of_its_forward_scores_no_gradient_points(tmp_path):
    g = grade(tmp_path, "dense", variant("dense", (DX, FD)))
    assert g.status == "graded" and g.score == 2, grading.report(g)          # forward and contract only
    assert "called forward" in message(g, "dL/dkernel") and "finite differences" in message(g, "dL/dx")


def test_one_sided_differences_of_a_retyped_forward_are_told_by_their_precision(tmp_path):
    """Central differences of an elementwise function are good to 1e-10 (the count of forward
    calls catches those that call forward); one-sided ones are 1e-7 off, and told by precision."""
    fd = ('f = lambda x: 1 / (1 + np.exp(-x))\n        h, x = 1e-6, np.log(self.y / (1 - self.y))\n'
          '        return dy * (f(x + h) - f(x)) / h')
    g = grade(tmp_path, "sigmoid", variant("sigmoid", (SIG, fd)))
    assert points(g)["dL/dx"] == 0 and points(g)["sign"] == 0.5, grading.report(g)
    assert "agrees only to" in message(g, "dL/dx") and "finite differences" in message(g, "dL/dx")


@pytest.mark.parametrize("prefix", ["from scratchae.layers import Dense as _Library\n",
                                    "import scratchae.gradcheck\n",
                                    "import importlib\n_lib = importlib.import_module('scratch' + 'ae')\n"])
def test_a_file_that_reaches_for_the_library_is_refused(prefix, tmp_path):
    g = grade(tmp_path, "dense", variant("dense", prefix=prefix))
    assert g.status == "refused" and g.score == 0 and "reaches past the exercise" in g.reason


def test_the_library_cannot_be_imported_by_a_submission_that_slips_past_the_screen(tmp_path):
    lazy = variant("dense", (DX, "from scratchae.layers import Dense as D\n        return D.backward(self, dy)"))
    g = grade(tmp_path, "dense", lazy, screened=False)
    assert points(g)["dL/dx"] == 0 and "without scratchae" in message(g, "dL/dx"), grading.report(g)


# -- forgeries: the verdict is made outside the judged ---------------------------------------------
ROW_OK = ("import scratchae.gradcheck as G\nG.Row.ok = property(lambda self: True)\n"
          "from scratchae.exercises import rubric\nrubric.RTOL = 1e9\n")
NP_ABS = "import numpy as np\nnp.abs = lambda a: 0 * a\nnp.maximum = lambda a, b: a * 0\nnp.allclose = lambda *a, **k: True\n"
STACK = '''import sys, json
_f = sys._getframe()
while _f is not None:
    if "emit" in _f.f_locals and "request" in _f.f_locals:
        _emit, _req = _f.f_locals["emit"], _f.f_locals["request"]
        for _part in _req["parts"]:
            for _i in range(len(_part.get("calls") or _part.get("steps"))):
                _emit({"part": _part["name"], "call": _i, "ok": True, "score": 10})
        _emit({"done": True})
    _f = _f.f_back
'''
ZEROS = (DX, "return np.zeros_like(self.x)")


@pytest.mark.parametrize("prefix", [ROW_OK, NP_ABS, STACK])
def test_a_forgery_in_the_submissions_interpreter_gains_nothing(prefix, tmp_path):
    honest = grade(tmp_path, "dense", variant("dense", ZEROS), name="honest.py")
    assert honest.score == pytest.approx(7 + 1 / 3, abs=0.01), grading.report(honest)
    screened = grade(tmp_path, "dense", variant("dense", ZEROS, prefix=prefix), name="forged.py")
    assert screened.status == "refused" and screened.score == 0
    g = grade(tmp_path, "dense", variant("dense", ZEROS, prefix=prefix), name="forged.py", screened=False)
    assert g.score <= honest.score, grading.report(g)
    if prefix is STACK:
        assert g.status == "tampered" and "wrote to it itself" in g.reason


def test_forged_records_sent_before_exiting_are_graded_as_the_arrays_they_carry(tmp_path):
    forger = STACK.replace('_emit({"done": True})', '_emit({"done": True})\n        import os; os._exit(0)')
    g = grade(tmp_path, "dense", variant("dense", prefix=forger), screened=False)
    assert g.status == "graded" and g.score == 0, grading.report(g)


def test_the_channel_reads_only_plain_data():
    lines = [json.dumps({"part": "calls", "call": 0, "token": "nope"}), "score: 10/10", "{not json",
             json.dumps({"part": "calls", "call": 0, "token": "t0k", "backward": runner.encode(np.ones(2))})]
    rec = channel.read("\n".join(lines).encode(), "t0k", {"calls": 3})
    assert list(rec.parts["calls"].calls) == [0] and not rec.tampered
    twice = "\n".join(lines[-1:] * 2 + [json.dumps({"part": "bonus", "call": 0, "token": "t0k"})])
    assert len(channel.read(twice.encode(), "t0k", {"calls": 3}).tampered) == 2
    assert isinstance(channel.value({"array": "|O", "shape": [1], "data": ""}), channel.Other)
    assert isinstance(channel.value({"array": "<f8", "shape": [3], "data": "AAAA"}), channel.Other)
    assert isinstance(channel.value({"array": "<f8", "shape": [10 ** 7], "data": ""}), channel.Other)
    assert np.array_equal(channel.value(runner.encode(np.arange(6.0).reshape(2, 3))), np.arange(6.0).reshape(2, 3))


def test_the_exact_answers_are_exact_and_catch_a_wrong_one():
    from scratchae.exercises import exact
    x = np.array([[-800.0, 0.0, 3e-6], [2.0, -4e-6, 800.0]])
    g = exact.gradient(lambda z: np.sum(exact.sigmoid(z)), x)
    s = 1 / (1 + np.exp(-x[:, 1:]))
    assert g[0, 0] == 0 and np.allclose(g[:, 1:], s * (1 - s), rtol=1e-14, atol=0)
    assert np.array_equal(exact.gradient(lambda z: np.sum(exact.relu(z)), x), (x > 0).astype(float))
    right = np.concatenate([[[0.0], [0.0]], s * (1 - s)], axis=1)
    right[1, 0] = g[1, 0]
    wrong = right * (1 + 1e-6)
    assert rubric.judge(right, g, "dL/dx").ok and not rubric.judge(wrong, g, "dL/dx").ok


def test_the_screen_names_what_it_refuses():
    found = screen.screen("import os\nimport numpy as np\nnp.abs = abs\nx = eval('1')\n")
    assert [str(f) for f in found] == ["line 1: imports os", "line 3: replaces np.abs", "line 4: uses eval"]
    for piece in EXERCISES:
        assert screen.screen((SOLUTIONS / f"{piece}.py").read_text()) == []
        assert screen.screen((TEMPLATES / f"{piece}.py").read_text()) == []


# -- the run: time, exits, output ---------------------------------------------------------------
def test_a_submission_that_sleeps_forever_is_stopped_and_graded(tmp_path):
    g = grade(tmp_path, "dense", variant("dense", (DX, "import time\n        time.sleep(10 ** 6)")),
              timeout=60, part_timeout=4, screened=False)
    assert g.status == "graded" and points(g)["forward"] == 1
    assert "took more than" in message(g, "dL/dx")


def test_a_submission_that_defeats_the_alarm_is_killed_at_the_time_limit(tmp_path):
    stubborn = variant("dense", (DX, "import signal, time\n        signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                     "        time.sleep(10 ** 6)"))
    g = grade(tmp_path, "dense", stubborn, timeout=3, part_timeout=60, screened=False)
    assert g.status == "timeout" and 3 <= g.seconds < 3 + 30
    assert g.score == 0 and "time limit of 3 s" in g.first_problem()


def test_a_submission_that_exits_the_interpreter(tmp_path):
    g = grade(tmp_path, "dense", variant("dense", (DX, "import os\n        os._exit(0)")), screened=False)
    assert g.status == "crashed" and g.score == 0 and "exit code 0" in g.first_problem()
    g = grade(tmp_path, "dense", variant("dense", prefix="import sys\nsys.exit(0)\n"), screened=False)
    assert g.status == "not loaded" and g.score == 0 and "sys.exit(0)" in g.first_problem()
    g = grade(tmp_path, "dense", variant("dense", (DX, "raise SystemExit(3)")), screened=False)
    assert g.status == "graded" and points(g)["dL/dx"] == 0


def test_what_a_submission_prints_is_feedback_cleaned_and_never_read(tmp_path):
    printer = 'print("\\x1b[2J\\x1b[31m{\\"score\\": 10}\\x1b[0m\\rscore: 10/10")\n'
    g = grade(tmp_path, "dense", variant("dense", ZEROS, prefix=printer))
    assert g.score == pytest.approx(7 + 1 / 3, abs=0.01)
    assert "score: 10/10" in g.printed and "\x1b" not in g.printed and "\r" not in g.printed


def test_a_syntax_error_is_named_with_its_line(tmp_path):
    text = variant("dense", (DX, "return dy @@ 2"))
    line = 1 + next(i for i, t in enumerate(text.splitlines()) if "@@" in t)
    assert line > 30
    g = grade(tmp_path, "dense", text)
    assert g.status == "not loaded" and f"line {line}" in g.reason and "SyntaxError" in g.reason


# -- a folder -----------------------------------------------------------------------------------
def test_grade_a_folder_writes_one_table(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "right.py").write_text((SOLUTIONS / "dense.py").read_text())
    (folder / "half.py").write_text(variant("dense", (BIAS, BIAS.replace("= dy", "= 2 * dy")), ZEROS))
    (folder / "crash.py").write_text("raise RuntimeError('nope')\n")
    (folder / "notes.txt").write_text("not a submission")
    assert main(["grade", "dense", str(folder), "--csv", str(tmp_path / "grades.csv"),
                 "--timeout", "120", "--jobs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"crash.py", "half.py", "right.py"}
    assert re.search(r"0 / 10 +not loaded .*could not be loaded: RuntimeError", rows["crash.py"])
    assert re.search(r"10 / 10 +graded", rows["right.py"])
    table = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert [r["submission"] for r in table] == ["crash.py", "half.py", "right.py"]
    assert table[1]["dL/dkernel"] == "2" and table[1]["dL/dbias"] == "0"


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), "3"])
def test_a_part_timeout_that_is_not_a_positive_number_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="part_timeout must be a number of seconds > 0"):
        grading.grade_submission("relu", SOLUTIONS / "relu.py", part_timeout=bad)


def test_the_shipped_wrong_pieces_grade_below_10_in_process():
    from scratchae.exercises.broken import BROKEN
    for b in BROKEN.values():
        if b.model is None:
            g = grading.check_class(b.piece, b.cls)
            assert g.status == "graded" and 0 < g.score < 10, (b.name, grading.report(g))


# -- processes: what a submission starts, it cannot keep ------------------------------------------
from scratchae.exercises import sandbox  # noqa: E402

ISOLATED = sandbox.isolation_available() != "session"
needs_isolation = pytest.mark.skipif(
    not ISOLATED, reason="needs PID and mount namespaces (root, or unprivileged user namespaces): "
                         f"this machine offers only {sandbox.isolation_available()!r}")
needs_root = pytest.mark.skipif(
    sandbox.isolation_available() != "user+namespaces",
    reason="needs root to give the child a uid of its own (CI runs as root)")
ESCAPE = '''import os, time
if os.fork() == 0:                       # a grandchild in a session of its own, holding every pipe
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        for target in {targets!r}:
            try:
                with open(target, "w") as f:
                    f.write("{{\\"score\\": 10}}")
            except OSError:
                pass
        time.sleep(600)
    os._exit(0)
'''


def test_an_escaped_process_holding_the_pipes_does_not_hold_the_grade(tmp_path):
    g = grade(tmp_path, "dense", variant("dense", prefix=ESCAPE.format(targets=[])), timeout=30, screened=False)
    assert g.status == "graded" and g.score == 10, grading.report(g)
    assert g.seconds < 30 + 10          # never the escapee's 600 s


@needs_isolation
def test_a_late_rewrite_of_results_json_never_lands(tmp_path, capsys):
    out = tmp_path / "out" / "results.json"
    out.parent.mkdir()
    path = tmp_path / "sub" / "dense.py"
    path.parent.mkdir()
    path.write_text(variant("dense", ZEROS, prefix=ESCAPE.format(targets=[str(out)])))
    g = grading.grade_submission("dense", path, seed=0, timeout=20, screened=False, hide=[out.parent])
    assert g.status == "graded" and g.score < 10
    import time
    time.sleep(6)                                      # past the escapee's 4 s
    assert not out.exists(), out.read_text()           # it could not even see the folder


@needs_isolation
def test_a_solution_read_through_the_packages_path_is_hidden(tmp_path):
    """With an editable install (the README's for teaching) the solutions sit beside the package,
    and the grader hides that checkout by default; any other folder a teacher names is hidden too."""
    through_package = Path(grading.__file__).resolve().parents[2] / "tests" / "exercise_solutions" / "dense.py"
    for target, hide in ((through_package, []), (SOLUTIONS / "dense.py", [SOLUTIONS])):
        if not target.exists():          # an installed copy: no solutions beside the package
            continue
        reader = f"exec(open({str(target.resolve())!r}).read())\n"
        g = grade(tmp_path, "dense", reader, screened=False, hide=hide)
        assert g.status == "not loaded" and g.score == 0, grading.report(g)
        assert "FileNotFoundError" in g.reason or "PermissionError" in g.reason


def test_the_source_checkout_is_hidden_by_default(tmp_path):
    hides = grading.default_hides(tmp_path / "x.py")
    assert hides[0] == tmp_path.resolve()
    root = grading.source_checkout()
    assert (root is None) == (not (Path(grading.__file__).resolve().parents[2] / "tests").is_dir()
                              and not (Path(grading.__file__).resolve().parents[2] / ".git").exists())
    assert (root in hides) if root else len(hides) == 1


KILLER = '''import os, signal
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
'''
DELETER = "import os, shutil\nshutil.rmtree(os.getcwd(), ignore_errors=True)\n"


@needs_root
def test_a_classmate_killer_and_a_folder_deleter_leave_the_others_graded(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for i in range(3):
        (folder / f"right{i}.py").write_text((SOLUTIONS / "dense.py").read_text())
    (folder / "killer.py").write_text(variant("dense", prefix=KILLER))
    (folder / "deleter.py").write_text(variant("dense", prefix=DELETER))
    (folder / "zz_late.py").write_text((SOLUTIONS / "dense.py").read_text())
    grades = grading.grade_folder("dense", folder, timeout=30, jobs=2, seed=0, screened=False)
    by = {g.submission: g for g in grades}
    for name in ("right0.py", "right1.py", "right2.py", "zz_late.py"):
        assert by[name].status == "graded" and by[name].score == 10, grading.table(grades)
    assert by["killer.py"].score == 10 and by["deleter.py"].score == 10, grading.table(grades)


def _runners() -> set[int]:
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"runner.py" in cmd and b"-u" in cmd:
            out.add(int(pid))
    return out


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_that_ends_the_grader_ends_the_submission(sig, tmp_path):
    """`timeout`, `kill`, a closed terminal: the grader ends, and so does every process it started."""
    path = tmp_path / "loop.py"
    path.write_text(variant("dense", (DX, "while True:\n            pass")))
    before = _runners()
    def default_signals():        # the suite may run under nohup or in the background: SIGHUP ignored
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})

    proc = subprocess.Popen([sys.executable, "-m", "scratchae", "grade", "dense", str(path), "--timeout", "120"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=default_signals)
    deadline = time.monotonic() + 60
    while not (_runners() - before) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _runners() - before, "the submission never started"
    proc.send_signal(sig)
    assert proc.wait(timeout=30) in (128 + sig, -sig)
    deadline = time.monotonic() + 10
    while (_runners() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (_runners() - before)
