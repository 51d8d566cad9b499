"""Anomaly detection by reconstruction error, and how to measure it: ROC and AUC.

    from scratchae import metrics
    val_err = metrics.reconstruction_errors(autoencoder, x_val)       # normal images held out
    err = metrics.reconstruction_errors(autoencoder, x_test)          # one score per image
    threshold = metrics.quantile_threshold(val_err, 0.95)             # flags ~5% of normal ones
    print(metrics.precision_recall_at(is_anomaly, err, threshold))
    fpr, tpr, thresholds = metrics.roc_curve(is_anomaly, err)
    print(metrics.roc_auc_score(is_anomaly, err))

`roc_curve` and `roc_auc_score` have scikit-learn's signatures, tie handling and results
(binary labels only), so a `sklearn.metrics` line ports by changing its import.

The ROC curve. Sort the images by score, highest first, and lower a threshold t through the
scores: every image with score >= t is called positive (an anomaly). At each distinct score
the curve gains a point (FPR, TPR) = (false positives / negatives, true positives /
positives). Images with the same score cross the threshold together, so a tie of k positives
and m negatives is one diagonal step of k / n_pos up and m / n_neg across.

The AUC is the area under that curve (trapezoids; a tie's diagonal step adds half of its
rectangle). It equals the Mann-Whitney statistic: the probability that a random positive
scores above a random negative, a tie counting 1/2,

    AUC = (1 / (n_pos n_neg)) sum_{i positive} sum_{j negative} ( [s_i > s_j] + 1/2 [s_i = s_j] )

(each positive's step up is as wide as the negatives below it, plus half of those tied with
it). 0.5 is chance, 1.0 a perfect ranking.

A low reconstruction error is not "normal": it is "easy to reconstruct". An all-black image
has a lower error than most real digits (`demos/05_anomalies.py` shows it), so an anomaly
detector that thresholds the error from above never flags it.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import numpy as np

from . import losses as _losses

__all__ = ["roc_curve", "roc_auc_score", "per_image_loss", "reconstruction_errors",
           "quantile_threshold", "precision_recall_at", "AtThreshold"]


def _scores(y_score: Any, n: int | None = None) -> np.ndarray:
    s = np.asarray(y_score)
    if s.dtype.kind not in "fiub":
        raise TypeError(f"y_score must hold numbers, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if s.ndim != 1:
        raise ValueError(f"y_score must be 1-D (one score per sample), got shape {s.shape}")
    if n is not None and len(s) != n:
        raise ValueError(f"y_true and y_score differ in length: {n} vs {len(s)}")
    if not np.isfinite(s).all():
        raise ValueError(f"y_score holds {int((~np.isfinite(s)).sum())} NaN or infinite value(s)")
    return s


def _truth(y_true: Any, pos_label: Any) -> np.ndarray:
    """y_true as booleans: True where it equals pos_label. With pos_label=None the labels must
    be {0, 1} or {-1, 1} (or one of their values) and 1 is positive (scikit-learn's rule)."""
    y = np.asarray(y_true)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array of labels, got shape {y.shape}")
    classes = np.unique(y)
    if len(classes) > 2:
        raise ValueError(f"y_true must hold two classes (binary labels), got {len(classes)}: "
                         f"{classes[:5].tolist()}{' ...' if len(classes) > 5 else ''}")
    if pos_label is None:
        if y.dtype.kind in "biuf" and set(classes.tolist()) <= {0, 1, -1} \
                and not {0, -1} <= set(classes.tolist()):
            pos_label = 1
        else:
            raise ValueError(f"y_true takes the values {classes.tolist()} and pos_label is not "
                             f"given: use labels {{0, 1}} or {{-1, 1}}, or name the positive "
                             f"class with pos_label=")
    return y == pos_label


def _curve_counts(truth: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fps, tps, thresholds): at each distinct score, highest first, the negatives and positives
    with a score >= it. One entry per distinct score: tied samples enter together."""
    order = np.argsort(-s, kind="stable")
    s, truth = s[order], truth[order]
    last_of_tie = np.flatnonzero(np.diff(s) != 0)
    ends = np.append(last_of_tie, len(s) - 1)
    tps = np.cumsum(truth, dtype=np.int64)[ends]
    fps = ends + 1 - tps
    return fps, tps, s[ends]


def roc_curve(y_true: Any, y_score: Any, *, pos_label: Any = None, drop_intermediate: bool = True
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), scikit-learn's `sklearn.metrics.roc_curve` for binary labels.

    thresholds are the distinct scores in decreasing order, preceded by inf (no sample is
    called positive there: the point (0, 0)); fpr[k] and tpr[k] are the fractions of negatives
    and positives whose score is >= thresholds[k]. drop_intermediate=True removes the points
    that lie on a straight line between their neighbours (where both the false and the true
    positive counts have zero second difference): the curve and its area do not change.

    y_true: labels {0, 1} or {-1, 1}, or any two labels with `pos_label` naming the positive.
    Both classes must be present (scikit-learn warns and returns nan; here it is a ValueError).

        >>> fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> fpr.tolist(), tpr.tolist(), thr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    truth = _truth(y_true, pos_label)
    s = _scores(y_score, len(truth))
    fps, tps, thresholds = _curve_counts(truth, s)
    if drop_intermediate and len(fps) > 2:
        bend = np.logical_or(np.diff(fps, 2) != 0, np.diff(tps, 2) != 0)
        keep = np.flatnonzero(np.concatenate([[True], bend, [True]]))
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.concatenate([[0], fps]), np.concatenate([[0], tps])
    thresholds = np.concatenate([[np.inf], thresholds])
    if fps[-1] == 0 or tps[-1] == 0:
        which = "negative" if fps[-1] == 0 else "positive"
        raise ValueError(f"y_true has no {which} sample: the ROC curve needs both classes "
                         f"({len(truth)} samples, {int(tps[-1])} positive)")
    return fps / fps[-1], tps / tps[-1], thresholds


def roc_auc_score(y_true: Any, y_score: Any) -> float:
    """The area under the ROC curve (trapezoids), scikit-learn's `roc_auc_score` for binary
    labels: the larger of the two labels is the positive class. Equal to the Mann-Whitney U
    over n_pos n_neg, ties counted 1/2 (see the module docstring).

        >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    y = np.asarray(y_true)
    classes = np.unique(y) if y.ndim == 1 else None
    if classes is not None and len(classes) == 1:
        raise ValueError(f"only one class present in y_true ({classes[0]!r}): the ROC AUC is "
                         f"not defined without both a positive and a negative sample")
    if classes is not None and len(classes) > 2:
        raise ValueError(f"roc_auc_score takes binary labels (two classes), got {len(classes)}: "
                         f"{classes[:5].tolist()}")
    fpr, tpr, _ = roc_curve(y, y_score, pos_label=classes[-1] if classes is not None else None)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


# -- reconstruction error as the anomaly score ----------------------------------------------
def per_image_loss(x: Any, reconstructions: Any, loss: Any = "binary_crossentropy") -> np.ndarray:
    """The loss of each image against its reconstruction, shape (N,): `loss` (a name or a
    scratchae Loss) computed on one row at a time, so the errors are exactly what training
    measures (BCE's clipping, the loss's reduction) and their mean is `model.evaluate`'s
    value. With BCE, an image's error is -(1/D) sum_j [x_j log p_j + (1 - x_j) log(1 - p_j)]:
    its minimum is not 0 but the entropy of the grey pixels, so images with many grey pixels
    score higher even when reconstructed perfectly."""
    loss = _losses.get(loss)
    x, r = np.asarray(x), np.asarray(reconstructions)
    if x.shape != r.shape or x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x and reconstructions must be arrays of one shape (N, ...), got "
                         f"{x.shape} and {r.shape}")
    if not np.issubdtype(r.dtype, np.floating):
        raise TypeError(f"reconstructions must hold floats, got dtype {r.dtype}")
    x = x.astype(r.dtype, copy=False)
    return np.array([loss(x[i:i + 1], r[i:i + 1]) for i in range(len(x))], dtype=np.float64)


