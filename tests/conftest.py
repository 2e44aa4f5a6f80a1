"""Shared test fixtures: a fresh MLflow store per test, data paths, a CLI runner."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from pdflow import cli

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PDFLOW = str(Path(sys.executable).parent / "pdflow")
SERVER_START_TIMEOUT = 180  # seconds; MLflow's servers take 10-60 s here


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not here: the shared loan data sits beside the repo")
    return path


@pytest.fixture(autouse=True)
def no_tracking_uri_from_earlier_tests(monkeypatch):
    """Start every test without MLFLOW_TRACKING_URI: mlflow.set_tracking_uri()
    sets it in this process's environment, so an in-process call of an earlier
    test would otherwise point this one at that test's store or server."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    """A new SQLite tracking store in an empty working folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # MLflow keeps the last registry URI set in this process and gives it to
    # every MlflowClient made without one: point it at this test's store.
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run ``pdflow ARGS`` in-process and return its exit code and output."""

    def run(*args: str) -> Outcome:
        code = cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def run_process(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300):
    """Run the installed ``pdflow`` console script as a new process."""
    return subprocess.run(
        [PDFLOW, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(
    command: list, *, cwd: Path, env: dict, health_url: str, stop=lambda: signal.SIGINT
):
    """Start a server in its own process group, wait for ``health_url``, stop it
    with the signal ``stop()`` names then.

    Its output goes to ``cwd/server.log``, never to a pipe nobody reads: a
    full pipe would block the server's logging, and with it every request.
    """
    log = Path(cwd) / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(c) for c in command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(health_url, timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"{command[1]} did not answer: {log.read_text()[-3000:]}")
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop())
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
