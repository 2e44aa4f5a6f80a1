"""Train and tune PD models, and record everything about them in MLflow.

:func:`train` and :func:`tune` are the public entry points behind
``pdflow train`` and ``pdflow tune``. Every input is checked before anything is
written, so a rejected call leaves no run and no model version behind.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    StratifiedKFold,
    train_test_split,
)
from sklearn.pipeline import Pipeline

from pdflow import flavor, plots, promotion, registry, reports, tracking, validation
from pdflow.config import GateConfig, load_settings
from pdflow.data import (
    LOANBOOK_DEFAULT_RATE,
    Dataset,
    builtin_name,
    check_seed,
    load_dataset,
)
from pdflow.errors import ConfigError, DataError, PromotionBlocked, first_line
from pdflow.estimators import CalibratedPD
from pdflow.metrics import evaluate
from pdflow.models import (
    Family,
    build_pipeline,
    classifier_of,
    get_family,
    param_prefix,
    resolve_params,
    validate_grid,
)
from pdflow.ratings import (
    DEFAULT_BASE_ODDS,
    DEFAULT_BASE_POINTS,
    DEFAULT_PDO,
    MasterScale,
)
from pdflow.scoring import OUTPUT_COLUMNS, PDScorer

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "pd_model_v1"
# What a logged model needs to load and score; pinned to what trained it.
_MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas")
CALIBRATION_METHODS = ("none", "isotonic", "sigmoid")
# Training loans kept with a run as the reference population of validation.
TRAIN_SAMPLE_ROWS = 50_000
# The smallest test split the validation suite can judge: its ten PD groups.
MIN_TEST_LOANS = 10


@dataclass
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


@dataclass
class TrainResult:
    """What a training or tuning run produced, as ``pdflow train --json`` prints it."""

    run_id: str
    experiment: str
    model_name: str
    model_version: int
    model_uri: str
    metrics: dict[str, float]
    params: dict[str, Any]
    data_digest: str
    promoted: bool = False
    promotion_message: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    best_params: dict[str, Any] | None = None
    best_cv_roc_auc: float | None = None
    n_candidates: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.best_params is None:
            for key in ("best_params", "best_cv_roc_auc", "n_candidates"):
                out.pop(key)
        return out


@dataclass
class _Options:
    data: str | pd.DataFrame
    target: str | None
    positive: str | None
    rows: int
    seed: int
    drop: list[str] | None
    test_size: float
    threshold: float
    experiment: str
    model_name: str
    tracking_uri: str | None
    promote: bool
    default_rate: float | None = None
    calibrate: str = "none"
    central_tendency: float | None = None
    gate: GateConfig = field(default_factory=GateConfig)
    scale: MasterScale = field(default_factory=MasterScale)

    @classmethod
    def from_arguments(cls, args: dict[str, Any]) -> _Options:
        """The options of a train or tune call, by name; the gate and master
        scale come from the call, else from pdflow.toml, else the defaults."""
        settings = load_settings(args["config"])
        names = {f.name for f in fields(cls)} - {"gate", "scale"}
        return cls(
            **{name: args[name] for name in names},
            gate=settings.gate if args["gate"] is None else args["gate"],
            scale=(
                settings.master_scale
                if args["master_scale"] is None
                else args["master_scale"]
            ),
        )


def train(
    data: str | pd.DataFrame = "german",
    *,
    target: str | None = None,
    positive: str | None = None,
    rows: int = 10_000,
    seed: int = 42,
    drop: list[str] | None = None,
    model: str = "rf",
    params: dict[str, Any] | None = None,
    test_size: float = 0.25,
    threshold: float = 0.5,
    experiment: str = tracking.DEFAULT_EXPERIMENT,
    model_name: str = DEFAULT_MODEL_NAME,
    tracking_uri: str | None = None,
    promote: bool = False,
    default_rate: float | None = None,
    calibrate: str = "none",
    central_tendency: float | None = None,
    gate: GateConfig | None = None,
    master_scale: MasterScale | None = None,
    config: str | None = None,
) -> TrainResult:
    """Train a PD model, evaluate it on a held-out split, log and register it.

    Parameters
    ----------
    data : str or DataFrame
        ``"german"``, ``"synthetic"``, ``"loanbook"``, the path of a CSV or
        Parquet file, or a DataFrame of loans.
    target, positive, rows, seed, drop, default_rate
        See :func:`pdflow.data.load_dataset`; ``seed`` also seeds the split
        and the model.
    model : str
        Model family: ``"rf"``, ``"logreg"``, ``"scorecard"`` or ``"lgbm"``.
    params : dict, optional
        Hyperparameters overriding the family's defaults.
    test_size : float
        Share of loans held out for evaluation, in (0, 1).
    threshold : float
        PD at which a loan counts as a predicted default for accuracy,
        precision, recall and F1.
    experiment, model_name, tracking_uri
        Where the run and the model version are recorded.
    promote : bool
        Promote the new version to Production when there is none yet or when
        it beats the Production version's AUC on the same test data.
    calibrate : {"none", "isotonic", "sigmoid"}
        Calibrate the PDs on held-out folds of the training split.
    central_tendency : float, optional
        Long-run default rate in (0, 1): the PDs' log-odds are shifted so that
        their mean over the training split equals it.
    gate : GateConfig, optional
        Thresholds of the promotion gate; from ``pdflow.toml`` by default.
    master_scale : MasterScale, optional
        Rating grades of the validation suite; from ``pdflow.toml`` by default.
    config : str, optional
        Path of a settings file other than ``./pdflow.toml``.

    Returns
    -------
    TrainResult
    """
    opts = _Options.from_arguments(locals())
    family = get_family(model)
    params = resolve_params(family, params)
    _check_calibration(opts)
    dataset, split = _prepare(opts)
    check_family_columns(family, params, dataset)

    started = time.perf_counter()
    pipe = build_pipeline(
        family,
        params,
        numeric=dataset.numeric,
        categorical=dataset.categorical,
        seed=seed,
    )
    pipe = _calibrated(pipe, opts)
    pipe.fit(split.X_train, split.y_train)
    fit_seconds = time.perf_counter() - started
    logger.info(
        "fitted %s on %d loans in %.2fs", model, len(split.y_train), fit_seconds
    )
    return _record(opts, family, dataset, split, pipe, params, fit_seconds)


def tune(
    data: str | pd.DataFrame = "german",
    *,
    target: str | None = None,
    positive: str | None = None,
    rows: int = 10_000,
    seed: int = 42,
    drop: list[str] | None = None,
    model: str = "rf",
    params: dict[str, Any] | None = None,
    grid: dict[str, list[Any]] | None = None,
    cv: int = 5,
    test_size: float = 0.25,
    threshold: float = 0.5,
    experiment: str = tracking.DEFAULT_EXPERIMENT,
    model_name: str = DEFAULT_MODEL_NAME,
    tracking_uri: str | None = None,
    promote: bool = False,
    default_rate: float | None = None,
    calibrate: str = "none",
    central_tendency: float | None = None,
    gate: GateConfig | None = None,
    master_scale: MasterScale | None = None,
    config: str | None = None,
) -> TrainResult:
    """Grid-search hyperparameters by cross-validated ROC AUC, then log the best.

    A parent run holds the best parameters, the CV results and the refitted
    best model (evaluated on the test split, logged and registered as by
    :func:`train`); each candidate gets a child run with its parameters and
    its CV mean and standard deviation.

    Parameters
    ----------
    params : dict, optional
        Hyperparameters held fixed over the grid (e.g. ``pdo``, ``monotone``).
    grid : dict of lists, optional
        Hyperparameter names of the classifier and the values to try;
        defaults to the family's grid.
    cv : int
        Number of stratified folds, at least 2.

    Other parameters are as for :func:`train`. With ``calibrate`` or
    ``central_tendency`` the search compares uncalibrated candidates and the
    best one is then calibrated on the training split.
    """
    opts = _Options.from_arguments(locals())
    family = get_family(model)
    fixed = resolve_params(family, params)
    grid = validate_grid(family, grid if grid is not None else family.grid)
    _check_calibration(opts)
    if not isinstance(cv, int) or cv < 2:
        raise ConfigError(f"--cv must be a whole number of folds >= 2, got {cv!r}")
    dataset, split = _prepare(opts)
    check_family_columns(family, fixed, dataset)
    smallest = int(split.y_train.value_counts().min())
    if cv > smallest:
        raise DataError(
            f"--cv {cv} needs at least {cv} loans of each class in the training split; "
            f"the smaller class has {smallest}"
        )

    # Candidates run in parallel, so each forest uses one core.
    base_params = resolve_params(
        family, {**fixed, **({"n_jobs": 1} if "n_jobs" in family.defaults else {})}
    )
    pipe = build_pipeline(
        family,
        base_params,
        numeric=dataset.numeric,
        categorical=dataset.categorical,
        seed=seed,
    )
    prefix = param_prefix(pipe)
    search = GridSearchCV(
        pipe,
        {f"{prefix}{k}": v for k, v in grid.items()},
        scoring="roc_auc",
        cv=StratifiedKFold(cv, shuffle=True, random_state=seed),
        n_jobs=-1,
        refit=True,
    )
    started = time.perf_counter()
    _search(search, split)
    final = search.best_estimator_
    if _calibrating(opts):
        final = _calibrated(final, opts).fit(split.X_train, split.y_train)
    fit_seconds = time.perf_counter() - started
    best = {k.removeprefix(prefix): v for k, v in search.best_params_.items()}
    logger.info(
        "searched %d candidates in %.2fs; best %s",
        len(search.cv_results_["params"]),
        fit_seconds,
        best,
    )

    def log_search(parent_id: str, experiment_id: str, client) -> None:
        _log_candidates(client, experiment_id, parent_id, search)
        mlflow.log_params({"cv": cv, "grid": json.dumps(grid, default=str)})
        mlflow.log_metric("best_cv_roc_auc", float(search.best_score_))
        table = pd.DataFrame(search.cv_results_).drop(columns=["params"])
        mlflow.log_text(table.to_csv(index=False), "tuning/cv_results.csv")

    result = _record(
        opts,
        family,
        dataset,
        split,
        final,
        {**base_params, **best},
        fit_seconds,
        extra=log_search,
        run_name=f"tune-{family.name}",
    )
    result.best_params = best
    result.best_cv_roc_auc = float(search.best_score_)
    result.n_candidates = len(search.cv_results_["params"])
    return result


def _search(search: GridSearchCV, split: Split) -> None:
    """Fit the grid search; failed fits are one warning, all failing an error.

    scikit-learn reports a candidate whose fit raised with the whole traceback
    and, when every fit fails, with all of them; pdflow says how many failed
    and the first reason, in one line.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitFailedWarning)
        try:
            search.fit(split.X_train, split.y_train)
        except ValueError as exc:
            if "fits failed" not in str(exc):
                raise
            n_fits = len(ParameterGrid(search.param_grid)) * search.cv.get_n_splits()
            raise ConfigError(
                f"every one of the {n_fits} fits of the grid failed: "
                f"{_fit_failure(str(exc))}"
            ) from None
    failures = [w for w in caught if issubclass(w.category, FitFailedWarning)]
    if failures:
        scores = search.cv_results_["mean_test_score"]
        logger.warning(
            "%d of %d candidates failed to fit and are ranked last: %s",
            int(np.isnan(scores).sum()),
            len(scores),
            _fit_failure(str(failures[0].message)),
        )
    for w in caught:
        said = failures and "test scores are non-finite" in str(w.message)
        if not issubclass(w.category, FitFailedWarning) and not said:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _fit_failure(text: str) -> str:
    """The first 'SomeError: why' line of scikit-learn's report of failed fits."""
    for line in text.splitlines():
        found = re.match(r"\s*(\w+(?:Error|Exception)): (.+)", line)
        if found:
            return found.group(2).strip()
    return first_line(text)


