"""The validation suite of a PD model: discrimination, calibration, stability.

Each check is a function of the observed default flags and the predicted PDs
(or of the model and its data) that can be run on its own; :func:`validate`
runs them all on a test split and gathers flat metrics for MLflow, tables and
figures for the report (:mod:`pdflow.reports`).

- discrimination: :func:`delong_auc_ci`, :func:`cap_curve`,
  :func:`accuracy_ratio`;
- calibration: :func:`hosmer_lemeshow_test`, :func:`grade_table` (binomial and
  Jeffreys tests per grade of the master scale);
- the master scale: :func:`herfindahl_index`, :func:`master_scale_summary`;
- the features: :func:`information_values`, :func:`permutation_importances`.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from pdflow.errors import ConfigError, DataError
from pdflow.estimators import unusable_columns
from pdflow.metrics import evaluate
from pdflow.ratings import MasterScale
from pdflow.stability import csi_table, psi_table

logger = logging.getLogger(__name__)

# The usual reading of an information value, upper edges of each band.
IV_BANDS = (
    (0.02, "unpredictive"),
    (0.1, "weak"),
    (0.3, "medium"),
    (float("inf"), "strong"),
)

GRADE_COLUMNS = (
    "grade",
    "pd_lower",
    "pd_upper",
    "n",
    "share",
    "n_default",
    "mean_pd",
    "observed_rate",
    "binomial_pvalue",
    "jeffreys_pvalue",
    "binomial_pass",
    "jeffreys_pass",
)

CAP_FIGURE = "validation/cap_curve.png"
CALIBRATION_FIGURE = "validation/calibration_by_grade.png"


@dataclass(frozen=True)
class AucInterval:
    """The AUC with its DeLong standard error and normal confidence interval."""

    auc: float
    std_error: float
    lower: float
    upper: float


@dataclass(frozen=True, eq=False)
class HosmerLemeshow:
    """The Hosmer-Lemeshow statistic, its p-value and the table by PD group."""

    statistic: float
    p_value: float
    dof: int
    table: pd.DataFrame


@dataclass(eq=False)
class ValidationResult:
    """Everything :func:`validate` found.

    Attributes
    ----------
    metrics : dict of str to float
        Flat numbers, ready for ``mlflow.log_metrics``.
    tables : dict of str to DataFrame
        ``hosmer_lemeshow``, ``grades``, ``csi``, ``psi_score``,
        ``information_value`` and ``importance``.
    figures : dict of str to Figure
        Keyed by the artifact path they are logged as.
    """

    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Metrics, tables as lists of records and figure paths, JSON-ready.

        Missing values in the tables become ``None``.
        """
        return {
            "metrics": dict(self.metrics),
            "tables": {
                name: json.loads(table.to_json(orient="records"))
                for name, table in self.tables.items()
            },
            "figures": sorted(self.figures),
        }


