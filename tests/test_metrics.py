"""scratchae.metrics: ROC and AUC against hand-worked cases and the Mann-Whitney statistic,
and the reconstruction-error helpers of anomaly detection."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchae import metrics
from scratchae.layers import Dense, Input
from scratchae.models import Model
from scratchae.metrics import (per_image_loss, precision_recall_at, quantile_threshold,
                               reconstruction_errors, roc_auc_score, roc_curve)


def mann_whitney_auc(y, s):
    """U / (n_pos n_neg) by counting every (positive, negative) pair, a tie counting 1/2."""
    pos = [b for a, b in zip(y, s) if a == 1]
    neg = [b for a, b in zip(y, s) if a != 1]
    u = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return u / (len(pos) * len(neg))


def tie_blind_auc(y, s):
    """A deliberately wrong AUC: one step per sample in sorted order, ties not grouped."""
    order = sorted(range(len(s)), key=lambda i: -s[i])
    n_pos = sum(y)
    n_neg = len(y) - n_pos
    tp = area = 0.0
    for i in order:
        if y[i] == 1:
            tp += 1
        else:
            area += tp / n_pos / n_neg
    return area


# -- roc_curve: hand-worked cases -----------------------------------------------------------
def test_roc_curve_scikit_learns_docstring_case_by_hand():
    # scores high to low: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg); 2 of each.
    # t = inf: nothing called positive (0, 0); t = 0.8: TP 1 FP 0 -> (0, 1/2);
    # t = 0.4: TP 1 FP 1 -> (1/2, 1/2); t = 0.35: TP 2 FP 1 -> (1/2, 1); t = 0.1: (1, 1).
    # No three consecutive points are collinear, so drop_intermediate keeps them all.
    fpr, tpr, thr = roc_curve(np.array([1, 1, 2, 2]), np.array([0.1, 0.4, 0.35, 0.8]), pos_label=2)
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thr.tolist() == [math.inf, 0.8, 0.4, 0.35, 0.1]
    # area: (1/2)(1/2) for the flat step at tpr 1/2, (1/2)(1) for the last: 3/4
    assert roc_auc_score([1, 1, 2, 2], [0.1, 0.4, 0.35, 0.8]) == 0.75


def test_roc_curve_ties_enter_together_as_one_diagonal_step():
    # 0.9: one positive and one negative tied; 0.5: a positive; 0.3: two negatives tied.
    # n_pos 2, n_neg 3. Counts at each threshold: (FP, TP) = (1, 1), (1, 2), (3, 2).
    y, s = [1, 0, 1, 0, 0], [0.9, 0.9, 0.5, 0.3, 0.3]
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_allclose(fpr, [0, 1 / 3, 1 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 2, 1, 1])
    assert thr.tolist() == [math.inf, 0.9, 0.5, 0.3]
    # trapezoids: (1/3)(0 + 1/2)/2 = 1/12 (the tie's diagonal), 0, (2/3)(1 + 1)/2 = 2/3: 3/4.
    # Mann-Whitney: 0.9+ against 0.9-, 0.3-, 0.3- gives 1/2 + 1 + 1; 0.5+ gives 0 + 1 + 1: 4.5 / 6.
    assert roc_auc_score(y, s) == pytest.approx(0.75, abs=1e-15)
    assert mann_whitney_auc(y, s) == 0.75
    assert tie_blind_auc(y, s) != 0.75         # the checker tells a tie-blind AUC apart


def test_drop_intermediate_removes_collinear_points_only():
    # scores 4, 3, 2 positive, 1 negative: (0, 1/3), (0, 2/3), (0, 1) lie on one line.
    y, s = [1, 1, 1, 0], [4.0, 3.0, 2.0, 1.0]
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 1, 1])
    assert fpr.tolist() == [0, 0, 0, 0, 1] and thr.tolist() == [math.inf, 4, 3, 2, 1]
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1, 1])
    assert fpr.tolist() == [0, 0, 0, 1] and thr.tolist() == [math.inf, 4, 2, 1]


def test_labels_minus_one_one_and_named_positive_class():
    s = [0.2, 0.7, 0.6, 0.1]
    a = roc_curve([-1, 1, 1, -1], s)
    b = roc_curve(["cat", "dog", "dog", "cat"], s, pos_label="dog")
    c = roc_curve([False, True, True, False], s)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a, c):
        np.testing.assert_array_equal(x, y)
    assert roc_auc_score(["cat", "dog", "dog", "cat"], s) == 1.0      # the larger label is positive
    assert roc_auc_score([5, 2, 2, 5], s) == 0.0


@pytest.mark.parametrize("y, s, words", [
    (["a", "b"], [0.1, 0.2], "pos_label"),
    ([0, 2], [0.1, 0.2], "pos_label"),
    ([0, 1, 2], [0.1, 0.2, 0.3], "two classes"),
    ([0, 1], [0.1], "differ in length"),
    ([0, 1], [0.1, float("nan")], "NaN"),
    ([[0, 1]], [0.1, 0.2], "1-D"),
    ([0, 1], [[0.1, 0.2]], "1-D"),
    ([1, 1], [0.1, 0.2], "no negative"),
    ([0, 0], [0.1, 0.2], "no positive"),
])
def test_roc_curve_bad_input(y, s, words):
    with pytest.raises(ValueError, match=words):
        roc_curve(y, s)


def test_roc_auc_score_needs_two_classes():
    with pytest.raises(ValueError, match="only one class"):
        roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="two classes"):
        roc_auc_score([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="numbers"):
        roc_auc_score([0, 1], ["a", "b"])


# -- AUC = Mann-Whitney, ties included --------------------------------------------------------
labelled = st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
    st.lists(st.integers(-3, 3), min_size=n, max_size=n)))          # few values: many ties


@settings(max_examples=150, deadline=None)
@given(labelled)
def test_auc_equals_mann_whitney_with_ties(case):
    y, s = case
    assert roc_auc_score(y, s) == pytest.approx(mann_whitney_auc(y, s), abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(labelled)
def test_the_curve_is_a_staircase_from_0_0_to_1_1(case):
    y, s = case
    for drop in (True, False):
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=drop)
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and np.all(np.diff(thr) < 0)
        # each point is what calling "score >= threshold" positive gives
        for f, t, th in zip(fpr, tpr, thr):
            at = precision_recall_at(y, s, th)
            assert (at.false_positive_rate, at.recall) == pytest.approx((f, t))


def test_mann_whitney_checker_catches_a_tie_blind_auc():
    y, s = [1, 0, 0, 1], [2, 2, 1, 0]         # the tied pair is what a tie-blind AUC gets wrong
    # positives 2, 0 against negatives 2, 1: 1/2 (the tie) + 1 + 0 + 0 over 4 pairs
    assert mann_whitney_auc(y, s) == 0.375 == roc_auc_score(y, s)
    # sorted 2+, 2-, 1-, 0+: each negative after one positive, (1/2)(1/2) twice
    assert tie_blind_auc(y, s) == 0.5
    assert tie_blind_auc(y, s) != pytest.approx(mann_whitney_auc(y, s))


# -- thresholds, precision and recall -------------------------------------------------------
def test_precision_recall_at_by_hand():
    y, s = [0, 0, 1, 1, 1], [0.1, 0.6, 0.5, 0.7, 0.2]
    # >= 0.5 called positive: 0.6 (neg), 0.5 (pos), 0.7 (pos) -> TP 2 FP 1 FN 1 TN 1
    at = precision_recall_at(y, s, 0.5)
    assert at == (2 / 3, 2 / 3, 1 / 2, 2, 1, 1, 1)
    assert at.precision == 2 / 3 and at.recall == 2 / 3
    nothing = precision_recall_at(y, s, 0.8)
    assert (nothing.precision, nothing.recall, nothing.tp, nothing.tn) == (0.0, 0.0, 0, 2)


def test_quantile_threshold_by_hand():
    errors = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    assert quantile_threshold(errors, 0.75) == 4.0    # position 0.75 * 4 = 3 of the sorted 1..5
    assert quantile_threshold(errors, 0.9) == pytest.approx(4.6)   # 3.6: 4 + 0.6 (5 - 4)
    assert quantile_threshold(errors, 0.0) == 1.0 and quantile_threshold(errors, 1.0) == 5.0
    for bad in (1.5, -0.1, True, "0.9"):
        with pytest.raises(ValueError, match="quantile"):
            quantile_threshold(errors, bad)
    with pytest.raises(ValueError, match="1-D"):
        quantile_threshold(np.ones((2, 2)), 0.5)


def test_per_image_loss_by_hand():
    x = np.array([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    r = np.array([[0.5, 0.5], [0.5, 0.5]], dtype=np.float32)
    # BCE of each image: -(1/2)[log(1 - 0.5) + log 0.5] = log 2; both images the same
    np.testing.assert_allclose(per_image_loss(x, r), [math.log(2)] * 2, rtol=1e-6)
    # MSE: (0.25 + 0.25) / 2 for both
    np.testing.assert_allclose(per_image_loss(x, r, "mse"), [0.25, 0.25])
    # a perfect reconstruction of grey pixels still costs their entropy under BCE
    g = np.full((1, 2), 0.5, dtype=np.float32)
    np.testing.assert_allclose(per_image_loss(g, g), [math.log(2)], rtol=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        per_image_loss(x, r[:1])


def test_reconstruction_errors_average_to_evaluate():
    rng = np.random.default_rng(0)
    x = rng.random((40, 6)).astype(np.float32)
    inp = Input(shape=(6,))
    model = Model(inp, Dense(6, activation="sigmoid", seed=0)(Dense(3, activation="relu", seed=1)(inp)))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    err = reconstruction_errors(model, x)
    assert err.shape == (40,) and np.all(err > 0)
    assert err.mean() == pytest.approx(model.evaluate(x, x), rel=1e-5)
    assert err[7] == pytest.approx(model.evaluate(x[7:8], x[7:8]), rel=1e-5)
    mse = reconstruction_errors(model, x, loss="mse")
    np.testing.assert_allclose(mse, ((model.predict(x) - x) ** 2).mean(axis=1), rtol=1e-5)
    with pytest.raises(TypeError, match="predict"):
        reconstruction_errors(object(), x)


def test_module_lists_what_it_exports():
    assert set(metrics.__all__) <= set(dir(metrics))
