"""The validation suite, each check against a hand count or a slow reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from optbinning import OptimalBinning
from scipy import special, stats
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pdflow.errors import ConfigError, DataError
from pdflow.metrics import gini_score, ks_score
from pdflow.ratings import MasterScale
from pdflow.stability import csi_table, psi
from pdflow.validation import (
    CALIBRATION_FIGURE,
    CAP_FIGURE,
    GRADE_COLUMNS,
    accuracy_ratio,
    cap_curve,
    delong_auc_ci,
    grade_table,
    herfindahl_index,
    hosmer_lemeshow_test,
    information_values,
    iv_strength,
    master_scale_summary,
    permutation_importances,
    validate,
)

METRICS = {
    "auc",
    "auc_ci_lower",
    "auc_ci_upper",
    "auc_std_error",
    "gini",
    "ks",
    "accuracy_ratio",
    "brier",
    "log_loss",
    "hl_statistic",
    "hl_pvalue",
    "psi_score",
    "grades_monotone",
    "herfindahl",
    "n_grades_failing_binomial",
    "n_grades_failing_jeffreys",
    "max_csi",
    "accuracy",
    "precision",
    "recall",
    "f1",
}


def scores(seed: int, n: int = 300, *, decimals: int | None = 2):
    """Seeded defaults and PDs that rank them better than chance."""
    rng = np.random.default_rng(seed)
    y = rng.binomial(1, 0.3, n)
    p = special.expit(rng.normal(-1.0 + y, 1.0))
    return y, (p if decimals is None else np.round(p, decimals))


@pytest.fixture(scope="module")
def portfolio():
    """A seeded logistic PD model fitted on one half of a synthetic book."""
    X, y = make_classification(
        3000, n_features=5, n_informative=3, weights=[0.85], random_state=7
    )
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(X[:1500], y[:1500])
    return model, X[:1500], y[:1500], X[1500:].reset_index(drop=True), y[1500:]


# -- DeLong ------------------------------------------------------------------


def slow_delong(y, p):
    """DeLong's structural components pair by pair, O(n_pos * n_neg)."""
    bad, good = p[y == 1], p[y == 0]
    kernel = (bad[:, None] > good[None, :]) + 0.5 * (bad[:, None] == good[None, :])
    auc = kernel.mean()
    v_bad, v_good = kernel.mean(axis=1), kernel.mean(axis=0)
    s_bad = np.sum((v_bad - auc) ** 2) / (len(bad) - 1)
    s_good = np.sum((v_good - auc) ** 2) / (len(good) - 1)
    return auc, math.sqrt(s_bad / len(bad) + s_good / len(good))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_delong_matches_slow_structural_components(seed):
    y, p = scores(seed)  # PDs on a 0.01 grid: many ties
    auc, std_error = slow_delong(y, p)
    ci = delong_auc_ci(y, p, alpha=0.1)
    assert ci.auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert ci.auc == pytest.approx(auc, abs=1e-12)
    assert ci.std_error == pytest.approx(std_error, rel=1e-10)
    z = stats.norm.ppf(0.95)
    assert (ci.lower, ci.upper) == pytest.approx(
        (auc - z * std_error, auc + z * std_error)
    )


def test_delong_interval_is_clipped_to_one():
    # Bads above all goods but one pair: AUC 8/9 with a wide interval.
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.5, 0.4, 0.8, 0.9])
    ci = delong_auc_ci(y, p)
    assert ci.auc == pytest.approx(8 / 9)
    assert ci.auc + 1.96 * ci.std_error > 1
    assert ci.upper == 1.0


def test_delong_one_class_warns_and_is_nan():
    with pytest.warns(UserWarning, match="one class"):
        ci = delong_auc_ci([1, 1, 1], [0.2, 0.3, 0.4])
    assert np.isnan([ci.auc, ci.std_error, ci.lower, ci.upper]).all()


@pytest.mark.parametrize(
    ("y", "p", "error", "match"),
    [
        ([0, 1], [0.1], DataError, "differ in length: 2 and 1"),
        ([0, 2], [0.1, 0.2], DataError, "0/1 default flags"),
        ([0, 1], [0.1, np.nan], DataError, "1 missing values"),
        ([0, 1], [0.1, 1.5], DataError, r"in \[0, 1\].*1\.5"),
        ([], [], DataError, "empty"),
    ],
)
def test_bad_inputs_are_refused(y, p, error, match):
    with pytest.raises(error, match=match):
        delong_auc_ci(y, p)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, "0.05"])
