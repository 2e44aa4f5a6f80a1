"""The synthetic loan book: its true PD, its reproducibility, the oracle AUC."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pandas.testing import assert_frame_equal
from sklearn.metrics import roc_auc_score

import pdflow
from pdflow.data import _true_log_odds, load_dataset, make_loanbook
from pdflow.errors import ConfigError
from pdflow.training import split_dataset

COLUMNS = [
    "age",
    "annual_income",
    "employment_length",
    "home_ownership",
    "purpose",
    "loan_amount",
    "term",
    "debt_to_income",
    "credit_utilization",
    "num_delinquencies",
    "months_since_last_delinquency",
    "inquiries_6m",
    "open_accounts",
    "months_since_oldest_account",
]


@pytest.fixture(scope="module")
def book():
    return make_loanbook(20_000, seed=11)


def test_columns_types_and_missing_values(book):
    assert list(book.columns) == [*COLUMNS, "true_pd", "default"]
    for text in ("employment_length", "home_ownership", "purpose", "term"):
        assert not pd.api.types.is_numeric_dtype(book[text]), text
    assert set(book["term"]) == {"36 months", "60 months"}
    assert set(book["home_ownership"]) == {"RENT", "MORTGAGE", "OWN", "OTHER"}
    assert {"< 1 year", "1 year", "5 years", "10+ years"} <= set(
        book["employment_length"].dropna()
    )
    missing = book.isna().mean()
    assert missing["annual_income"] == pytest.approx(0.04, abs=0.01)
    assert missing["credit_utilization"] == pytest.approx(0.05, abs=0.01)
    assert missing["employment_length"] == pytest.approx(0.06, abs=0.01)
    # Months since the last delinquency is missing exactly when there was none.
    none = book["num_delinquencies"] == 0
    assert book.loc[none, "months_since_last_delinquency"].isna().all()
    assert book.loc[~none, "months_since_last_delinquency"].notna().all()
    assert set(book["default"]) == {0, 1}


def test_default_rate_is_solved_and_drawn(book):
    assert book["true_pd"].mean() == pytest.approx(0.08, abs=1e-9)
    assert book["default"].mean() == pytest.approx(0.08, abs=0.006)
    low = make_loanbook(20_000, seed=11, default_rate=0.03)
    assert low["true_pd"].mean() == pytest.approx(0.03, abs=1e-9)
    assert low["default"].mean() == pytest.approx(0.03, abs=0.004)
    # Same applicants, same ranking: only the intercept moved.
    assert_frame_equal(low[COLUMNS], book[COLUMNS])
    assert (np.argsort(low["true_pd"]) == np.argsort(book["true_pd"])).all()


def test_same_seed_same_book_other_seed_other_book(book):
    assert_frame_equal(make_loanbook(20_000, seed=11), book)
    other = make_loanbook(20_000, seed=12)
    assert not other[COLUMNS].equals(book[COLUMNS])


def test_oracle_auc_is_realistic_not_trivial(book):
    oracle = roc_auc_score(book["default"], book["true_pd"])
    assert 0.70 < oracle < 0.85


def test_true_log_odds_match_the_documented_formula():
    rows = pd.DataFrame(
        {
            "age": [35.0, 45.0],
            "annual_income": [60_000.0, None],
            "employment_length": ["< 1 year", None],
            "home_ownership": ["RENT", "MORTGAGE"],
            "purpose": ["small_business", "car"],
            "loan_amount": [15_000.0, 8_000.0],
            "term": ["60 months", "36 months"],
            "debt_to_income": [0.40, None],
            "credit_utilization": [0.9, None],
            "num_delinquencies": [2.0, 0.0],
            "months_since_last_delinquency": [3.0, None],
            "inquiries_6m": [2.0, 0.0],
            "open_accounts": [5.0, 9.0],
            "months_since_oldest_account": [120.0, 24.0],
        }
    )
    first = (
        (2.5 * 0.40 + 5 * 0.05)
        + (1.6 * 0.81 + 0.4 * 0.9)
        - 0.55 * (math.log(60_000) - 10.9)
        + 0.45 * 2
        + 0.35
        + 0.50 * 0.9
        + 0.12 * 2
        - 0.35 * math.log(1 + 10)
        + 0.6 * 0.25
        + (0.30 + 1.2 * 0.25)
        + 0.0006 * 100
        + 0.25
        + 0.70
        + 0.20
    )
    second = 0.45 + 0.50 + 0.25 - 0.35 * math.log(3) + 0.6 * 0.25 + 0.30 - 0.10 - 0.15
    assert _true_log_odds(rows) == pytest.approx([first, second], abs=1e-12)


def test_loanbook_dataset_keeps_true_pd_out_of_the_features():
    ds = load_dataset("loanbook", rows=500, seed=3)
    assert "true_pd" not in ds.X.columns and "true_pd" in ds.dropped
    assert list(ds.X.columns) == COLUMNS
    assert ds.true_pd.equals(make_loanbook(500, seed=3)["true_pd"])
    assert ds.source == "loanbook(rows=500, seed=3, default_rate=0.08)"


def test_a_file_with_true_pd_needs_drop_and_then_keeps_it(tmp_path, caplog):
    path = tmp_path / "book.csv"
    make_loanbook(400, seed=1).to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="pdflow.data"):
        leaky = load_dataset(str(path))
    assert "true_pd" in leaky.X.columns and leaky.true_pd is None
    assert "pass --drop true_pd" in caplog.text
    ds = load_dataset(str(path), drop=["true_pd"])
    assert "true_pd" not in ds.X.columns
    assert ds.true_pd.to_numpy() == pytest.approx(pd.read_csv(path)["true_pd"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 50}, "--rows must be at least 100"),
        ({"default_rate": 0.0}, "--default-rate must lie strictly between 0 and 1"),
        ({"default_rate": 1.5}, "--default-rate must lie strictly between 0 and 1"),
    ],
)
def test_bad_loanbook_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        load_dataset("loanbook", **kwargs)


def test_default_rate_only_for_loanbook():
    with pytest.raises(ConfigError, match="--default-rate only applies"):
        load_dataset("german", default_rate=0.05)


def test_training_logs_the_oracle_auc_on_the_test_split(store):
    result = pdflow.train(
        "loanbook",
        rows=2000,
        seed=4,
        default_rate=0.1,
        model="logreg",
        tracking_uri=store,
    )
    ds = load_dataset("loanbook", rows=2000, seed=4, default_rate=0.1)
    split = split_dataset(ds, 0.25, seed=4)
    true_pd = ds.true_pd.loc[split.X_test.index]
    oracle = roc_auc_score(split.y_test, true_pd)
    run = MlflowClient(store).get_run(result.run_id)
    assert run.data.metrics["oracle_auc"] == pytest.approx(oracle)
    assert result.metrics["oracle_auc"] == pytest.approx(oracle)
    assert run.data.params["default_rate"] == "0.1"
    assert run.data.params["rows"] == "2000"
    features = MlflowClient(store).download_artifacts(result.run_id, "features.json")
    assert "true_pd" in json.load(open(features))["dropped"]
    assert 0 < run.data.metrics["true_pd_mae"] < 0.1


def test_cli_writes_a_loanbook_and_reports_its_oracle_auc(tmp_path, run_cli):
    out = tmp_path / "book" / "loans.parquet"
    done = run_cli("data", "loanbook", "--rows", "3000", "--seed", "9", "--out", out)
    assert done.code == 0, done.stderr
    written = pd.read_parquet(out)
    assert_frame_equal(written, make_loanbook(3000, seed=9))
    oracle = roc_auc_score(written["default"], written["true_pd"])
    assert f"oracle AUC {oracle:.4f}" in done.stdout
    assert "wrote 3000 loans" in done.stdout


def test_cli_loanbook_refuses_a_bad_output_name(tmp_path, run_cli):
    done = run_cli("data", "loanbook", "--out", tmp_path / "loans.xlsx")
    assert done.code == 2
    assert (
        done.stderr == f"pdflow: error: --out '{tmp_path / 'loans.xlsx'}' must "
        "end in .csv or .parquet\n"
    )
    assert not (tmp_path / "loans.xlsx").exists()
