"""``pdflow ui`` in a real browser: the store's experiment, runs and model show up.

Two trainings fill a new SQLite store, ``pdflow ui`` serves it, and headless
Chromium (driven by Playwright) reads MLflow's React pages the way a person
would. Screenshots of each page are left in the test's ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import free_port

pytestmark = pytest.mark.slow

PDFLOW = Path(sys.executable).parent / "pdflow"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPERIMENT = "PD_Classification_Experiment"
MODEL = "pd_model_v1"
SERVER_START_TIMEOUT = 120  # seconds; MLflow's server takes 10-50 s here
UI_TIMEOUT_MS = 60_000  # for each wait in the browser
STOP_TIMEOUT = 30  # seconds between Ctrl-C and SIGKILL


@pytest.fixture
def browser():
    """Headless Debian Chromium under Playwright, or a visible skip."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed: the browser test needs it")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed (pip install .[test])",
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _train(tmp_path: Path, uri: str, *extra: str) -> dict:
    done = subprocess.run(
        [
            str(PDFLOW),
            "train",
            "--data",
            "german",
            "--n-estimators",
            "20",
            "--tracking-uri",
            uri,
            "--json",
            *extra,
        ],
        cwd=tmp_path,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"pdflow train failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture
def trained(tmp_path):
    """A new store holding two runs, i.e. two versions of the model."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # A second seed gives the runs different metrics, so each run's page is
    # checked against its own value.
    first = _train(tmp_path, uri)
    second = _train(tmp_path, uri, "--seed", "7")
    assert (first["model_version"], second["model_version"]) == (1, 2)
    return uri, [first, second]


def _own_group_with_default_sigint() -> None:
    # Runs in the child before exec: a process group of its own (so Ctrl-C can
    # be sent to the whole tree), and SIGINT at its default even if whoever
    # started pytest ignores it, so Python turns it into KeyboardInterrupt.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a zombie-only group
        return True
    return True


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C the server's process group; SIGKILL whatever is left after a while."""
    pgid = process.pid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + 10
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if process.poll() is None or _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    process.wait(timeout=10)


def _wait_for_health(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"pdflow ui exited with {process.returncode} before {url} answered:\n"
                f"{log.read_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"{url} did not answer within {SERVER_START_TIMEOUT} s:\n"
        f"{log.read_text()[-4000:]}"
    )


@pytest.fixture
def ui_server(tmp_path, trained):
    """``pdflow ui`` over the trained store; yields its base URL, then stops it."""
    uri, _ = trained
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(PDFLOW), "ui", "--port", str(port), "--tracking-uri", uri],
            cwd=tmp_path,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_own_group_with_default_sigint,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(f"{base}/health", process, log)
        yield base
    finally:
        _stop(process)


def _shot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_ui_shows_experiment_runs_and_model_versions(
    browser, tmp_path, trained, ui_server
):
    # browser comes first: without Chromium or Playwright it skips before
    # any training or server start.
    from playwright.sync_api import expect

    _, results = trained
    base = ui_server
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT_MS)
    # The registry pages open a one-off "new Model Registry UI" promotion
    # dialog over the list; close it whenever it gets in the way of a click.
    promo = page.get_by_role("dialog").filter(has_text="new Model Registry UI")
    page.add_locator_handler(
        promo, lambda dialog: dialog.get_by_role("button", name="Close").click()
    )
    try:
        # The experiments list names the experiment; its link opens it.
        page.goto(f"{base}/#/experiments")
        experiment_link = page.get_by_role("link", name=EXPERIMENT, exact=True)
        expect(experiment_link).to_be_visible(timeout=UI_TIMEOUT_MS)
        _shot(page, tmp_path, "experiments")
        experiment_link.click()
        page.wait_for_url(re.compile(r".*#/experiments/\d+"))
        experiment_id = re.search(r"#/experiments/(\d+)", page.url).group(1)

        # Each run's page shows its roc_auc, as pdflow train reported it.
        for number, result in enumerate(results, start=1):
            run_id = result["run_id"]
            page.goto(f"{base}/#/experiments/{experiment_id}/runs/{run_id}")
            expect(page.get_by_text(run_id, exact=True)).to_be_visible(
                timeout=UI_TIMEOUT_MS
            )
            row = page.get_by_role("row").filter(
                has=page.get_by_role("cell", name="roc_auc", exact=True)
            )
            expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
            _shot(page, tmp_path, f"run{number}")
            shown = row.get_by_role("cell").nth(1).inner_text().strip()
            assert float(shown) == pytest.approx(
                result["metrics"]["roc_auc"], rel=1e-9
            ), f"run {run_id} shows roc_auc {shown!r}"
            # The run also links to the version it registered.
            expect(page.get_by_role("link", name=MODEL, exact=True)).to_be_visible()

        # The registered models list names the model; its page lists both versions.
        page.goto(f"{base}/#/models")
        model_link = page.get_by_role("link", name=MODEL, exact=True)
        expect(model_link).to_be_visible(timeout=UI_TIMEOUT_MS)
        _shot(page, tmp_path, "models")
        model_link.click()
        page.wait_for_url(re.compile(rf".*#/models/{MODEL}$"))
        for number, result in enumerate(results, start=1):
            version = page.get_by_role("link", name=f"Version {number}", exact=True)
            expect(version).to_be_visible(timeout=UI_TIMEOUT_MS)
            # The version's row carries the run it came from (pdflow.run_id tag).
            version_row = page.get_by_role("row").filter(has=version)
            expect(version_row).to_contain_text(result["run_id"])
        _shot(page, tmp_path, "model")
    except BaseException:
        with contextlib.suppress(Exception):
            _shot(page, tmp_path, "failure")
        raise
    finally:
        page.close()

    # pdflow ui is an MLflow server without sign-in: a user name in the
    # environment gives no rights to look up, and promoting through it works.
    env = {**_child_env(), "MLFLOW_TRACKING_USERNAME": "ann"}
    promoted = subprocess.run(
        [str(PDFLOW), "promote", "--tracking-uri", base, "--model-name", MODEL,
         "--version", "2", "--stage", "Production", "--force", "--reason", "open"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr
    assert "Production" in promoted.stdout