def _prepare(opts: _Options) -> tuple[Dataset, Split]:
    """Every check that needs no store: options, data and the split."""
    if not (isinstance(opts.test_size, float | int) and 0 < opts.test_size < 1):
        raise ConfigError(
            f"--test-size must lie strictly between 0 and 1, got {opts.test_size}"
        )
    if not 0 < opts.threshold < 1:
        raise ConfigError(
            f"--threshold must lie strictly between 0 and 1, got {opts.threshold}"
        )
    if not opts.experiment.strip():
        raise ConfigError("--experiment must not be empty")
    if not opts.model_name.strip():
        raise ConfigError("--model-name must not be empty")
    check_seed(opts.seed)
    tracking.preload()
    dataset = load_dataset(
        opts.data,
        target=opts.target,
        positive=opts.positive,
        rows=opts.rows,
        seed=opts.seed,
        drop=opts.drop,
        default_rate=opts.default_rate,
    )
    return dataset, split_dataset(dataset, opts.test_size, seed=opts.seed)


def _check_calibration(opts: _Options) -> None:
    if opts.calibrate not in CALIBRATION_METHODS:
        raise ConfigError(
            f"--calibrate must be one of {', '.join(CALIBRATION_METHODS)}, "
            f"got '{opts.calibrate}'"
        )
    p = opts.central_tendency
    if p is not None and not (isinstance(p, float | int) and 0 < p < 1):
        raise ConfigError(
            f"--central-tendency must be a default rate strictly between 0 and 1, "
            f"got {p}"
        )


