"""Loading loan tables into a validated :class:`Dataset`.

Four sources are understood: ``"german"`` (the German credit data shipped with
pdflow), ``"synthetic"`` (loan-like data from :func:`make_synthetic`),
``"loanbook"`` (a synthetic loan book with a known true PD, from
:func:`make_loanbook`) and a path to a CSV, TSV or Parquet file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.datasets import make_classification

from pdflow.errors import ConfigError, DataError, first_line

logger = logging.getLogger(__name__)

BUILTIN = ("german", "synthetic", "loanbook")
GERMAN_TARGET = "creditability"
GERMAN_EVENT = "bad"
SYNTHETIC_TARGET = "default"
TRUE_PD = "true_pd"
LOANBOOK_DEFAULT_RATE = 0.08
PARQUET_SUFFIXES = (".parquet", ".pq")
# Largest magnitude a feature may have: scikit-learn's trees work in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


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
    true_pd : Series or None
        The known true PD of each loan (``true_pd`` column of a loan book),
        aligned with ``X`` and never among its features.
    """

    X: pd.DataFrame
    y: pd.Series
    name: str
    source: str
    digest: str
    target: str
    positive: str | None = None
    dropped: list[str] = field(default_factory=list)
    true_pd: pd.Series | None = None

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.X if pd.api.types.is_float_dtype(self.X[c])]

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.X if c not in set(self.numeric)]

    @property
    def default_rate(self) -> float:
        return float(self.y.mean())


def builtin_name(source) -> str | None:
    """``source`` when it names built-in data (german, synthetic, loanbook)."""
    return source if isinstance(source, str) and source in BUILTIN else None


