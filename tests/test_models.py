"""Model families: train, log, register, reload, tune; scorecard points; lgbm."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

import pdflow
from pdflow.data import load_dataset
from pdflow.errors import ConfigError
from pdflow.estimators import LGBMPD, WoEScorecard
from pdflow.models import FAMILIES, build_pipeline, parse_monotone, resolve_params
from pdflow.ratings import pd_to_score
from pdflow.training import split_dataset

FAST = {
    "rf": {"n_estimators": 20},
    "logreg": {},
    "scorecard": {},
    "lgbm": {"n_estimators": 60},
}


@pytest.fixture(scope="module")
def german():
    return load_dataset("german")


@pytest.fixture(scope="module")
def card(german):
    return WoEScorecard().fit(german.X, german.y)


def test_every_family_reloads_in_a_fresh_process_with_identical_pds(store, tmp_path):
    trained = {}
    for family, params in FAST.items():
        trained[family] = pdflow.train(
            "loanbook", rows=1500, model=family, params=params, tracking_uri=store
        )
    trained["lgbm+sigmoid+ct"] = pdflow.train(
        "loanbook",
        rows=1500,
        model="lgbm",
        params=FAST["lgbm"],
        calibrate="sigmoid",
        central_tendency=0.05,
        tracking_uri=store,
    )
    assert [r.model_version for r in trained.values()] == [1, 2, 3, 4, 5]

    ds = load_dataset("loanbook", rows=1500)
    split = split_dataset(ds, 0.25, seed=42)
    split.X_test.to_pickle(tmp_path / "X.pkl")
    expected = {}
    for name, result in trained.items():
        model = mlflow.sklearn.load_model(result.model_uri)
        expected[name] = model.predict_proba(split.X_test)[:, 1]
        assert result.metrics["roc_auc"] > 0.6, name

    uris = {name: r.model_uri for name, r in trained.items()}
    script = textwrap.dedent(
        f"""
        import json, sys
        import mlflow, numpy as np, pandas as pd
        mlflow.set_tracking_uri({store!r})
        X = pd.read_pickle({str(tmp_path / "X.pkl")!r})
        out = {{}}
        for name, uri in {uris!r}.items():
            model = mlflow.sklearn.load_model(uri)
            out[name] = model.predict_proba(X)[:, 1].tolist()
        json.dump(out, sys.stdout)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    reloaded = json.loads(done.stdout)
    for name, pds in expected.items():
        assert np.array_equal(np.asarray(reloaded[name]), pds), name

    # Each family's extra packages are pinned in the logged requirements.
    deps = open(mlflow.pyfunc.get_model_dependencies(uris["lgbm"])).read()
    assert "lightgbm==4.7.0" in deps
    deps = open(mlflow.pyfunc.get_model_dependencies(uris["scorecard"])).read()
    assert "optbinning==" in deps and "cloudpickle==" in deps


@pytest.mark.parametrize("family", list(FAMILIES))
def test_families_clone_and_sit_in_pipelines(family, german):
    model = build_pipeline(
        FAMILIES[family],
        resolve_params(FAMILIES[family], FAST[family]),
        numeric=german.numeric,
        categorical=german.categorical,
        seed=1,
    )
    twin = clone(model)
    assert twin.get_params().keys() == model.get_params().keys()
    wrapped = Pipeline([("model", twin)]).fit(german.X, german.y)
    pds = wrapped.predict_proba(german.X)[:, 1]
    assert pds.shape == (1000,) and 0 < pds.min() and pds.max() < 1


def test_scorecard_points_follow_the_pdo_and_base_odds(card, german):
    points = card.score_points(german.X)
    log_odds = card.decision_function(german.X)
    # 600 points at good:bad odds of 50, 20 more for each doubling of the odds.
    by_hand = 600 + 20 / math.log(2) * (-log_odds - math.log(50))
    assert points == pytest.approx(by_hand, abs=1e-9)
    assert points == pytest.approx(
        pd_to_score(card.predict_proba(german.X)[:, 1]), abs=1e-6
    )
    assert float(pd_to_score([1 / 51])[0]) == pytest.approx(600.0)

    doubled = WoEScorecard(pdo=40, base_odds=50, base_points=600).fit(
        german.X, german.y
    )
    assert doubled.score_points(german.X) - 600 == pytest.approx(2 * (points - 600))


