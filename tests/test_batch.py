"""``pdflow score``: chunked batch scoring, id columns, globs and bad rows."""

from __future__ import annotations

import contextlib
import json
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest

import pdflow
from pdflow.data import load_dataset
from pdflow.scoring import OUTPUT_COLUMNS


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with contextlib.chdir(folder):  # run artifacts beside the store, not in the repo
        result = pdflow.train("german", params={"n_estimators": 15}, tracking_uri=store)
    return store, result.model_uri


@pytest.fixture
def loans(tmp_path):
    frame = load_dataset("german").X.reset_index(drop=True)
    return frame.assign(loan_id=[f"L{i:04d}" for i in range(len(frame))])


def _expected(store, uri, X):
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    return mlflow.sklearn.load_model(uri).predict_proba(X)[:, 1]


def test_chunks_and_files_score_like_the_model_in_process(
    model, loans, tmp_path, run_cli
):
    store, uri = model
    loans.iloc[:400].to_csv(tmp_path / "part-1.csv", index=False)
    loans.iloc[400:].to_parquet(tmp_path / "part-2.parquet", index=False)
    out = tmp_path / "scored.parquet"
    done = run_cli(
        "score", "--model-uri", uri, "--input", str(tmp_path / "part-1.csv"),
        "--input", str(tmp_path / "part-2.*"), "--output", out, "--id-cols",
        "loan_id", "--chunk-size", "128", "--json", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == 1000 and summary["rejected"] == 0
    assert len(summary["files"]) == 2

    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["loan_id", *OUTPUT_COLUMNS]
    assert list(scored["loan_id"]) == list(loans["loan_id"])
    expected = _expected(store, uri, loans.drop(columns="loan_id"))
    np.testing.assert_allclose(scored["pd"], expected, rtol=0, atol=1e-12)
    assert summary["mean_pd"] == pytest.approx(expected.mean())


def test_bad_rows_fail_the_job_and_nothing_is_written(model, loans, tmp_path, run_cli):
    store, uri = model
    bad = loans.astype({"credit_amount": object})
    bad.loc[[6, 700], "credit_amount"] = "lots"
    bad.to_csv(tmp_path / "loans.csv", index=False)
    out = tmp_path / "scored.csv"
    done = run_cli(
        "score", "--model-uri", uri, "--input", tmp_path / "loans.csv", "--output",
        out, "--chunk-size", "500", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 1
    assert done.stderr.count("\n") == 1
    assert (
        "row 7: column 'credit_amount' must be a finite number, got 'lots'"
        in done.stderr
    )
    assert not out.exists()
    assert not list(tmp_path.glob(".scored*"))


def test_skip_writes_good_rows_and_a_file_of_rejects(model, loans, tmp_path, run_cli):
    store, uri = model
    bad = loans.astype({"credit_amount": object, "duration_in_month": object})
    bad.loc[6, "credit_amount"] = "lots"
    bad.loc[700, "duration_in_month"] = "two years"
    bad.to_csv(tmp_path / "loans.csv", index=False)
    out = tmp_path / "scored.csv"
    done = run_cli(
        "score", "--model-uri", uri, "--input", tmp_path / "loans.csv", "--output",
        out, "--on-error", "skip", "--chunk-size", "300", "--no-reasons",
        "--id-cols", "loan_id", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    scored = pd.read_csv(out)
    assert len(scored) == 998 and "L0006" not in set(scored["loan_id"])
    assert scored["reason_1"].isna().all()
    rejected = pd.read_csv(tmp_path / "scored.rejected.csv")
    assert list(rejected["row"]) == [7, 701]
    assert list(rejected["loan_id"]) == ["L0006", "L0700"]
    assert "column 'duration_in_month' must be a finite number" in rejected["reason"][1]
    good = loans.drop(index=[6, 700]).drop(columns="loan_id")
    np.testing.assert_allclose(scored["pd"], _expected(store, uri, good), atol=1e-12)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--input", "nothing-*.csv"], 1, "--input 'nothing-*.csv' matches no file"),
        (["--output", "out.json"], 2, "--output 'out.json' must end in .csv"),
        (["--on-error", "ignore"], 2, "--on-error must be fail or skip"),
        (["--id-cols", "nope"], 1, "has no id column(s) nope"),
    ],
)
def test_bad_options_fail_in_one_line(
    model, loans, tmp_path, run_cli, args, code, message
):
    store, uri = model
    monkey_input = tmp_path / "loans.csv"
    loans.head(10).to_csv(monkey_input, index=False)
    base = {"--input": str(monkey_input), "--output": str(tmp_path / "o.csv")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value if flag != "--input" else str(tmp_path / value)
    flat = [item for pair in base.items() for item in pair]
    done = run_cli("score", "--model-uri", uri, *flat, "--tracking-uri", store)
    assert done.code == code
    assert message.replace("nothing-*", str(tmp_path / "nothing-*")) in done.stderr


def test_a_missing_model_column_fails_the_file(model, loans, tmp_path, run_cli):
    store, uri = model
    loans.drop(columns="purpose").to_csv(tmp_path / "loans.csv", index=False)
    done = run_cli(
        "score", "--model-uri", uri, "--input", tmp_path / "loans.csv",
        "--output", tmp_path / "o.csv", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 1
    assert "lacks column(s) the model needs: purpose" in done.stderr


def test_infinite_and_huge_numbers_are_rejected_rows_not_a_crash(
    model, loans, tmp_path, run_cli
):
    store, uri = model
    bad = loans.copy()
    bad.loc[3, "credit_amount"] = np.inf
    bad.loc[5, "duration_in_month"] = 1e308  # infinite once a tree casts it to float32
    bad.to_csv(tmp_path / "loans.csv", index=False)
    out = tmp_path / "scored.csv"
    done = run_cli(
        "score", "--model-uri", uri, "--input", tmp_path / "loans.csv", "--output",
        out, "--on-error", "skip", "--id-cols", "loan_id", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert len(pd.read_csv(out)) == 998
    rejected = pd.read_csv(tmp_path / "scored.rejected.csv")
    assert list(rejected["loan_id"]) == ["L0003", "L0005"]
    assert list(rejected["reason"]) == [
        "column 'credit_amount' must be a finite number, got 'inf'",
        "column 'duration_in_month' must be a finite number, got '1e+308'",
    ]

    # Run again on clean loans: the old file of rejects must not look current.
    loans.to_csv(tmp_path / "loans.csv", index=False)
    done = run_cli(
        "score", "--model-uri", uri, "--input", tmp_path / "loans.csv", "--output",
        out, "--on-error", "skip", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert not (tmp_path / "scored.rejected.csv").exists()


def test_nothing_to_score_is_an_error_not_a_crash(model, loans, tmp_path, run_cli):
    store, uri = model
    loans.head(0).to_csv(tmp_path / "header.csv", index=False)
    bad = loans.head(2).astype({"credit_amount": object})
    bad["credit_amount"] = "lots"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    for name, extra, message in [
        ("header.csv", [], "holds no loans, only a header: no output written"),
        ("bad.csv", ["--on-error", "skip"], "all 2 row(s) were rejected, see "),
    ]:
        out = tmp_path / "out.parquet"
        done = run_cli(
            "score", "--model-uri", uri, "--input", tmp_path / name, "--output", out,
            *extra, "--tracking-uri", store,
        )  # fmt: skip
        assert done.code == 1
        assert done.stderr.count("\n") == 1 and message in done.stderr
        assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert len(pd.read_csv(tmp_path / "out.rejected.csv")) == 2


@pytest.mark.parametrize("command", ["score", "predict"])
def test_the_output_may_not_be_the_input(model, loans, tmp_path, run_cli, command):
    store, uri = model
    path = tmp_path / "loans.csv"
    loans.head(20).to_csv(path, index=False)
    before = path.read_bytes()
    done = run_cli(
        command, "--model-uri", uri, "--input", path, "--output", path,
        "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 2
    assert f"--output '{path}' is the input file" in done.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", ["score", "predict"])
def test_wide_files_score_without_pandas_warnings(
    model, loans, tmp_path, run_cli, command
):
    store, uri = model
    extra = pd.DataFrame(
        np.ones((len(loans), 120)), columns=[f"x{i}" for i in range(120)]
    )
    pd.concat([loans, extra], axis=1).to_csv(tmp_path / "wide.csv", index=False)
    out = tmp_path / "out.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        done = run_cli(
            command, "--model-uri", uri, "--input", tmp_path / "wide.csv",
            "--output", out, "--tracking-uri", store,
        )  # fmt: skip
    assert done.code == 0, done.stderr
    scored = pd.read_csv(out)
    expected = _expected(store, uri, loans.drop(columns="loan_id"))
    np.testing.assert_allclose(scored["pd"], expected, atol=1e-12)
