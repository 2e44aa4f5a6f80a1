"""``pdflow server`` on a PostgreSQL database made for the test, over loopback.

The database is created before the server starts and dropped after it stops;
the server runs MLflow's sign-in app with artifacts proxied to a folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import warnings
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient
from mlflow.tracking import MlflowClient

import pdflow
from pdflow import registry, tracking

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


@contextlib.contextmanager
def new_database():
    """A PostgreSQL database that exists for the block, then is dropped."""
    name = f"pdflow_test_{uuid.uuid4().hex[:10]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    try:
        yield f"{PG}/{name}"
    finally:
        _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        _admin(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="module")
def database():
    with new_database() as uri:
        yield uri


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, **extra}


def team_server(database: str, folder, port: int, stop=lambda: signal.SIGINT):
    """``pdflow server`` on ``database``, artifacts and configuration in ``folder``."""
    command = [
        PDFLOW, "server", "--backend-store-uri", database,
        "--artifacts-destination", folder / "artifacts", "--port", port,
    ]  # fmt: skip
    env = _env(MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD)
    health = f"http://127.0.0.1:{port}/health"
    return running_server(command, cwd=folder, env=env, health_url=health, stop=stop)


def _nothing_listens(port: int, grace: float = 10) -> bool:
    """Whether connections to ``port`` are refused (within ``grace`` seconds)."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def team(database, tmp_path_factory):
    """The module's server, with a way to stop it and start it again on the
    same database, folder and port."""
    folder = tmp_path_factory.mktemp("team")
    port = free_port()
    # The restart stops the server as a closed terminal would (SIGHUP); the
    # new one then finds the port free only if every process of the old is gone.
    stop = [signal.SIGINT]
    with contextlib.ExitStack() as running:

        def restart() -> None:
            stop[0] = signal.SIGHUP
            running.close()
            stop[0] = signal.SIGINT
            assert _nothing_listens(port), "a process of the old server lives on"
            running.enter_context(team_server(database, folder, port, lambda: stop[0]))

        running.enter_context(team_server(database, folder, port, lambda: stop[0]))
        yield SimpleNamespace(
            url=f"http://127.0.0.1:{port}", folder=folder, restart=restart
        )


@pytest.fixture(scope="module")
def server(team):
    return team.url, team.folder


@pytest.fixture
def admin(server, monkeypatch) -> MlflowClient:
    """A client in this process, signed in to the test server as admin."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    url, _ = server
    return MlflowClient(url, registry_uri=url)


def _client_env(url, user="admin", password=ADMIN_PASSWORD) -> dict[str, str]:
    return _env(
        MLFLOW_TRACKING_URI=url,
        MLFLOW_TRACKING_USERNAME=user,
        MLFLOW_TRACKING_PASSWORD=password,
    )


def _pdflow(*args, cwd, password=ADMIN_PASSWORD, url=None, user="admin"):
    env = _env(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password)
    if url:
        env["MLFLOW_TRACKING_URI"] = url
    return subprocess.run(
        [PDFLOW, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def _at_once(commands: list[list], *, cwd, env) -> list[tuple[int, str, str]]:
    """Start every ``pdflow`` command together; their exit codes and output."""
    procs = [
        subprocess.Popen(
            [PDFLOW, *map(str, c)],
            cwd=cwd,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for c in commands
    ]
    return [(p.wait(timeout=900), *p.communicate()) for p in procs]


def _model_files(client: MlflowClient, mv) -> set[str]:
    """The files of a version's logged model, as the server stores them."""
    # Versions listed over REST carry no model_id; their source names it.
    model_id = mv.model_id or mv.source.removeprefix("models:/")
    return {a.path for a in client.list_logged_model_artifacts(model_id)}


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


