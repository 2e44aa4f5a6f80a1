"""Scoring on a local Spark gives the PDs of scoring with pandas."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pandas as pd
import pytest

import pdflow
from pdflow.data import load_dataset

pyspark = pytest.importorskip(
    "pyspark", reason="pyspark is not installed: pip install 'pdflow[spark]'"
)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The same Parquet file scored by both engines through the CLI."""
    from pdflow import cli

    folder = tmp_path_factory.mktemp("spark")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with contextlib.chdir(folder):  # run artifacts beside the store, not in the repo
        pdflow.train("german", params={"n_estimators": 15}, tracking_uri=store)
    loans = load_dataset("german").X.reset_index(drop=True)
    # Whole numbers as a loan file holds them (int64): Spark reads them as longs.
    whole = [c for c in loans if loans[c].dtype.kind == "f"]
    loans[whole] = loans[whole].astype("int64")
    loans["loan_id"] = [f"L{i:04d}" for i in range(len(loans))]
    source = folder / "loans.parquet"
    loans.to_parquet(source, index=False)

    outputs = {}
    for engine in ("pandas", "spark"):
        out = folder / f"{engine}.parquet"
        code = cli.main(
            ["score", "--model-uri", "models:/pd_model_v1/1", "--input", str(source),
             "--output", str(out), "--engine", engine, "--id-cols", "loan_id",
             "--json", "--tracking-uri", store]
        )  # fmt: skip
        assert code == 0
        outputs[engine] = pd.read_parquet(out).sort_values("loan_id")
    return store, loans, outputs


def test_spark_and_pandas_give_equal_pds_grades_and_reasons(scored):
    _, loans, outputs = scored
    pandas_out, spark_out = outputs["pandas"], outputs["spark"]
    assert len(spark_out) == len(loans) == 1000
    assert list(spark_out["loan_id"]) == list(pandas_out["loan_id"])
    np.testing.assert_allclose(spark_out["pd"], pandas_out["pd"], rtol=0, atol=1e-12)
    assert list(spark_out["grade"]) == list(pandas_out["grade"])
    for reason in ("reason_1", "reason_2", "reason_3"):
        assert list(spark_out[reason].fillna("-")) == list(
            pandas_out[reason].fillna("-")
        )
    assert pandas_out["reason_3"].isna().any()  # some loans have fewer reasons


def test_spark_udf_as_a_double_is_the_pd_not_its_complement(scored):
    import mlflow
    from pyspark.sql import functions as F

    from pdflow.spark_engine import spark_session

    store, loans, outputs = scored
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    spark = spark_session()
    # Called directly, MLflow's signature check refuses longs for the model's
    # doubles (pdflow score widens them itself): hand it doubles.
    frame = spark.createDataFrame(
        loans.drop(columns="loan_id")
        .head(50)
        .astype({c: float for c in loans if loans[c].dtype.kind == "i"})
    )
    udf = mlflow.pyfunc.spark_udf(
        spark, "models:/pd_model_v1/1", result_type="double", env_manager="local"
    )
    got = frame.select(udf(F.struct(*frame.columns)).alias("p")).toPandas()["p"]
    expected = outputs["pandas"]["pd"].head(50)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-12)
    assert json.dumps(float(got.iloc[0]))  # a plain number, not a struct


def test_a_text_in_a_number_column_is_one_line_and_leaves_no_output(
    scored, tmp_path, capsys
):
    from pdflow import cli

    store, loans, _ = scored
    bad = loans.head(20).astype({"duration_in_month": str})
    bad.loc[3, "duration_in_month"] = "twelve"
    source, out = tmp_path / "bad.parquet", tmp_path / "out.parquet"
    bad.to_parquet(source, index=False)
    code = cli.main(
        ["score", "--model-uri", "models:/pd_model_v1/1", "--input", str(source),
         "--output", str(out), "--engine", "spark", "--id-cols", "loan_id",
         "--tracking-uri", store]
    )  # fmt: skip
    assert code == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1, said
    assert said[0].startswith("pdflow: error: Spark could not score: ")
    assert "duration_in_month" in said[0]
    assert not out.exists()


def test_spark_needs_id_columns(scored, tmp_path, capsys):
    from pdflow import cli

    store, loans, _ = scored
    loans.head(5).to_parquet(tmp_path / "in.parquet", index=False)
    code = cli.main(
        ["score", "--model-uri", "models:/pd_model_v1/1", "--input",
         str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out.parquet"),
         "--engine", "spark", "--tracking-uri", store]
    )  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "pdflow: error: --engine spark needs --id-cols: Spark writes its answer in "
        "parts, with no row order to number the loans by"
    )
