"""Scoring loans with a registered model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_float_dtype

from pdflow import registry, tracking
from pdflow.data import FLOAT32_MAX, PARQUET_SUFFIXES, read_table
from pdflow.errors import ConfigError, DataError
from pdflow.ratings import DEFAULT_BOUNDS, MasterScale, pd_to_score

logger = logging.getLogger(__name__)

PD_COLUMN = "pd"
ROW_COLUMN = "row"
SHOWN_BAD_ROWS = 5


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
    """Score every row of ``input`` and write it with ``pd``, grade, score, reasons.

    The model is loaded as MLflow's pyfunc, so its signature checks the
    columns; whole numbers are widened to the doubles the model was trained
    on, and anything else that does not fit is refused with its column named.
    """
    output = Path(output)
    if output.suffix.lower() not in (".csv", *PARQUET_SUFFIXES):
        raise ConfigError(f"--output '{output}' must end in .csv or .parquet")
    refuse_overwriting_inputs(output, [Path(input)])
    frame = read_table(Path(input))
    tracking.connect(tracking_uri, create=False)
    model = registry.load_pyfunc(model_uri)
    features = conform(frame, model.metadata.get_input_schema(), source=str(input))
    answer = _as_answer(model.predict(features))
    pd_values = answer[PD_COLUMN].to_numpy(dtype=float)

    # One concat, not a column at a time: read_csv gives a block per column,
    # and pandas warns about a frame of many blocks at every insert.
    answer = answer.set_axis(frame.index)
    kept = frame.drop(columns=[c for c in answer.columns if c in frame.columns])
    scored = pd.concat([kept, answer], axis=1)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() in PARQUET_SUFFIXES:
        scored.to_parquet(output, index=False)
    else:
        scored.to_csv(output, index=False)
    return PredictResult(model_uri, str(output), len(scored), float(pd_values.mean()))


def refuse_overwriting_inputs(output: Path, inputs: list[Path]) -> None:
    """Refuse an output file that is one of the input files."""
    for path in inputs:
        if output.exists() and path.exists() and output.samefile(path):
            raise ConfigError(
                f"--output '{output}' is the input file '{path}': scoring it would "
                "overwrite the loans it reads; choose another --output"
            )


def shortlist(names: list[str], most: int = 10) -> str:
    """Names joined by commas, the first ``most`` of them and how many more."""
    shown = ", ".join(map(str, names[:most]))
    return shown if len(names) <= most else f"{shown} (and {len(names) - most} more)"


def _as_answer(answer) -> pd.DataFrame:
    """A pyfunc's answer as a frame with ``pd`` first.

    Models logged by pdflow answer with a frame; older ones answered with
    ``predict_proba``'s two columns, whose second is the PD.
    """
    if isinstance(answer, pd.DataFrame) and PD_COLUMN in answer.columns:
        return answer
    return pd.DataFrame({PD_COLUMN: np.asarray(answer)[:, 1]})


def conform(frame: pd.DataFrame, schema, *, source: str) -> pd.DataFrame:
    """The model's input columns from ``frame``, in the types its signature
    names; any row that does not fit fails the whole frame, named."""
    if schema is None:
        return frame
    good, bad = check_rows(frame, schema, where=source)
    if len(bad):
        raise DataError(describe_bad_rows(bad, source, "nothing written"))
    return good


def check_rows(
    frame: pd.DataFrame, schema, *, first_row: int = 1, where: str = "input"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a chunk into rows the model can score and rows it cannot.

    Returns the model's columns in the signature's types for the good rows,
    and ``row`` (1-based over the input) and ``reason`` for the others. A
    column the model needs that the file lacks fails the whole file.
    """
    missing = [n for n in schema.input_names() if n not in frame.columns]
    if missing:
        raise DataError(
            f"{where} lacks column(s) the model needs: {shortlist(missing)}"
        )
    reasons = pd.Series("", index=frame.index, dtype=object)
    columns = {}
    for spec in schema.inputs:
        values = frame[spec.name]
        if "double" in str(spec.type):
            converted, bad = _doubles(values)
            reasons[bad] += (
                f"column '{spec.name}' must be a finite number, got "
                + values[bad].astype(str).map(repr)
                + "; "
            )
            columns[spec.name] = converted
        else:
            columns[spec.name] = _texts(values)
    ok = reasons == ""
    good = pd.DataFrame(columns, index=frame.index)[ok]
    bad = pd.DataFrame(
        {
            ROW_COLUMN: first_row + np.flatnonzero(~ok.to_numpy()),
            "reason": reasons[~ok].str.rstrip("; ").to_numpy(),
        }
    )
    return good, bad


