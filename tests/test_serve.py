"""``pdflow serve`` over real HTTP on loopback: PDs, and a 4xx for bad input."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request

import mlflow
import numpy as np
import pytest

import pdflow
from pdflow.data import load_dataset

from .conftest import PDFLOW, free_port, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with contextlib.chdir(folder):  # run artifacts beside the store, not in the repo
        trained = pdflow.train(
            "german", params={"n_estimators": 15}, tracking_uri=store
        )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # A bare PATH: pdflow must find MLflow's uvicorn beside its own Python.
    env["PATH"] = "/usr/bin:/bin"
    command = [PDFLOW, "serve", "--model-uri", "models:/pd_model_v1/latest",
               "--port", port, "--tracking-uri", store]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running_server(command, cwd=folder, env=env, health_url=f"{url}/ping"):
        yield url, store, trained


def _post(url: str, body: str, content_type="application/json"):
    request = urllib.request.Request(
        f"{url}/invocations", data=body.encode(), headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def loans():
    return load_dataset("german").X.head(25)


def test_every_format_answers_the_in_process_pds(server, loans):
    url, store, trained = server
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    expected = mlflow.sklearn.load_model(trained.model_uri).predict_proba(loans)[:, 1]

    split = json.loads(loans.to_json(orient="split", index=False))
    records = json.loads(loans.to_json(orient="records"))
    bodies = [
        (json.dumps({"dataframe_split": split}), "application/json"),
        (json.dumps({"dataframe_records": records}), "application/json"),
        (json.dumps({"inputs": records}), "application/json"),
        (loans.to_csv(index=False), "text/csv"),
    ]
    for body, content_type in bodies:
        status, answer = _post(url, body, content_type)
        assert status == 200, answer
        rows = answer["predictions"]
        np.testing.assert_allclose([r["pd"] for r in rows], expected, atol=1e-12)
        assert list(rows[0])[:3] == ["pd", "grade", "score"]
        assert all(
            r["reason_3"] is None or isinstance(r["reason_3"], str) for r in rows
        )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda rs: [r.pop("purpose") for r in rs], "purpose"),
        (lambda rs: rs[1].update(credit_amount="lots"), "credit_amount"),
        (lambda rs: rs[1].update(purpose=5), "purpose"),
    ],
)
def test_bad_rows_get_a_400_naming_the_column(server, loans, change, named):
    url, _, _ = server
    records = json.loads(loans.head(3).to_json(orient="records"))
    change(records)
    status, answer = _post(url, json.dumps({"dataframe_records": records}))
    assert status == 400, answer
    assert named in answer["message"]


def test_malformed_bodies_get_a_400(server):
    url, _, _ = server
    for body in ("{not json", json.dumps({"rows": []})):
        status, answer = _post(url, body)
        assert status == 400, answer
