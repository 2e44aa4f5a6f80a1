"""Model families: scikit-learn pipelines that take raw loan rows.

Each family is a :class:`~sklearn.pipeline.Pipeline` whose first step prepares
the columns (imputation, encoding) and whose last step, ``clf``, is the
classifier, so the logged model scores loans exactly as they come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils._param_validation import InvalidParameterError

from pdflow.errors import ConfigError


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
            "min_samples_leaf": [1, 10],
        },
        trusted_types=("numpy.dtype", "sklearn.tree._tree.Tree"),
    ),
}


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
        raise ConfigError(
            f"unknown hyperparameter(s) for model '{family.name}': {', '.join(unknown)}"
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
) -> Pipeline:
    """An unfitted pipeline of column preparation and the family's classifier."""
    prepare = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median", add_indicator=True), numeric),
            (
                "cat",
                Pipeline(
                    [
                        (
                            "impute",
                            SimpleImputer(strategy="constant", fill_value="missing"),
                        ),
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
    return Pipeline([("prepare", prepare), ("clf", _classifier(family, params, seed))])


def _classifier(family: Family, params: dict[str, Any], seed: int = 0):
    if family.name == "rf":
        return RandomForestClassifier(random_state=seed, **params)
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
