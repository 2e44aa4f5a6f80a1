import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pdflow.metrics import METRIC_NAMES, evaluate, gini_score, ks_score


def slow_ks(y, p):
    """KS by definition: the largest gap between the two classes' empirical CDFs."""
    y, p = np.asarray(y), np.asarray(p)
    gaps = []
    for t in np.unique(p):
        cdf_good = np.mean(p[y == 0] <= t)
        cdf_bad = np.mean(p[y == 1] <= t)
        gaps.append(abs(cdf_good - cdf_bad))
    return max(gaps)


def test_ks_by_hand():
    # Goods at 0.1 and 0.6, bads at 0.4 and 0.9. At PD 0.1 half the goods and
    # none of the bads lie at or below it: the gap is 0.5, and no cut does better.
    assert ks_score([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)


def test_ks_perfect_separation_is_one():
    assert ks_score([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ks_matches_slow_definition(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 400)
    p = np.round(np.clip(rng.normal(0.3 + 0.2 * y, 0.2), 0, 1), 2)  # many ties
    assert ks_score(y, p) == pytest.approx(slow_ks(y, p))


def test_ks_one_class_warns_and_is_nan():
    with pytest.warns(UserWarning, match="one class"):
        assert np.isnan(ks_score([1, 1, 1], [0.2, 0.3, 0.4]))


def test_gini_is_two_auc_minus_one():
    # AUC of this ranking is 3/4 by counting pairs (bad above good in 3 of 4).
    assert gini_score([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)


def test_evaluate_values_by_hand():
    y = [0, 0, 0, 1, 1]
    p = [0.1, 0.2, 0.7, 0.6, 0.9]
    m = evaluate(y, p, threshold=0.5)
    assert set(m) == set(METRIC_NAMES)
    # Predicted defaults: 0.7, 0.6, 0.9 -> TP 2, FP 1, FN 0, TN 2.
    assert m["accuracy"] == pytest.approx(4 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(0.8)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["roc_auc"] == pytest.approx(5 / 6)  # 5 of 6 bad/good pairs ordered
    assert m["gini"] == pytest.approx(2 / 3)
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.49 + 0.16 + 0.01) / 5)
    assert m["default_rate"] == pytest.approx(0.4)
    assert m["mean_pd"] == pytest.approx(0.5)