def check_seed(seed) -> None:
    """Refuse a seed that NumPy and scikit-learn would not take."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(
            f"--seed must be a whole number from 0 to {2**32 - 1}, got {seed!r}"
        )


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
    check_seed(seed)
    if rows < 20:
        raise ConfigError(f"--rows must be at least 20 for synthetic data, got {rows}")
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


_PURPOSES = {
    # purpose: (share of loans, effect on the log-odds of default)
    "debt_consolidation": (0.47, 0.10),
    "credit_card": (0.20, -0.15),
    "home_improvement": (0.07, -0.20),
    "major_purchase": (0.05, 0.00),
    "car": (0.04, -0.10),
    "medical": (0.03, 0.30),
    "small_business": (0.03, 0.70),
    "vacation": (0.02, 0.15),
    "moving": (0.03, 0.25),
    "other": (0.06, 0.20),
}
_HOMES = {
    "RENT": (0.40, 0.20),
    "MORTGAGE": (0.46, -0.15),
    "OWN": (0.13, 0.00),
    "OTHER": (0.01, 0.40),
}


def make_loanbook(
    rows: int = 20_000,
    *,
    seed: int = 42,
    default_rate: float = LOANBOOK_DEFAULT_RATE,
) -> pd.DataFrame:
    """Generate a consumer loan book whose true PD is known for every loan.

    The applicants' attributes are drawn with realistic scales and
    dependencies (income rises with age, employment and a mortgage; loan
    amounts with income; long terms with large loans; delinquencies with high
    utilisation), then rounded, and some go missing as in real books: income
    not verified (4 %), no debt-to-income (2 %), no revolving line so no
    utilisation (5 %), employment length not stated (6 %), and months since
    the last delinquency for loans with none. Each loan's true PD is a
    function of exactly the published columns::

        true_pd = expit(b0 + z), with z the sum of
          2.5 * dti + 5 * max(dti - 0.35, 0)          (dti missing: 0.45)
          1.6 * utilisation ** 2 + 0.4 * utilisation   (missing: 0.50)
          -0.55 * (ln income - 10.9)                  (missing: +0.25)
          0.45 * min(delinquencies, 3)
          + 0.35 if the last delinquency was under 6 months ago
          + 0.50 * utilisation if any delinquency     (interaction)
          0.12 * inquiries_6m
          -0.35 * ln(1 + months_since_oldest_account / 12)
          0.6 * loan_to_income + term60 * (0.30 + 1.2 * loan_to_income)
          0.0006 * (age - 45) ** 2
          + 0.25 for employment "< 1 year", + 0.30 when not stated
          + the purpose's and the home ownership's effect (see _PURPOSES, _HOMES)

    where ``loan_to_income = loan_amount / annual_income`` (income missing:
    0.25) and ``term60`` is 1 for "60 months". The intercept ``b0`` is solved
    with :func:`scipy.optimize.brentq` so that the mean true PD equals
    ``default_rate``; each ``default`` is then a Bernoulli draw of its PD.

    Parameters
    ----------
    rows : int
        Number of loans, at least 100.
    seed : int
        Random seed; the same seed gives the same book.
    default_rate : float
        Mean true PD of the book, in (0, 1); about 8 % by default.

    Returns
    -------
    DataFrame
        Fourteen feature columns (numeric and text, with missing values),
        ``true_pd`` and the 0/1 target ``default``.
    """
    check_seed(seed)
    if rows < 100:
        raise ConfigError(f"--rows must be at least 100 for a loan book, got {rows}")
    if not 0 < default_rate < 1:
        raise ConfigError(
            f"--default-rate must lie strictly between 0 and 1, got {default_rate}"
        )
    rng = np.random.default_rng(seed)
    book = _applicants(rows, rng)
    z = _true_log_odds(book)
    b0 = brentq(lambda b: expit(b + z).mean() - default_rate, -30.0, 30.0, xtol=1e-12)
    book[TRUE_PD] = expit(b0 + z)
    book[SYNTHETIC_TARGET] = (rng.random(rows) < book[TRUE_PD]).astype("int64")
    return book


def _applicants(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The published columns of ``n`` loan applications, missing values included."""
    age = np.clip(np.round(rng.normal(42, 12, n)), 21, 80)
    employed = np.minimum(rng.gamma(2.0, 3.0, n), age - 18)
    home = rng.choice(list(_HOMES), n, p=[v[0] for v in _HOMES.values()])
    log_income = (
        10.9
        + 0.010 * (age - 42)
        + 0.03 * np.minimum(employed, 10)
        + 0.20 * (home == "MORTGAGE")
        + rng.normal(0, 0.45, n)
    )
    income = np.round(np.exp(log_income), -2)
    amount = np.clip(
        np.exp(9.2 + 0.5 * (log_income - 10.9) + rng.normal(0, 0.55, n)), 1000, 40000
    )
    amount = np.round(amount / 25) * 25
    long_term = rng.random(n) < expit(-1.6 + 1.8 * amount / 20000)
    utilisation = np.round(np.clip(rng.beta(1.6, 2.4, n) * 1.15, 0, 1.5), 3)
    delinquencies = rng.poisson(0.15 + 0.35 * (utilisation > 0.8), n).astype(float)
    last_delinquency = np.where(
        delinquencies > 0, rng.integers(1, 25, n).astype(float), np.nan
    )
    book = pd.DataFrame(
        {
            "age": age,
            "annual_income": income,
            "employment_length": _employment_text(employed),
            "home_ownership": home,
            "purpose": rng.choice(
                list(_PURPOSES), n, p=[v[0] for v in _PURPOSES.values()]
            ),
            "loan_amount": amount,
            "term": np.where(long_term, "60 months", "36 months"),
            "debt_to_income": np.round(rng.beta(2.2, 7.0, n) * 0.7, 4),
            "credit_utilization": utilisation,
            "num_delinquencies": delinquencies,
            "months_since_last_delinquency": last_delinquency,
            "inquiries_6m": rng.poisson(0.7, n).astype(float),
            "open_accounts": 1.0 + rng.poisson(8, n),
            "months_since_oldest_account": np.maximum(
                6.0, np.round((age - 18) * 12 * rng.beta(4, 2, n))
            ),
        }
    )
    for column, share in (
        ("annual_income", 0.04),
        ("debt_to_income", 0.02),
        ("credit_utilization", 0.05),
        ("employment_length", 0.06),
    ):
        book.loc[rng.random(n) < share, column] = None
    return book


