"""Eight ``pdflow train`` processes racing on a store that does not exist yet.

Plain MLflow fails here: the first use of a new SQLite file creates and
migrates its schema, and several processes doing it at once collide. pdflow
serialises that first use (and registration) with a lock file beside the
database, so every process must succeed with its own version.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from mlflow.tracking import MlflowClient

from .conftest import PDFLOW

pytestmark = pytest.mark.slow

N = 8


def test_eight_trainings_at_once_on_a_fresh_store(tmp_path):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    assert not db.exists()
    command = [PDFLOW, "train", "--data", "german", "--n-estimators", "10"]
    procs = [
        subprocess.Popen(
            [*command, "--seed", str(seed), "--tracking-uri", uri, "--json"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(N)
    ]
    outcomes = [(p.wait(timeout=600), *p.communicate()) for p in procs]

    failures = [err for code, _, err in outcomes if code != 0]
    assert not failures, failures
    results = [json.loads(out) for _, out, _ in outcomes]
    assert sorted(r["model_version"] for r in results) == list(range(1, N + 1))
    assert len({r["run_id"] for r in results}) == N

    client = MlflowClient(uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'pd_model_v1'")
    assert sorted(int(v.version) for v in versions) == list(range(1, N + 1))
    runs = client.search_runs(
        [client.get_experiment_by_name("PD_Classification_Experiment").experiment_id]
    )
    assert len(runs) == N
    assert {r.info.status for r in runs} == {"FINISHED"}
