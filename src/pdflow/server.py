"""``pdflow server``: MLflow's tracking server for a team, with sign-in.

The backend store is a database (PostgreSQL for a team), artifacts are proxied
by the server to a folder or bucket (clients never need the bucket's keys),
and MLflow's basic-auth app asks every request to sign in. The admin user's
password comes from ``MLFLOW_AUTH_ADMIN_PASSWORD`` or a file, never from a
default; the user store lives in the same database as the runs unless told
otherwise.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pdflow.errors import ConfigError, TrackingError, first_line

logger = logging.getLogger(__name__)

ADMIN = "admin"
PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
SECRET_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"
MIN_PASSWORD = 12  # MLflow refuses to start with a shorter admin password
# MLflow checks the password of every request against its slow hash (0.37 s a
# request on these machines, one worker), which made a training against the
# server spend most of its time signing in. Its own cache of checked passwords
# is off by default; pdflow switches it on. A password changed or a user
# deleted through another worker is noticed within this many seconds.
AUTH_CACHE_SECONDS = 60


@dataclass(frozen=True)
class ServerPlan:
    """The ``mlflow server`` arguments and environment ``pdflow server`` runs."""

    command: list[str]
    env: dict[str, str]
    tracking_uri: str


def plan(
    *,
    backend_store_uri: str,
    artifacts_destination: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    auth_db_uri: str | None = None,
    admin_password_file: str | None = None,
    auth_cache_seconds: int = AUTH_CACHE_SECONDS,
    config_dir: str | Path = ".pdflow",
) -> ServerPlan:
    """Check the options and write the sign-in configuration the server reads."""
    backend_store_uri = database_uri("--backend-store-uri", backend_store_uri)
    if auth_db_uri is not None:
        auth_db_uri = database_uri("--auth-db-uri", auth_db_uri)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if auth_cache_seconds < 0:
        raise ConfigError(
            f"--auth-cache-seconds must be 0 or more, got {auth_cache_seconds}"
        )
    password = _admin_password(admin_password_file)

    folder = Path(config_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ini = folder / "basic_auth.ini"
    _write_private(
        ini,
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {auth_db_uri or backend_store_uri}\n"
        f"admin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        f"auth_cache_ttl_seconds = {auth_cache_seconds}\n",
    )
    command = [
        "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", artifacts_destination,
        "--serve-artifacts",
        "--app-name", "basic-auth",
        "--workers", str(workers),
    ]  # fmt: skip
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini.resolve()),
        PASSWORD_ENV: password,
        SECRET_ENV: _secret_key(folder),
    }
    return ServerPlan(command, env, f"http://{host}:{port}")


def database_uri(option: str, uri: str) -> str:
    """``uri`` spelt the way SQLAlchemy reads it, or one line saying why not."""
    if uri.startswith("postgres://"):  # libpq's and Heroku's spelling
        uri = "postgresql://" + uri.removeprefix("postgres://")
    if not uri.startswith(("postgresql", "mysql", "sqlite", "mssql")):
        raise ConfigError(
            f"{option} '{uri}' is not a database URI; "
            "expected postgresql://USER@HOST:PORT/DB"
        )
    return uri


def check_database(option: str, uri: str) -> None:
    """Connect to the database at ``uri`` once, or raise one line naming it.

    MLflow retries an unreachable database for about two minutes and prints a
    traceback for every try; a mistyped database name should be heard at once.
    A SQLite file needs no check: MLflow creates it.
    """
    uri = database_uri(option, uri)
    if uri.startswith("sqlite"):
        return
    import sqlalchemy  # MLflow's own dependency; needed only for a server

    try:
        url = sqlalchemy.make_url(uri)
        shown = url.render_as_string(hide_password=True)
        timeout = url.get_backend_name() in ("postgresql", "mysql")
        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": 5} if timeout else {}
        )
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except sqlalchemy.exc.ArgumentError as exc:
        raise ConfigError(f"{option} is not a database URI: {exc}") from None
    except ImportError as exc:
        raise ConfigError(
            f"{option} '{shown}' needs a database driver that is not installed: "
            f"{first_line(exc)}"
        ) from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = first_line(getattr(exc, "orig", None) or exc)
        raise ConfigError(f"cannot connect to {option} '{shown}': {reason}") from None


def _secret_key(folder: Path) -> str:
    """The key that signs the UI's CSRF tokens: the environment's, else one kept
    in ``folder`` so that every restart and every worker share it."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = folder / "secret_key"
    if not path.exists():
        _write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read, from the first byte
    (the database URI in it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that existed keeps its mode otherwise
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _admin_password(path: str | None) -> str:
    password = _read_admin_password(path)
    if len(password) < MIN_PASSWORD:
        where = f"--admin-password-file '{path}'" if path else PASSWORD_ENV
        raise ConfigError(
            f"the admin password from {where} has {len(password)} characters; "
            f"MLflow's sign-in needs at least {MIN_PASSWORD}"
        )
    return password


def _read_admin_password(path: str | None) -> str:
    if path is not None:
        try:
            password = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"--admin-password-file '{path}' cannot be read: {first_line(exc)}"
            ) from None
        if not password:
            raise ConfigError(f"--admin-password-file '{path}' is empty")
        return password
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        raise ConfigError(
            f"the admin password must come from {PASSWORD_ENV} or "
            "--admin-password-file; pdflow has no default password"
        )
    return password


def check(uri: str, *, username: str | None, password: str | None) -> str:
    """Reach ``uri`` and sign in; returns who is signed in, or raises one line."""
    from pdflow.tracking import check_scheme

    base = check_scheme(uri).rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=10):
            pass
    except (OSError, ValueError) as exc:
        reason = first_line(getattr(exc, "reason", exc))
        raise TrackingError(f"cannot reach tracking server '{uri}': {reason}") from None
    if not username or not password:
        missing = "MLFLOW_TRACKING_PASSWORD"
        if not username:
            missing = f"MLFLOW_TRACKING_USERNAME and {missing}"
        raise TrackingError(f"{uri} answers; set {missing} to sign in")
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/users/current",
        headers={"Authorization": _basic(username, password)},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            who = json.loads(response.read()).get("user", {}).get("username", username)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise TrackingError(
                f"{uri} refused to sign in user '{username}': wrong user name or "
                "password"
            ) from None
        if exc.code == 404:
            raise TrackingError(
                f"{uri} answers but has no sign-in (basic-auth)"
            ) from None
        raise TrackingError(f"{uri} answered HTTP {exc.code} to sign-in") from None
    return who


def _basic(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"