def test_scorecard_table_points_add_up_to_each_loans_score(card, german):
    table = card.scorecard_table()
    assert list(table.columns[:5]) == ["variable", "bin", "count", "event_rate", "woe"]
    assert set(table["variable"]) == set(card.variables_)
    assert table.groupby("variable")["count"].sum().eq(1000).all()
    per_variable = card._points_per_variable(german.X)
    assert per_variable.sum(axis=1).to_numpy() == pytest.approx(
        card.score_points(german.X)
    )
    # Every loan's per-variable points are one of its variable's table points.
    for variable in card.variables_:
        allowed = table.loc[table["variable"] == variable, "points"].to_numpy()
        gaps = np.abs(per_variable[variable].to_numpy()[:, None] - allowed).min(axis=1)
        assert gaps.max() < 1e-9, variable


def test_scorecard_numeric_bins_are_monotone_and_iv_selects(card):
    tables = card.binning_tables()
    assert set(tables) == set(card.variables_) | set(card.below_iv_)
    assert card.below_iv_, "German credit has variables below IV 0.02"
    for name in card.variables_:
        table = tables[name]
        real = table[~table["row"].isin(["Totals"]) & (table["Count"] > 0)]
        real = real[~real["Bin"].astype(str).isin(["Special", "Missing"])]
        if name in ("duration_in_month", "credit_amount", "age_in_years"):
            rates = real["Event rate"].astype(float).to_numpy()
            steps = np.diff(rates)
            assert (steps >= 0).all() or (steps <= 0).all(), name
        iv = float(table.loc[table["row"] == "Totals", "IV"].iloc[0])
        assert iv >= 0.02, name


def test_scorecard_reasons_are_points_lost_against_the_best_bin(card, german):
    reasons = card.reason_contributions(german.X.head(50))
    assert list(reasons.columns) == list(german.X.columns)
    assert reasons.index.equals(german.X.head(50).index)
    assert (reasons.to_numpy() >= 0).all()
    assert (reasons[card.below_iv_] == 0).all().all()
    best = card.scorecard_table().groupby("variable")["points"].max()
    per_variable = card._points_per_variable(german.X.head(50))
    expected = best[card.variables_] - per_variable
    assert reasons[card.variables_].to_numpy() == pytest.approx(expected.to_numpy())


def test_scorecard_drops_unusable_columns_out_loud(german, caplog):
    X = german.X.assign(branch="north", empty=np.nan)
    with caplog.at_level(logging.WARNING, logger="pdflow.estimators"):
        fitted = WoEScorecard().fit(X, german.y)
    assert fitted.dropped_ == {
        "branch": "a single value ('north') on every non-missing row",
        "empty": "every value is missing",
    }
    assert "scorecard drops column 'branch'" in caplog.text
    assert "scorecard drops column 'empty'" in caplog.text
    assert (fitted.reason_contributions(X.head(3))[["branch", "empty"]] == 0).all(None)


def test_scorecard_run_logs_tables_and_dropped_columns(store, tmp_path, german):
    path = tmp_path / "german_plus.csv"
    frame = german.X.assign(branch="north", creditability=german.y)
    frame.to_csv(path, index=False)
    result = pdflow.train(
        str(path), target="creditability", model="scorecard", tracking_uri=store
    )
    client = MlflowClient(store)
    run = client.get_run(result.run_id)
    assert run.data.params["scorecard.dropped"] == "branch"
    assert run.data.params["model.pdo"] == "20.0"
    names = {f.path for f in client.list_artifacts(result.run_id, "scorecard")}
    assert "scorecard/scorecard_table.csv" in names
    binned = {f.path for f in client.list_artifacts(result.run_id, "scorecard/binning")}
    assert "scorecard/binning/duration_in_month.csv" in binned
    table = pd.read_csv(
        client.download_artifacts(result.run_id, "scorecard/scorecard_table.csv")
    )
    assert {"variable", "bin", "woe", "points"} <= set(table.columns)
    info = json.load(
        open(client.download_artifacts(result.run_id, "scorecard/variables.json"))
    )
    assert info["dropped"] == [
        {
            "column": "branch",
            "reason": "a single value ('north') on every non-missing row",
        }
    ]