def test_delong_refuses_alpha_outside_zero_one(alpha):
    with pytest.raises(ConfigError, match="alpha must lie strictly between 0 and 1"):
        delong_auc_ci([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], alpha=alpha)


# -- CAP curve and accuracy ratio ----------------------------------------------


def test_cap_curve_by_hand():
    # Highest PD first: a default, a non-default, a default, a non-default.
    x, y = cap_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert x == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert y == pytest.approx([0, 0.5, 0.5, 1, 1])


def test_cap_curve_takes_tied_pds_together_whatever_the_order():
    # Two loans at PD 0.5, one of them the only default: one step to (2/3, 1).
    for y, p in (([1, 0, 0], [0.5, 0.5, 0.2]), ([0, 1, 0], [0.5, 0.5, 0.2])):
        x, share = cap_curve(y, p)
        assert x == pytest.approx([0, 2 / 3, 1])
        assert share == pytest.approx([0, 1, 1])


def test_cap_curve_without_defaults_warns():
    with pytest.warns(UserWarning, match="no default"):
        _, share = cap_curve([0, 0], [0.1, 0.2])
    assert np.isnan(share).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_ratio_is_gini_without_ties(seed):
    y, p = scores(seed, decimals=None)
    assert len(np.unique(p)) == len(p)
    assert accuracy_ratio(y, p) == pytest.approx(gini_score(y, p), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_accuracy_ratio_is_gini_with_ties_too(seed):
    y, p = scores(seed, decimals=1)
    assert accuracy_ratio(y, p) == pytest.approx(gini_score(y, p), abs=1e-12)


def test_accuracy_ratio_of_perfect_ranking_is_one():
    assert accuracy_ratio([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == pytest.approx(1.0)


def test_accuracy_ratio_one_class_warns_and_is_nan():
    with pytest.warns(UserWarning, match="one class"):
        assert np.isnan(accuracy_ratio([0, 0], [0.1, 0.2]))


# -- Hosmer-Lemeshow -----------------------------------------------------------


def test_hosmer_lemeshow_by_hand():
    # Three groups of two loans, by PD:
    #   PDs 0.1, 0.2: O = 1, E = 0.3, n = 2 -> 0.7**2 / (0.3 * 0.85) = 1.921569
    #   PDs 0.3, 0.4: O = 0, E = 0.7, n = 2 -> 0.7**2 / (0.7 * 0.65) = 1.076923
    #   PDs 0.5, 0.6: O = 2, E = 1.1, n = 2 -> 0.9**2 / (1.1 * 0.45) = 1.636364
    # Sum 4.634855, on a chi-square with 3 - 2 = 1 degree of freedom.
    y = [1, 0, 1, 0, 0, 1]
    p = [0.6, 0.3, 0.2, 0.1, 0.4, 0.5]
    hl = hosmer_lemeshow_test(y, p, groups=3)
    assert hl.statistic == pytest.approx(4.634855, abs=1e-6)
    assert hl.dof == 1
    assert hl.p_value == pytest.approx(stats.chi2.sf(4.634855, 1), rel=1e-5)
    assert hl.p_value == pytest.approx(0.0313, abs=1e-4)
    assert hl.table["n_default"].tolist() == [1, 0, 2]
    assert hl.table["expected_default"].tolist() == pytest.approx([0.3, 0.7, 1.1])
    assert hl.table["mean_pd"].tolist() == pytest.approx([0.15, 0.35, 0.55])
    assert hl.table["observed_rate"].tolist() == pytest.approx([0.5, 0, 1])


def slow_hosmer_lemeshow(y, p, groups):
    """Equal groups of the loans sorted by PD (ties kept in input order)."""
    statistic = 0.0
    for index in np.array_split(np.argsort(p, kind="stable"), groups):
        o, e, n = y[index].sum(), p[index].sum(), len(index)
        statistic += (o - e) ** 2 / (e * (1 - e / n))
    return statistic


@pytest.mark.parametrize(("seed", "groups"), [(0, 10), (1, 10), (2, 5)])
def test_hosmer_lemeshow_matches_slow_loop_with_ties(seed, groups):
    y, p = scores(seed, n=500)  # PDs on a 0.01 grid: many ties
    hl = hosmer_lemeshow_test(y, p, groups=groups)
    assert hl.table["n"].tolist() == [500 // groups] * groups
    assert hl.statistic == pytest.approx(slow_hosmer_lemeshow(y, p, groups))
    assert hl.p_value == pytest.approx(stats.chi2.sf(hl.statistic, groups - 2))


@pytest.mark.parametrize("groups", [2, 0, 2.5, True])
def test_hosmer_lemeshow_refuses_too_few_groups(groups):
    with pytest.raises(ConfigError, match="groups must be an integer of at least 3"):
        hosmer_lemeshow_test([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], groups=groups)


def test_hosmer_lemeshow_group_of_zero_pds_warns_and_is_nan():
    with pytest.warns(UserWarning, match="every PD of a group is 0"):
        hl = hosmer_lemeshow_test(
            [0, 0, 0, 1, 0, 1], [0, 0, 0.3, 0.4, 0.5, 0.6], groups=3
        )
    assert np.isnan(hl.statistic) and np.isnan(hl.p_value)


def test_hosmer_lemeshow_refuses_more_groups_than_loans():
    with pytest.raises(DataError, match="4 loans cannot fill groups=10"):
        hosmer_lemeshow_test([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])


# -- Grades --------------------------------------------------------------------


def binomial_tail_by_hand(n, d, p):
    """P(at least d defaults of n at PD p), summed term by term."""
    return 1 - sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(d))


def test_grade_table_tests_by_hand():
    # 100 loans at PD 0.02 (grade 4, PDs in (0.01, 0.02]) with 5 defaults, and
    # 300 loans at PD 0.1 (grade 7) with 30 defaults; the other grades are empty.
    y = np.r_[np.ones(5), np.zeros(95), np.ones(30), np.zeros(270)]
    p = np.r_[np.full(100, 0.02), np.full(300, 0.1)]
    table = grade_table(y, p)
    assert list(table.columns) == list(GRADE_COLUMNS)
    assert table["grade"].tolist() == list(MasterScale().labels)
    assert table["n"].tolist() == [0, 0, 0, 100, 0, 0, 300, 0, 0]
    assert table["share"].sum() == pytest.approx(1.0)

    g4 = table.set_index("grade").loc["4"]
    assert (g4.pd_lower, g4.pd_upper, g4.n_default) == (0.01, 0.02, 5)
    assert g4.mean_pd == pytest.approx(0.02)
    assert g4.observed_rate == pytest.approx(0.05)
    assert g4.binomial_pvalue == pytest.approx(binomial_tail_by_hand(100, 5, 0.02))
    assert g4.binomial_pvalue == pytest.approx(1 - stats.binom.cdf(4, 100, 0.02))
    assert g4.binomial_pvalue == pytest.approx(0.0508, abs=1e-4)
    assert g4.jeffreys_pvalue == pytest.approx(special.betainc(5.5, 95.5, 0.02))
    assert bool(g4.binomial_pass) and not bool(g4.jeffreys_pass)  # 0.051 vs 0.029


def test_grade_table_empty_grades_have_no_test():
    table = grade_table([0, 1], [0.5, 0.6])  # both in the last grade
    empty = table[table["n"] == 0]
    assert len(empty) == 8
    assert empty[["mean_pd", "observed_rate", "binomial_pvalue"]].isna().all().all()
    assert empty["binomial_pass"].isna().all() and empty["jeffreys_pass"].isna().all()


def test_grade_tests_flag_a_pd_that_is_too_low_only():
    # 10 defaults in 100: a PD of 1 % is far too low, a PD of 30 % too high.
    y = np.r_[np.ones(10), np.zeros(90)]
    scale = MasterScale(bounds=(0.05, 1.0), labels=("A", "B"))
    low = grade_table(y, np.full(100, 0.01), scale=scale).set_index("grade").loc["A"]
    high = grade_table(y, np.full(100, 0.3), scale=scale).set_index("grade").loc["B"]
    assert low.binomial_pvalue < 1e-4 and low.jeffreys_pvalue < 1e-4
    assert not low.binomial_pass and not low.jeffreys_pass
    assert high.binomial_pvalue > 0.99 and high.jeffreys_pvalue > 0.99
    assert high.binomial_pass and high.jeffreys_pass


# -- Master scale ---------------------------------------------------------------


@pytest.mark.parametrize("values", [[50, 30, 20], [0.5, 0.3, 0.2], [0, 50, 30, 20]])
def test_herfindahl_by_hand(values):
    assert herfindahl_index(values) == pytest.approx(0.25 + 0.09 + 0.04)


@pytest.mark.parametrize("values", [[-1, 2], [0, 0], [1, np.nan], []])
def test_herfindahl_refuses_bad_counts(values):
    with pytest.raises(DataError, match="herfindahl_index needs|non-negative"):
        herfindahl_index(values)


def test_master_scale_summary_by_hand():
    table = pd.DataFrame(
        {
            "n": [40, 0, 40, 20],
            "observed_rate": [0.01, np.nan, 0.03, 0.02],
            "binomial_pass": pd.array([True, pd.NA, False, True], dtype="boolean"),
            "jeffreys_pass": pd.array([False, pd.NA, False, True], dtype="boolean"),
        }
    )
    summary = master_scale_summary(table)
    # 0.03 in the third grade, then 0.02 in a worse one: not monotone.
    assert summary == {
        "n_grades_used": 3,
        "monotone": False,
        "herfindahl": pytest.approx(0.16 + 0.16 + 0.04),
        "n_grades_failing_binomial": 1,
        "n_grades_failing_jeffreys": 2,
    }
    table.loc[3, "observed_rate"] = 0.03  # a tie is still monotone
    assert master_scale_summary(table)["monotone"] is True


def test_master_scale_summary_needs_counts():
    with pytest.raises(DataError, match=r"needs the columns \['n'\]"):
        master_scale_summary(pd.DataFrame({"observed_rate": [0.1]}))


# -- Information values ---------------------------------------------------------


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(5)
    n = 4000
    y = rng.binomial(1, 0.2, n)
    flipped = rng.random(n) < 0.05
    X = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            # The target itself, with 5 % of the flags flipped: optbinning
            # merges bins holding one class only, so an exact copy shows IV 0.
            "target_copy": np.where(flipped, 1 - y, y).astype(float),
            "region": rng.choice(["north", "south", "east"], n).astype(object),
            "constant": 1.0,
            "empty": np.nan,
        }
    )
    return X, y


def test_information_values_strong_noise_and_unusable(features):
    X, y = features
    table = information_values(X, y).set_index("feature")
    assert list(table.columns) == ["iv", "strength", "reason"]
    assert set(table.index) == set(X.columns)
    assert table.loc["target_copy", "iv"] > 3
    assert table.loc["target_copy", "strength"] == "strong"
    assert table.loc["noise", "iv"] < 0.05
    assert table.loc["region", "iv"] < 0.05
    assert (
        table.loc["constant", "iv"] == 0
        and "single value" in table.loc["constant", "reason"]
    )
    assert table.loc["empty", "iv"] == 0 and "missing" in table.loc["empty", "reason"]
    assert table.index[0] == "target_copy"  # highest IV first


def test_information_value_is_optbinnings_own(features):
    X, y = features
    ours = information_values(X[["noise"]], y)["iv"].iloc[0]
    binning = OptimalBinning(name="noise", dtype="numerical").fit(X["noise"], y)
    binning.binning_table.build()
    assert ours == pytest.approx(binning.binning_table.iv, abs=1e-12)


def test_information_values_take_string_columns_and_unnamed_features(features):
    X, y = features
    frame = pd.DataFrame({0: X["target_copy"], 1: X["region"].astype("str")})
    table = information_values(frame, y).set_index("feature")
    assert table.index.tolist() == ["0", "1"]
    assert table.loc["0", "iv"] > 3 and table.loc["1", "iv"] < 0.05


@pytest.mark.parametrize(
    ("iv", "band"),
    [(0.0, "unpredictive"), (0.02, "weak"), (0.1, "medium"), (0.3, "strong")],
)
def test_iv_strength_bands(iv, band):
    assert iv_strength(iv) == band


def test_information_values_refuses_misaligned_target(features):
    X, y = features
    with pytest.raises(DataError, match="X and y differ in length: 4000 and 10"):
        information_values(X, y[:10])


# -- Permutation importance ------------------------------------------------------


def test_permutation_importance_ranks_the_informative_column_first():
    rng = np.random.default_rng(3)
    n = 1200
    X = pd.DataFrame({c: rng.normal(size=n) for c in ("noise_a", "signal", "noise_b")})
    y = rng.binomial(1, 1 / (1 + np.exp(-2 * X["signal"])))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    table = permutation_importances(model, X, y, n_repeats=2, max_rows=500)
    assert list(table.columns) == ["feature", "importance_mean", "importance_std"]
    assert table["feature"].iloc[0] == "signal"
    assert table["importance_mean"].iloc[0] > 0.1
    assert table["importance_mean"].iloc[1:].abs().max() < 0.02


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_repeats": 0}, "n_repeats must be an integer >= 1, got 0"),
        ({"max_rows": 1}, "max_rows must be an integer >= 2, got 1"),
    ],
)
def test_permutation_importance_refuses_bad_options(portfolio, kwargs, match):
    model, X, y, _, _ = portfolio
    with pytest.raises(ConfigError, match=match):
        permutation_importances(model, X, y, **kwargs)