def _calibrating(opts: _Options) -> bool:
    return opts.calibrate != "none" or opts.central_tendency is not None


def _calibrated(model, opts: _Options):
    """``model`` wrapped in :class:`CalibratedPD` when calibration is asked for."""
    if not _calibrating(opts):
        return model
    return CalibratedPD(
        model,
        method=opts.calibrate,
        central_tendency=opts.central_tendency,
        random_state=opts.seed,
    )


def check_family_columns(family: Family, params: dict[str, Any], dataset) -> None:
    """Refuse hyperparameters that name columns the data does not have."""
    monotone = params.get("monotone") or {}
    unknown = [c for c in monotone if c not in dataset.X.columns]
    if unknown:
        shown = ", ".join(map(str, dataset.X.columns[:8]))
        raise ConfigError(
            f"--monotone names column(s) not among the features of "
            f"{dataset.source}: {', '.join(unknown)} (features: {shown} ...)"
        )
    text = [c for c in monotone if c in dataset.categorical]
    if text:
        raise ConfigError(
            f"--monotone names text column(s) {', '.join(text)}; only numeric "
            "columns can be constrained to be monotone"
        )


def split_dataset(dataset: Dataset, test_size: float, *, seed: int) -> Split:
    """A stratified train/test split with both classes on each side."""
    n = len(dataset.y)
    counts = dataset.y.value_counts()
    n_test = math.ceil(test_size * n)
    smallest = int(counts.min())
    if smallest * test_size < 1 or smallest * (1 - test_size) < 1 or n - n_test < 2:
        raise DataError(
            f"too few rows for a stratified split: {n} rows, {smallest} in the smaller "
            f"class; with --test-size {test_size} each side needs loans of both classes"
        )
    try:
        parts = train_test_split(
            dataset.X,
            dataset.y,
            test_size=test_size,
            stratify=dataset.y,
            random_state=seed,
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split {n} rows with --test-size {test_size}: {exc}"
        ) from None
    split = Split(*parts)
    if split.y_train.nunique() < 2 or split.y_test.nunique() < 2:
        raise DataError(
            f"too few rows ({n}) for both classes on each side of the split"
        )
    fewest = int(split.y_test.value_counts().min())
    if len(split.y_test) < MIN_TEST_LOANS or fewest < 2:
        raise DataError(
            f"too few test loans for the validation suite: {len(split.y_test)}, "
            f"{fewest} in the smaller class; it needs {MIN_TEST_LOANS} (the "
            "Hosmer-Lemeshow test's PD groups) and 2 of each class (the AUC's "
            "interval): give more rows or a larger --test-size"
        )
    return split


