"""Grid search: parent and child runs, the refit best model, registration."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.model_selection import GridSearchCV, StratifiedKFold

import pdflow
from pdflow.data import load_dataset
from pdflow.errors import ConfigError, DataError
from pdflow.training import split_dataset

GRID = {"n_estimators": [10, 30], "max_depth": [3, None]}


def test_tune_logs_parent_children_and_registers_best(store):
    result = pdflow.tune("german", grid=GRID, cv=3, tracking_uri=store)
    assert result.n_candidates == 4
    assert result.model_version == 1

    # The same search done by hand picks the same candidate and CV score.
    ds = load_dataset("german")
    split = split_dataset(ds, 0.25, seed=42)
    from pdflow.models import FAMILIES, build_pipeline, resolve_params

    pipe = build_pipeline(
        FAMILIES["rf"],
        resolve_params(FAMILIES["rf"], {"n_jobs": 1}),
        numeric=ds.numeric,
        categorical=ds.categorical,
        seed=42,
    )
    search = GridSearchCV(
        pipe,
        {f"clf__{k}": v for k, v in GRID.items()},
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=42),
    )
    search.fit(split.X_train, split.y_train)
    assert result.best_cv_roc_auc == pytest.approx(search.best_score_)
    assert result.best_params == {
        k.removeprefix("clf__"): v for k, v in search.best_params_.items()
    }

    client = MlflowClient(store)
    parent = client.get_run(result.run_id)
    assert parent.data.metrics["best_cv_roc_auc"] == pytest.approx(search.best_score_)
    assert parent.data.params["cv"] == "3"
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'",
    )
    assert len(children) == 4
    means = sorted(c.data.metrics["cv_roc_auc_mean"] for c in children)
    assert means == pytest.approx(sorted(search.cv_results_["mean_test_score"]))
    assert all("cv_roc_auc_std" in c.data.metrics for c in children)
    assert all(c.info.status == "FINISHED" for c in children)
    assert {c.data.params["n_estimators"] for c in children} == {"10", "30"}

    text = client.download_artifacts(result.run_id, "tuning/cv_results.csv")
    table = pd.read_csv(open(text))
    assert len(table) == 4 and "mean_test_score" in table

    mv = client.get_model_version("pd_model_v1", "1")
    assert mv.run_id == result.run_id


def test_tune_grid_from_file_and_promote(store, tmp_path, run_cli):
    grid = tmp_path / "grid.json"
    grid.write_text('{"n_estimators": [20], "min_samples_leaf": [1, 20]}')
    done = run_cli(
        "tune",
        "--grid",
        grid,
        "--cv",
        "2",
        "--promote",
        "--json",
        "--tracking-uri",
        store,
    )
    assert done.code == 0, done.stderr
    import json

    payload = json.loads(done.stdout)
    assert payload["n_candidates"] == 2
    assert payload["promoted"] is True
    assert (
        pdflow.list_versions("pd_model_v1", tracking_uri=store)[0]["stage"]
        == "Production"
    )


@pytest.mark.parametrize(
    ("grid", "cv", "error", "message"),
    [
        ({"n_trees": [1]}, 3, ConfigError, "not a hyperparameter"),
        ({"n_estimators": []}, 3, ConfigError, "non-empty list"),
        ({"n_estimators": 5}, 3, ConfigError, "non-empty list"),
        ({"n_estimators": [-1]}, 3, ConfigError, "invalid value -1"),
        ({}, 3, ConfigError, "non-empty JSON object"),
        ({"n_estimators": [5]}, 1, ConfigError, "--cv must be"),
        ({"n_estimators": [5]}, 500, DataError, "--cv 500 needs"),
    ],
)
def test_invalid_grids_create_nothing(store, tmp_path, grid, cv, error, message):
    with pytest.raises(error, match=message):
        pdflow.tune("german", grid=grid, cv=cv, tracking_uri=store)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_the_readme_tuning_example_promotes_on_a_new_store(store, run_cli):
    # pdflow tune --data german --cv 5 --promote, as the README gives it: the
    # default grid's winner must pass the default gate.
    done = run_cli("tune", "--data", "german", "--cv", "5", "--promote", "--json",
                   "--tracking-uri", store)  # fmt: skip
    assert done.code == 0, done.stderr
    import json

    payload = json.loads(done.stdout)
    assert payload["n_candidates"] == 12
    assert payload["promoted"] is True
    assert payload["best_params"]["min_samples_leaf"] in (5, 20)


def test_failed_fits_are_one_warning_and_all_failing_one_error(store, run_cli, caplog):
    grid = '{"min_iv": [0.02, 10]}'  # no German variable reaches an IV of 10
    done = run_cli("tune", "--model", "scorecard", "--cv", "2", "--grid", grid,
                   "--json", "--tracking-uri", store)  # fmt: skip
    assert done.code == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "1 of 2 candidates failed to fit and are ranked last: no variable reaches "
        "the scorecard's min_iv of 10"
    ) in caplog.text
    assert '"model_version": 1' in done.stdout

    done = run_cli("tune", "--model", "scorecard", "--cv", "2", "--grid",
                   '{"min_iv": [10, 20]}', "--tracking-uri", store)  # fmt: skip
    assert done.code == 2
    assert done.stderr.splitlines() == [
        "pdflow: error: every one of the 4 fits of the grid failed: no variable "
        "reaches the scorecard's min_iv of 10"
    ]
    versions = MlflowClient(store).search_model_versions("name = 'pd_model_v1'")
    assert len(versions) == 1
