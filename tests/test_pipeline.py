"""End to end on a fresh SQLite store: train, track, register, load, predict."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import pdflow
from pdflow.data import load_dataset
from pdflow.scoring import OUTPUT_COLUMNS
from pdflow.training import split_dataset

from .conftest import run_process, shared_file
from .test_data import GERMAN_SHA256

FAST = {"n_estimators": 25}


@pytest.fixture
def trained(store):
    """Two trainings on German credit into one new store."""
    first = pdflow.train("german", params=FAST, tracking_uri=store)
    second = pdflow.train("german", params=FAST, seed=7, tracking_uri=store)
    return store, first, second


def test_each_training_registers_a_new_version(trained):
    store, first, second = trained
    assert (first.model_version, second.model_version) == (1, 2)
    assert first.model_name == "pd_model_v1"
    assert first.experiment == "PD_Classification_Experiment"
    assert second.model_uri == "models:/pd_model_v1/2"
    assert first.run_id != second.run_id


def test_run_holds_params_metrics_tags_inputs_and_artifacts(trained):
    store, first, _ = trained
    client = MlflowClient(store)
    run = client.get_run(first.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "PD_Classification_Experiment"
    assert run.info.status == "FINISHED"

    params = run.data.params
    assert params["model"] == "rf"
    assert params["model.n_estimators"] == "25"
    assert params["test_size"] == "0.25" and params["seed"] == "42"
    assert params["n_train"] == "750" and params["n_test"] == "250"
    assert params["positive"] == "bad"

    metrics = run.data.metrics
    for name in (
        "accuracy",
        "roc_auc",
        "gini",
        "ks",
        "brier",
        "log_loss",
        "precision",
        "recall",
        "f1",
        "default_rate",
    ):
        assert metrics[name] == pytest.approx(first.metrics[name])
    assert metrics["default_rate"] == pytest.approx(0.3)  # 75 of 250 test loans
    assert metrics["gini"] == pytest.approx(2 * metrics["roc_auc"] - 1)

    tags = run.data.tags
    assert tags["pdflow.data_digest"] == GERMAN_SHA256
    assert tags["pdflow.version"] == pdflow.__version__
    assert tags["pdflow.data_source"] == "pdflow:datasets/german_credit.csv"

    inputs = {
        i.tags[0].value: i.dataset
        for i in run.inputs.dataset_inputs
        if i.tags[0].key == "mlflow.data.context"
    }
    assert set(inputs) == {"training", "testing"}
    assert json.loads(inputs["training"].profile)["num_rows"] == 750

    artifacts = {a.path for a in client.list_artifacts(first.run_id)}
    plots = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert {"metrics.json", "features.json", "plots"} <= artifacts
    assert plots == {
        f"plots/{n}.png"
        for n in ("confusion_matrix", "roc_curve", "calibration_curve", "ks_plot")
    }
    local = mlflow.artifacts.download_artifacts(
        run_id=first.run_id, artifact_path="plots/roc_curve.png", tracking_uri=store
    )
    assert open(local, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_model_logged_with_signature_example_requirements_and_skops(trained):
    store, first, _ = trained
    mlflow.set_tracking_uri(store)
    info = mlflow.models.get_model_info(first.model_uri)
    names = info.signature.inputs.input_names()
    assert "duration_in_month" in names and "creditability" not in names
    assert info.signature.outputs.input_names() == [
        "pd", "grade", "score", "reason_1", "reason_2", "reason_3"
    ]  # fmt: skip
    assert info.flavors["python_function"]["loader_module"] == "pdflow.flavor"
    assert "pdflow" in info.flavors
    assert info.saved_input_example_info["type"] == "dataframe"
    sk = info.flavors["sklearn"]
    assert sk["serialization_format"] == "skops"
    assert "sklearn.tree._tree.Tree" in sk["skops_trusted_types"]
    reqs = mlflow.pyfunc.get_model_dependencies(first.model_uri)
    text = open(reqs).read()
    assert "mlflow==3.17.2" in text and "scikit-learn==" in text


def test_version_is_tagged_with_run_digest_and_metrics(trained):
    store, first, _ = trained
    mv = MlflowClient(store).get_model_version("pd_model_v1", "1")
    assert mv.run_id == first.run_id
    assert mv.tags["pdflow.run_id"] == first.run_id
    assert mv.tags["pdflow.data_digest"] == GERMAN_SHA256
    assert float(mv.tags["roc_auc"]) == pytest.approx(
        first.metrics["roc_auc"], abs=1e-6
    )


LOADER = textwrap.dedent("""
    import json, sys
    import mlflow, pandas as pd
    uri, store, data = sys.argv[1:4]
    mlflow.set_tracking_uri(store)
    X = pd.read_parquet(data)
    sk = mlflow.sklearn.load_model(uri).predict_proba(X)[:, 1]
    py = mlflow.pyfunc.load_model(uri).predict(X)["pd"].to_numpy()
    print(json.dumps({"sklearn": sk.tolist(), "pyfunc": py.tolist()}))
