"""Drift monitoring: new loans against a registered version's training sample."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import pdflow
from pdflow import monitoring
from pdflow.data import TRUE_PD, make_loanbook
from pdflow.errors import ConfigError, DataError
from pdflow.stability import psi

ROWS = 3000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One logistic regression on a loan book, in a store of its own."""
    folder = tmp_path_factory.mktemp("monitoring")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # run artifacts go beside the store, not into the repo
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = pdflow.train(
            "loanbook", rows=4000, seed=1, model="logreg", tracking_uri=store
        )
        yield store, result


def _client(store: str) -> MlflowClient:
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    return MlflowClient(store, registry_uri=store)


def _new_loans(seed: int, *, shift: bool = False) -> pd.DataFrame:
    """A loan book as it arrives for scoring: no default flag, no true PD."""
    book = make_loanbook(ROWS, seed=seed).drop(columns=["default", TRUE_PD])
    if shift:
        book["debt_to_income"] = book["debt_to_income"] * 1.8
        book["credit_utilization"] = (book["credit_utilization"] * 1.5).clip(upper=1.2)
    return book


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _artifact(run_id: str, name: str) -> pd.DataFrame:
    return pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name)
    )


def test_same_population_is_stable_and_the_run_records_what_was_returned(
    trained, tmp_path
):
    store, model = trained
    loans = _new_loans(seed=7).assign(loan_id=np.arange(ROWS))  # an extra column
    path = _write(loans, tmp_path / "same.csv")

    result = monitoring.monitor(model.model_uri, path, tracking_uri=store)
    assert result.psi_score < 0.10
    assert (result.band, result.shifted, result.n_loans) == ("stable", False, ROWS)
    assert "loan_id" not in set(result.csi["feature"])

    client = _client(store)
    run = client.get_run(result.run_id)
    name, version = model.model_name, model.model_version
    assert run.info.run_name == f"monitor-{name}-v{version}"
    assert run.data.tags["pdflow.monitors"] == f"models:/{name}/{version}"
    assert run.data.tags["pdflow.model_run_id"] == model.run_id
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert run.data.tags["pdflow.data_digest"] == digest == result.data_digest
    assert run.data.tags["pdflow.data_source"] == str(path.resolve())
    for metric in monitoring.METRICS:
        assert run.data.metrics[metric] == pytest.approx(getattr(result, metric))

    psi_score_table = _artifact(result.run_id, monitoring.PSI_TABLE_ARTIFACT)
    assert psi_score_table["psi"].sum() == pytest.approx(result.psi_score)
    csi = _artifact(result.run_id, monitoring.CSI_TABLE_ARTIFACT)
    pd.testing.assert_frame_equal(csi, result.csi, check_dtype=False)
    logged = {f.path for f in client.list_artifacts(result.run_id, "monitoring")}
    assert monitoring.DRIFT_FIGURE_ARTIFACT in logged

    tags = client.get_model_version(name, str(version)).tags
    assert tags["pdflow.last_monitoring"] == result.run_id
    assert float(tags["pdflow.last_monitoring_psi"]) == result.psi_score


def test_result_is_json_ready_with_csi_as_records(trained, tmp_path):
    store, model = trained
    path = _write(_new_loans(seed=8), tmp_path / "loans.parquet")
    result = monitoring.monitor(model.model_uri, path, tracking_uri=store)

    back = json.loads(json.dumps(result.to_dict()))
    assert back["psi_score"] == result.psi_score
    assert back["csi"] == result.csi.to_dict(orient="records")
    assert set(back["csi"][0]) == {"feature", "csi", "band"}


def test_shifted_population_is_flagged_with_debt_to_income_among_the_top_features(
    trained, tmp_path
):
    store, model = trained
    path = _write(_new_loans(seed=9, shift=True), tmp_path / "shifted.parquet")

    result = monitoring.monitor(model.model_uri, path, tracking_uri=store)
    assert result.psi_score > 0.25
    assert (result.band, result.shifted) == ("shift", True)
    assert "debt_to_income" in list(result.csi["feature"].head(2))
    assert result.n_features_shifted >= 1
    assert result.max_csi == result.csi["csi"].max()
    assert result.mean_pd_new > result.mean_pd_reference


