"""scikit-learn estimators of the PD model families that need their own class.

- :class:`WoEScorecard`: optimal WoE binning (optbinning) plus a logistic
  regression, scaled to points;
- :class:`LGBMPD`: LightGBM with native missing values and categories,
  monotone constraints and early stopping on a carved-out validation split;
- :class:`CalibratedPD`: calibration on held-out folds and an optional
  central tendency, around any of the families.

This module imports only numpy, pandas, scipy, scikit-learn, optbinning,
lightgbm and pdflow's light ``ratings`` and ``errors`` modules, so a logged model
loads without MLflow's tracking machinery or matplotlib. Each estimator takes the
raw loan frame (numeric columns and text columns, missing values allowed).
"""

from __future__ import annotations

import logging
import math
import re
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from pdflow.ratings import (
    DEFAULT_BASE_ODDS,
    DEFAULT_BASE_POINTS,
    DEFAULT_PDO,
    check_scaling,
)

logger = logging.getLogger(__name__)

# PDs are kept this far from 0 and 1 before taking log-odds.
_EPS = 1e-12


def _is_text(column: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
    )


def unusable_columns(X: pd.DataFrame) -> dict[str, str]:
    """Columns that carry no information: all missing, or a single value.

    Returns
    -------
    dict
        Column name -> why it cannot be used, in column order.
    """
    reasons = {}
    for column in X.columns:
        values = X[column]
        if values.isna().all():
            reasons[column] = "every value is missing"
        elif values.nunique(dropna=True) < 2:
            shown = values.dropna().tolist()[0]  # a plain value: 1.0, not np.float64
            reasons[column] = f"a single value ({shown!r}) on every non-missing row"
    return reasons


