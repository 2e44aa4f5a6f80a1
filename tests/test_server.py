"""``pdflow server`` on a PostgreSQL database made for the test, over loopback.

The database is created before the server starts and dropped after it stops;
the server runs MLflow's sign-in app with artifacts proxied to a folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from .conftest import PDFLOW, free_port, running_server

pytestmark = pytest.mark.slow

psycopg = pytest.importorskip(
    "psycopg", reason="the server extra is not installed: pip install 'pdflow[server]'"
)

PG = "postgresql://postgres@127.0.0.1:5432"
ADMIN_PASSWORD = "pdflow-test-" + uuid.uuid4().hex[:8]


def _admin(sql: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def database():
    name = f"pdflow_test_{uuid.uuid4().hex[:10]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    yield f"{PG}/{name}"
    _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    _admin(f'DROP DATABASE IF EXISTS "{name}"')


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    port = free_port()
    command = [
        PDFLOW, "server", "--backend-store-uri", database,
        "--artifacts-destination", folder / "artifacts", "--port", port,
    ]  # fmt: skip
    env = _env(MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD)
    url = f"http://127.0.0.1:{port}"
    with running_server(command, cwd=folder, env=env, health_url=f"{url}/health"):
        yield url, folder


def _pdflow(*args, cwd, password=ADMIN_PASSWORD, url=None, user="admin"):
    env = _env(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password)
    if url:
        env["MLFLOW_TRACKING_URI"] = url
    return subprocess.run(
        [PDFLOW, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_requests_without_sign_in_get_401(server):
    url, _ = server
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/search?max_results=1")
    assert refused.value.code == 401


def test_check_tells_a_client_whether_it_can_sign_in(server, tmp_path):
    url, _ = server
    ok = _pdflow("server", "--check", url, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "signed in as admin" in ok.stdout
    wrong = _pdflow("server", "--check", url, cwd=tmp_path, password="nope")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        f"pdflow: error: {url} refused to sign in user 'admin': wrong user name or "
        "password"
    ]


def test_train_promote_list_and_score_against_the_server(server, tmp_path):
    url, folder = server
    trained = _pdflow("train", "--n-estimators", "20", "--promote", "--json",
                      cwd=tmp_path, url=url)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert result["model_version"] == 1 and result["promoted"] is True
    # Artifacts went through the server to its folder, not to the client's.
    assert not (tmp_path / "mlruns").exists()
    assert list((folder / "artifacts").rglob("MLmodel"))

    listed = _pdflow("models", "list", "--json", cwd=tmp_path, url=url)
    rows = json.loads(listed.stdout)
    assert [(r["version"], r["stage"], r["aliases"]) for r in rows] == [
        (1, "Production", ["champion"])
    ]
    loans = tmp_path / "loans.csv"
    loans.write_text(
        open(
            os.path.join(
                os.path.dirname(__file__),
                "..",
                "src",
                "pdflow",
                "datasets",
                "german_credit.csv",
            )
        ).read()  # fmt: skip
    )
    scored = _pdflow("score", "--model-uri", "models:/pd_model_v1@champion", "--input",
                     loans, "--output", tmp_path / "out.csv", "--json",
                     cwd=tmp_path, url=url)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["rows"] == 1000


def test_a_wrong_password_is_one_line_and_creates_nothing(server, tmp_path):
    url, _ = server
    done = _pdflow("train", "--n-estimators", "5", cwd=tmp_path, url=url,
                   password="wrong")  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"pdflow: error: tracking server '{url}' refused to sign in user 'admin': "
        "wrong user name or password (MLFLOW_TRACKING_USERNAME, "
        "MLFLOW_TRACKING_PASSWORD)"
    ]


def test_the_server_will_not_start_without_an_admin_password(database, tmp_path):
    done = subprocess.run(
        [PDFLOW, "server", "--backend-store-uri", database, "--port", "1"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no default password" in done.stderr

    short = subprocess.run(
        [PDFLOW, "server", "--backend-store-uri", database, "--port", "1"],
        cwd=tmp_path, env=_env(MLFLOW_AUTH_ADMIN_PASSWORD="short"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert short.returncode == 2
    assert short.stderr.strip().splitlines() == [
        "pdflow: error: the admin password from MLFLOW_AUTH_ADMIN_PASSWORD has 5 "
        "characters; MLflow's sign-in needs at least 12"
    ]


def test_only_an_approver_may_move_a_version_to_production(server, tmp_path):
    url, _ = server
    for name in ("ann", "bob"):
        (tmp_path / name).write_text(f"{name}-password-1\n")
        made = _pdflow("users", "create", name, "--password-file", tmp_path / name,
                       cwd=tmp_path, url=url)  # fmt: skip
        assert made.returncode == 0, made.stderr
    for name, role in (("ann", "modeller"), ("bob", "approver")):
        granted = _pdflow("users", "grant", name, "--role", role, cwd=tmp_path, url=url)
        assert granted.returncode == 0, granted.stderr
        assert f"{name} is {role} of pd_model_v1" in granted.stdout

    def as_user(name, *args):
        return _pdflow(*args, cwd=tmp_path, url=url, user=name,
                       password=f"{name}-password-1")  # fmt: skip

    trained = as_user("ann", "train", "--n-estimators", "5", "--seed", "3", "--json")
    assert trained.returncode == 0, trained.stderr
    version = str(json.loads(trained.stdout)["model_version"])
    before = json.loads(as_user("ann", "models", "list", "--json").stdout)

    refused = as_user("ann", "promote", "--version", version, "--stage", "Production",
                      "--force", "--reason", "try")  # fmt: skip
    assert refused.returncode == 3
    assert (
        "user 'ann' may not move versions of 'pd_model_v1' to Production or set "
        "champion: that needs MANAGE on the model (the approver role), and 'ann' "
        "has EDIT"
    ) in refused.stderr
    assert json.loads(as_user("ann", "models", "list", "--json").stdout) == before

    approved = as_user("bob", "promote", "--version", version, "--stage", "Production",
                       "--force", "--reason", "MRC-9")  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert "(by bob)" in approved.stdout
    rows = json.loads(as_user("bob", "models", "list", "--json").stdout)
    assert [r["stage"] for r in rows if str(r["version"]) == version] == ["Production"]
