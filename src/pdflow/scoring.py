"""Scoring loans with a registered model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pdflow import registry, tracking
from pdflow.data import PARQUET_SUFFIXES, read_table
from pdflow.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

PD_COLUMN = "pd"


@dataclass
class PredictResult:
    """Where the scores went and a summary of them."""

    model_uri: str
    output: str
    rows: int
    mean_pd: float


def predict(
    model_uri: str,
    input: str | Path,
    output: str | Path,
    *,
    tracking_uri: str | None = None,
) -> PredictResult:
    """Score every row of ``input`` and write it to ``output`` with a ``pd`` column.

    The model is loaded as MLflow's pyfunc, so its signature checks the
    columns; whole numbers are widened to the doubles the model was trained
    on, and anything else that does not fit is refused with its column named.
    """
    output = Path(output)
    if output.suffix.lower() not in (".csv", *PARQUET_SUFFIXES):
        raise ConfigError(f"--output '{output}' must end in .csv or .parquet")
    frame = read_table(Path(input))
    tracking.connect(tracking_uri)
    model = registry.load_pyfunc(model_uri)
    features = conform(frame, model.metadata.get_input_schema(), source=str(input))
    pd_values = np.asarray(model.predict(features))[:, 1]

    scored = frame.assign(**{PD_COLUMN: pd_values})
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() in PARQUET_SUFFIXES:
        scored.to_parquet(output, index=False)
    else:
        scored.to_csv(output, index=False)
    return PredictResult(model_uri, str(output), len(scored), float(pd_values.mean()))


def conform(frame: pd.DataFrame, schema, *, source: str) -> pd.DataFrame:
    """The model's input columns from ``frame``, in the types its signature names."""
    if schema is None:
        return frame
    missing = [name for name in schema.input_names() if name not in frame.columns]
    if missing:
        raise DataError(
            f"{source} lacks column(s) the model needs: {', '.join(missing[:10])}"
        )
    out = {}
    for spec in schema.inputs:
        values = frame[spec.name]
        kind = str(spec.type)
        if "double" in kind:
            out[spec.name] = _as_double(values, spec.name, source)
        else:
            out[spec.name] = (
                values.astype(object)
                .where(values.notna(), None)
                .map(lambda v: v if v is None or isinstance(v, str) else _as_text(v))
            )
    return pd.DataFrame(out, index=frame.index)


def _as_double(values: pd.Series, column: str, source: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: column '{column}' must be numeric, found {values.iloc[row]!r} "
            f"in data row {row + 1}"
        )
    return converted.astype("float64")


def _as_text(value) -> str:
    # Codes read as numbers (1.0) are matched as the text they were trained as.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