def _record(
    opts: _Options,
    family: Family,
    dataset: Dataset,
    split: Split,
    pipe: Pipeline,
    params: dict[str, Any],
    fit_seconds: float,
    *,
    extra=None,
    run_name: str | None = None,
) -> TrainResult:
    """Evaluate, log the run, register the model and promote it if asked."""
    # A forest scoring on several threads adds its trees' votes in whatever
    # order the threads finish, so PDs can differ in the last bit from call
    # to call. The logged model scores on one thread: the same loan always
    # gets the same PD, at training time and after loading.
    clf = classifier_of(pipe.base_ if isinstance(pipe, CalibratedPD) else pipe)
    if "n_jobs" in clf.get_params():
        clf.set_params(n_jobs=1)
    proba = pipe.predict_proba(split.X_test)[:, 1]
    metrics = evaluate(split.y_test, proba, threshold=opts.threshold)
    metrics.update(_oracle_metrics(dataset, split, proba))
    # The validation suite runs on a second thread while this one logs the run
    # and then draws every figure: scoring releases the GIL, so the two overlap
    # on two cores. Only this thread touches matplotlib.
    with ThreadPoolExecutor(1, thread_name_prefix="pdflow-validation") as pool:
        suite = pool.submit(_validate, pipe, split, opts, proba)
        started = time.perf_counter()
        client = tracking.connect(opts.tracking_uri)
        experiment_id = tracking.ensure_experiment(client, opts.experiment)
        logged_params = _run_params(opts, family, dataset, split, params)
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags=tracking.process_tags(),
        ) as run:
            code = tracking.code_version_tags()
            mlflow.set_tags(_run_tags(dataset, family, code))
            mlflow.log_params(logged_params)
            _log_inputs(dataset, split)
            tracking.log_json(_feature_info(dataset, opts), "features.json")
            _log_scorecard(pipe)
            _log_splits(dataset, split)
            if extra is not None:
                extra(run.info.run_id, experiment_id, client)
            info = _log_model(pipe, family, params, split, opts)

            figures = plots.all_figures(split.y_test, proba, threshold=opts.threshold)
            tracking.log_files({p: plots.png_bytes(f) for p, f in figures.items()})
            checked = suite.result()
            validation.draw_figures(checked, split.y_test, proba)
            checked.figures = {
                p: plots.png_bytes(f) for p, f in checked.figures.items()
            }
            metrics.update({k: v for k, v in checked.metrics.items() if k != "auc"})
            mlflow.log_metrics({**metrics, "fit_seconds": fit_seconds})
            tracking.log_json(metrics, "metrics.json")
            report = reports.render_report(
                checked,
                title=f"{opts.model_name}: {family.name} on {dataset.name}",
                context={
                    "run_id": run.info.run_id,
                    "model_name": opts.model_name,
                    "model_family": family.name,
                    "data_source": dataset.source,
                    "data_digest": dataset.digest,
                    "n_train": len(split.y_train),
                    "n_test": len(split.y_test),
                    "git_commit": code.get("pdflow.git_commit", "none"),
                },
            )
            report_uri = tracking.log_validation(checked, report)
    version = registry.register(
        client,
        info.model_uri,
        opts.model_name,
        run_id=run.info.run_id,
        model_id=info.model_id,
        tags={
            **_version_tags(run.info.run_id, dataset, family, metrics),
            "pdflow.validation_report": report_uri,
        },
        description=(
            f"{family.name} on {dataset.source}, test AUC {metrics['roc_auc']:.4f}"
        ),
    )
    mlflow_seconds = time.perf_counter() - started

    result = TrainResult(
        run_id=run.info.run_id,
        experiment=opts.experiment,
        model_name=opts.model_name,
        model_version=int(version.version),
        model_uri=f"models:/{opts.model_name}/{version.version}",
        metrics=metrics,
        params=logged_params,
        data_digest=dataset.digest,
        timings={
            "fit_seconds": round(fit_seconds, 3),
            "mlflow_seconds": round(mlflow_seconds, 3),
        },
    )
    if opts.promote:
        _promote_if_better(client, result, split, opts.gate)
    return result