def test_only_an_approver_may_move_a_version_to_production(server, admin, tmp_path):
    url, _ = server
    # carl is made through MLflow itself, with no pdflow role.
    AuthServiceClient(url).create_user("carl", "carl-password-1")
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

    # ann's training registers its version, but her --promote stops there.
    trained = as_user("ann", "train", "--n-estimators", "5", "--seed", "3", "--json",
                      "--promote")  # fmt: skip
    assert trained.returncode == 3, trained.stderr
    result = json.loads(trained.stdout)
    assert result["promoted"] is False
    assert (
        "user 'ann' may not move versions of 'pd_model_v1' to Production"
        in (result["promotion_message"])
    )
    version = str(result["model_version"])
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
    stranger = as_user("carl", "promote", "--version", version, "--stage",
                       "Production", "--force", "--reason", "try")  # fmt: skip
    assert stranger.returncode == 3
    assert stranger.stderr.strip() == (
        "pdflow: error: user 'carl' may not move versions of 'pd_model_v1' to "
        "Production or set champion: that needs MANAGE on the model (the approver "
        "role), and 'carl' has READ"
    )
    assert json.loads(as_user("ann", "models", "list", "--json").stdout) == before

    approved = as_user("bob", "promote", "--version", version, "--stage", "Production",
                       "--force", "--reason", "MRC-9")  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert "(by bob)" in approved.stdout
    rows = json.loads(as_user("bob", "models", "list", "--json").stdout)
    assert [r["stage"] for r in rows if str(r["version"]) == version] == ["Production"]


def test_roles_change_when_granted_again(server, tmp_path, capsys):
    url, _ = server
    (tmp_path / "gina").write_text("gina-password-1\n")

    def pdflow_as(*args, user="admin", password=ADMIN_PASSWORD):
        return _pdflow(*args, cwd=tmp_path, url=url, user=user, password=password)

    missing = pdflow_as("users", "grant", "gina", "--role", "modeller")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "pdflow: error: cannot grant a role to 'gina': no such user; create it "
        "first: pdflow users create gina"
    )
    assert pdflow_as("users", "create", "gina", "--password-file",
                     tmp_path / "gina").returncode == 0  # fmt: skip
    again = pdflow_as("users", "create", "gina", "--password-file", tmp_path / "gina")
    assert again.stderr.strip() == "pdflow: error: user 'gina' exists already"

    said = []
    for role in ("modeller", "modeller", "approver", "modeller"):
        granted = pdflow_as("users", "grant", "gina", "--role", role,
                            "--model-name", "pd_roles")  # fmt: skip
        assert granted.returncode == 0, granted.stderr
        said.append(granted.stdout.split(": ", 1)[1].strip())
    # The model's permission follows the role; the experiment's never drops.
    experiment = "on experiment PD_Classification_Experiment"
    assert said == [
        f"EDIT on the model, EDIT {experiment}",
        f"EDIT on the model, EDIT {experiment}",
        f"MANAGE on the model, EDIT {experiment}",
        f"EDIT on the model, EDIT {experiment}",
    ]
    refused = pdflow_as("users", "create", "hal", "--password-file", tmp_path / "gina",
                        user="gina", password="gina-password-1")  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "pdflow: error: cannot create user 'hal': user 'gina' may not create "
        "users: only an admin may"
    )
    no_password = _pdflow("models", "list", cwd=tmp_path, url=url, user="gina",
                          password="")  # fmt: skip
    assert no_password.stderr.strip() == (
        f"pdflow: error: tracking server '{url}' asks user 'gina' for a password: "
        "set MLFLOW_TRACKING_PASSWORD"
    )


