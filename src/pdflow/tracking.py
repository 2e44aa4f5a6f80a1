"""Where runs go: the tracking store, its first-use lock, and run logging."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from filelock import FileLock
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pdflow.errors import ConfigError, TrackingError, first_line
from pdflow.plots import png_bytes

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "PD_Classification_Experiment"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else MLflow's default SQLite file."""
    resolved = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    return check_scheme(resolved)


def check_scheme(uri: str) -> str:
    """``uri``, unless it is a server's HOST:PORT without ``http://``."""
    if re.fullmatch(r"[\w.-]+:\d+(/.*)?", uri):
        # MLflow would take HOST:PORT for a folder or an unknown scheme.
        raise ConfigError(
            f"tracking URI '{uri}' has no scheme; for a server write http://{uri}"
        )
    return uri


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :])


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise schema creation and other first-use races on a SQLite store.

    MLflow creates and migrates a new SQLite file's tables on first use; two
    processes doing that at once corrupt the schema. A lock file beside the
    database makes them take turns. Other stores need no lock here.
    """
    path = _sqlite_path(uri)
    if path is None or str(path) == ":memory:":
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=300):
        yield


# Modules that a training needs only once its model is fitted, and whose import
# alone costs seconds (SQLAlchemy stores and their migrations, skops' table of
# trusted types). Importing them on a second thread while the data is read and
# the model is fitted takes that time off the critical path.
_LATE_MODULES = (
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.sklearn",
    "skops.io",
)


def preload() -> threading.Thread:
    """Start importing the modules logging will need, on a daemon thread."""

    def work() -> None:
        for name in _LATE_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # the real import later reports any failure
                logger.debug("preloading %s failed", name, exc_info=True)
        # Saving a model checks its pinned requirements against what is
        # installed, first mapping every installed distribution to its
        # modules (0.6 s here); the map is cached, so build it now.
        try:
            from mlflow.utils import requirements_utils

            requirements_utils._init_packages_to_modules_map()
        except Exception:  # a private helper: without it, saving does it later
            logger.debug("preloading the package map failed", exc_info=True)

    thread = threading.Thread(target=work, name="pdflow-preload", daemon=True)
    thread.start()
    return thread


def check_server(uri: str, timeout: float = 5.0) -> None:
    """Fail at once when a tracking server does not answer.

    MLflow's client retries a refused connection with growing back-off for
    minutes before it gives up; one short look at ``/health`` tells sooner.
    """
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answered; what it thinks of us is for the real request
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"cannot reach tracking server '{uri}': {first_line(reason)}"
        ) from None


def connect(uri: str | None = None, *, create: bool = True) -> MlflowClient:
    """Point MLflow at the store, creating its tables once, and return a client.

    With ``create=False`` (commands that only read or change what is there) a
    SQLite file that does not exist is refused instead of made: a mistyped
    ``--tracking-uri`` would otherwise leave a new, empty store behind.
    """
    uri = resolve_tracking_uri(uri)
    path = _sqlite_path(uri)
    if not create and path is not None and str(path) != ":memory:":
        if not path.is_file():
            raise TrackingError(
                f"no MLflow store at '{path}' ({uri}): nothing was trained there; "
                "check --tracking-uri or MLFLOW_TRACKING_URI"
            )
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with store_lock(uri):
        try:
            client = MlflowClient(uri, registry_uri=uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        except MlflowException as exc:
            raise TrackingError(_refusal(uri, exc)) from None
        except Exception as exc:  # connection errors, bad URIs
            raise TrackingError(
                f"cannot reach tracking store '{uri}': {first_line(exc)}"
            ) from None
    return client


def _refusal(uri: str, exc: MlflowException) -> str:
    """One line for a store that answered no: sign-in refused, or why not."""
    text = str(exc)
    if "401" in text or "not authenticated" in text.lower():
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if not user:
            return (
                f"tracking server '{uri}' asks to sign in: set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            )
        if not os.environ.get("MLFLOW_TRACKING_PASSWORD"):
            return (
                f"tracking server '{uri}' asks user '{user}' for a password: set "
                "MLFLOW_TRACKING_PASSWORD"
            )
        return (
            f"tracking server '{uri}' refused to sign in user '{user}': wrong user "
            "name or password (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)"
        )
    if refused(exc):
        return f"tracking server '{uri}' refused: {first_line(exc)}"
    return f"cannot use tracking store '{uri}': {first_line(exc)}"


def refused(exc: MlflowException) -> bool:
    """Whether a server said the signed-in user lacks the right (HTTP 403)."""
    return exc.error_code == "PERMISSION_DENIED"


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created if needed (safe when racing)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise TrackingError(
                f"experiment '{name}' is deleted; restore it or choose another name"
            )
        return found.experiment_id
    with store_lock(client.tracking_uri):
        try:
            return client.create_experiment(name)
        except MlflowException:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id


HOST_TAG = "pdflow.host"
PID_TAG = "pdflow.pid"


def process_tags() -> dict[str, str]:
    """Which process on which machine owns a run, set when the run starts.

    ``pdflow runs cleanup`` uses them to tell a run whose process died from
    one that is still at work.
    """
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


@dataclass
class Cleaned:
    """A run left RUNNING, and what cleanup made of it."""

    run_id: str
    experiment: str
    started: str
    # "failed" (marked FAILED), "alive" or "unknown" (left alone), or
    # "refused" (should be failed, but the signed-in user may not)
    verdict: str
    reason: str


def cleanup_runs(
    client: MlflowClient,
    *,
    older_than_hours: float | None = None,
    dry_run: bool = False,
    experiment: str | None = None,
) -> list[Cleaned]:
    """Mark runs whose process is gone as FAILED; say which and why.

    A run tagged with this machine's name is judged by whether its process
    still exists. A run from another machine, or without the tags, is marked
    FAILED only when it started more than ``older_than_hours`` ago. Every
    experiment is looked at, or only the one named ``experiment``.
    """
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if experiment is not None:
        experiments = {i: n for i, n in experiments.items() if n == experiment}
        if not experiments:
            raise ConfigError(f"experiment '{experiment}' does not exist")
    from pdflow import access  # access builds on this module

    found, may_edit = [], {}
    for run in _running(client, list(experiments)):
        verdict, reason = _verdict(run, older_than_hours)
        experiment_id = run.info.experiment_id
        allowed = True
        if verdict == "failed" and dry_run:
            if experiment_id not in may_edit:
                may_edit[experiment_id] = access.may_edit_experiment(
                    client.tracking_uri, experiment_id
                )
            allowed = may_edit[experiment_id]
        elif verdict == "failed":
            try:
                client.set_terminated(run.info.run_id, status="FAILED")
                client.set_tag(run.info.run_id, "pdflow.cleanup", reason)
            except MlflowException as exc:
                if not refused(exc):
                    raise
                allowed = False
        if not allowed:
            user = os.environ.get("MLFLOW_TRACKING_USERNAME", "this user")
            verdict = "refused"
            reason = (
                f"{reason}, but '{user}' may not end it: that needs EDIT on "
                f"experiment '{experiments.get(experiment_id)}' (the modeller "
                "role) or an admin"
            )
        started = datetime.fromtimestamp(run.info.start_time / 1000)
        found.append(
            Cleaned(
                run.info.run_id,
                experiments.get(run.info.experiment_id, run.info.experiment_id),
                started.isoformat(timespec="seconds"),
                verdict,
                reason,
            )
        )
    return found


def _verdict(run, older_than_hours: float | None) -> tuple[str, str]:
    """Whether a RUNNING run's process is gone, and why we think so."""
    here, tags = socket.gethostname(), run.data.tags
    owner = tags.get(HOST_TAG, "an unknown host")
    if owner == here and tags.get(PID_TAG, "").isdigit():
        pid = int(tags[PID_TAG])
        if _alive(pid):
            return "alive", f"process {pid} is still running"
        return "failed", f"process {pid} on {here} is gone"
    age_hours = (time.time() - run.info.start_time / 1000) / 3600
    if older_than_hours is not None and age_hours > older_than_hours:
        return "failed", f"started {age_hours:.1f} h ago on {owner}"
    return "unknown", f"owned by {owner}: give --older-than to decide"