""")


def test_fresh_process_loads_every_kind_of_uri_with_training_time_pds(
    trained, tmp_path
):
    store, first, second = trained
    pdflow.promote("pd_model_v1", 1, stage="Production", tracking_uri=store)
    pdflow.promote("pd_model_v1", 2, alias="challenger", tracking_uri=store)
    X_test = split_dataset(load_dataset("german"), 0.25, seed=42).X_test
    data = tmp_path / "x_test.parquet"
    X_test.to_parquet(data)
    mlflow.set_tracking_uri(store)
    expected_1 = mlflow.sklearn.load_model(first.model_uri).predict_proba(X_test)[:, 1]
    expected_2 = mlflow.sklearn.load_model(second.model_uri).predict_proba(X_test)[:, 1]
    # The reloaded model reproduces the test AUC recorded at training time.
    from sklearn.metrics import roc_auc_score

    y_test = split_dataset(load_dataset("german"), 0.25, seed=42).y_test
    assert roc_auc_score(y_test, expected_1) == pytest.approx(first.metrics["roc_auc"])

    cases = {
        "models:/pd_model_v1/latest": expected_2,
        "models:/pd_model_v1/1": expected_1,
        "models:/pd_model_v1/Production": expected_1,
        "models:/pd_model_v1@champion": expected_1,
        "models:/pd_model_v1@challenger": expected_2,
    }
    for uri, expected in cases.items():
        done = subprocess.run(
            [sys.executable, "-c", LOADER, uri, store, str(data)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        got = json.loads(done.stdout.strip().splitlines()[-1])
        np.testing.assert_array_equal(got["sklearn"], expected, err_msg=uri)
        np.testing.assert_array_equal(got["pyfunc"], expected, err_msg=uri)


def test_predict_writes_rows_with_pd_column(trained, tmp_path, run_cli):
    store, first, _ = trained
    loans = tmp_path / "loans.csv"
    raw = pd.read_csv(shared_file("german_credit.csv")).head(40)
    raw.to_csv(loans, index=False)
    out = tmp_path / "scored.parquet"
    done = run_cli(
        "predict",
        "--model-uri",
        "models:/pd_model_v1/1",
        "--input",
        loans,
        "--output",
        out,
        "--tracking-uri",
        store,
    )
    assert done.code == 0, done.stderr
    scored = pd.read_parquet(out)
    assert list(scored.columns) == [*raw.columns, *OUTPUT_COLUMNS]
    assert set(scored["grade"]) <= {str(g) for g in range(1, 10)}
    assert scored["reason_1"].notna().all()
    X = load_dataset(str(loans), target="creditability", positive="bad").X
    mlflow.set_tracking_uri(store)
    expected = mlflow.sklearn.load_model(first.model_uri).predict_proba(X)[:, 1]
    np.testing.assert_allclose(scored["pd"], expected, rtol=0, atol=1e-12)


def test_hmeq_text_columns_and_missing_values_train_and_score(store, tmp_path, run_cli):
    hmeq = shared_file("hmeq.csv")
    result = pdflow.train(
        str(hmeq), target="BAD", params=FAST, model_name="hmeq", tracking_uri=store
    )
    assert result.metrics["roc_auc"] > 0.85  # published RF results on HMEQ are ~0.9+
    out = tmp_path / "hmeq_scored.csv"
    done = run_cli(
        "predict",
        "--model-uri",
        "models:/hmeq/latest",
        "--input",
        hmeq,
        "--output",
        out,
        "--tracking-uri",
        store,
    )
    assert done.code == 0, done.stderr
    scored = pd.read_csv(out)
    assert len(scored) == 5960 and scored["pd"].between(0, 1).all()

    # The same loans as a DataFrame, as a notebook has them: the same model.
    again = pdflow.train(
        pd.read_csv(hmeq), target="BAD", params=FAST, model_name="hmeq",
        tracking_uri=store,
    )  # fmt: skip
    assert again.model_version == 2
    assert again.metrics == result.metrics
    assert again.params["data"] == "DataFrame(5960 x 13)"


def test_train_json_output_via_console_script(store, tmp_path):
    done = run_process(
        "train",
        "--data",
        "synthetic",
        "--rows",
        "2000",
        "--seed",
        "5",
        "--n-estimators",
        "20",
        "--json",
        "--tracking-uri",
        store,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert {
        "run_id",
        "experiment",
        "model_name",
        "model_version",
        "model_uri",
        "metrics",
    } <= set(payload)
    assert payload["model_version"] == 1
    assert payload["metrics"]["default_rate"] == pytest.approx(0.1, abs=0.03)
    assert set(payload["metrics"]) >= {
        "accuracy",
        "roc_auc",
        "gini",
        "ks",
        "brier",
        "log_loss",
        "precision",
        "recall",
        "f1",
    }


def test_readable_summary_without_json(store, run_cli):
    done = run_cli("train", "--n-estimators", "10", "--tracking-uri", store)
    assert done.code == 0
    assert "pd_model_v1 version 1 registered" in done.stdout
    assert "roc_auc" in done.stdout


def test_data_synthetic_command_writes_file(tmp_path, run_cli):
    out = tmp_path / "loans.parquet"
    done = run_cli("data", "synthetic", "--rows", "3000", "--seed", "1", "--out", out)
    assert done.code == 0
    frame = pd.read_parquet(out)
    assert frame.shape == (3000, 11)
    pd.testing.assert_frame_equal(frame, pdflow.make_synthetic(3000, seed=1))


def test_default_store_is_sqlite_file_in_working_folder(store, tmp_path):
    result = pdflow.train("german", params=FAST)  # no URI: MLflow's default
    assert (tmp_path / "mlflow.db").exists()
    assert (tmp_path / "mlruns").is_dir()
    assert MlflowClient("sqlite:///mlflow.db").get_run(result.run_id)


def test_env_var_overrides_default_store(store, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    pdflow.train("german", params=FAST)
    assert other.exists() and not (tmp_path / "mlflow.db").exists()
