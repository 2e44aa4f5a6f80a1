"""A training killed mid-run leaves no version; ``runs cleanup`` ends its run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from pdflow import tracking

from .conftest import PDFLOW

pytestmark = pytest.mark.slow


def _running(client) -> list:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, "attributes.status = 'RUNNING'") if ids else []


def test_a_training_killed_while_logging_is_failed_by_cleanup(tmp_path, run_cli):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen(
        [PDFLOW, "train", "--data", "loanbook", "--rows", "40000", "--model", "lgbm",
         "--tracking-uri", uri],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = MlflowClient(uri, registry_uri=uri)
    deadline = time.monotonic() + 300
    running = []
    while time.monotonic() < deadline and process.poll() is None and not running:
        time.sleep(0.05)
        if db.exists():
            try:
                running = _running(client)
            except Exception:  # the schema is still being created
                running = []
    assert running, "the training ended before its run could be seen RUNNING"
    process.send_signal(signal.SIGKILL)
    process.wait()

    run_id = running[0].info.run_id
    assert client.get_run(run_id).info.status == "RUNNING"
    done = run_cli("runs", "cleanup", "--json", "--tracking-uri", uri)
    assert done.code == 0, done.stderr
    [found] = json.loads(done.stdout)
    assert found["run_id"] == run_id and found["verdict"] == "failed"
    assert (
        f"process {process.pid} on " in found["reason"] and "is gone" in found["reason"]
    )
    assert client.get_run(run_id).info.status == "FAILED"
    # The version is registered only after the run's artifacts are all logged.
    assert client.search_model_versions("name = 'pd_model_v1'") == []

    again = run_cli("runs", "cleanup", "--tracking-uri", uri)
    assert again.stdout.strip() == "no run is left RUNNING"


def test_live_and_foreign_runs_are_left_alone_unless_old(store, run_cli):
    client = tracking.connect(store)
    experiment = tracking.ensure_experiment(client, "cleanup")
    with mlflow.start_run(experiment_id=experiment, tags=tracking.process_tags()):
        mine = mlflow.active_run().info.run_id
        foreign = client.create_run(
            experiment, tags={tracking.HOST_TAG: "other-box", tracking.PID_TAG: "1"}
        ).info.run_id
        looked = json.loads(run_cli("runs", "cleanup", "--json").stdout)
        verdicts = {r["run_id"]: (r["verdict"], r["reason"]) for r in looked}
        assert verdicts[mine][0] == "alive"
        assert verdicts[foreign] == (
            "unknown",
            "owned by other-box: give --older-than to decide",
        )

        dry = run_cli("runs", "cleanup", "--older-than", "0", "--dry-run")
        assert f"{foreign} (cleanup" in dry.stdout and "would mark FAILED" in dry.stdout
        assert client.get_run(foreign).info.status == "RUNNING"

        run_cli("runs", "cleanup", "--older-than", "0")
        assert client.get_run(foreign).info.status == "FAILED"
        assert client.get_run(mine).info.status == "RUNNING"