def _validate(pipe, split: Split, opts: _Options, proba) -> validation.ValidationResult:
    """The validation suite's numbers and tables; no figure (see _record)."""
    return validation.validate(
        pipe,
        split.X_train,
        split.y_train,
        split.X_test,
        split.y_test,
        scale=opts.scale,
        threshold=opts.threshold,
        seed=opts.seed,
        draw=False,
        p_test=proba,
    )


def _log_model(pipe, family: Family, params, split: Split, opts: _Options):
    """Log the model in pdflow's flavor, with everything it needs to score."""
    return flavor.log_model(
        pipe,
        settings=PDScorer.settings_for(
            split.X_train, scale=opts.scale, scaling=_scaling(params)
        ),
        signature=_signature(split.X_train),
        input_example=split.X_train.head(5),
        pip_requirements=_pip_requirements(family),
        serialization_format=family.serialization_format,
        skops_trusted_types=(
            list(family.trusted_types)
            if family.serialization_format == "skops"
            else None
        ),
    )


def _promote_if_better(client, result: TrainResult, split: Split, gate) -> None:
    """Promote through the gate: first version, or one that beats the champion."""
    name, version = result.model_name, result.model_version
    evidence = promotion.Evidence(
        X_test=split.X_test,
        y_test=split.y_test,
        auc=result.metrics["roc_auc"],
        hl_pvalue=result.metrics.get("hl_pvalue"),
        psi=result.metrics.get("psi_score"),
    )
    try:
        done = promotion.promote(
            client,
            name,
            version,
            stage="Production",
            gate_config=gate,
            evidence=evidence,
        )
    except PromotionBlocked as exc:
        result.promotion_message = str(exc)
        return
    result.promoted = True
    result.promotion_message = (
        f"promoted version {version} to Production: {done.reason}"
    )


