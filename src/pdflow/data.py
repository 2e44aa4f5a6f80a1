"""Loading loan tables into a validated :class:`Dataset`.

Three sources are understood: ``"german"`` (the German credit data shipped with
pdflow), ``"synthetic"`` (loan-like data from :func:`make_synthetic`) and a path
to a CSV, TSV or Parquet file.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from pdflow.errors import DataError, first_line

logger = logging.getLogger(__name__)

BUILTIN = ("german", "synthetic")
GERMAN_TARGET = "creditability"
GERMAN_EVENT = "bad"
SYNTHETIC_TARGET = "default"
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass
class Dataset:
    """A loan table split into features and a 0/1 default flag.

    Attributes
    ----------
    X : DataFrame
        Features: numeric columns as float64, text columns as object.
    y : Series
        1 for a default, 0 otherwise, aligned with ``X``.
    name : str
        Short name used for MLflow's dataset entries.
    source : str
        Where the rows came from: a file path or ``synthetic(rows=..., seed=...)``.
    digest : str
        SHA-256 of the file's bytes, or of the generated table's contents.
    target : str
        Name of the target column in the source.
    positive : str or None
        The target value read as a default, when the target was not 0/1.
    dropped : list of str
        Columns left out of the features: asked for, or entirely empty.
    """

    X: pd.DataFrame
    y: pd.Series
    name: str
    source: str
    digest: str
    target: str
    positive: str | None = None
    dropped: list[str] = field(default_factory=list)

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.X if pd.api.types.is_float_dtype(self.X[c])]

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.X if c not in set(self.numeric)]

    @property
    def default_rate(self) -> float:
        return float(self.y.mean())


def make_synthetic(rows: int = 10_000, *, seed: int = 42) -> pd.DataFrame:
    """Generate loan-like data with ``make_classification``, about 10 % defaults.

    The informative signals of ``make_classification`` are mapped monotonically
    onto realistic scales (income in currency, utilisation in [0, 1], counts as
    whole numbers), so the columns read like a loan book while the class
    structure stays that of scikit-learn's generator.

    Parameters
    ----------
    rows : int
        Number of loans, at least 20.
    seed : int
        Random seed; the same seed gives the same table.

    Returns
    -------
    DataFrame
        Ten feature columns and the 0/1 target ``default``.
    """
    if rows < 20:
        raise DataError(f"--rows must be at least 20 for synthetic data, got {rows}")
    z, y = make_classification(
        n_samples=rows,
        n_features=10,
        n_informative=6,
        n_redundant=2,
        weights=[0.9],
        flip_y=0.01,
        class_sep=0.8,
        random_state=seed,
    )
    # Monotone maps keep each feature's ranking, hence its information.
    sigmoid = 1.0 / (1.0 + np.exp(-z))
    frame = pd.DataFrame(
        {
            "income": np.round(np.exp(10.8 + 0.45 * z[:, 0]), 2),
            "debt_to_income": np.round(0.6 * sigmoid[:, 1], 4),
            "credit_utilization": np.round(sigmoid[:, 2], 4),
            "credit_history_months": np.round(120 * np.exp(0.5 * z[:, 3])),
            "num_delinquencies": np.floor(3 * sigmoid[:, 4] ** 3 * 3),
            "loan_amount": np.round(np.exp(9.5 + 0.6 * z[:, 5]), 2),
            "interest_rate": np.round(0.04 + 0.2 * sigmoid[:, 6], 4),
            "employment_years": np.round(np.clip(6 + 3 * z[:, 7], 0, 40), 1),
            "num_open_accounts": np.round(np.clip(8 + 3 * z[:, 8], 0, None)),
            "recent_inquiries": np.floor(6 * sigmoid[:, 9] ** 2),
        }
    )
    frame[SYNTHETIC_TARGET] = y.astype("int64")
    return frame


def load_dataset(
    source: str,
    *,
    target: str | None = None,
    positive: str | None = None,
    rows: int = 10_000,
    seed: int = 42,
    drop: list[str] | None = None,
) -> Dataset:
    """Read and validate a loan table.

    Parameters
    ----------
    source : str
        ``"german"``, ``"synthetic"`` or a path to a CSV, TSV or Parquet file.
    target : str, optional
        The default flag's column. Defaults to ``creditability`` for
        ``german`` and ``default`` otherwise.
    positive : str, optional
        The target value that means default, needed when the target is not
        already 0/1 (``bad`` for ``german``).
    rows, seed : int
        Size and seed of synthetic data; ignored for other sources.
    drop : list of str, optional
        Columns to leave out of the features, such as loan ids.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        When the file or its target cannot be used; the message names which.
    """
    if source == "german":
        path = resources.files("pdflow") / "datasets" / "german_credit.csv"
        raw = pd.read_csv(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        target = target or GERMAN_TARGET
        positive = positive or GERMAN_EVENT
        name, where = "german_credit", "pdflow:datasets/german_credit.csv"
    elif source == "synthetic":
        raw = make_synthetic(rows, seed=seed)
        digest = _frame_digest(raw)
        target = target or SYNTHETIC_TARGET
        name, where = "synthetic", f"synthetic(rows={rows}, seed={seed})"
    else:
        path = Path(source)
        raw = read_table(path)
        digest = _file_digest(path)
        target = target or SYNTHETIC_TARGET
        name, where = path.stem, str(path.resolve())
    return _validate(raw, target, positive, name, where, digest, drop or [])


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file, turning every failure into a DataError."""
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist")
    if path.is_dir():
        raise DataError(
            f"data file '{path}' is a folder, expected a CSV or Parquet file"
        )
    if path.stat().st_size == 0:
        raise DataError(f"data file '{path}' is empty, expected a header and rows")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
            frame = pd.read_csv(path, sep=sep, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError, OSError) as exc:
        kind = "Parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "CSV"
        raise DataError(
            f"data file '{path}' is not a readable {kind} file ({first_line(exc, 120)})"
        ) from None
    if frame.empty:
        raise DataError(f"data file '{path}' has a header but no rows")
    return frame


