"""Every bad input: one line on stderr, a non-zero exit, nothing created."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

import pdflow
from pdflow import tracking

BAD_FILES = {
    "empty.csv": "",
    "header_only.csv": "income,default\n",
    "not_csv.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00",
    "no_target.csv": "income,status\n1,0\n2,1\n",
    "three_classes.csv": "income,default\n1,0\n2,1\n3,2\n4,1\n",
    "one_class.csv": "income,default\n1,0\n2,0\n3,0\n",
    "tiny.csv": "income,default\n1,0\n2,1\n3,0\n",
    "small.csv": "income,default\n" + "".join(f"{i},{i % 2}\n" for i in range(12)),
}


def write_bad_files(folder: Path) -> None:
    for name, content in BAD_FILES.items():
        data = content if isinstance(content, bytes) else content.encode()
        (folder / name).write_bytes(data)


CASES = [
    (["train", "--data", "missing.csv"], "data file 'missing.csv' does not exist"),
    (["train", "--data", "empty.csv"], "is empty"),
    (["train", "--data", "header_only.csv"], "has a header but no rows"),
    (["train", "--data", "not_csv.csv"], "is not a readable CSV file"),
    (["train", "--data", "no_target.csv"], "target column 'default' not found"),
    (["train", "--data", "three_classes.csv"], "has 3 distinct values (0, 1, 2), "),
    (["train", "--data", "one_class.csv"], "has a single class"),
    (["train", "--data", "tiny.csv"], "too few rows for a stratified split"),
    (
        ["train", "--data", "small.csv"],
        "too few test loans for the validation suite: 3, 1 in the smaller class",
    ),
    (
        ["train", "--model", "xgb"],
        "unknown model 'xgb', expected one of: lgbm, logreg, rf, scorecard",
    ),
    (["train", "--test-size", "1.5"], "--test-size must lie strictly between 0 and 1"),
    (["train", "--test-size", "0"], "--test-size must lie strictly between 0 and 1"),
    (["train", "--n-estimators", "0"], "invalid value 0 for 'n_estimators'"),
    (["train", "--seed", "-1"], "--seed must be a whole number from 0 to 4294967295"),
    (["tune", "--grid", "{not json"], "--grid is not valid JSON"),
    (["tune", "--grid", '{"depth": [1]}'], "'depth', which is not a hyperparameter"),
    (["tune", "--grid", "nofile.json"], "neither inline JSON nor a JSON file"),
    (["tune", "--grid", "[1, 2]"], "--grid must be a JSON object"),
    (
        ["promote", "--model-name", "nope", "--version", "1", "--stage", "Production"],
        "registered model 'nope' does not exist",
    ),
    (
        [
            "predict",
            "--model-uri",
            "models:/nope/1",
            "--input",
            "tiny.csv",
            "--output",
            "out.csv",
        ],
        "cannot load model 'models:/nope/1'",
    ),
    (
        [
            "predict",
            "--model-uri",
            "models:/nope/1",
            "--input",
            "missing.csv",
            "--output",
            "out.csv",
        ],
        "data file 'missing.csv' does not exist",
    ),
    (
        ["models", "list", "--model-name", "nope"],
        "registered model 'nope' does not exist",
    ),
    (
        [
            "predict",
            "--model-uri",
            "models:/nope",
            "--input",
            "tiny.csv",
            "--output",
            "out.csv",
        ],
        "(for registered model 'nope' give a version: models:/nope/VERSION, /latest",
    ),  # fmt: skip
]


@pytest.mark.parametrize(
    ("args", "message"), CASES, ids=[" ".join(c[0][:3]) for c in CASES]
)
def test_bad_input_gets_one_line_and_creates_nothing(
    store, tmp_path, run_cli, capsys, args, message
):
    write_bad_files(tmp_path)
    tracking.connect(store)  # an empty store: unknown names are named as such
    capsys.readouterr()  # MLflow's own words on making its tables
    done = run_cli(*args, "--tracking-uri", store)
    assert done.code != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pdflow: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "mlruns").exists()
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["models", "list"],
        ["promote", "--version", "1", "--stage", "Staging"],
        ["predict", "--model-uri", "models:/m/1"],
        ["score", "--model-uri", "models:/m/1"],
        ["runs", "cleanup"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_commands_that_need_a_store_do_not_make_one(tmp_path, run_cli, args):
    write_bad_files(tmp_path)
    typo = tmp_path / "no_such_folder" / "mlfow.db"
    output = []
    if args[0] in {"predict", "score"}:
        output = ["--input", tmp_path / "tiny.csv", "--output", tmp_path / "o.csv"]
    done = run_cli(*args, *output, "--tracking-uri", f"sqlite:///{typo}")
    assert done.code == 1
    assert done.stderr.splitlines() == [
        f"pdflow: error: no MLflow store at '{typo}' (sqlite:///{typo}): nothing "
        "was trained there; check --tracking-uri or MLFLOW_TRACKING_URI"
    ]
    assert not typo.parent.exists()


def test_a_store_of_no_known_kind_is_named(tmp_path, run_cli):
    done = run_cli("models", "list", "--tracking-uri", "foo://bar")
    assert done.code == 1
    assert done.stderr.startswith(
        "pdflow: error: cannot use tracking store 'foo://bar': Model registry "
        "functionality is unavailable; got unsupported URI 'foo://bar'"
    )
    assert done.stderr.count("\n") == 1


def test_bad_input_leaves_an_existing_store_unchanged(store, tmp_path, run_cli):
    pdflow.train("german", params={"n_estimators": 5}, tracking_uri=store)
    write_bad_files(tmp_path)
    for args, _ in CASES:
        assert run_cli(*args, "--tracking-uri", store).code != 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    assert (
        len(
            client.search_runs(
                [
                    client.get_experiment_by_name(
                        "PD_Classification_Experiment"
                    ).experiment_id
                ]
            )
        )
        == 1
    )
    assert len(client.search_model_versions("name = 'pd_model_v1'")) == 1


def test_traceback_flag_shows_the_traceback(store, tmp_path, run_cli):
    done = run_cli(
        "train", "--data", "missing.csv", "--traceback", "--tracking-uri", store
    )
    assert done.code == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().endswith("does not exist")


def test_unknown_option_is_a_usage_error(run_cli):
    done = run_cli("train", "--no-such-flag")
    assert done.code == 2
    assert "No such option" in done.stderr


def test_unreachable_store_is_one_line(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = run_cli("models", "list", "--tracking-uri", "http://127.0.0.1:9")
    assert done.code == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "http://127.0.0.1:9" in done.stderr


def test_a_server_address_without_its_scheme_is_one_line(
    tmp_path, run_cli, monkeypatch
):
    # MLflow would take it for a folder of files and answer with its notice
    # about the file store's maintenance mode.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "127.0.0.1:5000")
    done = run_cli("models", "list")
    assert done.code == 2
    assert done.stderr.strip() == (
        "pdflow: error: tracking URI '127.0.0.1:5000' has no scheme; for a server "
        "write http://127.0.0.1:5000"
    )
    assert list(tmp_path.iterdir()) == []


def test_no_help_text_loses_words_to_markup():
    # Rich takes "[...]" in a help text for a style and drops it silently.
    from pdflow import cli

    texts = []
    for group in [cli.app, *(g.typer_instance for g in cli.app.registered_groups)]:
        for command in group.registered_commands:
            hints = typing.get_type_hints(command.callback, include_extras=True)
            for hint in hints.values():
                texts += [m.help for m in getattr(hint, "__metadata__", ()) if m.help]
    assert len(texts) > 50
    assert [t for t in texts if "[" in t] == []


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["predict", "--no-reasons"],
         "No such option: --no-reasons (see pdflow predict --help)"),
        (["nosuch"], "No such command 'nosuch' (see pdflow --help)"),
        (["validate", "--model-uri", "models:/m/1"],
         "Missing option '--data' (see pdflow validate --help)"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_too(run_cli, args, line):
    done = run_cli(*args)
    assert done.code == 2
    assert done.stderr.splitlines() == [f"pdflow: error: {line}"]


def test_version(run_cli):
    import mlflow

    done = run_cli("--version")
    assert done.code == 0
    assert (
        done.stdout.strip()
        == f"pdflow {pdflow.__version__} (MLflow {mlflow.__version__})"
    )


def test_a_file_that_cannot_be_written_is_named_in_one_line(run_cli):
    done = run_cli("data", "synthetic", "--rows", "100", "--out", "/proc/nope/x.csv")
    assert done.code == 1
    assert done.stderr.splitlines() == [
        "pdflow: error: cannot use '/proc/nope': No such file or directory"
    ]