def test_revoke_a_role_and_change_passwords(server, admin, tmp_path):
    url, _ = server
    for name in ("dora", "eve"):
        (tmp_path / name).write_text(f"{name}-password-1\n")
        assert _pdflow("users", "create", name, "--password-file", tmp_path / name,
                       cwd=tmp_path, url=url).returncode == 0  # fmt: skip
    granted = _pdflow("users", "grant", "dora", "--role", "modeller", "--model-name",
                      "pd_revoke", cwd=tmp_path, url=url)  # fmt: skip
    assert granted.returncode == 0, granted.stderr

    experiment = "experiment 'PD_Classification_Experiment'"
    revoked = _pdflow("users", "revoke", "dora", "--model-name", "pd_revoke",
                      cwd=tmp_path, url=url)  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == (
        f"dora: revoked EDIT on model 'pd_revoke'; revoked EDIT on {experiment}; "
        "the server's default applies now"
    )
    again = _pdflow("users", "revoke", "dora", "--model-name", "pd_revoke",
                    cwd=tmp_path, url=url)  # fmt: skip
    assert again.stdout.strip() == (
        f"dora: nothing was granted on model 'pd_revoke'; nothing was granted on "
        f"{experiment}; the server's default applies now"
    )
    held = AuthServiceClient(url).get_user_permission(
        "dora", "registered_model", "pd_revoke"
    )
    assert held.permission == "READ"  # the server's default
    nobody = _pdflow("users", "revoke", "nobody", cwd=tmp_path, url=url)
    assert nobody.stderr.strip() == (
        "pdflow: error: cannot revoke roles of 'nobody': no such user"
    )

    # An admin sets anyone's password; a user their own; nobody else's.
    (tmp_path / "new").write_text("dora-password-2\n")
    assert _pdflow("users", "password", "dora", "--password-file", tmp_path / "new",
                   cwd=tmp_path, url=url).returncode == 0  # fmt: skip
    (tmp_path / "own").write_text("dora-password-3\n")
    own = _pdflow("users", "password", "dora", "--password-file", tmp_path / "own",
                  cwd=tmp_path, url=url, user="dora",
                  password="dora-password-2")  # fmt: skip
    assert own.returncode == 0, own.stderr
    assert "sign in with the new one from now on" in own.stdout
    checks = {
        password: _pdflow(
            "server", "--check", url, cwd=tmp_path, user="dora", password=password
        ).returncode  # fmt: skip
        for password in ("dora-password-1", "dora-password-2", "dora-password-3")
    }
    assert checks == {"dora-password-1": 1, "dora-password-2": 1, "dora-password-3": 0}
    other = _pdflow("users", "password", "dora", "--password-file", tmp_path / "new",
                    cwd=tmp_path, url=url, user="eve",
                    password="eve-password-1")  # fmt: skip
    assert other.returncode == 1
    assert other.stderr.strip() == (
        "pdflow: error: cannot set the password of 'dora': user 'eve' may not: "
        "only an admin or 'dora' may"
    )


def test_a_changed_admin_password_is_not_taken_silently(server, capsys):
    # MLflow sets the admin's password only when it first makes the user.
    url, _ = server
    from pdflow import cli

    cli._check_admin_password(url, ADMIN_PASSWORD)
    assert capsys.readouterr().err == ""
    cli._check_admin_password(url, "another-password")
    assert "warning: 'admin' does not sign in with the password given" in (
        capsys.readouterr().err.replace("\n", " ")
    )


