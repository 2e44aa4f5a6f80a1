"""What ``pdflow server`` hands to MLflow, checked without starting it."""

from __future__ import annotations

import configparser

import pytest

from pdflow import server
from pdflow.errors import ConfigError

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
