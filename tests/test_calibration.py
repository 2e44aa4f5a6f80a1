"""Calibration on held-out folds and the central tendency."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from scipy.special import expit, logit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold

import pdflow
from pdflow.data import load_dataset
from pdflow.errors import ConfigError
from pdflow.estimators import CalibratedPD, WoEScorecard, central_tendency_shift
from pdflow.models import FAMILIES, build_pipeline, resolve_params
from pdflow.training import split_dataset


@pytest.fixture(scope="module")
def german():
    return load_dataset("german")


def _logreg(ds):
    fam = FAMILIES["logreg"]
    return build_pipeline(
        fam,
        resolve_params(fam, {}),
        numeric=ds.numeric,
        categorical=ds.categorical,
        seed=0,
    )


def test_shift_moves_the_mean_pd_exactly():
    pds = np.array([0.01, 0.02, 0.05, 0.2, 0.6])
    shift = central_tendency_shift(pds, 0.1)
    assert expit(logit(pds) + shift).mean() == pytest.approx(0.1, abs=1e-12)
    # Two equal PDs of one half need the log-odds of P itself.
    assert central_tendency_shift([0.5, 0.5], 0.03) == pytest.approx(logit(0.03))


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_is_sklearns_on_held_out_folds(german, method):
    model = CalibratedPD(_logreg(german), method=method, cv=4, random_state=3)
    model.fit(german.X, german.y)
    by_hand = CalibratedClassifierCV(
        _logreg(german),
        method=method,
        cv=StratifiedKFold(4, shuffle=True, random_state=3),
        ensemble=False,
    ).fit(german.X, german.y)
    assert model.predict_proba(german.X) == pytest.approx(
        by_hand.predict_proba(german.X), abs=1e-12
    )
    assert model.shift_ == 0.0


def test_central_tendency_hits_p_and_keeps_the_ranking(german):
    model = CalibratedPD(_logreg(german), central_tendency=0.05).fit(german.X, german.y)
    pds = model.predict_proba(german.X)[:, 1]
    assert pds.mean() == pytest.approx(0.05, abs=1e-10)
    raw = model.base_.predict_proba(german.X)[:, 1]
    assert (np.argsort(raw, kind="stable") == np.argsort(pds, kind="stable")).all()
    assert logit(pds) - logit(raw) == pytest.approx(np.full(1000, model.shift_))


def test_a_calibrated_scorecard_keeps_points_and_reasons(german):
    model = CalibratedPD(WoEScorecard(), method="sigmoid", central_tendency=0.1)
    model.fit(german.X, german.y)
    pds = model.predict_proba(german.X)[:, 1]
    points = model.score_points(german.X)
    assert points == pytest.approx(600 + 20 / np.log(2) * np.log((1 - pds) / pds / 50))
    assert model.reason_contributions(german.X).equals(
        model.base_.reason_contributions(german.X)
    )
    assert not hasattr(CalibratedPD(_logreg(german)), "score_points")


def test_train_with_calibration_logs_and_reloads(store, german):
    result = pdflow.train(
        "german",
        model="logreg",
        calibrate="isotonic",
        central_tendency=0.2,
        tracking_uri=store,
    )
    params = MlflowClient(store).get_run(result.run_id).data.params
    assert params["calibrate"] == "isotonic"
    assert params["central_tendency"] == "0.2"
    split = split_dataset(german, 0.25, seed=42)
    model = mlflow.sklearn.load_model(result.model_uri)
    assert isinstance(model, CalibratedPD)
    assert model.predict_proba(split.X_train)[:, 1].mean() == pytest.approx(
        0.2, abs=1e-9
    )
    assert result.metrics["mean_pd"] == pytest.approx(
        model.predict_proba(split.X_test)[:, 1].mean()
    )


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5, -0.1])
def test_central_tendency_outside_0_1_is_refused(store, tmp_path, value):
    with pytest.raises(ConfigError, match="--central-tendency must be a default rate"):
        pdflow.train("german", central_tendency=value, tracking_uri=store)
    assert not (tmp_path / "mlflow.db").exists()


def test_unknown_calibration_is_refused(store, tmp_path):
    with pytest.raises(ConfigError, match="--calibrate must be one of none, iso"):
        pdflow.tune("german", calibrate="platt", tracking_uri=store)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--central-tendency", "1.5"], "--central-tendency must be a default rate"),
        (["--central-tendency", "0"], "--central-tendency must be a default rate"),
        (["--calibrate", "beta"], "--calibrate must be one of"),
    ],
)
def test_cli_bad_calibration_fails_in_one_line(store, tmp_path, run_cli, args, message):
    done = run_cli("train", *args, "--tracking-uri", store)
    assert done.code == 2
    assert done.stderr.startswith("pdflow: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "mlflow.db").exists()
