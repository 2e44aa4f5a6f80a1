"""What ``pdflow server`` hands to MLflow, checked without starting it."""

from __future__ import annotations

import configparser
import socket
import stat

import pytest

from pdflow import server
from pdflow.errors import ConfigError

from .conftest import free_port

DB = "postgresql://postgres@127.0.0.1:5432/team"


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv(server.PASSWORD_ENV, "twelve-chars-ok")


def _ini(tmp_path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(tmp_path / "basic_auth.ini")
    return parser["mlflow"]


def test_sign_in_settings_and_a_kept_secret(tmp_path):
    planned = server.plan(
        backend_store_uri=DB, artifacts_destination="s3://bucket/pd", port=5050,
        workers=2, config_dir=tmp_path,
    )  # fmt: skip
    ini = _ini(tmp_path)
    assert ini["database_uri"] == DB and ini["admin_username"] == "admin"
    assert ini["default_permission"] == "READ"
    # MLflow's cache of checked passwords is on: hashing every request's
    # password cost 0.37 s a request here.
    assert ini["auth_cache_ttl_seconds"] == "60"
    assert planned.tracking_uri == "http://127.0.0.1:5050"
    command = planned.command
    assert command[command.index("--workers") + 1] == "2"
    assert command[command.index("--app-name") + 1] == "basic-auth"
    assert "--serve-artifacts" in command
    assert planned.env[server.PASSWORD_ENV] == "twelve-chars-ok"
    again = server.plan(
        backend_store_uri=DB, artifacts_destination="a", config_dir=tmp_path,
        auth_cache_seconds=0,
    )  # fmt: skip
    assert again.env[server.SECRET_ENV] == planned.env[server.SECRET_ENV]
    assert _ini(tmp_path)["auth_cache_ttl_seconds"] == "0"


def test_config_files_are_the_owners_alone(tmp_path):
    # The database URI may hold a password: no one else may read the file, even
    # one that was readable before.
    (tmp_path / "basic_auth.ini").write_text("old")
    (tmp_path / "basic_auth.ini").chmod(0o644)
    server.plan(backend_store_uri=DB, artifacts_destination="a", config_dir=tmp_path)
    for name in ("basic_auth.ini", "secret_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auth_cache_seconds": -1}, "--auth-cache-seconds must be 0 or more, got -1"),
        ({"workers": 0}, "--workers must be at least 1, got 0"),
        ({"backend_store_uri": "./runs"}, "'./runs' is not a database URI"),
    ],
)
def test_bad_options_are_one_line(tmp_path, kwargs, message):
    options = {"backend_store_uri": DB, "artifacts_destination": "a", **kwargs}
    with pytest.raises(ConfigError, match=message):
        server.plan(config_dir=tmp_path, **options)


def test_libpq_spelling_is_accepted(tmp_path):
    planned = server.plan(
        backend_store_uri="postgres://postgres@127.0.0.1:5432/team",
        artifacts_destination="a",
        config_dir=tmp_path,
    )
    uri = planned.command[planned.command.index("--backend-store-uri") + 1]
    assert uri == DB and _ini(tmp_path)["database_uri"] == DB


@pytest.fixture
def postgres():
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres").close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")


def test_a_missing_database_is_one_line_before_mlflow_starts(
    postgres, run_cli, monkeypatch, tmp_path
):
    # MLflow itself would retry for about two minutes, a traceback per try.
    monkeypatch.chdir(tmp_path)
    missing = "postgresql://postgres:hunter2@127.0.0.1:5432/pdflow_no_such_db"
    outcome = run_cli("server", "--backend-store-uri", missing, "--port", free_port())
    assert outcome.code == 2
    line = outcome.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line
    assert "cannot connect to --backend-store-uri" in line
    assert "postgres:***@127.0.0.1:5432/pdflow_no_such_db" in line  # no password
    assert 'database "pdflow_no_such_db" does not exist' in line
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    outcome = run_cli("server", "--backend-store-uri", closed, "--port", free_port())
    assert outcome.code == 2 and "Connection refused" in outcome.stderr
    assert not (tmp_path / ".pdflow").exists()  # nothing written before the check


@pytest.mark.parametrize(
    "command", [["server", "--backend-store-uri", "sqlite:///t.db"], ["ui"]]
)
def test_a_port_in_use_is_refused_not_mistaken_for_our_server(
    run_cli, monkeypatch, tmp_path, command
):
    # Another program answering /health on the port would otherwise look like
    # the server pdflow started, and pdflow would exit 0 announcing it.
    monkeypatch.chdir(tmp_path)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        outcome = run_cli(*command, "--port", port)
    assert outcome.code == 2
    assert outcome.stderr.strip() == (
        f"pdflow: error: cannot listen on 127.0.0.1:{port}: "
        "Address already in use; "
        "is another server there? (--port chooses another)"
    )


def test_check_wants_the_scheme():
    with pytest.raises(ConfigError, match="'127.0.0.1:5620' has no scheme; for a "
                       "server write http://127.0.0.1:5620"):  # fmt: skip
        server.check("127.0.0.1:5620", username="ann", password="x")
