"""The package's front door: lazy public names and the ``pdflow`` command's start."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

import pdflow
import pdflow.__main__ as entry
from pdflow import cli, training


def test_public_names_resolve_to_their_modules():
    assert pdflow.train is training.train
    assert "validate" in dir(pdflow)
    assert set(pdflow.__all__) <= set(dir(pdflow))
    for name in pdflow.__all__:
        assert getattr(pdflow, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        pdflow.trian  # noqa: B018


def test_importing_pdflow_loads_neither_mlflow_nor_sklearn():
    code = "import sys, pdflow; print(sorted({'mlflow', 'sklearn'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_command_runs_with_the_collector_on_and_its_imports_frozen(monkeypatch):
    seen = {}

    def fake_run():
        seen["enabled"] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count()

    monkeypatch.setattr(cli, "run", fake_run)
    try:
        entry.run()
    finally:
        gc.unfreeze()
    assert seen["enabled"] is True
    assert seen["frozen"] > 10_000  # this test process's objects, all of them


def test_python_dash_m_pdflow_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "pdflow", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith(f"pdflow {pdflow.__version__} (MLflow ")
