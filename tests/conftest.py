"""Shared test fixtures: a fresh MLflow store per test, data paths, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from pdflow import cli

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PDFLOW = str(Path(sys.executable).parent / "pdflow")


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not here: the shared loan data sits beside the repo")
    return path


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
