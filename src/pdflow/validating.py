"""``pdflow validate``: the validation suite on any registered version and any data.

The version's training sample, kept with its run, is the reference population
for stability; the given data is scored as the test population. The outcome is
a run of its own, linked both ways with the model version.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import mlflow
import pandas as pd

from pdflow import registry, reports, tracking, validation
from pdflow.config import load_settings
from pdflow.data import builtin_name, check_seed, load_dataset
from pdflow.errors import ConfigError, DataError
from pdflow.metrics import evaluate
from pdflow.ratings import MasterScale
from pdflow.scoring import conform

logger = logging.getLogger(__name__)


@dataclass
class ValidateResult:
    """What ``pdflow validate --json`` prints."""

    run_id: str
    model_uri: str
    model_name: str
    model_version: int
    data_digest: str
    report_uri: str
    metrics: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def validate(
    model_uri: str,
    data: str | pd.DataFrame,
    *,
    target: str | None = None,
    positive: str | None = None,
    rows: int = 10_000,
    seed: int = 42,
    drop: list[str] | None = None,
    default_rate: float | None = None,
    threshold: float = 0.5,
    master_scale: MasterScale | None = None,
    experiment: str = tracking.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
) -> ValidateResult:
    """Run the validation suite on a registered version, as a run of its own.

    Parameters
    ----------
    model_uri : str
        ``models:/NAME/VERSION``, ``/latest``, ``/Production`` or ``@alias``.
    data, target, positive, rows, seed, drop, default_rate
        The loans to validate on, as for :func:`pdflow.train`; they need the
        target column. For a file or DataFrame, ``target`` and ``positive``
        default to those the version was trained with.
    master_scale : MasterScale, optional
        Rating grades; from ``pdflow.toml`` by default.
    """
    check_seed(seed)
    if not 0 < threshold < 1:
        raise ConfigError(
            f"--threshold must lie strictly between 0 and 1, got {threshold}"
        )
    scale = master_scale or load_settings().master_scale
    client = tracking.connect(tracking_uri, create=False)
    mv = registry.resolve_version(client, model_uri)
    trained = client.get_run(mv.run_id).data.params
    ref_target = trained["target"]
    # Built-in data knows its target; a file or frame takes the version's own.
    if target is None and builtin_name(data) is None:
        target = ref_target
        if positive is None and trained.get("positive") not in (None, "None"):
            positive = trained["positive"]
    dataset = load_dataset(
        data,
        target=target,
        positive=positive,
        rows=rows,
        seed=seed,
        drop=drop,
        default_rate=default_rate,
        features_warned=False,  # the version's own features are used, no others
    )
    model = registry.load_sklearn(model_uri)
    reference = tracking.load_frame(client, mv.run_id, tracking.TRAIN_SAMPLE_ARTIFACT)
    X_ref, y_ref = reference.drop(columns=[ref_target]), reference[ref_target]
    missing = [c for c in X_ref.columns if c not in dataset.X.columns]
    if missing:
        raise DataError(
            f"{dataset.source} lacks column(s) the model needs: {', '.join(missing)}"
        )
    # In the signature's types, so a text in a number column is named as
    # predict names it, not left for the model's imputer to trip over.
    schema = registry.input_schema(model_uri)
    X = conform(dataset.X, schema, source=dataset.source)[list(X_ref.columns)]
    overlap = _trained_on(X, X_ref)
    if overlap > 0:
        logger.warning(
            "%d of the %d loans of %s (%.0f%%) are among those version %s was "
            "trained on: its discrimination and calibration look better on them "
            "than on new loans",
            round(overlap * len(X)), len(X), dataset.source, 100 * overlap, mv.version,
        )  # fmt: skip

    checked = validation.validate(
        model, X_ref, y_ref, X, dataset.y, scale=scale, threshold=threshold, seed=seed
    )
    proba = model.predict_proba(X)[:, 1]
    metrics = {
        **evaluate(dataset.y, proba, threshold=threshold),
        **{k: v for k, v in checked.metrics.items() if k != "auc"},
        "share_of_training_loans": overlap,
    }
    return _record(client, mv, model_uri, dataset, checked, metrics, experiment)


def _trained_on(X: pd.DataFrame, X_ref: pd.DataFrame) -> float:
    """The share of the loans in ``X`` found, feature for feature, among the
    training loans kept with the run (all of them, or a sample of 50,000)."""
    seen = set(pd.util.hash_pandas_object(X_ref, index=False))
    hashes = pd.util.hash_pandas_object(X, index=False)
    return float(hashes.isin(seen).mean()) if len(X) else 0.0


def _record(client, mv, model_uri, dataset, checked, metrics, experiment):
    code = tracking.code_version_tags()
    experiment_id = tracking.ensure_experiment(client, experiment)
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"validate-{mv.name}-v{mv.version}",
        tags=tracking.process_tags(),
    ) as run:
        mlflow.set_tags(
            {
                **code,
                "pdflow.validates": f"models:/{mv.name}/{mv.version}",
                "pdflow.model_run_id": mv.run_id,
                "pdflow.data_digest": dataset.digest,
                "pdflow.data_source": dataset.source,
            }
        )
        mlflow.log_params(
            {"model_uri": model_uri, "data": dataset.source, "n_loans": len(dataset.y)}
        )
        mlflow.log_metrics(metrics)
        report = reports.render_report(
            checked,
            title=f"Validation of {mv.name} version {mv.version} on {dataset.name}",
            context={
                "run_id": run.info.run_id,
                "model_uri": f"models:/{mv.name}/{mv.version}",
                "model_run_id": mv.run_id,
                "data_source": dataset.source,
                "data_digest": dataset.digest,
                "n_loans": len(dataset.y),
                "git_commit": code.get("pdflow.git_commit", "none"),
            },
        )
        report_uri = tracking.log_validation(checked, report)
    registry.tag_version(
        client,
        mv,
        {
            "pdflow.last_validation": run.info.run_id,
            "pdflow.last_validation_report": report_uri,
        },
    )
    logger.info("validation run %s for %s", run.info.run_id, model_uri)
    return ValidateResult(
        run_id=run.info.run_id,
        model_uri=model_uri,
        model_name=mv.name,
        model_version=int(mv.version),
        data_digest=dataset.digest,
        report_uri=report_uri,
        metrics=metrics,
    )