def test_lgbm_monotone_constraint_holds_and_reasons_add_up():
    ds = load_dataset("loanbook", rows=3000, seed=5)
    model = LGBMPD(n_estimators=80, monotone={"credit_utilization": 1}).fit(ds.X, ds.y)
    loans = ds.X.head(20)
    grid = np.linspace(0, 1.4, 15)
    curves = np.column_stack(
        [model.predict_proba(loans.assign(credit_utilization=u))[:, 1] for u in grid]
    )
    assert (np.diff(curves, axis=1) >= 0).all()

    contrib = model.reason_contributions(loans)
    assert list(contrib.columns) == list(ds.X.columns)
    bias = model.model_.predict(model._lgbm_input(loans), pred_contrib=True)[:, -1]
    assert contrib.sum(axis=1).to_numpy() + bias == pytest.approx(
        model.decision_function(loans), abs=1e-9
    )
    # Text columns are native categories; unseen ones read as missing.
    odd = loans.assign(purpose="never_seen")
    assert np.isfinite(model.predict_proba(odd)).all()
    assert model.best_iteration_ <= 80


def test_lgbm_takes_column_names_lightgbm_refuses(german):
    # LightGBM refuses JSON's characters in feature names ("Unnamed: 0", the
    # name pandas gives an unnamed index column); pdflow keeps the real names.
    odd = german.X.iloc[:, :4].set_axis(
        ["Unnamed: 0", "income:monthly", "a[1]", "a{1}"], axis=1
    )
    model = LGBMPD(n_estimators=30, early_stopping_rounds=None).fit(odd, german.y)
    plain = LGBMPD(n_estimators=30, early_stopping_rounds=None).fit(
        german.X.iloc[:, :4], german.y
    )
    assert model.predict_proba(odd)[:, 1] == pytest.approx(
        plain.predict_proba(german.X.iloc[:, :4])[:, 1], abs=1e-12
    )
    assert model.model_.booster_.feature_name() == [
        "Unnamed__0",
        "income_monthly",
        "a_1__2",
        "a_1__3",
    ]
    assert list(model.reason_contributions(odd.head(3)).columns) == list(odd.columns)


def test_lgbm_stops_early_on_a_stratified_validation_split(german):
    model = LGBMPD(n_estimators=2000, learning_rate=0.3).fit(german.X, german.y)
    assert model.best_iteration_ < 2000


@pytest.mark.parametrize(
    ("family", "grid"),
    [
        ("scorecard", {"C": [0.05, 1.0]}),
        ("lgbm", {"num_leaves": [3, 7], "n_estimators": [40]}),
    ],
)
def test_tune_searches_each_family(store, family, grid, german):
    result = pdflow.tune("german", model=family, grid=grid, cv=2, tracking_uri=store)
    assert result.n_candidates == 2
    split = split_dataset(german, 0.25, seed=42)
    fam = FAMILIES[family]
    base = {"n_jobs": 1} if "n_jobs" in fam.defaults else {}
    model = build_pipeline(
        fam,
        resolve_params(fam, base),
        numeric=german.numeric,
        categorical=german.categorical,
        seed=42,
    )
    prefix = "clf__" if isinstance(model, Pipeline) else ""
    search = GridSearchCV(
        model,
        {f"{prefix}{k}": v for k, v in grid.items()},
        scoring="roc_auc",
        cv=StratifiedKFold(2, shuffle=True, random_state=42),
    ).fit(split.X_train, split.y_train)
    assert result.best_cv_roc_auc == pytest.approx(search.best_score_)
    reloaded = mlflow.sklearn.load_model(result.model_uri)
    assert reloaded.predict_proba(split.X_test)[:, 1] == pytest.approx(
        search.best_estimator_.predict_proba(split.X_test)[:, 1]
    )


