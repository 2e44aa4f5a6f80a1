"""Model families: scikit-learn estimators that take raw loan rows.

- ``rf``: a random forest;
- ``logreg``: an L2-regularised logistic regression on imputed, scaled numeric
  columns and one-hot encoded text columns;
- ``scorecard``: optimal WoE binning plus a logistic regression, in points
  (:class:`pdflow.estimators.WoEScorecard`);
- ``lgbm``: LightGBM with native missing values and categories
  (:class:`pdflow.estimators.LGBMPD`).

``rf`` and ``logreg`` are a :class:`~sklearn.pipeline.Pipeline` whose first
step prepares the columns (imputation, encoding) and whose last step, ``clf``,
is the classifier. ``scorecard`` and ``lgbm`` prepare the columns themselves and
are used bare, so that their ``score_points`` and ``reason_contributions`` are
at hand on the logged model. Either way the model scores loans as they come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from pdflow.errors import ConfigError
from pdflow.estimators import LGBMPD, WoEScorecard
from pdflow.ratings import DEFAULT_BASE_ODDS, DEFAULT_BASE_POINTS, DEFAULT_PDO

# Types inside a model calibrated by pdflow.estimators.CalibratedPD; every
# family trusts them, since any family can be calibrated.
_CALIBRATION_TYPES = (
    "pdflow.estimators.CalibratedPD",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.model_selection._split.StratifiedKFold",
    "scipy.interpolate._interpolate.interp1d",
)


@dataclass(frozen=True)
class Family:
    """A model family: its defaults, its tuning grid and the types it serialises."""

    name: str
    defaults: dict[str, Any]
    grid: dict[str, list[Any]]
    # Types skops must be told to trust when loading this family. Anything
    # outside this list makes logging fail rather than trust it silently.
    trusted_types: tuple[str, ...]
    # Distributions the logged model needs beyond pdflow's own core set
    # (e.g. "lightgbm"), pinned to the installed version when logged.
    requirements: tuple[str, ...] = ()
    # "skops" unless the family's objects cannot be saved that way; say why.
    serialization_format: str = "skops"


FAMILIES = {
    "rf": Family(
        name="rf",
        defaults={
            "n_estimators": 100,
            "max_depth": None,
            "min_samples_leaf": 5,
            "max_features": "sqrt",
            "n_jobs": -1,
        },
        grid={
            "n_estimators": [100, 200],
            "max_depth": [6, 12, None],
            # Leaves of one loan give PDs of exactly 0 and training PDs unlike
            # the test PDs; the gate's PSI check then refused the winner.
            "min_samples_leaf": [5, 20],
        },
        trusted_types=("numpy.dtype", "sklearn.tree._tree.Tree", *_CALIBRATION_TYPES),
    ),
    "logreg": Family(
        name="logreg",
        defaults={"C": 0.1, "max_iter": 2000},
        grid={"C": [0.01, 0.03, 0.1, 0.3, 1.0]},
        trusted_types=("numpy.dtype", *_CALIBRATION_TYPES),
    ),
    "scorecard": Family(
        name="scorecard",
        defaults={
            "min_iv": 0.02,
            "monotonic_trend": "auto_asc_desc",
            "max_n_bins": None,
            "min_bin_size": 0.05,
            "C": 0.1,
            "pdo": DEFAULT_PDO,
            "base_odds": DEFAULT_BASE_ODDS,
            "base_points": DEFAULT_BASE_POINTS,
        },
        grid={"min_iv": [0.01, 0.02, 0.05], "max_n_bins": [5, None], "C": [0.1, 1.0]},
        trusted_types=(),
        requirements=("optbinning", "ortools"),
        # skops saves optbinning's objects but its loader crashes the Python
        # process (a segmentation fault) on the pyarrow string arrays that
        # optbinning keeps under pandas 3; cloudpickle loads them faithfully.
        serialization_format="cloudpickle",
    ),
    "lgbm": Family(
        name="lgbm",
        defaults={
            "n_estimators": 1000,
            "learning_rate": 0.03,
            "num_leaves": 7,
            "min_child_samples": 100,
            "subsample": 0.8,
            "colsample_bytree": 0.5,
            "reg_lambda": 1.0,
            "monotone": None,
            "early_stopping_rounds": 50,
            "validation_fraction": 0.2,
            # One thread on purpose: on a shared 2-core machine LightGBM's
            # default threading ran 8-10x slower under load than one thread.
            "n_jobs": 1,
        },
        grid={
            "num_leaves": [7, 15, 31],
            "learning_rate": [0.03, 0.1],
            "min_child_samples": [20, 100],
        },
        trusted_types=(
            "collections.OrderedDict",
            "lightgbm.basic.Booster",
            "lightgbm.sklearn.LGBMClassifier",
            "pdflow.estimators.LGBMPD",
            *_CALIBRATION_TYPES,
        ),
        requirements=("lightgbm",),
    ),
}


def parse_monotone(text: str | None) -> dict[str, int] | None:
    """``"col=1,col2=-1"`` as ``{"col": 1, "col2": -1}``; None stays None.

    Examples
    --------
    >>> parse_monotone("debt_to_income=1, annual_income=-1")
    {'debt_to_income': 1, 'annual_income': -1}
    """
    if text is None:
        return None
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        column, sep, value = part.rpartition("=")
        if not sep or not column.strip() or value.strip() not in ("1", "-1", "0"):
            raise ConfigError(
                f"--monotone expects COLUMN=1, COLUMN=-1 or COLUMN=0 separated by "
                f"commas, got '{part}'"
            )
        if column.strip() in out:
            raise ConfigError(f"--monotone names column '{column.strip()}' twice")
        out[column.strip()] = int(value)
    return out


def get_family(name: str) -> Family:
    """Look up a model family by its ``--model`` name."""
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise ConfigError(f"unknown model '{name}', expected one of: {known}") from None


def resolve_params(family: Family, params: dict[str, Any] | None) -> dict[str, Any]:
    """The family's defaults updated with ``params``; unknown names are refused."""
    params = {k: v for k, v in (params or {}).items() if v is not None}
    allowed = set(_classifier(family, {}).get_params())
    unknown = sorted(set(params) - allowed)
    if unknown:
        # Options of the command line that belong to other families say whose.
        owners = []
        for name in unknown:
            whose = [f.name for f in FAMILIES.values() if name in f.defaults]
            if whose:
                owners.append(f"{name} is for --model {', '.join(whose)}")
        raise ConfigError(
            f"unknown hyperparameter(s) for model '{family.name}': {', '.join(unknown)}"
            + (f" ({'; '.join(owners)})" if owners else "")
        )
    merged = {**family.defaults, **params}
    _check_values(family, {k: [v] for k, v in merged.items()})
    return merged


