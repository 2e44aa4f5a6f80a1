"""``pdflow monitor``: has the population a registered model scores drifted?

The version's training sample, kept with its run, is the reference
population; the loans in the given file are the new one. Both are scored with
the registered model, and the PSI of the PD and the CSI of every feature say
how far the new loans have moved. No default flag is needed, so a book can be
watched long before its outcomes are known. The outcome is a run of its own,
linked both ways with the model version.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from pdflow import registry, tracking
from pdflow.data import file_digest, read_table
from pdflow.errors import ConfigError, DataError
from pdflow.scoring import check_rows, describe_bad_rows
from pdflow.stability import PSI_BANDS, csi_table, psi_band, psi_table

logger = logging.getLogger(__name__)

PSI_TABLE_ARTIFACT = "monitoring/psi_score.csv"
CSI_TABLE_ARTIFACT = "monitoring/csi.csv"
DRIFT_FIGURE_ARTIFACT = "monitoring/drift.png"
SHIFT_BAND = PSI_BANDS[-1][1]  # a feature in this band counts as shifted
LAST_MONITORING_TAG = "pdflow.last_monitoring"
LAST_MONITORING_PSI_TAG = "pdflow.last_monitoring_psi"
# What a monitoring run logs as metrics, each a field of MonitorResult.
METRICS = (
    "psi_score",
    "max_csi",
    "n_loans",
    "n_features_shifted",
    "mean_pd_reference",
    "mean_pd_new",
)
_BAND_COLOURS = {"stable": "tab:green", "watch": "tab:orange", "shift": "tab:red"}


@dataclass
class MonitorResult:
    """What a monitoring run found, as ``pdflow monitor --json`` prints it.

    Attributes
    ----------
    psi_score : float
        PSI of the new loans' PDs against the training sample's.
    band : str
        ``stable``, ``watch`` or ``shift`` for ``psi_score``.
    shifted : bool
        Whether ``psi_score`` is above the threshold monitored against.
    csi : DataFrame
        ``feature``, ``csi`` and ``band``, most shifted feature first.
    n_features_shifted : int
        Features whose CSI is in the ``shift`` band (0.25 or more).
    data_digest : str
        SHA-256 of the input file's bytes.
    """

    run_id: str
    model_uri: str
    model_name: str
    model_version: int
    n_loans: int
    psi_score: float
    band: str
    shifted: bool
    csi: pd.DataFrame
    max_csi: float
    n_features_shifted: int
    mean_pd_reference: float
    mean_pd_new: float
    data_digest: str

    def to_dict(self) -> dict[str, Any]:
        """Every field, the CSI table as a list of records; ready for JSON."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["csi"] = self.csi.to_dict(orient="records")
        return out


@dataclass
class _Populations:
    """The two populations, checked against the model's signature and scored."""

    reference: pd.DataFrame
    new: pd.DataFrame
    pd_reference: np.ndarray
    pd_new: np.ndarray


def monitor(
    model_uri: str,
    input: str | Path,
    *,
    experiment: str = tracking.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    bins: int = 10,
    threshold: float = 0.25,
) -> MonitorResult:
    """Compare new loans with a registered version's training sample, as a run.

    Parameters
    ----------
    model_uri : str
        ``models:/NAME/VERSION``, ``/latest``, ``/STAGE`` or ``@alias``.
    input : str or Path
        CSV, TSV or Parquet file of the new loans. It needs every column of
        the model's signature; a default flag and other columns are ignored.
    experiment : str
        Experiment the monitoring run is logged in.
    tracking_uri : str, optional
        MLflow store; ``$MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db`` if None.
    bins : int
        Quantile bins of the reference population for the PSI and each CSI.
    threshold : float
        PSI of the PD above which the population counts as shifted.

    Returns
    -------
    MonitorResult

    Raises
    ------
    DataError
        The file cannot be read, lacks a column the model needs or has rows
        the model cannot score. Nothing is logged then.
    ConfigError
        ``bins`` is below 2 or ``threshold`` is not positive.
    RegistryError, TrackingError
        The version cannot be found or loaded, or its run lacks its
        training sample.
    """
    _check_options(bins, threshold)
    path = Path(input)
    new = read_table(path)
    client = tracking.connect(tracking_uri, create=False)
    mv = registry.resolve_version(client, model_uri)
    populations = _score_populations(client, mv, model_uri, new, str(path))

    start = time.perf_counter()
    pd_table = psi_table(populations.pd_reference, populations.pd_new, bins=bins)
    csi = _sorted_csi(csi_table(populations.reference, populations.new, bins=bins))
    result = _summarise(
        mv,
        model_uri,
        populations,
        csi,
        psi_score=pd_table["psi"].sum(),
        threshold=threshold,
        digest=file_digest(path),
    )
    figure = drift_figure(pd_table, csi)
    logger.info("monitoring: stability measured in %.2f s", time.perf_counter() - start)

    result.run_id = _record(
        client,
        mv,
        result,
        experiment=experiment,
        source=str(path.resolve()),
        params={"model_uri": model_uri, "bins": bins, "threshold": threshold},
        tables={PSI_TABLE_ARTIFACT: pd_table, CSI_TABLE_ARTIFACT: csi},
        figures={DRIFT_FIGURE_ARTIFACT: figure},
    )
    registry.tag_version(
        client,
        mv,
        {
            LAST_MONITORING_TAG: result.run_id,
            LAST_MONITORING_PSI_TAG: repr(result.psi_score),
        },
    )
    logger.info("monitoring run %s for %s", result.run_id, model_uri)
    return result


def _check_options(bins: int, threshold: float) -> None:
    if bins < 2:
        raise ConfigError(f"--bins must be at least 2, got {bins}")
    if not threshold > 0:
        raise ConfigError(
            f"the PSI threshold (--max-psi) must be positive, got {threshold}"
        )