@pytest.mark.parametrize("bins", [5, 10])
def test_psi_score_is_the_psi_of_pds_scored_directly(trained, tmp_path, bins):
    store, model = trained
    loans = _new_loans(seed=10, shift=True)
    path = _write(loans, tmp_path / "loans.parquet")
    result = monitoring.monitor(model.model_uri, path, tracking_uri=store, bins=bins)

    # The slow way: the training sample as the run kept it, scored by the
    # scikit-learn model itself, and the PSI of the two PD vectors.
    client = _client(store)
    target = client.get_run(model.run_id).data.params["target"]
    sample = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=model.run_id, artifact_path="data/train_sample.parquet"
        )
    )
    reference = sample.drop(columns=[target])
    estimator = mlflow.sklearn.load_model(model.model_uri)
    pd_reference = estimator.predict_proba(reference)[:, 1]
    pd_new = estimator.predict_proba(loans[list(reference.columns)])[:, 1]

    expected = psi(pd_reference, pd_new, bins=bins)
    assert result.psi_score == pytest.approx(expected, rel=1e-9)
    assert result.mean_pd_reference == pytest.approx(pd_reference.mean(), rel=1e-9)
    assert result.mean_pd_new == pytest.approx(pd_new.mean(), rel=1e-9)


def test_threshold_decides_shifted_not_the_band(trained, tmp_path):
    store, model = trained
    path = _write(_new_loans(seed=11), tmp_path / "loans.csv")
    result = monitoring.monitor(
        model.model_uri, path, tracking_uri=store, threshold=1e-6
    )
    assert (result.band, result.shifted) == ("stable", True)


def _count_runs(client: MlflowClient) -> int:
    ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(ids, max_results=1000))


def test_missing_column_is_named_and_nothing_is_logged(trained, tmp_path):
    store, model = trained
    loans = _new_loans(seed=12).drop(columns=["debt_to_income"])
    path = _write(loans, tmp_path / "no_dti.csv")
    client = _client(store)
    before = _count_runs(client)

    with pytest.raises(DataError, match=r"no_dti\.csv lacks .*debt_to_income"):
        monitoring.monitor(
            model.model_uri, path, tracking_uri=store, experiment="never-made"
        )
    assert _count_runs(client) == before
    assert client.get_experiment_by_name("never-made") is None


def test_rows_the_model_cannot_score_are_named_and_nothing_is_logged(trained, tmp_path):
    store, model = trained
    loans = _new_loans(seed=13).astype({"age": object})
    loans.loc[2, "age"] = "forty"
    path = _write(loans, tmp_path / "bad_age.csv")
    client = _client(store)
    before = _count_runs(client)

    with pytest.raises(DataError, match=r"1 row\(s\) cannot be scored.*row 3: .*'age'"):
        monitoring.monitor(model.model_uri, path, tracking_uri=store)
    assert _count_runs(client) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bins": 1}, "--bins must be at least 2, got 1"),
        (
            {"threshold": 0.0},
            r"the PSI threshold \(--max-psi\) must be positive, got 0\.0",
        ),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(tmp_path, options, message):
    missing = tmp_path / "never-read.csv"
    with pytest.raises(ConfigError, match=message):
        monitoring.monitor("models:/any/1", missing, **options)


def test_cli_exits_3_on_a_shifted_population_and_0_on_a_stable_one(
    trained, tmp_path, run_cli
):
    store, model = trained
    stable = _write(_new_loans(seed=21), tmp_path / "stable.csv")
    shifted = _write(_new_loans(seed=22, shift=True), tmp_path / "shifted.parquet")
    base = ["monitor", "--model-uri", model.model_uri, "--tracking-uri", store]

    calm = run_cli(*base, "--input", stable)
    assert calm.code == 0, calm.stderr
    assert "PSI of the PD" in calm.stdout and "(stable)" in calm.stdout

    alarm = run_cli(*base, "--input", shifted, "--json")
    assert alarm.code == 3
    answer = json.loads(alarm.stdout)
    assert answer["shifted"] is True and answer["psi_score"] > 0.25