def _run_params(opts, family, dataset, split, params) -> dict[str, Any]:
    out = {f"model.{k}": v for k, v in params.items()}
    out.update(
        {
            "model": family.name,
            "data": opts.data if isinstance(opts.data, str) else dataset.source,
            "target": dataset.target,
            "positive": dataset.positive,
            "seed": opts.seed,
            "test_size": opts.test_size,
            "threshold": opts.threshold,
            "n_train": len(split.y_train),
            "n_test": len(split.y_test),
            "n_features": dataset.X.shape[1],
            "calibrate": opts.calibrate,
        }
    )
    if opts.central_tendency is not None:
        out["central_tendency"] = opts.central_tendency
    builtin = builtin_name(opts.data)
    if builtin in ("synthetic", "loanbook"):
        out["rows"] = opts.rows
    if builtin == "loanbook":
        out["default_rate"] = (
            LOANBOOK_DEFAULT_RATE if opts.default_rate is None else opts.default_rate
        )
    if opts.drop:
        out["drop"] = ",".join(opts.drop)
    return out


def _run_tags(dataset: Dataset, family: Family, code: dict) -> dict[str, str]:
    return {
        **code,
        "pdflow.data_digest": dataset.digest,
        "pdflow.data_source": dataset.source,
        "pdflow.model_family": family.name,
    }


def _version_tags(run_id, dataset, family, metrics) -> dict[str, str]:
    tags = {
        "pdflow.run_id": run_id,
        "pdflow.data_digest": dataset.digest,
        "pdflow.data_source": dataset.source,
        "pdflow.model_family": family.name,
    }
    tags.update({m: f"{metrics[m]:.6f}" for m in registry.KEY_METRICS})
    return tags


def _log_inputs(dataset: Dataset, split: Split) -> None:
    """Log the training and test rows as MLflow dataset inputs of the run."""
    # The column types are known already; MLflow would otherwise infer them
    # value by value over every row, which costs seconds on large tables.
    schema = Schema(
        [*_signature(split.X_train).inputs.inputs, ColSpec("long", dataset.target)]
    )
    for context, X, y in (
        ("training", split.X_train, split.y_train),
        ("testing", split.X_test, split.y_test),
    ):
        frame = X.assign(**{dataset.target: y.to_numpy()})
        logged = mlflow.data.from_pandas(
            frame, targets=dataset.target, name=f"{dataset.name}-{context}"
        )
        logged.__dict__["schema"] = schema  # fills MLflow's cached_property
        mlflow.log_input(
            logged, context=context, tags={"pdflow.data_digest": dataset.digest}
        )


def _log_splits(dataset: Dataset, split: Split) -> None:
    """Keep the test loans and a sample of the training loans with the run.

    The promotion gate scores champion and challenger on these test loans;
    ``pdflow validate`` compares new data with the training sample.
    """
    target = dataset.target
    test = split.X_test.assign(**{target: split.y_test.to_numpy()})
    tracking.log_frame(test, tracking.TEST_SPLIT_ARTIFACT)
    train = split.X_train.assign(**{target: split.y_train.to_numpy()})
    if len(train) > TRAIN_SAMPLE_ROWS:
        train = train.sample(TRAIN_SAMPLE_ROWS, random_state=0)
    tracking.log_frame(train, tracking.TRAIN_SAMPLE_ARTIFACT)