def _score_populations(
    client: MlflowClient,
    mv: ModelVersion,
    model_uri: str,
    new: pd.DataFrame,
    where: str,
) -> _Populations:
    """Both populations in the signature's columns and types, with their PDs."""
    start = time.perf_counter()
    model = registry.load_pyfunc(model_uri)
    schema = model.metadata.get_input_schema()
    if schema is None:
        raise ConfigError(f"model '{model_uri}' has no input signature to check on")

    # Rows of the input that the model refuses would bias the comparison.
    good, bad = check_rows(new, schema, where=where)
    if len(bad):
        raise DataError(describe_bad_rows(bad, where, "nothing logged"))
    sample = tracking.load_frame(client, mv.run_id, tracking.TRAIN_SAMPLE_ARTIFACT)
    reference, _ = check_rows(sample, schema, where=f"training sample of {model_uri}")

    pd_reference, pd_new = _pds(model, reference), _pds(model, good)
    logger.info(
        "monitoring: %d reference and %d new loans scored in %.2f s",
        len(reference),
        len(good),
        time.perf_counter() - start,
    )
    return _Populations(reference, good, pd_reference, pd_new)


def _pds(model, features: pd.DataFrame) -> np.ndarray:
    """The PD of each loan from a pyfunc: its ``pd`` column, or the second column."""
    answer = model.predict(features, params={"reasons": False})
    if isinstance(answer, pd.DataFrame) and "pd" in answer.columns:
        return answer["pd"].to_numpy(dtype=float)
    return np.asarray(answer, dtype=float)[:, 1]


def _sorted_csi(csi: pd.DataFrame) -> pd.DataFrame:
    return csi.sort_values("csi", ascending=False, kind="stable").reset_index(drop=True)


def drift_figure(psi_score_table: pd.DataFrame, csi: pd.DataFrame) -> Figure:
    """Reference and new PD shares per PSI bin, beside the CSI of every feature.

    Parameters
    ----------
    psi_score_table : DataFrame
        :func:`pdflow.stability.psi_table` of the reference and new PDs.
    csi : DataFrame
        :func:`pdflow.stability.csi_table` of the two populations.
    """
    fig = Figure(figsize=(11, 4.8))
    left, right = fig.subplots(1, 2, width_ratios=(1.2, 1))

    at = np.arange(len(psi_score_table))
    left.bar(at - 0.2, psi_score_table["expected_share"], 0.4, label="reference")
    left.bar(at + 0.2, psi_score_table["actual_share"], 0.4, label="new")
    left.set_xticks(at, psi_score_table["bin"], rotation=45, ha="right", fontsize=7)
    left.set_xlabel("PD bin (quantiles of the reference)")
    left.set_ylabel("Share of loans")
    psi_score = float(psi_score_table["psi"].sum())
    left.set_title(f"PD distribution, PSI = {psi_score:.3f} ({psi_band(psi_score)})")
    left.legend(loc="upper left")

    # barh draws the first row at the bottom: reversed, the most shifted is on top.
    shown = csi.iloc[::-1]
    colours = shown["band"].map(_BAND_COLOURS).fillna("tab:grey")
    right.barh(shown["feature"], shown["csi"], color=list(colours))
    for (edge, _), (_, above) in zip(PSI_BANDS[:-1], PSI_BANDS[1:], strict=True):
        right.axvline(
            edge,
            linestyle="--",
            linewidth=1,
            color=_BAND_COLOURS[above],
            label=f"{above} from {edge:.2f}",
        )
    right.legend(loc="lower right", fontsize=8)
    right.tick_params(axis="y", labelsize=7)
    right.set_xlabel("CSI")
    right.set_title("Stability of each feature")
    fig.tight_layout()
    return fig


def _summarise(
    mv: ModelVersion,
    model_uri: str,
    populations: _Populations,
    csi: pd.DataFrame,
    *,
    psi_score: float,
    threshold: float,
    digest: str,
) -> MonitorResult:
    """The result before it has a run: what was compared and how far it moved."""
    psi_score = float(psi_score)
    return MonitorResult(
        run_id="",
        model_uri=model_uri,
        model_name=mv.name,
        model_version=int(mv.version),
        n_loans=len(populations.new),
        psi_score=psi_score,
        band=psi_band(psi_score),
        shifted=psi_score > threshold,
        csi=csi,
        max_csi=float(csi["csi"].max()),
        n_features_shifted=int((csi["band"] == SHIFT_BAND).sum()),
        mean_pd_reference=float(populations.pd_reference.mean()),
        mean_pd_new=float(populations.pd_new.mean()),
        data_digest=digest,
    )


def _record(
    client: MlflowClient,
    mv: ModelVersion,
    result: MonitorResult,
    *,
    experiment: str,
    source: str,
    params: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    figures: dict[str, Figure],
) -> str:
    """Log the monitoring run in ``experiment``; returns its id."""
    experiment_id = tracking.ensure_experiment(client, experiment)
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"monitor-{mv.name}-v{mv.version}",
        tags=tracking.process_tags(),
    ) as run:
        mlflow.set_tags(
            {
                **tracking.code_version_tags(),
                "pdflow.monitors": f"models:/{mv.name}/{mv.version}",
                "pdflow.model_run_id": mv.run_id,
                "pdflow.data_digest": result.data_digest,
                "pdflow.data_source": source,
            }
        )
        mlflow.log_params({**params, "input": source})
        mlflow.log_metrics({name: float(getattr(result, name)) for name in METRICS})
        tracking.log_tables_and_figures(tables, figures)
    return run.info.run_id