def _doubles(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The values as doubles, and which of them are no usable number.

    Text that is no number, infinities and magnitudes beyond float32 (which
    scikit-learn's trees work in, and where such values turn infinite) are
    refused; missing values pass, for the model's imputer.
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        converted = values.astype("float64")
        bad = pd.Series(False, index=values.index)
    else:
        converted = pd.to_numeric(values, errors="coerce").astype("float64")
        bad = converted.isna() & values.notna()
    return converted, bad | (converted.abs() > FLOAT32_MAX)


def _texts(values: pd.Series) -> pd.Series:
    # Codes read as numbers (1.0) are matched as the text they were trained as.
    def text(value):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return (
        values.astype(object)
        .where(values.notna(), None)
        .map(lambda v: v if v is None or isinstance(v, str) else text(v))
    )


def describe_bad_rows(bad: pd.DataFrame, where: str, outcome: str) -> str:
    """One line: how many rows failed, what happened, the first few reasons."""
    shown = "; ".join(
        f"row {row}: {why}"
        for row, why in bad.head(SHOWN_BAD_ROWS).itertuples(index=False)
    )
    more = len(bad) - SHOWN_BAD_ROWS
    return f"{where}: {len(bad)} row(s) cannot be scored, {outcome}: {shown}" + (
        f" (and {more} more)" if more > 0 else ""
    )


N_REASONS = 3
OUTPUT_COLUMNS = (
    "pd",
    "grade",
    "score",
    *(f"reason_{i + 1}" for i in range(N_REASONS)),
)


@dataclass
class PDScorer:
    """Scores loans with a fitted model: PD, rating grade, points and reasons.

    Reasons are the features that raised a loan's PD most. A scorecard gives
    the points the loan loses against each variable's best bin, LightGBM the
    per-row contributions to the log-odds (``pred_contrib``). For the other
    families a feature's contribution is the fall in PD when that feature
    alone is set to its training reference value (median or most frequent
    value): one extra scoring pass per feature. Only positive contributions
    count as reasons; a loan with fewer gets empty reason columns.
    """

    model: Any
    scale: MasterScale
    scaling: dict[str, float]
    reference: dict[str, Any]
    text_columns: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, model, settings: dict[str, Any]) -> PDScorer:
        scale = settings.get("master_scale") or {}
        return cls(
            model=model,
            scale=MasterScale(
                bounds=tuple(scale.get("bounds", DEFAULT_BOUNDS)),
                labels=tuple(scale.get("labels", ())),
            ),
            scaling=settings.get("scaling") or {},
            reference=settings.get("reference") or {},
            text_columns=tuple(settings.get("text_columns") or ()),
        )

    @staticmethod
    def settings_for(
        X_train: pd.DataFrame, *, scale: MasterScale, scaling: dict[str, float]
    ) -> dict[str, Any]:
        """What scoring needs besides the estimator, kept with the model."""
        reference = {}
        for column in X_train.columns:
            values = X_train[column]
            if pd.api.types.is_float_dtype(values):
                reference[column] = float(values.median())
            else:
                modes = values.dropna().mode()
                reference[column] = None if modes.empty else str(modes.iloc[0])
        return {
            "master_scale": scale.to_dict(),
            "scaling": scaling,
            "reference": reference,
            "text_columns": [c for c in X_train if not is_float_dtype(X_train[c])],
        }

    def check_types(self, X: pd.DataFrame) -> None:
        """Refuse a number, or anything else, where the model expects text."""
        for column in self.text_columns:
            if column not in X.columns:
                continue
            values = X[column]
            if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
                continue
            wrong = values.notna() & ~values.map(lambda v: isinstance(v, str))
            if wrong.any():
                row = int(np.flatnonzero(wrong.to_numpy())[0])
                raise DataError(
                    f"column '{column}' must be text, got {values.iloc[row]!r} in "
                    f"row {row + 1}"
                )

    def score(self, X: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
        """One row per loan: ``pd`` first, then grade, score and reasons."""
        self.check_types(X)
        pd_values = np.asarray(self.model.predict_proba(X))[:, 1].astype(float)
        out = pd.DataFrame(
            {
                "pd": pd_values,
                "grade": self.scale.assign(pd_values),
                "score": self._points(X, pd_values),
            },
            index=X.index,
        )
        names = self._reasons(X, pd_values) if reasons else None
        for i in range(N_REASONS):
            # Plain objects, so that "no reason" stays None (JSON null) rather
            # than becoming NaN in pandas' own string type.
            column = [None] * len(out) if names is None else names[:, i]
            out[f"reason_{i + 1}"] = pd.Series(column, index=X.index, dtype=object)
        return out

    def contributions(self, X: pd.DataFrame, pd_values=None) -> pd.DataFrame:
        """Per loan and feature: how much the feature raised the loan's PD."""
        if hasattr(self.model, "reason_contributions"):
            return self.model.reason_contributions(X)
        if pd_values is None:
            pd_values = np.asarray(self.model.predict_proba(X))[:, 1]
        columns = {}
        for column, value in self.reference.items():
            if column not in X.columns:
                continue
            neutral = X.assign(**{column: value})
            columns[column] = pd_values - self.model.predict_proba(neutral)[:, 1]
        return pd.DataFrame(columns, index=X.index)

    def _reasons(self, X: pd.DataFrame, pd_values) -> np.ndarray:
        contrib = self.contributions(X, pd_values)
        values = contrib.to_numpy(dtype=float)
        k = min(N_REASONS, values.shape[1])
        order = np.argsort(-values, axis=1, kind="stable")[:, :k]
        names = np.asarray(contrib.columns, dtype=object)[order]
        names[np.take_along_axis(values, order, axis=1) <= 0] = None
        if k < N_REASONS:
            names = np.hstack([names, np.full((len(names), N_REASONS - k), None)])
        return names

    def _points(self, X: pd.DataFrame, pd_values) -> np.ndarray:
        if hasattr(self.model, "score_points"):
            return np.asarray(self.model.score_points(X), dtype=float)
        return pd_to_score(pd_values, **self.scaling)
