"""The pyfunc of a registered pdflow model: PD first, then grade, score, reasons."""

from __future__ import annotations

import contextlib

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

import pdflow
from pdflow.data import load_dataset
from pdflow.ratings import MasterScale, pd_to_score


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pyfunc")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with contextlib.chdir(folder):  # run artifacts beside the store, not in the repo
        rf = pdflow.train("german", params={"n_estimators": 15}, tracking_uri=store)
        card = pdflow.train("german", model="scorecard", tracking_uri=store)
    return store, rf, card


@pytest.fixture(scope="module")
def loans():
    return load_dataset("german").X.head(20)


def _load(store, uri):
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    return mlflow.pyfunc.load_model(uri), mlflow.sklearn.load_model(uri)


def test_forest_answers_pd_first_with_grade_score_and_substitution_reasons(
    models, loans
):
    store, rf, _ = models
    pyfunc, forest = _load(store, rf.model_uri)
    answer = pyfunc.predict(loans)
    assert list(answer.columns)[:3] == ["pd", "grade", "score"]

    pds = forest.predict_proba(loans)[:, 1]
    np.testing.assert_array_equal(answer["pd"], pds)
    assert list(answer["grade"]) == list(MasterScale().assign(pds))
    np.testing.assert_allclose(answer["score"], pd_to_score(pds))

    # Reasons, the slow way: set one feature at a time to its training median
    # or most frequent value and see how far the first loan's PD falls. The
    # training loans of German credit are all in the run's training sample.
    sample = mlflow.artifacts.download_artifacts(
        run_id=rf.run_id, artifact_path="data/train_sample.parquet"
    )
    train = pd.read_parquet(sample)
    assert len(train) == 750
    row = loans.head(1)
    drops = {}
    for column in loans.columns:
        values = train[column]
        neutral = (
            values.median()
            if values.dtype.kind == "f"
            else values.dropna().mode().iloc[0]
        )
        changed = row.assign(**{column: neutral})
        drops[column] = pds[0] - forest.predict_proba(changed)[0, 1]
    ranked = [c for c, d in sorted(drops.items(), key=lambda kv: -kv[1]) if d > 0]
    got = answer.loc[row.index[0], ["reason_1", "reason_2", "reason_3"]]
    assert [r for r in got if isinstance(r, str)] == ranked[:3]


def test_scorecard_reasons_are_the_most_points_lost(models, loans):
    store, _, card = models
    pyfunc, scorecard = _load(store, card.model_uri)
    answer = pyfunc.predict(loans)
    np.testing.assert_allclose(answer["score"], scorecard.score_points(loans))
    lost = scorecard.reason_contributions(loans)
    for i, (_, row) in enumerate(lost.iterrows()):
        top = row[row > 0].sort_values(ascending=False, kind="stable").index[:3]
        got = [r for r in answer.iloc[i][["reason_1", "reason_2", "reason_3"]] if r]
        assert got == list(top)


def test_reasons_can_be_left_out_and_bad_types_are_refused(models, loans):
    store, rf, _ = models
    pyfunc, _ = _load(store, rf.model_uri)
    quick = pyfunc.predict(loans, params={"reasons": False})
    assert quick[["reason_1", "reason_2", "reason_3"]].isna().all().all()

    bad = loans.astype({"duration_in_month": object})
    bad.loc[bad.index[3], "duration_in_month"] = "twelve"
    with pytest.raises(MlflowException, match="duration_in_month"):
        pyfunc.predict(bad)