# -- The whole suite -------------------------------------------------------------


def test_validate_agrees_with_the_standalone_checks(portfolio):
    model, X_train, y_train, X_test, y_test = portfolio
    result = validate(model, X_train, y_train, X_test, y_test, seed=1)
    p_train = model.predict_proba(X_train)[:, 1]
    p_test = model.predict_proba(X_test)[:, 1]
    m = result.metrics

    assert set(m) == METRICS
    assert all(isinstance(v, float) for v in m.values())
    ci = delong_auc_ci(y_test, p_test)
    assert (m["auc"], m["auc_ci_lower"], m["auc_ci_upper"]) == pytest.approx(
        (ci.auc, ci.lower, ci.upper)
    )
    assert m["auc"] == pytest.approx(roc_auc_score(y_test, p_test))
    assert m["accuracy_ratio"] == pytest.approx(m["gini"])
    assert m["ks"] == pytest.approx(ks_score(y_test, p_test))
    assert m["hl_statistic"] == pytest.approx(
        hosmer_lemeshow_test(y_test, p_test).statistic
    )
    grades = grade_table(y_test, p_test)
    assert m["herfindahl"] == pytest.approx(herfindahl_index(grades["n"]))
    assert m["psi_score"] == pytest.approx(psi(p_train, p_test))
    assert m["max_csi"] == pytest.approx(csi_table(X_train, X_test)["csi"].max())

    assert set(result.tables) == {
        "hosmer_lemeshow",
        "grades",
        "csi",
        "psi_score",
        "information_value",
        "importance",
    }
    pd.testing.assert_frame_equal(result.tables["grades"], grades)
    assert set(result.figures) == {CAP_FIGURE, CALIBRATION_FIGURE}
    assert all(isinstance(f, Figure) for f in result.figures.values())
    dumped = json.loads(json.dumps(result.to_dict()))
    assert dumped["metrics"] == m
    assert len(dumped["tables"]["grades"]) == len(MasterScale().bounds)