def build_pipeline(
    family: Family,
    params: dict[str, Any],
    *,
    numeric: list[str],
    categorical: list[str],
    seed: int,
) -> BaseEstimator:
    """An unfitted model of the family that takes raw loan rows.

    A pipeline of column preparation and the classifier (step ``clf``) for
    ``rf`` and ``logreg``; the family's own estimator for ``scorecard`` and
    ``lgbm``, which prepare their columns themselves.
    """
    clf = _classifier(family, params, seed)
    if family.name in ("scorecard", "lgbm"):
        return clf
    if family.name == "logreg":
        return Pipeline(
            [("prepare", _scaled_one_hot(numeric, categorical)), ("clf", clf)]
        )
    prepare = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median", add_indicator=True), numeric),
            (
                "cat",
                Pipeline(
                    [
                        *_missing_text_steps(),
                        (
                            "encode",
                            OrdinalEncoder(
                                handle_unknown="use_encoded_value", unknown_value=-1
                            ),
                        ),
                    ]
                ),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("prepare", prepare), ("clf", clf)])


def _missing_text_steps() -> list[tuple[str, SimpleImputer]]:
    """Missing text as the level "missing", whether it comes as NaN or None.

    pandas reads a missing text cell as NaN from CSV but often as None from
    Parquet or an object column, and scikit-learn's encoders take None and NaN
    for different categories: a model fitted on one and scored on the other
    gave other PDs. One imputer for each spelling makes them the same level.
    """
    return [
        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
        (
            "impute_none",
            SimpleImputer(
                missing_values=None, strategy="constant", fill_value="missing"
            ),
        ),
    ]


def _scaled_one_hot(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """Median-imputed, standardised numbers and one-hot text, missing as a level."""
    numbers = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]
    )
    text = Pipeline(
        [
            *_missing_text_steps(),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=10,
                    sparse_output=False,
                ),
            ),
        ]
    )
    return ColumnTransformer(
        [("num", numbers, numeric), ("cat", text, categorical)],
        verbose_feature_names_out=False,
    )


def param_prefix(model: BaseEstimator) -> str:
    """How grid-search names the classifier's hyperparameters in ``model``."""
    return "clf__" if isinstance(model, Pipeline) else ""


def classifier_of(model: BaseEstimator) -> BaseEstimator:
    """The classifier inside a family's model (its ``clf`` step, or itself)."""
    return model.named_steps["clf"] if isinstance(model, Pipeline) else model


def _classifier(family: Family, params: dict[str, Any], seed: int = 0):
    if family.name == "rf":
        return RandomForestClassifier(random_state=seed, **params)
    if family.name == "logreg":
        return LogisticRegression(random_state=seed, **params)
    if family.name == "scorecard":
        return WoEScorecard(**params)
    if family.name == "lgbm":
        return LGBMPD(random_state=seed, **params)
    raise ConfigError(f"unknown model '{family.name}'")  # pragma: no cover


def validate_grid(family: Family, grid: dict[str, Any]) -> dict[str, list[Any]]:
    """Check a tuning grid: known hyperparameters, each with a non-empty list."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("--grid must be a non-empty JSON object of lists")
    allowed = set(_classifier(family, {}).get_params())
    for key, values in grid.items():
        if key not in allowed:
            raise ConfigError(
                f"--grid names '{key}', which is not a hyperparameter of model "
                f"'{family.name}'"
            )
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"--grid entry '{key}' must be a non-empty list, got {values!r}"
            )
    _check_values(family, grid, where="--grid ")
    return grid


def _check_values(family: Family, grid: dict[str, list[Any]], where: str = "") -> None:
    """Let scikit-learn's own parameter rules judge every value before any fit."""
    for key, values in grid.items():
        for value in values:
            clf = _classifier(family, {key: value})
            try:
                clf._validate_params()
            except (InvalidParameterError, ValueError, TypeError) as exc:
                raise ConfigError(
                    f"{where}invalid value {value!r} for '{key}' of model "
                    f"'{family.name}': {str(exc).splitlines()[0]}"
                ) from None
