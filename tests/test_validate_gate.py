"""The validation suite as logged with a run, ``pdflow validate``, and the gate."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import pdflow
from pdflow import validation
from pdflow.data import load_dataset

FAST = ["--n-estimators", "15"]
WEAK = ["--n-estimators", "1", "--max-depth", "1"]


def _artifacts(client, run_id, path=""):
    found = []
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found += _artifacts(client, run_id, item.path)
        else:
            found.append(item.path)
    return found


def _state(client) -> tuple[dict[str, str], dict]:
    versions = client.search_model_versions("name = 'pd_model_v1'")
    aliases = client.get_registered_model("pd_model_v1").aliases
    return {str(v.version): v.current_stage for v in versions}, dict(aliases)


def test_training_logs_the_suite_and_links_the_report(store):
    result = pdflow.train("german", params={"n_estimators": 15}, tracking_uri=store)
    client = MlflowClient(store)
    paths = set(_artifacts(client, result.run_id))
    for name in ("grades", "hosmer_lemeshow", "csi", "psi_score", "importance"):
        assert f"validation/{name}.csv" in paths
    assert {
        "validation/report.html",
        "validation/cap_curve.png",
        "validation/calibration_by_grade.png",
        "data/test_split.parquet",
        "data/train_sample.parquet",
    } <= paths
    tags = client.get_model_version("pd_model_v1", "1").tags
    assert tags["pdflow.validation_report"].endswith(
        f"{result.run_id}/artifacts/validation/report.html"
    )

    # Every number traces back: the logged test loans and the registered model
    # give the logged Hosmer-Lemeshow p-value and AUC interval again.
    local = client.download_artifacts(result.run_id, "data/test_split.parquet")
    test = pd.read_parquet(local)
    model = pdflow.load_model("models:/pd_model_v1/1", tracking_uri=store)
    pds = model.predict_proba(test.drop(columns=["creditability"]))[:, 1]
    hl = validation.hosmer_lemeshow_test(test["creditability"], pds)
    ci = validation.delong_auc_ci(test["creditability"], pds)
    assert result.metrics["hl_pvalue"] == pytest.approx(hl.p_value, rel=1e-9)
    assert result.metrics["auc_ci_lower"] == pytest.approx(ci.lower, rel=1e-9)
    assert result.metrics["auc_ci_lower"] < result.metrics["roc_auc"]
    assert len(test) == 250

    html = client.download_artifacts(result.run_id, "validation/report.html")
    text = open(html, encoding="utf-8").read()
    assert result.run_id in text and result.data_digest in text
    assert text.count('src="data:image/png;base64,') == 2


def test_a_blocked_promotion_exits_3_changes_nothing_and_says_why(store, run_cli):
    assert run_cli("train", *FAST, "--promote", "--tracking-uri", store).code == 0
    weak = run_cli("train", *WEAK, "--promote", "--json", "--tracking-uri", store)
    assert weak.code == 3
    assert json.loads(weak.stdout)["model_version"] == 2

    done = run_cli("promote", "--version", "2", "--stage", "Production",
                   "--tracking-uri", store)  # fmt: skip
    assert done.code == 3
    assert done.stderr.count("\n") == 1
    assert "pd_model_v1 version 2 not promoted to Production" in done.stderr
    assert "does not beat Production version 1's" in done.stderr

    client = MlflowClient(store)
    assert _state(client) == ({"1": "Production", "2": "None"}, {"champion": 1})
    tags = client.get_model_version("pd_model_v1", "2").tags
    assert tags["pdflow.gate"] == "failed"
    assert "does not beat" in tags["pdflow.gate_reasons"]
    checks = json.loads(tags["pdflow.gate_checks"])
    assert checks["passed"] is False and checks["champion_version"] == "1"
    assert "pdflow.promoted_by" not in tags


def test_force_needs_a_reason_and_records_who_forced_it(store, run_cli, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "cro-jane")
    run_cli("train", *FAST, "--promote", "--tracking-uri", store)
    run_cli("train", *WEAK, "--tracking-uri", store)
    promote = ["promote", "--version", "2", "--stage", "Production", "--force"]

    refused = run_cli(*promote, "--tracking-uri", store)
    assert refused.code == 2 and "--force needs --reason" in refused.stderr
    client = MlflowClient(store)
    assert _state(client) == ({"1": "Production", "2": "None"}, {"champion": 1})

    done = run_cli(*promote, "--reason", "MRC-7 override", "--tracking-uri", store)
    assert done.code == 0, done.stderr
    assert _state(client) == ({"1": "Archived", "2": "Production"}, {"champion": 2})
    tags = client.get_model_version("pd_model_v1", "2").tags
    assert tags["pdflow.gate"] == "forced"
    assert tags["pdflow.forced_by"] == "cro-jane"
    assert tags["pdflow.forced_reason"] == "MRC-7 override"
    assert json.loads(tags["pdflow.promotion_history"])[-1]["gate"] == "forced"


def test_thresholds_come_from_pdflow_toml_and_flags_override(store, run_cli, tmp_path):
    (tmp_path / "pdflow.toml").write_text("[gate]\nmin_auc = 0.99\n")
    blocked = run_cli("train", *FAST, "--promote", "--tracking-uri", store)
    assert blocked.code == 3
    assert (
        "test AUC 0." in blocked.stdout and "below the minimum 0.99" in blocked.stdout
    )
    client = MlflowClient(store)
    assert _state(client) == ({"1": "None"}, {})

    passed = run_cli("promote", "--version", "1", "--stage", "Production",
                     "--min-auc", "0.7", "--tracking-uri", store)  # fmt: skip
    assert passed.code == 0, passed.stderr
    assert "passed the gate" in passed.stdout
    assert _state(client) == ({"1": "Production"}, {"champion": 1})

    bad = run_cli(
        "train", "--config", str(tmp_path / "no.toml"), "--tracking-uri", store
    )
    assert (
        bad.code == 2 and "config file" in bad.stderr and "does not exist" in bad.stderr
    )


def test_validate_runs_the_suite_on_a_version_as_its_own_run(store, run_cli, caplog):
    run_cli("train", *FAST, "--tracking-uri", store)
    done = run_cli("validate", "--model-uri", "models:/pd_model_v1/latest",
                   "--data", "german", "--json", "--tracking-uri", store)  # fmt: skip
    assert done.code == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["model_version"] == 1

    german = load_dataset("german")
    model = pdflow.load_model("models:/pd_model_v1/1", tracking_uri=store)
    pds = model.predict_proba(german.X)[:, 1]
    assert out["metrics"]["roc_auc"] == pytest.approx(
        validation.delong_auc_ci(german.y, pds).auc, rel=1e-12
    )
    assert out["metrics"]["default_rate"] == pytest.approx(0.3)
    # German credit is the data it was trained on: 750 of its loans, said so.
    assert out["metrics"]["share_of_training_loans"] == 0.75
    assert (
        "750 of the 1000 loans of pdflow:datasets/german_credit.csv (75%) are among "
        "those version 1 was trained on"
    ) in caplog.text

    client = MlflowClient(store)
    run = client.get_run(out["run_id"])
    assert run.data.tags["pdflow.validates"] == "models:/pd_model_v1/1"
    assert run.data.tags["pdflow.data_digest"] == german.digest
    assert np.isfinite(run.data.metrics["psi_score"])
    tags = client.get_model_version("pd_model_v1", "1").tags
    assert tags["pdflow.last_validation"] == out["run_id"]
    assert tags["pdflow.last_validation_report"] == out["report_uri"]


def test_validate_takes_the_versions_target_for_a_file(
    store, run_cli, tmp_path, caplog
):
    run_cli("train", *FAST, "--tracking-uri", store)
    shipped = resources.files("pdflow") / "datasets" / "german_credit.csv"
    path = tmp_path / "german.csv"
    german = pd.read_csv(shipped)  # target creditability, event "bad"
    german.assign(loan_id=range(len(german))).to_csv(path, index=False)
    done = run_cli("validate", "--model-uri", "models:/pd_model_v1/1", "--data",
                   str(path), "--json", "--tracking-uri", store)  # fmt: skip
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["metrics"]["default_rate"] == pytest.approx(0.3)
    assert "loan_id" not in caplog.text  # not a feature of the version: no warning


def test_validate_refuses_data_without_the_models_columns(store, run_cli, tmp_path):
    run_cli("train", *FAST, "--tracking-uri", store)
    frame = load_dataset("german").X.drop(columns=["age_in_years"])
    frame["creditability"] = np.r_[np.zeros(500), np.ones(500)].astype(int)
    path = tmp_path / "short.csv"
    frame.to_csv(path, index=False)
    done = run_cli(
        "validate", "--model-uri", "models:/pd_model_v1/1", "--data", str(path),
        "--target", "creditability", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 1
    assert "lacks column(s) the model needs: age_in_years" in done.stderr

    texts = load_dataset("german").X.astype({"duration_in_month": object})
    texts.loc[3, "duration_in_month"] = "abc"
    texts["creditability"] = frame["creditability"]
    texts.to_csv(path, index=False)
    done = run_cli(
        "validate", "--model-uri", "models:/pd_model_v1/1", "--data", str(path),
        "--target", "creditability", "--tracking-uri", store,
    )  # fmt: skip
    assert done.code == 1 and done.stderr.count("\n") == 1
    assert "row 4: column 'duration_in_month' must be a finite number, got 'abc'" in (
        done.stderr
    )
    bad_uri = run_cli(
        "validate", "--model-uri", "runs:/abc/model", "--data", "german",
        "--tracking-uri", store,
    )  # fmt: skip
    assert bad_uri.code == 2 and "is not a registered model URI" in bad_uri.stderr
    bad_threshold = run_cli(
        "validate", "--model-uri", "models:/pd_model_v1/1", "--data", "german",
        "--threshold", "2", "--tracking-uri", store,
    )  # fmt: skip
    assert bad_threshold.code == 2
    assert "--threshold must lie strictly between 0 and 1, got 2.0" in (
        bad_threshold.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grades", "0.01,0.1,0.5"], r"must cover [0, 1]: the last edge is 0.5"),
        (["--grades", "0.1,0.05,1"], "grade bounds must rise strictly"),
        (["--min-auc", "1.5"], "gate min_auc must lie in [0, 1], got 1.5"),
        (["--max-psi", "-0.1"], "gate max_psi must be 0 or more"),
    ],
)
def test_bad_grades_and_thresholds_fail_in_one_line_and_create_nothing(
    store, run_cli, tmp_path, args, message
):
    done = run_cli("train", *FAST, *args, "--tracking-uri", store)
    assert done.code == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert not (tmp_path / "mlflow.db").exists()