def _feature_info(dataset: Dataset, opts: _Options) -> dict[str, Any]:
    return {
        "target": dataset.target,
        "positive": dataset.positive,
        "numeric": dataset.numeric,
        "categorical": dataset.categorical,
        "dropped": dataset.dropped,
        "data_source": dataset.source,
        "data_digest": dataset.digest,
    }


def _signature(X: pd.DataFrame) -> ModelSignature:
    """Inputs as the pipeline expects them (doubles and strings, missing allowed);
    outputs as the pyfunc answers: the PD first, then grade, score and reasons."""
    columns = [
        ColSpec("double" if pd.api.types.is_float_dtype(X[c]) else "string", c)
        for c in X
    ]
    outputs = [
        ColSpec("double" if name in ("pd", "score") else "string", name)
        for name in OUTPUT_COLUMNS
    ]
    # predict(df, params={"reasons": False}) skips the reasons, for speed.
    params = ParamSchema([ParamSpec("reasons", "boolean", True)])
    return ModelSignature(
        inputs=Schema(columns), outputs=Schema(outputs), params=params
    )


def _scaling(params: dict[str, Any]) -> dict[str, float]:
    """The points scale of a model: the scorecard's own, else pdflow's default."""
    defaults = {
        "pdo": DEFAULT_PDO,
        "base_odds": DEFAULT_BASE_ODDS,
        "base_points": DEFAULT_BASE_POINTS,
    }
    return {k: float(params.get(k) or v) for k, v in defaults.items()}


def _pip_requirements(family: Family | None = None) -> list[str]:
    """Pinned distributions the logged model needs, the family's extras included."""
    names = list(_MODEL_REQUIREMENTS)
    if family is not None:
        names += [n for n in family.requirements if n not in names]
        if family.serialization_format == "cloudpickle":
            names.append("cloudpickle")
    return [f"{name}=={metadata.version(name)}" for name in names]


def _oracle_metrics(dataset: Dataset, split: Split, proba) -> dict[str, float]:
    """With a known true PD: its AUC on the test split (the ceiling) and the gap."""
    if dataset.true_pd is None:
        return {}
    true_pd = dataset.true_pd.loc[split.X_test.index].to_numpy()
    return {
        "oracle_auc": float(roc_auc_score(split.y_test, true_pd)),
        "true_pd_mae": float(np.abs(np.asarray(proba) - true_pd).mean()),
    }


def _log_scorecard(model) -> None:
    """A scorecard's points table, binning tables and dropped columns."""
    card = model.base_ if isinstance(model, CalibratedPD) else model
    if not hasattr(card, "scorecard_table"):
        return
    mlflow.log_text(
        card.scorecard_table().to_csv(index=False), "scorecard/scorecard_table.csv"
    )
    for name, table in card.binning_tables().items():
        mlflow.log_text(table.to_csv(index=False), f"scorecard/binning/{name}.csv")
    dropped = [{"column": c, "reason": why} for c, why in card.dropped_.items()]
    tracking.log_json(
        {
            "dropped": dropped,
            "below_min_iv": card.below_iv_,
            "variables": card.variables_,
        },
        "scorecard/variables.json",
    )
    mlflow.log_param("scorecard.dropped", ",".join(card.dropped_) or "-")


def _log_candidates(client, experiment_id: str, parent_id: str, search) -> None:
    """One child run per grid candidate with its CV mean and standard deviation."""
    results = search.cv_results_
    now = int(time.time() * 1000)
    for i, candidate in enumerate(results["params"]):
        child = client.create_run(
            experiment_id,
            run_name=f"candidate-{i + 1}",
            tags={"mlflow.parentRunId": parent_id},
        )
        params = [Param(k.removeprefix("clf__"), str(v)) for k, v in candidate.items()]
        metrics = [
            Metric("cv_roc_auc_mean", float(results["mean_test_score"][i]), now, 0),
            Metric("cv_roc_auc_std", float(results["std_test_score"][i]), now, 0),
            Metric("cv_rank", float(results["rank_test_score"][i]), now, 0),
        ]
        client.log_batch(child.info.run_id, metrics=metrics, params=params)
        client.set_terminated(child.info.run_id)