def _employment_text(years: np.ndarray) -> np.ndarray:
    whole = np.floor(years).astype(int)
    return np.where(
        years < 1,
        "< 1 year",
        np.where(
            whole >= 10,
            "10+ years",
            np.where(whole == 1, "1 year", np.char.add(whole.astype(str), " years")),
        ),
    ).astype(object)


def _true_log_odds(book: pd.DataFrame) -> np.ndarray:
    """The log-odds of :func:`make_loanbook`'s docstring, less the intercept."""
    dti = book["debt_to_income"]
    util = book["credit_utilization"]
    income = book["annual_income"]
    delinquent = book["num_delinquencies"] > 0
    lti = (book["loan_amount"] / income).fillna(0.25)
    term60 = (book["term"] == "60 months").astype(float)
    employment = book["employment_length"]
    z = (
        (2.5 * dti + 5.0 * np.maximum(dti - 0.35, 0)).fillna(0.45)
        + (1.6 * util**2 + 0.4 * util).fillna(0.50)
        + (-0.55 * (np.log(income) - 10.9)).fillna(0.25)
        + 0.45 * np.minimum(book["num_delinquencies"], 3)
        + 0.35 * (book["months_since_last_delinquency"] < 6)
        + 0.50 * util.fillna(0) * delinquent
        + 0.12 * book["inquiries_6m"]
        - 0.35 * np.log1p(book["months_since_oldest_account"] / 12)
        + 0.6 * lti
        + term60 * (0.30 + 1.2 * lti)
        + 0.0006 * (book["age"] - 45) ** 2
        + 0.25 * (employment == "< 1 year")
        + 0.30 * employment.isna()
        + book["purpose"].map({k: v[1] for k, v in _PURPOSES.items()})
        + book["home_ownership"].map({k: v[1] for k, v in _HOMES.items()})
    )
    return z.to_numpy(dtype=float)


@dataclass
class LoanbookFile:
    """What :func:`write_loanbook` wrote."""

    path: str
    rows: int
    seed: int
    default_rate: float
    observed_default_rate: float
    oracle_auc: float