def _check_labels_and_pds(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    try:
        y_prob = np.asarray(y_prob, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"y_prob must hold numbers: {exc}") from None
    if y_true.ndim != 1 or y_prob.ndim != 1:
        raise DataError(
            f"y_true and y_prob must be 1-d, got shapes {y_true.shape} and "
            f"{y_prob.shape}"
        )
    if len(y_true) != len(y_prob):
        raise DataError(
            f"y_true and y_prob differ in length: {len(y_true)} and {len(y_prob)}"
        )
    if len(y_true) == 0:
        raise DataError("no loans to validate: y_true and y_prob are empty")

    labels = pd.unique(pd.Series(y_true))
    if not set(labels) <= {0, 1}:
        raise DataError(f"y_true must hold 0/1 default flags, got {sorted(labels)[:5]}")
    if np.isnan(y_prob).any():
        raise DataError(f"y_prob has {int(np.isnan(y_prob).sum())} missing values")
    if y_prob.min() < 0 or y_prob.max() > 1:
        raise DataError(
            f"y_prob must lie in [0, 1], got values from {y_prob.min():g} "
            f"to {y_prob.max():g}"
        )
    return y_true.astype(int), y_prob


def _check_alpha(alpha: float) -> None:
    if not isinstance(alpha, Real) or not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def _one_class(y_true: np.ndarray, what: str) -> bool:
    """Warn and say so when ``y_true`` holds defaults only or non-defaults only."""
    if len(np.unique(y_true)) < 2:
        warnings.warn(f"{what} is undefined with one class only", stacklevel=3)
        return True
    return False


def delong_auc_ci(y_true, y_prob, *, alpha: float = 0.05) -> AucInterval:
    """The AUC with DeLong's standard error and a normal confidence interval.

    The variance comes from DeLong's structural components, computed with
    midranks in O(n log n) (Sun and Xu, 2014); tied PDs count one half.

    Parameters
    ----------
    y_true : array-like of 0/1
        Observed defaults.
    y_prob : array-like of float
        Predicted PDs.
    alpha : float
        One minus the confidence level of the interval.

    Returns
    -------
    AucInterval
        ``auc``, ``std_error`` and the interval ``lower``, ``upper``, clipped
        to [0, 1]. All NaN, with a warning, when only one class is present.

    Examples
    --------
    >>> ci = delong_auc_ci([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> float(ci.auc)
    0.75
    """
    y_true, y_prob = _check_labels_and_pds(y_true, y_prob)
    _check_alpha(alpha)
    if _one_class(y_true, "the AUC"):
        return AucInterval(*[float("nan")] * 4)

    # Midranks: among all loans, among defaults only, among non-defaults only.
    bad, good = y_prob[y_true == 1], y_prob[y_true == 0]
    m, n = len(bad), len(good)
    rank_all = stats.rankdata(np.concatenate([bad, good]))
    rank_bad, rank_good = stats.rankdata(bad), stats.rankdata(good)

    # Structural components: for each default, the share of non-defaults it
    # outranks; for each non-default, the share of defaults that outrank it.
    v_bad = (rank_all[:m] - rank_bad) / n
    v_good = 1.0 - (rank_all[m:] - rank_good) / m
    auc = float(v_bad.mean())

    if min(m, n) < 2:
        warnings.warn("the AUC's variance needs two loans of each class", stacklevel=2)
        std_error = float("nan")
    else:
        std_error = float(np.sqrt(v_bad.var(ddof=1) / m + v_good.var(ddof=1) / n))
    z = stats.norm.ppf(1 - alpha / 2)
    lower, upper = max(0.0, auc - z * std_error), min(1.0, auc + z * std_error)
    return AucInterval(auc, std_error, float(lower), float(upper))


def cap_curve(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative accuracy profile: share of defaults caught by riskiest loans.

    Loans are taken in order of PD, highest first. Loans with equal PDs are
    taken together, so the curve has one point per distinct PD and runs
    straight across a tie, whatever the order of the input.

    Returns
    -------
    population_share : ndarray
        Share of loans with a PD at or above each distinct PD, from 0 to 1.
    default_share : ndarray
        Share of all defaults among those loans, from 0 to 1; NaN, with a
        warning, when there is no default.

    Examples
    --------
    >>> x, y = cap_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    >>> x.tolist(), y.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    y_true, y_prob = _check_labels_and_pds(y_true, y_prob)
    order = np.argsort(-y_prob, kind="stable")
    ranked_pd, ranked_default = y_prob[order], y_true[order]

    # The last loan of each run of equal PDs closes a step of the curve.
    ends = np.append(np.flatnonzero(np.diff(ranked_pd)), len(ranked_pd) - 1)
    population_share = np.append(0.0, (ends + 1) / len(ranked_pd))
    caught = np.append(0.0, np.cumsum(ranked_default)[ends])

    n_default = y_true.sum()
    if n_default == 0:
        warnings.warn("the CAP curve is undefined with no default", stacklevel=2)
        return population_share, np.full(len(caught), np.nan)
    return population_share, caught / n_default


def accuracy_ratio(y_true, y_prob) -> float:
    """Accuracy ratio: the model's CAP area over the perfect model's.

    Both areas are measured above the diagonal of a random ranking:
    ``(area_model - 0.5) / (area_perfect - 0.5)``. It equals the Gini
    coefficient ``2 * AUC - 1``.

    Examples
    --------
    >>> accuracy_ratio([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    0.5
    """
    y_true, y_prob = _check_labels_and_pds(y_true, y_prob)
    if _one_class(y_true, "the accuracy ratio"):
        return float("nan")

    # The perfect model ranks every default above every non-default.
    population, caught = cap_curve(y_true, y_prob)
    area_model = np.trapezoid(caught, population)
    population, caught = cap_curve(y_true, y_true.astype(float))
    area_perfect = np.trapezoid(caught, population)
    return float((area_model - 0.5) / (area_perfect - 0.5))


def hosmer_lemeshow_test(y_true, y_prob, *, groups: int = 10) -> HosmerLemeshow:
    """Hosmer-Lemeshow goodness of fit over groups of loans ranked by PD.

    The loans are cut into ``groups`` equal-sized groups by PD (deciles by
    default). With ``O``, ``E`` and ``n`` the observed defaults, the sum of
    PDs and the loans of a group, the statistic is the sum over groups of
    ``(O - E)**2 / (E * (1 - E / n))``, compared with a chi-square of
    ``groups - 2`` degrees of freedom. Equal PDs are ranked by their position
    in the input, so ties never merge two groups.

    Returns
    -------
    HosmerLemeshow
        ``statistic``, ``p_value`` (small means the PDs do not fit), ``dof``
        and ``table`` with ``group``, ``n``, ``n_default``,
        ``expected_default``, ``mean_pd`` and ``observed_rate`` per group.
    """
    y_true, y_prob = _check_labels_and_pds(y_true, y_prob)
    if isinstance(groups, bool) or not isinstance(groups, Integral) or groups < 3:
        raise ConfigError(f"groups must be an integer of at least 3, got {groups!r}")
    if groups > len(y_true):
        raise DataError(f"{len(y_true)} loans cannot fill groups={groups} groups")

    rank = pd.Series(y_prob).rank(method="first")
    frame = pd.DataFrame(
        {"group": pd.qcut(rank, groups, labels=False) + 1, "y": y_true, "pd": y_prob}
    )
    table = (
        frame.groupby("group")
        .agg(
            n=("y", "size"),
            n_default=("y", "sum"),
            expected_default=("pd", "sum"),
            mean_pd=("pd", "mean"),
        )
        .reset_index()
    )
    table["observed_rate"] = table["n_default"] / table["n"]

    o, e, n = (table[c].to_numpy(float) for c in ("n_default", "expected_default", "n"))
    variance = e * (1 - e / n)
    dof = int(groups) - 2
    if (variance <= 0).any():
        # Every PD of a group at 0 (or at 1) leaves its binomial no variance.
        warnings.warn(
            "the Hosmer-Lemeshow statistic is undefined when every PD of a group "
            "is 0 or every PD is 1",
            stacklevel=2,
        )
        return HosmerLemeshow(float("nan"), float("nan"), dof, table)
    statistic = float(np.sum((o - e) ** 2 / variance))
    return HosmerLemeshow(statistic, float(stats.chi2.sf(statistic, dof)), dof, table)


def grade_table(
    y_true, y_prob, *, scale: MasterScale | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Defaults against PDs in each grade of the master scale, with two tests.

    Both tests ask whether a grade's PD is too low for the defaults seen:

    - binomial: the one-sided p-value of the grade's defaults under a binomial
      law with the grade's mean PD (H0: the true default rate is the mean PD;
      the alternative: it is higher);
    - Jeffreys: the probability, under the Jeffreys posterior
      ``Beta(d + 1/2, n - d + 1/2)`` of the true default rate, that the rate
      is at or below the grade's mean PD.

    In both, a small value means the PD is too low; a grade passes when the
    value is at least ``alpha``. PDs that are too high are not flagged.

    Parameters
    ----------
    y_true, y_prob : array-like
        Observed defaults (0/1) and predicted PDs.
    scale : MasterScale, optional
        The grades; :class:`pdflow.ratings.MasterScale` by default.
    alpha : float
        Significance level of both tests.

    Returns
    -------
    DataFrame
        One row per grade, best first, empty grades included (``n`` 0, rates
        and p-values NaN, passes missing), with the columns in GRADE_COLUMNS.
    """
    y_true, y_prob = _check_labels_and_pds(y_true, y_prob)
    _check_alpha(alpha)
    scale = MasterScale() if scale is None else scale

    grade = scale.grade_index(y_prob)
    k = len(scale.bounds)
    n = np.bincount(grade, minlength=k)
    n_default = np.bincount(grade, weights=y_true, minlength=k).astype(int)
    pd_sum = np.bincount(grade, weights=y_prob, minlength=k)
    used = n > 0
    mean_pd = np.divide(pd_sum, n, out=np.full(k, np.nan), where=used)
    observed = np.divide(n_default, n, out=np.full(k, np.nan), where=used)

    table = pd.DataFrame(
        {
            "grade": list(scale.labels),
            "pd_lower": (0.0, *scale.bounds[:-1]),
            "pd_upper": scale.bounds,
            "n": n,
            "share": n / len(y_true),
            "n_default": n_default,
            "mean_pd": mean_pd,
            "observed_rate": observed,
        }
    )
    tests = [_grade_pvalues(*row) for row in zip(n, n_default, mean_pd, strict=True)]
    table["binomial_pvalue"] = [b for b, _ in tests]
    table["jeffreys_pvalue"] = [j for _, j in tests]
    for test in ("binomial", "jeffreys"):
        table[f"{test}_pass"] = _passes(table[f"{test}_pvalue"], alpha)
    return table


def _grade_pvalues(n: int, n_default: int, mean_pd: float) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    binomial = stats.binomtest(int(n_default), int(n), mean_pd, alternative="greater")
    jeffreys = stats.beta.cdf(mean_pd, n_default + 0.5, n - n_default + 0.5)
    return float(binomial.pvalue), float(jeffreys)


def _passes(pvalues: pd.Series, alpha: float) -> pd.Series:
    """``p >= alpha`` as a nullable boolean, missing where the test was not run."""
    return (pvalues >= alpha).astype("boolean").mask(pvalues.isna())


def herfindahl_index(counts_or_shares) -> float:
    """Concentration of loans over grades: the sum of squared shares.

    From ``1 / k`` (loans spread evenly over ``k`` grades) to 1 (one grade).

    Examples
    --------
    >>> round(herfindahl_index([50, 30, 20]), 6)
    0.38
    """
    values = np.asarray(counts_or_shares, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise DataError(f"herfindahl_index needs a 1-d list of counts, got {values}")
    if np.isnan(values).any() or (values < 0).any() or values.sum() == 0:
        raise DataError(
            "counts or shares must be non-negative, not missing and not all 0, "
            f"got {values.tolist()}"
        )
    shares = values / values.sum()
    return float(np.sum(shares**2))


def master_scale_summary(grade_table: pd.DataFrame) -> dict:
    """How a master scale holds up, from the output of :func:`grade_table`.

    Returns
    -------
    dict
        ``n_grades_used`` (grades with loans); ``monotone`` (True when, over
        the grades with loans, a worse grade never shows a lower observed
        default rate); ``herfindahl`` (of the loan counts);
        ``n_grades_failing_binomial`` and ``n_grades_failing_jeffreys``
        (grades whose test failed; empty grades fail neither).
    """
    missing = [c for c in ("n", "observed_rate") if c not in grade_table.columns]
    if missing:
        raise DataError(f"a grade table needs the columns {missing}")

    used = grade_table["n"] > 0
    rates = grade_table.loc[used, "observed_rate"].to_numpy(float)
    summary = {
        "n_grades_used": int(used.sum()),
        "monotone": bool(np.all(np.diff(rates) >= 0)),
        "herfindahl": herfindahl_index(grade_table["n"]),
    }
    for test in ("binomial", "jeffreys"):
        passed = grade_table.get(f"{test}_pass")
        if passed is not None:
            failing = ~passed.astype("boolean")  # missing (empty grade) stays missing
            summary[f"n_grades_failing_{test}"] = int(failing.sum())
    return summary


def iv_strength(iv: float) -> str:
    """``unpredictive``, ``weak``, ``medium`` or ``strong`` for an IV value."""
    if np.isnan(iv):
        return "undefined"
    return next(label for edge, label in IV_BANDS if iv < edge)


def information_values(X: pd.DataFrame, y) -> pd.DataFrame:
    """Information value of each feature, from optbinning's optimal binning.

    Every usable column is binned by :class:`optbinning.BinningProcess` with
    its default settings (text columns by category). Columns that are all
    missing or hold a single value get an IV of 0 and the reason. A feature
    that separates defaults perfectly has an infinite IV in theory, but
    optbinning merges pure bins, so it shows a low one.

    Returns
    -------
    DataFrame
        ``feature``, ``iv``, ``strength`` (see IV_BANDS) and ``reason`` (empty
        for binned columns), highest IV first.
    """
    X, y = _check_frame(X, y)
    X = X.rename(columns=str)  # optbinning names variables by strings
    unusable = unusable_columns(X)
    rows = [{"feature": c, "iv": 0.0, "reason": why} for c, why in unusable.items()]
    usable = [c for c in X.columns if c not in unusable]
    if usable and _one_class(y, "the information value"):
        rows += [{"feature": c, "iv": np.nan, "reason": "one class"} for c in usable]
    elif usable:
        rows += _binned_ivs(X[usable], y)
    table = pd.DataFrame(rows, columns=["feature", "iv", "reason"])

    table["strength"] = table["iv"].map(iv_strength)
    table = table.sort_values("iv", ascending=False, kind="stable", na_position="last")
    return table[["feature", "iv", "strength", "reason"]].reset_index(drop=True)


def _binned_ivs(X: pd.DataFrame, y: np.ndarray) -> list[dict]:
    from optbinning import BinningProcess  # heavy: only when asked

    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    process = BinningProcess(list(X.columns), categorical_variables=text or None)
    summary = process.fit(X, y).summary()
    return [
        {"feature": name, "iv": float(iv), "reason": ""}
        for name, iv in zip(summary["name"], summary["iv"], strict=True)
    ]


def _check_frame(X, y) -> tuple[pd.DataFrame, np.ndarray]:
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"X must be a DataFrame, got {type(X).__name__}")
    y = np.asarray(y)
    if len(X) != len(y):
        raise DataError(f"X and y differ in length: {len(X)} and {len(y)}")
    if not set(pd.unique(pd.Series(y))) <= {0, 1}:
        raise DataError(f"y must hold 0/1 default flags, got {sorted(set(y))[:5]}")
    return X, y.astype(int)


def permutation_importances(
    model,
    X: pd.DataFrame,
    y,
    *,
    n_repeats: int = 3,
    max_rows: int = 5000,
    seed: int = 0,
) -> pd.DataFrame:
    """Loss of AUC when each feature is shuffled, on a sample of the loans.

    Wraps :func:`sklearn.inspection.permutation_importance` with
    ``scoring="roc_auc"``. Beyond ``max_rows`` loans, a sample of that size
    stratified on ``y`` (drawn with ``seed``) is used.

    Returns
    -------
    DataFrame
        ``feature``, ``importance_mean`` and ``importance_std`` (AUC lost),
        largest first.
    """
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split

    for name, value, least in (("n_repeats", n_repeats, 1), ("max_rows", max_rows, 2)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")
    X, y = _check_frame(X, y)
    if _one_class(y, "the permutation importance by AUC"):
        nan = np.full(X.shape[1], np.nan)
        return pd.DataFrame(
            {"feature": X.columns, "importance_mean": nan, "importance_std": nan}
        )

    if len(X) > max_rows:
        X, _, y, _ = train_test_split(
            X, y, train_size=max_rows, stratify=y, random_state=seed
        )
    found = permutation_importance(
        model, X, y, scoring="roc_auc", n_repeats=n_repeats, random_state=seed
    )
    table = pd.DataFrame(
        {
            "feature": X.columns,
            "importance_mean": found.importances_mean,
            "importance_std": found.importances_std,
        }
    )
    table = table.sort_values("importance_mean", ascending=False, kind="stable")
    return table.reset_index(drop=True)


def cap_figure(y_true, y_prob) -> Figure:
    """The model's CAP curve against the perfect and the random ranking."""
    y_true, y_prob = _check_labels_and_pds(y_true, y_prob)
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    ax.plot(*cap_curve(y_true, y_prob), label="PD model")
    perfect = cap_curve(y_true, y_true.astype(float))
    ax.plot(*perfect, color="black", linestyle=":", label="perfect")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="random")
    ax.set_title(f"CAP curve (accuracy ratio {accuracy_ratio(y_true, y_prob):.3f})")
    ax.set_xlabel("Share of loans, highest PD first")
    ax.set_ylabel("Share of defaults")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def calibration_by_grade_figure(
    grades: pd.DataFrame, deciles: pd.DataFrame | None = None
) -> Figure:
    """Observed default rate against mean PD per grade (and per PD decile).

    Takes the tables of :func:`grade_table` and, optionally, of
    :func:`hosmer_lemeshow_test`; points on the diagonal are well calibrated.
    """
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    used = grades[grades["n"] > 0]
    ax.plot(used["mean_pd"], used["observed_rate"], "o-", label="grades")
    for row in used.itertuples():
        ax.annotate(
            str(row.grade),
            (row.mean_pd, row.observed_rate),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=8,
        )
    points = [used]
    if deciles is not None:
        x, y = deciles["mean_pd"], deciles["observed_rate"]
        ax.plot(x, y, "s", alpha=0.6, markersize=4, label="PD deciles")
        points.append(deciles)

    top = max(float(np.nanmax(p[["mean_pd", "observed_rate"]])) for p in points)
    ax.plot([0, top], [0, top], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("Mean predicted PD")
    ax.set_ylabel("Observed default rate")
    ax.set_title("Calibration by grade")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


@contextmanager
def _stage(name: str) -> Iterator[None]:
    start = time.perf_counter()
    logger.info("validation: %s", name)
    yield
    logger.info("validation: %s done in %.2f s", name, time.perf_counter() - start)


def _timed(name: str, function, *args):
    with _stage(name):
        return function(*args)


def validate(
    model,
    X_train: pd.DataFrame,
    y_train,
    X_test: pd.DataFrame,
    y_test,
    *,
    scale: MasterScale | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    draw: bool = True,
    p_test: np.ndarray | None = None,
) -> ValidationResult:
    """Run the whole validation suite of a fitted PD model on its test split.

    Discrimination, calibration and the master scale are measured on the test
    split; stability compares the test split with the training split (PSI of
    the PD, CSI of each feature); information values and permutation
    importances are computed on the test split.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` taking the raw loan frame.
    X_train, y_train, X_test, y_test
        The two splits: feature frames and 0/1 default flags.
    scale : MasterScale, optional
        The grades; pdflow's default master scale when None.
    threshold : float
        PD at or above which a loan counts as a predicted default, for
        ``accuracy``, ``precision``, ``recall`` and ``f1``.
    seed : int
        Seed of the sample and shuffles of the permutation importance.
    draw : bool
        Draw the suite's figures. Without them the suite touches no
        matplotlib, so it can run on one thread while another draws; the
        caller then draws them with :func:`draw_figures`.
    p_test : array, optional
        The model's PDs of ``X_test`` when the caller has scored it already;
        the suite then scores only the training split.

    Returns
    -------
    ValidationResult
    """
    X_train, y_train = _check_frame(X_train, y_train)
    X_test, y_test = _check_frame(X_test, y_test)
    for split, y in (("training", y_train), ("test", y_test)):
        if len(np.unique(y)) < 2:
            raise DataError(
                f"the {split} split needs defaults and non-defaults, got only "
                f"{int(y[0])}"
            )

    # The information values need no model: optbinning bins the test split on
    # a thread of their own while this one scores. Scoring mostly releases the
    # GIL, so on two cores the two overlap (1.0 s of 3.2 s at 100,000 loans).
    with ThreadPoolExecutor(1, thread_name_prefix="pdflow-iv") as side:
        ivs = side.submit(
            _timed, "information values", information_values, X_test, y_test
        )
        with _stage("scoring both splits"):
            p_train = _pds(model, X_train)
            if p_test is None:
                p_test = _pds(model, X_test)
            elif np.shape(p_test) != (len(X_test),):
                raise DataError(
                    f"p_test must hold one PD per test loan ({len(X_test)}), "
                    f"got shape {np.shape(p_test)}"
                )
            p_test = np.asarray(p_test, dtype=float)
        with _stage("discrimination, calibration and stability"):
            tables, metrics = _pd_checks(y_test, p_test, p_train, scale, threshold)
            tables["csi"] = csi_table(X_train, X_test)
            metrics["max_csi"] = float(tables["csi"]["csi"].max())
        with _stage("permutation importances"):
            tables["importance"] = permutation_importances(
                model, X_test, y_test, n_repeats=2, max_rows=2000, seed=seed
            )
        tables["information_value"] = ivs.result()

    checked = ValidationResult(metrics=metrics, tables=tables)
    if draw:
        draw_figures(checked, y_test, p_test)
    return checked


def draw_figures(checked: ValidationResult, y_test, p_test) -> None:
    """Add the suite's figures (CAP curve, calibration by grade) to ``checked``."""
    checked.figures[CAP_FIGURE] = cap_figure(np.asarray(y_test), np.asarray(p_test))
    checked.figures[CALIBRATION_FIGURE] = calibration_by_grade_figure(
        checked.tables["grades"], checked.tables["hosmer_lemeshow"]
    )


def _pds(model, X: pd.DataFrame) -> np.ndarray:
    proba = np.asarray(model.predict_proba(X))
    if proba.ndim != 2 or proba.shape != (len(X), 2):
        raise DataError(
            f"predict_proba must return one row of 2 columns per loan, got shape "
            f"{proba.shape} for {len(X)} loans"
        )
    return proba[:, 1].astype(float)


def _pd_checks(y_test, p_test, p_train, scale, threshold):
    """Tables and flat metrics of the checks that need only PDs and defaults."""
    found = evaluate(y_test, p_test, threshold=threshold)
    ci = delong_auc_ci(y_test, p_test)
    hl = hosmer_lemeshow_test(y_test, p_test)
    grades = grade_table(y_test, p_test, scale=scale)
    summary = master_scale_summary(grades)
    psi_score = psi_table(p_train, p_test)

    metrics = {
        "auc": ci.auc,
        "auc_ci_lower": ci.lower,
        "auc_ci_upper": ci.upper,
        "auc_std_error": ci.std_error,
        **{k: found[k] for k in ("gini", "ks", "brier", "log_loss")},
        "accuracy_ratio": accuracy_ratio(y_test, p_test),
        "hl_statistic": hl.statistic,
        "hl_pvalue": hl.p_value,
        "psi_score": float(psi_score["psi"].sum()),
        "grades_monotone": float(summary["monotone"]),
        "herfindahl": summary["herfindahl"],
        "n_grades_failing_binomial": float(summary["n_grades_failing_binomial"]),
        "n_grades_failing_jeffreys": float(summary["n_grades_failing_jeffreys"]),
        **{k: found[k] for k in ("accuracy", "precision", "recall", "f1")},
    }
    tables = {"hosmer_lemeshow": hl.table, "grades": grades, "psi_score": psi_score}
    return tables, {k: float(v) for k, v in metrics.items()}