def test_validate_takes_the_callers_test_pds(portfolio):
    model, X_train, y_train, X_test, y_test = portfolio
    p_test = model.predict_proba(X_test)[:, 1]
    scored = validate(model, X_train, y_train, X_test, y_test, seed=1, draw=False)
    given = validate(
        model, X_train, y_train, X_test, y_test, seed=1, draw=False, p_test=p_test
    )
    assert given.metrics == scored.metrics
    with pytest.raises(DataError, match=f"one PD per test loan \\({len(X_test)}\\)"):
        validate(model, X_train, y_train, X_test, y_test, p_test=p_test[:-1])


def test_validate_refuses_a_test_split_of_one_class(portfolio):
    model, X_train, y_train, X_test, _ = portfolio
    with pytest.raises(DataError, match="the test split needs defaults and non"):
        validate(model, X_train, y_train, X_test, np.zeros(len(X_test), dtype=int))


def test_validate_refuses_a_model_without_two_columns(portfolio):
    class OneColumn:
        def predict_proba(self, X):
            return np.full((len(X), 1), 0.1)

    _, X_train, y_train, X_test, y_test = portfolio
    with pytest.raises(DataError, match=r"predict_proba must return .* \(1500, 1\)"):
        validate(OneColumn(), X_train, y_train, X_test, y_test)