def _running(client: MlflowClient, experiment_ids: list[str]):
    token = None
    while experiment_ids:
        page = client.search_runs(
            experiment_ids,
            filter_string="attributes.status = 'RUNNING'",
            max_results=1000,
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def code_version_tags() -> dict[str, str]:
    """pdflow's version and the git commit of the working folder, when there is one."""
    tags = {"pdflow.version": metadata.version("pdflow")}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return tags
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["pdflow.git_commit"] = commit
    return tags


def log_json(obj: Any, artifact_file: str) -> None:
    """Log ``obj`` as an indented JSON artifact of the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        path.write_text(json.dumps(obj, indent=2, default=str))
        folder = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if folder == "." else folder)


# The test split of every run, kept with it so that the promotion gate and a
# validator can score champion and challenger on exactly the same loans.
TEST_SPLIT_ARTIFACT = "data/test_split.parquet"
TRAIN_SAMPLE_ARTIFACT = "data/train_sample.parquet"
REPORT_ARTIFACT = "validation/report.html"


def log_frame(frame: pd.DataFrame, artifact_file: str) -> None:
    """Log a table as a Parquet artifact of the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        frame.to_parquet(path, index=False)
        folder = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if folder == "." else folder)


def load_frame(client: MlflowClient, run_id: str, artifact_file: str) -> pd.DataFrame:
    """A Parquet artifact of a run, or a TrackingError saying it is missing."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, artifact_file, tmp)
        except (MlflowException, OSError) as exc:
            raise TrackingError(
                f"run {run_id} has no artifact '{artifact_file}': {first_line(exc)}"
            ) from None
        return pd.read_parquet(path)


def log_tables_and_figures(tables: dict, figures: dict) -> None:
    """Log tables as CSV and figures (or their PNG bytes) to the active run.

    Both are keyed by artifact path; everything goes up in one upload.
    """
    files = {path: table.to_csv(index=False).encode() for path, table in tables.items()}
    for path, figure in figures.items():
        files[path] = figure if isinstance(figure, bytes) else png_bytes(figure)
    log_files(files)


def log_files(files: dict[str, bytes]) -> None:
    """Log file contents, keyed by artifact path, to the active run at once."""
    with tempfile.TemporaryDirectory() as tmp:
        for artifact_file, content in files.items():
            path = Path(tmp, artifact_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        mlflow.log_artifacts(tmp)


def log_validation(result, report_html: str) -> str:
    """Log a validation suite's tables, figures and HTML report to the active run.

    Returns the report's artifact URI, to link it from the model version.
    """
    tables = {f"validation/{name}.csv": t for name, t in result.tables.items()}
    log_tables_and_figures(tables, result.figures)
    log_json(result.metrics, "validation/metrics.json")
    mlflow.log_text(report_html, REPORT_ARTIFACT)
    return mlflow.get_artifact_uri(REPORT_ARTIFACT)