class WoEScorecard(ClassifierMixin, BaseEstimator):
    """A credit scorecard: optimal WoE binning, logistic regression, points.

    Every usable column is binned by :class:`optbinning.BinningProcess` (numeric
    columns with a monotone event rate where the data allow it, text columns by
    category; missing values and ``special_codes`` get bins of their own);
    variables whose information value is below ``min_iv`` are left out; a
    logistic regression on the WoE of the rest gives the PD. Points follow the
    convention of :func:`pdflow.ratings.pd_to_score`: ``base_points`` at
    good:bad odds ``base_odds``, ``pdo`` more points for twice the odds, so
    higher is safer and the points of a loan's bins add up to its score.

    Parameters
    ----------
    min_iv : float
        Smallest information value of a variable kept in the scorecard.
    monotonic_trend : str
        optbinning's trend of the event rate over numeric bins, e.g.
        ``"auto_asc_desc"`` (ascending or descending, whichever fits better).
    max_n_bins : int, optional
        Most bins per variable.
    min_bin_size : float
        Smallest share of loans in a bin.
    special_codes : list, optional
        Values (such as -999) that mean "special" and get their own bin.
    C : float
        Inverse L2 regularisation of the logistic regression.
    pdo, base_odds, base_points : float
        The points scale.

    Attributes
    ----------
    binning_process_ : optbinning.BinningProcess
    logistic_ : LogisticRegression
    variables_ : list of str
        The variables in the scorecard, in column order.
    dropped_ : dict
        Columns left out before binning, with the reason.
    """

    _parameter_constraints = {
        "min_iv": [Interval(Real, 0, None, closed="left")],
        "monotonic_trend": [
            StrOptions(
                {
                    "auto",
                    "auto_heuristic",
                    "auto_asc_desc",
                    "ascending",
                    "descending",
                    "convex",
                    "concave",
                    "peak",
                    "valley",
                }
            ),
            None,
        ],
        "max_n_bins": [Interval(Integral, 2, None, closed="left"), None],
        "min_bin_size": [Interval(Real, 0, 0.5, closed="right"), None],
        "special_codes": [list, None],
        "C": [Interval(Real, 0, None, closed="neither")],
        "pdo": [Interval(Real, 0, None, closed="neither")],
        "base_odds": [Interval(Real, 0, None, closed="neither")],
        "base_points": [Real],
    }

    def __init__(
        self,
        *,
        min_iv: float = 0.02,
        monotonic_trend: str | None = "auto_asc_desc",
        max_n_bins: int | None = None,
        min_bin_size: float | None = 0.05,
        special_codes: list | None = None,
        C: float = 0.1,
        pdo: float = DEFAULT_PDO,
        base_odds: float = DEFAULT_BASE_ODDS,
        base_points: float = DEFAULT_BASE_POINTS,
    ) -> None:
        self.min_iv = min_iv
        self.monotonic_trend = monotonic_trend
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.special_codes = special_codes
        self.C = C
        self.pdo = pdo
        self.base_odds = base_odds
        self.base_points = base_points

    def fit(self, X: pd.DataFrame, y) -> WoEScorecard:
        """Bin every usable column, select by IV and fit the regression."""
        from optbinning import BinningProcess  # heavy: only when fitting

        self._validate_params()
        check_scaling(pdo=self.pdo, base_odds=self.base_odds)
        X = _as_frame(X)
        y = np.asarray(y).astype(int)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]

        # Data a scorecard cannot bin is dropped out loud, never silently.
        self.dropped_ = unusable_columns(X)
        for column, why in self.dropped_.items():
            logger.warning("scorecard drops column '%s': %s", column, why)
        usable = [c for c in X.columns if c not in self.dropped_]
        if not usable:
            raise ValueError("no column is usable by the scorecard")
        categorical = [c for c in usable if _is_text(X[c])]
        trend = {"monotonic_trend": self.monotonic_trend}
        self.binning_process_ = BinningProcess(
            usable,
            categorical_variables=categorical or None,
            special_codes=self.special_codes,
            max_n_bins=self.max_n_bins,
            min_bin_size=self.min_bin_size,
            selection_criteria={"iv": {"min": self.min_iv}},
            binning_fit_params={c: trend for c in usable if c not in categorical},
        )
        self.binning_process_.fit(self._binning_input(X, usable), y)
        self.variables_ = [
            str(v) for v in self.binning_process_.get_support(names=True)
        ]
        if not self.variables_:
            raise ValueError(
                f"no variable reaches the scorecard's min_iv of {self.min_iv}"
            )
        self.below_iv_ = [c for c in usable if c not in self.variables_]
        if self.below_iv_:
            logger.info(
                "scorecard leaves out %d variable(s) below IV %.3f: %s",
                len(self.below_iv_),
                self.min_iv,
                ", ".join(self.below_iv_),
            )

        woe = self._woe(X)
        self.logistic_ = LogisticRegression(C=self.C, max_iter=1000).fit(woe, y)
        self.classes_ = self.logistic_.classes_
        return self

    def _binning_input(self, X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        # Plain object arrays: optbinning keeps what it is given, and pandas 3
        # Arrow-backed strings would follow the model into its saved file.
        out = {}
        for c in columns:
            values = X[c]
            if _is_text(values):
                out[c] = values.astype(object).where(values.notna(), np.nan)
            else:
                out[c] = values.astype("float64")
        return pd.DataFrame(out, index=X.index)

    def _woe(self, X: pd.DataFrame) -> pd.DataFrame:
        usable = list(self.binning_process_.variable_names)
        woe = self.binning_process_.transform(
            self._binning_input(_as_frame(X), usable), metric="woe"
        )
        return woe[self.variables_]

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of default of each loan."""
        check_is_fitted(self, "logistic_")
        return self.logistic_.decision_function(self._woe(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "logistic_")
        return self.logistic_.predict_proba(self._woe(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    @property
    def _factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def _offset(self) -> float:
        return self.base_points - self._factor * math.log(self.base_odds)

    def score_points(self, X: pd.DataFrame) -> np.ndarray:
        """Points of each loan: equal to ``pd_to_score`` of its PD, higher is safer."""
        return self._offset - self._factor * self.decision_function(X)

    def _points_per_variable(self, X: pd.DataFrame) -> pd.DataFrame:
        woe = self._woe(X)
        coef = self.logistic_.coef_[0]
        n = len(self.variables_)
        share = self._offset / n - self._factor * self.logistic_.intercept_[0] / n
        return share - self._factor * woe * coef

    def reason_contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points each loan loses per raw feature against that variable's best bin.

        Larger means the feature raised the loan's PD more; a feature outside
        the scorecard contributes 0.
        """
        X = _as_frame(X)
        points = self._points_per_variable(X)
        best = self.scorecard_table().groupby("variable")["points"].max()
        lost = (best[self.variables_].to_numpy() - points).clip(lower=0.0)
        out = pd.DataFrame(0.0, index=X.index, columns=list(self.feature_names_in_))
        out[self.variables_] = lost.to_numpy()
        return out

    def binning_tables(self) -> dict[str, pd.DataFrame]:
        """optbinning's binning table of every binned variable (selected or not)."""
        check_is_fitted(self, "binning_process_")
        tables = {}
        for name in self.binning_process_.variable_names:
            table = self.binning_process_.get_binned_variable(name).binning_table
            built = table.build().reset_index(names="row")
            built["Bin"] = built["Bin"].map(_bin_label)
            tables[str(name)] = built
        return tables

    def scorecard_table(self) -> pd.DataFrame:
        """One row per bin of each selected variable: WoE and points.

        Only bins that held loans at fitting are listed; an empty special or
        missing bin scores as a WoE of 0.
        """
        check_is_fitted(self, "logistic_")
        rows = []
        n = len(self.variables_)
        share = self._offset / n - self._factor * self.logistic_.intercept_[0] / n
        for coef, name in zip(self.logistic_.coef_[0], self.variables_, strict=True):
            table = self.binning_process_.get_binned_variable(name).binning_table
            built = table.build().drop(index="Totals")
            for _, row in built.iterrows():
                woe = float(row["WoE"])
                rows.append(
                    {
                        "variable": name,
                        "bin": _bin_label(row["Bin"]),
                        "count": int(row["Count"]),
                        "event_rate": float(row["Event rate"]),
                        "woe": woe,
                        "coefficient": float(coef),
                        "points": share - self._factor * coef * woe,
                    }
                )
        table = pd.DataFrame(rows)
        return table[table["count"] > 0].reset_index(drop=True)


def _bin_label(value) -> str:
    """A bin as text: its interval, or its categories joined by commas."""
    if not isinstance(value, str) and pd.api.types.is_list_like(value):
        return ", ".join(map(str, list(value)))  # arrays of any kind, Arrow's too
    return str(value)


def _as_frame(X) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame of loans, got {type(X).__name__}")
    return X


class LGBMPD(ClassifierMixin, BaseEstimator):
    """LightGBM gradient boosting on raw loan rows.

    Missing values go to LightGBM as they are; text columns become pandas
    categories (categories fixed at fitting, unseen ones read as missing).
    When ``early_stopping_rounds`` is set, a stratified ``validation_fraction``
    of the training rows is held back and boosting stops once its log loss has
    not improved for that many rounds.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample,
    colsample_bytree, reg_lambda
        LightGBM's own hyperparameters.
    monotone : dict, optional
        Column name -> 1 (PD may only rise with the value), -1 (only fall) or 0.
    early_stopping_rounds : int, optional
        Rounds without improvement before stopping; None boosts all rounds.
    validation_fraction : float
        Share of training rows held back for early stopping.
    n_jobs : int
        LightGBM threads. 1 by default on purpose: on a shared 2-core machine
        LightGBM's default threading ran 8-10 times slower under load than a
        single thread, and grid search already runs candidates in parallel.
    random_state : int
    """

    _parameter_constraints = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "num_leaves": [Interval(Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "subsample": [Interval(Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "monotone": [dict, None],
        "early_stopping_rounds": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_jobs": [Integral],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        n_estimators: int = 1000,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        reg_lambda: float = 1.0,
        monotone: dict[str, int] | None = None,
        early_stopping_rounds: int | None = 50,
        validation_fraction: float = 0.2,
        n_jobs: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.monotone = monotone
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> LGBMPD:
        """Boost on the training rows, stopping early on the held-back share."""
        import lightgbm as lgb

        self._validate_params()
        X = _as_frame(X)
        y = np.asarray(y).astype(int)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categories_ = {
            c: sorted(map(str, X[c].dropna().unique())) for c in X if _is_text(X[c])
        }
        constraints = self._constraints(X)
        frame = self._lgbm_input(X)

        self.model_ = lgb.LGBMClassifier(
            objective="binary",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            monotone_constraints=constraints,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        if self.early_stopping_rounds is None:
            self.model_.fit(frame, y)
        else:
            fit_X, val_X, fit_y, val_y = train_test_split(
                frame,
                y,
                test_size=self.validation_fraction,
                stratify=y,
                random_state=self.random_state,
            )
            self.model_.fit(
                fit_X,
                fit_y,
                eval_X=(val_X,),
                eval_y=(val_y,),
                eval_metric="binary_logloss",
                callbacks=[
                    lgb.early_stopping(self.early_stopping_rounds, verbose=False)
                ],
            )
        self.best_iteration_ = int(self.model_.best_iteration_ or self.n_estimators)
        self.classes_ = self.model_.classes_
        return self

    def _constraints(self, X: pd.DataFrame) -> list[int] | None:
        if not self.monotone:
            return None
        unknown = [c for c in self.monotone if c not in X.columns]
        if unknown:
            raise ValueError(
                "monotone constraint on column(s) not in the data: "
                + ", ".join(unknown)
            )
        text = [c for c in self.monotone if c in self.categories_]
        if text:
            raise ValueError(
                f"monotone constraint on text column(s): {', '.join(text)}; "
                "only numeric columns can be monotone"
            )
        bad = {c: v for c, v in self.monotone.items() if v not in (-1, 0, 1)}
        if bad:
            raise ValueError(f"monotone constraints must be -1, 0 or 1, got {bad}")
        return [int(self.monotone.get(c, 0)) for c in X.columns]

    def _lgbm_input(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for c in self.feature_names_in_:
            values = X[c]
            if c in self.categories_:
                text = values.astype(object).where(values.isna(), values.astype(str))
                out[c] = pd.Categorical(text, categories=self.categories_[c])
            else:
                out[c] = values.astype("float64")
        return pd.DataFrame(out, index=X.index).set_axis(
            _lightgbm_names(self.feature_names_in_), axis=1
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._lgbm_input(_as_frame(X)))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of default (LightGBM's raw score), what sigmoid calibration fits."""
        check_is_fitted(self, "model_")
        return self.model_.predict(self._lgbm_input(_as_frame(X)), raw_score=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.model_.feature_importances_

    def reason_contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each raw feature's SHAP contribution to the loan's log-odds of default.

        From LightGBM's ``pred_contrib=True``; features map one to one to raw
        columns (categories are native), the bias term is left out.
        """
        check_is_fitted(self, "model_")
        X = _as_frame(X)
        contrib = self.model_.predict(self._lgbm_input(X), pred_contrib=True)
        return pd.DataFrame(
            np.asarray(contrib)[:, :-1],
            index=X.index,
            columns=list(self.feature_names_in_),
        )


def _lightgbm_names(names) -> list[str]:
    """Column names LightGBM accepts: it refuses the characters of JSON syntax
    (``"`` ``,`` ``:`` ``[`` ``]`` ``{`` ``}``), which become ``_`` here; a name
    that then repeats gets its position appended."""
    clean = [re.sub(r'[",:\[\]{}]', "_", str(name)) for name in names]
    repeated = {n for n in clean if clean.count(n) > 1}
    return [f"{n}_{i}" if n in repeated else n for i, n in enumerate(clean)]


def _base_has(name: str):
    def check(self) -> bool:
        return hasattr(self.estimator, name)

    return check


class CalibratedPD(ClassifierMixin, BaseEstimator):
    """Calibrate a PD model on held-out folds and anchor it to a central tendency.

    With ``method`` ``"isotonic"`` or ``"sigmoid"``, scikit-learn's
    :class:`~sklearn.calibration.CalibratedClassifierCV` (``ensemble=False``)
    fits ``estimator`` on all training rows and the calibration map on its
    out-of-fold PDs over ``cv`` stratified folds. With ``central_tendency``
    set to a long-run default rate P, every PD's log-odds are then shifted by
    one constant, solved with :func:`scipy.optimize.brentq` so that the mean
    PD over the training rows equals P; the ranking of loans is unchanged.

    Parameters
    ----------
    estimator : classifier
        The unfitted PD model (any pdflow family).
    method : {"none", "isotonic", "sigmoid"}
    cv : int
        Folds for calibration.
    central_tendency : float, optional
        Long-run default rate in (0, 1).
    random_state : int

    Attributes
    ----------
    base_ : the fitted estimator (fitted on all training rows)
    calibrated_ : CalibratedClassifierCV or None
    shift_ : float
        The log-odds shift of the central tendency (0 without one).
    """

    _parameter_constraints = {
        "estimator": "no_validation",
        "method": [StrOptions({"none", "isotonic", "sigmoid"})],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "central_tendency": [Interval(Real, 0, 1, closed="neither"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        *,
        method: str = "none",
        cv: int = 5,
        central_tendency: float | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.central_tendency = central_tendency
        self.random_state = random_state

    def fit(self, X, y) -> CalibratedPD:
        self._validate_params()
        if self.method == "none":
            self.calibrated_ = None
            self.base_ = clone(self.estimator).fit(X, y)
        else:
            folds = StratifiedKFold(
                self.cv, shuffle=True, random_state=self.random_state
            )
            self.calibrated_ = CalibratedClassifierCV(
                clone(self.estimator), method=self.method, cv=folds, ensemble=False
            ).fit(X, y)
            self.base_ = self.calibrated_.calibrated_classifiers_[0].estimator
        self.classes_ = self.base_.classes_
        if hasattr(self.base_, "feature_names_in_"):
            self.feature_names_in_ = self.base_.feature_names_in_
        self.shift_ = 0.0
        if self.central_tendency is not None:
            self.shift_ = central_tendency_shift(
                self._uncentred(X), self.central_tendency
            )
        return self

    def _uncentred(self, X) -> np.ndarray:
        model = self.calibrated_ if self.calibrated_ is not None else self.base_
        return model.predict_proba(X)[:, 1]

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "base_")
        p = self._uncentred(X)
        if self.shift_:
            p = expit(logit(np.clip(p, _EPS, 1 - _EPS)) + self.shift_)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    @available_if(_base_has("score_points"))
    def score_points(self, X) -> np.ndarray:
        """Points of the calibrated PD on the base scorecard's points scale."""
        from pdflow.ratings import pd_to_score

        base = self.base_
        return pd_to_score(
            self.predict_proba(X)[:, 1],
            pdo=base.pdo,
            base_odds=base.base_odds,
            base_points=base.base_points,
        )

    @available_if(_base_has("reason_contributions"))
    def reason_contributions(self, X) -> pd.DataFrame:
        """The base model's reasons: calibration keeps the ranking of loans."""
        return self.base_.reason_contributions(X)


def central_tendency_shift(pd_values, target: float) -> float:
    """The log-odds shift that moves the mean of ``pd_values`` to ``target``.

    Examples
    --------
    >>> round(central_tendency_shift([0.5, 0.5], 0.2), 6) == round(logit(0.2), 6)
    True
    """
    if not 0 < target < 1:
        raise ValueError(f"central tendency must lie in (0, 1), got {target}")
    z = logit(np.clip(np.asarray(pd_values, dtype=float), _EPS, 1 - _EPS))
    return float(
        brentq(lambda d: expit(z + d).mean() - target, -60.0, 60.0, xtol=1e-14)
    )