def reconstruction_errors(model: Any, x: Any, *, loss: Any = None, batch_size: int = 256
                          ) -> np.ndarray:
    """Each image's reconstruction error under `model` (a scratchae Model, or an
    `autoencoders.Autoencoder`), shape (N,): `per_image_loss(x, model.predict(x), loss)` with
    the model's compiled loss unless `loss` is given (binary cross-entropy if uncompiled)."""
    model = getattr(model, "model", model)
    if not hasattr(model, "predict"):
        raise TypeError(f"model must have a predict method (a scratchae Model), got "
                        f"{type(model).__name__}")
    if loss is None:
        loss = getattr(model, "loss", None) or "binary_crossentropy"
    return per_image_loss(x, model.predict(x, batch_size=batch_size), loss)


def quantile_threshold(errors: Any, quantile: float = 0.95) -> float:
    """The `quantile` of the errors of normal images held out for validation (NumPy's default,
    linear interpolation between order statistics): calling every image with an error >= it
    an anomaly flags about 1 - quantile of the normal ones (the false-alarm rate chosen)."""
    e = _scores(errors)
    if len(e) == 0:
        raise ValueError("errors is empty: give the errors of some held-out normal images")
    if isinstance(quantile, bool) or not isinstance(quantile, numbers.Real) \
            or not 0.0 <= float(quantile) <= 1.0:
        raise ValueError(f"quantile must be a number in [0, 1], got {quantile!r}")
    return float(np.quantile(e, float(quantile)))


class AtThreshold(NamedTuple):
    """What a threshold does: precision TP / (TP + FP), recall (the TPR) TP / (TP + FN), the
    false positive rate FP / (FP + TN), and the four counts."""

    precision: float
    recall: float
    false_positive_rate: float
    tp: int
    fp: int
    fn: int
    tn: int


def precision_recall_at(y_true: Any, y_score: Any, threshold: float, *, pos_label: Any = None
                        ) -> AtThreshold:
    """Precision, recall and false positive rate when every sample with score >= threshold is
    called positive (`roc_curve`'s convention; labels as there). Precision is 0.0 when nothing
    is called positive (scikit-learn's zero_division default, without its warning)."""
    truth = _truth(y_true, pos_label)
    s = _scores(y_score, len(truth))
    t = float(threshold)
    if math.isnan(t):
        raise ValueError("threshold must be a number, got nan")
    called = s >= t
    tp = int(np.sum(called & truth))
    fp = int(np.sum(called & ~truth))
    fn = int(np.sum(~called & truth))
    tn = int(np.sum(~called & ~truth))
    div = lambda a, b: a / b if b else 0.0
    return AtThreshold(div(tp, tp + fp), div(tp, tp + fn), div(fp, fp + tn), tp, fp, fn, tn)