def test_parse_monotone():
    assert parse_monotone("a=1, b=-1,c=0") == {"a": 1, "b": -1, "c": 0}
    assert parse_monotone(None) is None
    with pytest.raises(ConfigError, match="--monotone expects COLUMN=1"):
        parse_monotone("a=2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "xgb"], "unknown model 'xgb', expected one of: lgbm, logreg"),
        (["--model", "scorecard", "--pdo", "0"], "invalid value 0.0 for 'pdo'"),
        (["--model", "scorecard", "--pdo", "-20"], "invalid value -20.0 for 'pdo'"),
        (["--model", "scorecard", "--base-odds", "0"], "'base_odds'"),
        (
            ["--model", "rf", "--pdo", "20"],
            "unknown hyperparameter(s) for model 'rf': pdo (pdo is for --model "
            "scorecard)",
        ),
        (
            ["--model", "rf", "--monotone", "age_in_years=1"],
            "model 'rf': monotone (monotone is for --model lgbm)",
        ),
        (
            ["--model", "lgbm", "--monotone", "no_such_column=1"],
            "--monotone names column(s) not among the features",
        ),
        (
            ["--model", "lgbm", "--monotone", "purpose=1"],
            "--monotone names text column(s) purpose",
        ),
        (["--model", "lgbm", "--monotone", "purpose"], "--monotone expects"),
        (
            ["--model", "lgbm", "--monotone", "age_in_years=1,age_in_years=-1"],
            "--monotone names column 'age_in_years' twice",
        ),
    ],
)
@pytest.mark.parametrize("command", ["train", "tune"])
def test_bad_family_flags_fail_in_one_line_and_create_nothing(
    store, tmp_path, run_cli, command, args, message
):
    done = run_cli(command, "--data", "german", *args, "--tracking-uri", store)
    assert done.code == 2
    assert done.stderr.count("\n") == 1
    assert message in done.stderr
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("family", ["rf", "logreg", "lgbm", "scorecard"])
def test_missing_text_is_one_level_whether_none_or_nan(family):
    # A CSV's missing text reads as NaN, a Parquet's or object column's as None:
    # the same loan must get the same PD either way.
    rng = np.random.default_rng(0)
    n = 600
    job = rng.choice(["office", "sales", "self"], n).astype(object)
    job[rng.random(n) < 0.3] = None
    y = (rng.random(n) < np.where(pd.isna(job), 0.6, 0.1)).astype(int)
    X = pd.DataFrame(
        {"income": rng.normal(3000, 800, n), "job": pd.Series(job, dtype=object)}
    )
    pipe = build_pipeline(
        FAMILIES[family],
        resolve_params(FAMILIES[family], FAST.get(family)),
        numeric=["income"],
        categorical=["job"],
        seed=0,
    ).fit(X, y)
    missing = pd.isna(job)
    job_nan = job.copy()
    job_nan[missing] = np.nan  # an object column holding float NaN
    as_none = pipe.predict_proba(X)[:, 1]
    as_nan = pipe.predict_proba(X.assign(job=pd.Series(job_nan, dtype=object)))[:, 1]
    as_str = pipe.predict_proba(X.assign(job=pd.Series(job_nan, dtype="str")))[:, 1]
    # (a forest on two threads may differ in the last bit from call to call)
    np.testing.assert_allclose(as_nan, as_none, rtol=0, atol=1e-12)
    np.testing.assert_allclose(as_str, as_none, rtol=0, atol=1e-12)
    assert as_none[missing].mean() > as_none[~missing].mean()  # a level of its own


def test_scorecard_bins_of_text_read_as_their_categories(german):
    # pandas' own string dtype gives optbinning Arrow arrays for category bins.
    X = german.X.astype({"purpose": "str", "credit_history": "str"})
    card = WoEScorecard().fit(X, german.y)
    bins = pd.concat(
        [card.scorecard_table()["bin"], card.binning_tables()["purpose"]["Bin"]]
    )
    assert not bins.str.contains("Array|dtype|Length").any()
    assert "radio/television" in set(card.binning_tables()["purpose"]["Bin"])