def test_eight_trainings_at_once_against_the_server(server, admin, tmp_path):
    url, _ = server
    train = ["train", "--data", "synthetic", "--rows", "3000", "--n-estimators", "20",
             "--model-name", "pd_eight", "--experiment", "eight", "--json"]  # fmt: skip
    outcomes = _at_once(
        [[*train, "--seed", seed] for seed in range(8)],
        cwd=tmp_path,
        env=_client_env(url),
    )
    failures = [err[-2000:] for code, _, err in outcomes if code != 0]
    assert not failures, failures
    results = [json.loads(out) for _, out, _ in outcomes]
    assert sorted(r["model_version"] for r in results) == list(range(1, 9))
    assert len({r["run_id"] for r in results}) == 8

    versions = admin.search_model_versions("name = 'pd_eight'")
    assert sorted(int(v.version) for v in versions) == list(range(1, 9))
    for mv in versions:
        assert admin.get_run(mv.run_id).info.status == "FINISHED"
        assert {"MLmodel", "model.skops"} <= _model_files(admin, mv)
    runs = admin.search_runs([admin.get_experiment_by_name("eight").experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(r["run_id"] for r in results)


def test_racing_promotions_leave_one_production_version(server, admin, tmp_path):
    url, _ = server
    env = _client_env(url)
    trained = _at_once(
        [["train", "--data", "synthetic", "--rows", "2000", "--n-estimators", "10",
          "--seed", seed, "--model-name", "pd_race", "--json"] for seed in (1, 2, 3)],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert [code for code, _, _ in trained] == [0, 0, 0], [e for *_, e in trained]

    # Three approvers send three versions to Production at the same moment
    # (forced: the versions were trained on different splits).
    raced = _at_once(
        [["promote", "--model-name", "pd_race", "--version", v, "--stage",
          "Production", "--force", "--reason", f"race {v}"] for v in (1, 2, 3)],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert {code for code, _, _ in raced} <= {0, 3}, [e for *_, e in raced]
    for code, _, err in raced:
        if code == 3:
            assert "holds Production now" in err, err

    versions = {
        str(mv.version): mv for mv in admin.search_model_versions("name = 'pd_race'")
    }
    held = [v for v, mv in versions.items() if mv.current_stage == "Production"]
    assert len(held) == 1, {v: mv.current_stage for v, mv in versions.items()}
    [winner] = held
    assert admin.get_registered_model("pd_race").aliases == {"champion": winner}
    # The latest claim holds Production, and its promoter said it succeeded.
    claims = {v: int(mv.tags[registry.CLAIM_TAG]) for v, mv in versions.items()}
    assert winner == max(claims, key=claims.get)
    assert raced[int(winner) - 1][0] == 0
    assert {mv.current_stage for v, mv in versions.items() if v != winner} == {
        "Archived"
    }
    for mv in versions.values():
        history = json.loads(mv.tags[registry.HISTORY_TAG])
        assert [h["stage"] for h in history] == ["Production"]
        assert history[0]["reason"] == f"race {mv.version}"


def _running_runs(client, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'")


def _logged_models(client, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_logged_models([found.experiment_id])


# Each kill point is a state of the registry that the test waits to see before
# it kills the training: the earliest has not started its run yet.
KILL_POINTS = {
    "before the run": lambda c, e: True,
    "run started": lambda c, e: bool(_running_runs(c, e)),
    "model being logged": lambda c, e: bool(_logged_models(c, e)),
    "version registered": lambda c, e: bool(
        c.search_model_versions("name = 'pd_killed'")
    ),
}


def test_a_training_killed_at_any_point_leaves_nothing_half_done(
    server, admin, tmp_path
):
    url, _ = server
    env = _client_env(url)
    seen = {}
    for n, (point, reached) in enumerate(KILL_POINTS.items()):
        experiment = f"killed-{n}"
        process = subprocess.Popen(
            [PDFLOW, "train", "--data", "loanbook", "--rows", "20000", "--model",
             "lgbm", "--model-name", "pd_killed", "--experiment", experiment,
             "--promote"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if reached(admin, experiment):
                    break
            time.sleep(0.1)
        assert process.poll() is None, f"the training ended before '{point}'"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        seen[point] = [r.info.run_id for r in _running_runs(admin, experiment)]

        known = admin.get_experiment_by_name(experiment) is not None
        scope = ["--experiment", experiment] if known else []
        cleaned = _pdflow("runs", "cleanup", "--json", *scope, cwd=tmp_path, url=url)
        assert cleaned.returncode == 0, cleaned.stderr
        failed = [
            r["run_id"] for r in json.loads(cleaned.stdout) if r["verdict"] == "failed"
        ]
        assert failed == seen[point]
        assert _running_runs(admin, experiment) == []

    assert seen["before the run"] == []
    assert all(len(seen[p]) == 1 for p in ("run started", "model being logged"))
    # Only the last training lived to register its version, and that version
    # has every file of its model.
    [mv] = admin.search_model_versions("name = 'pd_killed'")
    assert {"MLmodel", "model.skops"} <= _model_files(admin, mv)
    assert admin.get_run(mv.run_id).info.status in {"FINISHED", "FAILED"}


def test_cleanup_without_the_right_names_the_run_and_the_right(server, admin, tmp_path):
    url, _ = server
    AuthServiceClient(url).create_user("rita", "rita-password-1")  # READ only
    experiment = admin.create_experiment("cleanup-rights")
    gone = subprocess.Popen(["true"])
    gone.wait()
    tags = {tracking.HOST_TAG: socket.gethostname(), tracking.PID_TAG: str(gone.pid)}
    run_id = admin.create_run(experiment, tags=tags).info.run_id
    scope = ["runs", "cleanup", "--experiment", "cleanup-rights"]

    refused = _pdflow(*scope, cwd=tmp_path, url=url, user="rita",
                      password="rita-password-1")  # fmt: skip
    assert refused.returncode == 1
    assert refused.stdout.strip().startswith(f"{run_id} (cleanup-rights, started ")
    assert refused.stdout.strip().endswith(
        f"not marked: process {gone.pid} on {socket.gethostname()} is gone, but "
        "'rita' may not end it: that needs EDIT on experiment 'cleanup-rights' "
        "(the modeller role) or an admin"
    )
    assert refused.stderr.strip().splitlines() == [
        "pdflow: error: 1 run(s) whose process is gone could not be marked FAILED "
        "for lack of rights"
    ]
    as_json = _pdflow(*scope, "--json", cwd=tmp_path, url=url, user="rita",
                      password="rita-password-1")  # fmt: skip
    assert as_json.returncode == 1
    assert [r["verdict"] for r in json.loads(as_json.stdout)] == ["refused"]
    # A dry run tells her the same before she tries.
    dry = _pdflow(*scope, "--dry-run", cwd=tmp_path, url=url, user="rita",
                  password="rita-password-1")  # fmt: skip
    assert dry.returncode == 1
    assert "could not be marked: process" in dry.stdout
    assert "'rita' may not end it" in dry.stdout
    admin_dry = _pdflow(*scope, "--dry-run", cwd=tmp_path, url=url)
    assert admin_dry.returncode == 0, admin_dry.stderr
    assert "would mark FAILED" in admin_dry.stdout
    assert admin.get_run(run_id).info.status == "RUNNING"

    cleaned = _pdflow(*scope, cwd=tmp_path, url=url)
    assert cleaned.returncode == 0, cleaned.stderr
    assert admin.get_run(run_id).info.status == "FAILED"


def test_a_restart_loses_nothing(team, admin, tmp_path):
    """Everything on the server (this test's and any earlier test's runs,
    models and users) is still there after it is stopped and started again."""
    url, name = team.url, "pd_restart"
    for seed in (1, 7):
        pdflow.train(
            "synthetic", rows=1000, params={"n_estimators": 10}, seed=seed,
            model_name=name, tracking_uri=url,
        )  # fmt: skip
    loans = pdflow.make_synthetic(500, seed=9).drop(columns="default")
    pdflow.promote(name, 1, stage="Production", force=True, reason="MRC-1",
                   tracking_uri=url)  # fmt: skip
    pdflow.promote(name, 2, alias="challenger", reason="shadow run", tracking_uri=url)
    AuthServiceClient(url).create_user("carol", "carol-password-1")
    champion = f"models:/{name}@champion"
    scored = pdflow.load_model(champion, tracking_uri=url).predict_proba(loans)

    def snapshot() -> str:
        """What the server knows, as JSON text (NaN metrics compare equal)."""
        experiments = admin.search_experiments()
        runs = admin.search_runs([e.experiment_id for e in experiments])
        models = admin.search_registered_models()
        versions = [
            v for m in models for v in admin.search_model_versions(f"name = '{m.name}'")
        ]
        found = {
            "users": _known_users(url),
            "aliases": {m.name: m.aliases for m in models},
            "versions": {
                f"{v.name}/{v.version}": [
                    v.current_stage,
                    v.run_id,
                    v.tags,
                    sorted(_model_files(admin, v)),
                ]
                for v in versions
            },  # fmt: skip
            "runs": {
                r.info.run_id: [
                    r.info.status,
                    r.data.metrics,
                    r.data.params,
                    sorted(a.path for a in admin.list_artifacts(r.info.run_id)),
                ]
                for r in runs
            },  # fmt: skip
        }
        return json.dumps(found, sort_keys=True)

    before = snapshot()
    team.restart()
    assert snapshot() == before

    known = json.loads(before)
    assert known["aliases"][name] == {"champion": "1", "challenger": "2"}
    assert {"admin", "carol"} <= set(known["users"])
    stage, _, tags, files = known["versions"][f"{name}/1"]
    assert stage == "Production" and "MLmodel" in files
    assert json.loads(tags[registry.HISTORY_TAG])[0]["reason"] == "MRC-1"
    again = pdflow.load_model(champion, tracking_uri=url).predict_proba(loans)
    assert (again == scored).all()
    signed_in = _pdflow("server", "--check", url, cwd=tmp_path, user="carol",
                        password="carol-password-1")  # fmt: skip
    assert signed_in.returncode == 0, signed_in.stderr


def _known_users(url: str) -> list[str]:
    """Which of the tests' users the server knows (MLflow lists none)."""
    client = AuthServiceClient(url)
    known = []
    for user in ("admin", "ann", "bob", "carol"):
        with contextlib.suppress(MlflowException):
            client.get_user(user)
            known.append(user)
    return known