def _validate(
    raw: pd.DataFrame,
    target: str,
    positive: str | None,
    name: str,
    where: str,
    digest: str,
    drop: list[str],
) -> Dataset:
    if target not in raw.columns:
        shown = ", ".join(map(str, raw.columns[:8]))
        more = " ..." if raw.shape[1] > 8 else ""
        raise DataError(
            f"target column '{target}' not found in {where}; columns are: {shown}{more}"
        )
    missing_drop = [c for c in drop if c not in raw.columns]
    if missing_drop:
        raise DataError(
            f"--drop names column(s) not in {where}: {', '.join(missing_drop)}"
        )
    y = encode_target(raw[target], target, positive)
    X = raw.drop(columns=[target, *drop])
    if X.shape[1] == 0:
        raise DataError(f"{where} has no feature columns besides the target '{target}'")
    X, empty = _normalise_features(X)
    if X.shape[1] == 0:
        raise DataError(f"every feature column in {where} is empty")
    return Dataset(
        X, y, name, where, digest, target, positive, dropped=list(drop) + empty
    )


def encode_target(column: pd.Series, target: str, positive: str | None) -> pd.Series:
    """Turn a target column into 0/1, with ``positive`` naming the default event."""
    n_missing = int(column.isna().sum())
    if n_missing:
        raise DataError(
            f"target column '{target}' has {n_missing} missing value(s); "
            "expected a 0/1 or two-valued default flag on every row"
        )
    values = pd.unique(column)
    if len(values) > 2:
        shown = ", ".join(repr(v) for v in list(values)[:5])
        raise DataError(
            f"target column '{target}' has {len(values)} distinct values ({shown}...), "
            "expected two: default and non-default"
        )
    if positive is not None:
        as_text = column.astype(str)
        if positive not in set(as_text):
            raise DataError(
                f"--positive value '{positive}' does not occur in target column "
                f"'{target}' (values: {', '.join(sorted(set(as_text)))})"
            )
        y = (as_text == positive).astype("int64")
    elif set(pd.Series(values).astype(str)) <= {
        "0",
        "1",
        "0.0",
        "1.0",
        "True",
        "False",
    }:
        y = column.astype(str).isin({"1", "1.0", "True"}).astype("int64")
    else:
        raise DataError(
            f"target column '{target}' holds {', '.join(map(repr, values))}; "
            "pass --positive VALUE to say which one means default"
        )
    if y.nunique() < 2:
        raise DataError(
            f"target column '{target}' has a single class ({int(y.iloc[0])} on every "
            "row); a PD model needs both defaults and non-defaults"
        )
    return y.rename(target)


def _normalise_features(X: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Numeric and boolean columns to float64, the rest to text; drop empty ones."""
    empty = [c for c in X if X[c].isna().all()]
    for column in empty:
        logger.warning("dropped column '%s': every value is missing", column)
    X = X.drop(columns=empty)
    out = {}
    for column in X:
        values = X[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype("float64")
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out, index=X.index), empty


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _frame_digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()