def write_loanbook(
    out: str | Path,
    *,
    rows: int = 20_000,
    seed: int = 42,
    default_rate: float = LOANBOOK_DEFAULT_RATE,
) -> LoanbookFile:
    """Write :func:`make_loanbook` to a CSV or Parquet file.

    Returns
    -------
    LoanbookFile
        Where it went, its observed default rate and its oracle AUC (the AUC
        of ``true_pd`` against the drawn defaults: the ceiling of any model).
    """
    from sklearn.metrics import roc_auc_score

    out = Path(out)
    if out.suffix.lower() not in (".csv", *PARQUET_SUFFIXES):
        raise ConfigError(f"--out '{out}' must end in .csv or .parquet")
    book = make_loanbook(rows, seed=seed, default_rate=default_rate)
    write_table(book, out)
    return LoanbookFile(
        path=str(out),
        rows=len(book),
        seed=seed,
        default_rate=default_rate,
        observed_default_rate=float(book[SYNTHETIC_TARGET].mean()),
        oracle_auc=float(roc_auc_score(book[SYNTHETIC_TARGET], book[TRUE_PD])),
    )


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """Write ``frame`` as Parquet (``.parquet``/``.pq``) or CSV, making folders."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in PARQUET_SUFFIXES:
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)


def load_dataset(
    source: str | os.PathLike | pd.DataFrame,
    *,
    target: str | None = None,
    positive: str | None = None,
    rows: int = 10_000,
    seed: int = 42,
    drop: list[str] | None = None,
    default_rate: float | None = None,
    features_warned: bool = True,
) -> Dataset:
    """Read and validate a loan table.

    Parameters
    ----------
    source : str, path or DataFrame
        ``"german"``, ``"synthetic"``, ``"loanbook"``, a path to a CSV, TSV or
        Parquet file, or a DataFrame of loans (its digest is of its values and
        index; its source is recorded as ``DataFrame(ROWS x COLUMNS)``).
    target : str, optional
        The default flag's column. Defaults to ``creditability`` for
        ``german`` and ``default`` otherwise.
    positive : str, optional
        The target value that means default, needed when the target is not
        already 0/1 (``bad`` for ``german``).
    rows, seed : int
        Size and seed of synthetic data and loan books; ignored for files.
    drop : list of str, optional
        Columns to leave out of the features, such as loan ids. A dropped
        ``true_pd`` column is kept aside as the known true PD.
    default_rate : float, optional
        Mean true PD of a loan book (default 8 %); only for ``"loanbook"``.
    features_warned : bool
        Warn about columns that look like a loan id or a true PD and would be
        used as features; off where a model's own feature list decides.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        When the file or its target cannot be used; the message names which.
    """
    if isinstance(source, pd.DataFrame):
        if source.empty:
            raise DataError("the DataFrame given as data has no rows")
        raw = source.copy()
        raw.columns = raw.columns.map(str)
        twice = sorted(set(raw.columns[raw.columns.duplicated()]))
        if twice:
            raise DataError(
                f"the DataFrame given as data has duplicate column names: "
                f"{', '.join(twice)}"
            )
        digest = _frame_digest(raw)
        target = target or SYNTHETIC_TARGET
        name, where = "dataframe", f"DataFrame({raw.shape[0]} x {raw.shape[1]})"
    elif not isinstance(source, str | os.PathLike):
        raise ConfigError(
            "data must be 'german', 'synthetic', 'loanbook', the path of a CSV or "
            f"Parquet file, or a DataFrame; got {type(source).__name__}"
        )
    elif source == "german":
        path = resources.files("pdflow") / "datasets" / "german_credit.csv"
        raw = pd.read_csv(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        target = target or GERMAN_TARGET
        positive = positive or GERMAN_EVENT
        name, where = "german_credit", "pdflow:datasets/german_credit.csv"
    elif source == "loanbook":
        rate = LOANBOOK_DEFAULT_RATE if default_rate is None else default_rate
        raw = make_loanbook(rows, seed=seed, default_rate=rate)
        digest = _frame_digest(raw)
        target = target or SYNTHETIC_TARGET
        # The true PD is the answer: never a feature.
        drop = [*(drop or []), TRUE_PD] if TRUE_PD not in (drop or []) else drop
        name = "loanbook"
        where = f"loanbook(rows={rows}, seed={seed}, default_rate={rate})"
    elif source == "synthetic":
        raw = make_synthetic(rows, seed=seed)
        digest = _frame_digest(raw)
        target = target or SYNTHETIC_TARGET
        name, where = "synthetic", f"synthetic(rows={rows}, seed={seed})"
    else:
        path = Path(source)
        raw = read_table(path)
        digest = file_digest(path)
        target = target or SYNTHETIC_TARGET
        name, where = path.stem, str(path.resolve())
    if default_rate is not None and builtin_name(source) != "loanbook":
        raise ConfigError(
            f"--default-rate only applies to --data loanbook, not to '{where}'"
        )
    return _validate(
        raw, target, positive, name, where, digest, drop or [], features_warned
    )


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


# Below this many rows every column may well hold distinct values.
ID_CHECK_MIN_ROWS = 50


def _id_like(X: pd.DataFrame) -> list[str]:
    """Columns that look like row identifiers: a distinct whole number or text
    on every row (measured values such as incomes repeat or have decimals)."""
    if len(X) < ID_CHECK_MIN_ROWS:
        return []
    found = []
    for column in X.columns:
        values = X[column]
        if values.isna().any() or not values.is_unique:
            continue
        if pd.api.types.is_numeric_dtype(values):
            if not np.all(np.mod(values.to_numpy(dtype=float), 1) == 0):
                continue
        found.append(column)
    return found


def _validate(
    raw: pd.DataFrame,
    target: str,
    positive: str | None,
    name: str,
    where: str,
    digest: str,
    drop: list[str],
    features_warned: bool,
) -> Dataset:
    if target not in raw.columns:
        shown = ", ".join(map(str, raw.columns[:8]))
        more = " ..." if raw.shape[1] > 8 else ""
        raise DataError(
            f"target column '{target}' not found in {where}; columns are: {shown}{more}"
        )
    if target in drop:
        raise DataError(f"--drop names the target column '{target}' of {where}")
    missing_drop = [c for c in drop if c not in raw.columns]
    if missing_drop:
        raise DataError(
            f"--drop names column(s) not in {where}: {', '.join(missing_drop)}"
        )
    y = encode_target(raw[target], target, positive)
    X = raw.drop(columns=[target, *drop])
    if X.shape[1] == 0:
        raise DataError(f"{where} has no feature columns besides the target '{target}'")
    if features_warned and TRUE_PD in X.columns:
        logger.warning(
            "column '%s' of %s looks like a known true PD and is used as a feature; "
            "pass --drop %s to keep it out",
            TRUE_PD,
            where,
            TRUE_PD,
        )
    dates = [
        c
        for c in X
        if pd.api.types.is_datetime64_any_dtype(X[c])
        or pd.api.types.is_timedelta64_dtype(X[c])
    ]
    if dates:
        raise DataError(
            f"column(s) {', '.join(map(str, dates))} of {where} hold dates or "
            "durations, which no model family takes as they are; derive a number "
            "(e.g. months on book) or pass --drop"
        )
    X, empty = _normalise_features(X)
    if X.shape[1] == 0:
        raise DataError(f"every feature column in {where} is empty")
    _refuse_unusable_numbers(X, where)
    for column in _id_like(X) if features_warned else []:
        logger.warning(
            "column '%s' of %s holds a different whole number or text on every "
            "row, like a loan id, and is used as a feature; pass --drop %s if it "
            "is one",
            column,
            where,
            column,
        )
    true_pd = _true_pd(raw, drop, where)
    return Dataset(
        X,
        y,
        name,
        where,
        digest,
        target,
        positive,
        dropped=list(drop) + empty,
        true_pd=true_pd,
    )


def _refuse_unusable_numbers(X: pd.DataFrame, where: str) -> None:
    """Refuse infinities and magnitudes beyond float32, where trees work."""
    for column in X:
        values = X[column]
        if not pd.api.types.is_float_dtype(values):
            continue
        beyond = np.flatnonzero(values.abs().to_numpy() > FLOAT32_MAX)
        if len(beyond):
            row = int(beyond[0])
            value = float(values.iloc[row])
            raise DataError(
                f"column '{column}' of {where} holds {value!r} on row {row + 1} "
                f"({len(beyond)} row(s) in all); expected finite numbers "
                f"of magnitude up to {FLOAT32_MAX:.3g} (missing values are fine)"
            )


def _true_pd(raw: pd.DataFrame, drop: list[str], where: str) -> pd.Series | None:
    """The dropped ``true_pd`` column as probabilities, or None."""
    if TRUE_PD not in drop:
        return None
    values = pd.to_numeric(raw[TRUE_PD], errors="coerce")
    if values.isna().any() or not values.between(0, 1).all():
        raise DataError(
            f"column '{TRUE_PD}' of {where} must hold a probability in [0, 1] on "
            "every row"
        )
    return values.astype("float64").rename(TRUE_PD)


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
        # Plain values (0, not np.int64(0)); "..." only when some are not shown.
        shown = ", ".join(repr(v) for v in pd.Series(values[:5]).tolist())
        more = ", ..." if len(values) > 5 else ""
        raise DataError(
            f"target column '{target}' has {len(values)} distinct values "
            f"({shown}{more}), expected two: default and non-default"
        )
    if positive is not None:
        positive = str(positive)  # 1 and "1" both name the value read as 1
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
            f"target column '{target}' holds "
            f"{', '.join(map(repr, pd.Series(values).tolist()))}; "
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


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _frame_digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()
