"""Discrimination and accuracy metrics of a PD model on labelled loans."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

METRIC_NAMES = (
    "accuracy",
    "roc_auc",
    "gini",
    "ks",
    "brier",
    "log_loss",
    "precision",
    "recall",
    "f1",
    "default_rate",
    "mean_pd",
)


def ks_score(y_true, y_prob) -> float:
    """Kolmogorov-Smirnov statistic between the PDs of defaults and non-defaults.

    The largest gap between the two classes' cumulative PD distributions,
    which equals the largest ``tpr - fpr`` along the ROC curve.

    Examples
    --------
    >>> ks_score([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    0.5
    """
    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        warnings.warn("KS is undefined with one class only", stacklevel=2)
        return float("nan")
    fpr, tpr, _ = skm.roc_curve(y_true, y_prob)
    return float(np.max(tpr - fpr))


def gini_score(y_true, y_prob) -> float:
    """Gini coefficient (accuracy ratio) ``2 * AUC - 1``.

    Examples
    --------
    >>> gini_score([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    0.5
    """
    return float(2.0 * skm.roc_auc_score(y_true, y_prob) - 1.0)


def evaluate(y_true, y_prob, *, threshold: float = 0.5) -> dict[str, float]:
    """All test-split metrics of a PD model, keyed by the names in METRIC_NAMES.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed defaults.
    y_prob : array-like of float
        Predicted probabilities of default.
    threshold : float
        PD at or above which a loan is classed as a default for accuracy,
        precision, recall and F1.
    """
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=float)
    y_pred = (y_prob >= threshold).astype(int)
    auc = float(skm.roc_auc_score(y_true, y_prob))
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "roc_auc": auc,
        "gini": 2.0 * auc - 1.0,
        "ks": ks_score(y_true, y_prob),
        "brier": float(skm.brier_score_loss(y_true, y_prob)),
        "log_loss": float(skm.log_loss(y_true, y_prob, labels=[0, 1])),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "default_rate": float(y_true.mean()),
        "mean_pd": float(y_prob.mean()),
    }
