"""Stages, aliases, the promotion record and train --promote."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import pdflow
from pdflow import registry
from pdflow.config import GateConfig
from pdflow.errors import ConfigError, PromotionBlocked, RegistryError

FAST = {"n_estimators": 15}
# The tests of stage and alias mechanics promote versions trained on other
# splits, which no gate should judge against each other: this one lets all pass.
OPEN = GateConfig(min_auc=0, max_auc_drop=1, min_hl_pvalue=0, max_psi=100)


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A store with three versions of pd_model_v1, trained once for the module."""
    folder = tmp_path_factory.mktemp("three_versions")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    here = os.getcwd()
    os.chdir(folder)  # the artifacts go to this folder's mlruns, kept for the module
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        for seed in (1, 2, 3):
            pdflow.train("german", params=FAST, seed=seed, tracking_uri=uri)
    finally:
        os.chdir(here)
    return folder / "mlflow.db"


@pytest.fixture
def three_versions(store, trained_once):
    """A copy of that store for one test: its promotions change only the copy."""
    shutil.copyfile(trained_once, store.removeprefix("sqlite:///"))
    return store


def stages(store) -> dict[int, str]:
    return {
        row["version"]: row["stage"]
        for row in pdflow.list_versions("pd_model_v1", tracking_uri=store)
    }


def champion(store) -> str | None:
    found = (
        MlflowClient(store).get_registered_model("pd_model_v1").aliases.get("champion")
    )
    return None if found is None else str(found)


def test_production_archives_the_previous_and_moves_champion(three_versions):
    store = three_versions
    pdflow.promote(
        "pd_model_v1",
        1,
        stage="Production",
        reason="first",
        gate=OPEN,
        tracking_uri=store,
    )
    assert stages(store) == {1: "Production", 2: "None", 3: "None"}
    assert champion(store) == "1"

    done = pdflow.promote(
        "pd_model_v1",
        2,
        stage="Production",
        reason="better",
        gate=OPEN,
        tracking_uri=store,
    )
    assert done.archived == ["1"] and done.from_stage == "None"
    assert stages(store) == {1: "Archived", 2: "Production", 3: "None"}
    assert champion(store) == "2"


def test_staging_then_archived_and_leaving_production_drops_champion(three_versions):
    store = three_versions
    pdflow.promote("pd_model_v1", 3, stage="Staging", tracking_uri=store)
    assert stages(store)[3] == "Staging"
    pdflow.promote("pd_model_v1", 3, stage="Production", gate=OPEN, tracking_uri=store)
    assert champion(store) == "3"
    pdflow.promote(
        "pd_model_v1", 3, stage="Archived", reason="retired", tracking_uri=store
    )
    assert stages(store)[3] == "Archived"
    assert champion(store) is None


def _send_to_production(client, version, claim: int) -> None:
    """What a racing promotion in another process does before it settles."""
    client.set_model_version_tag("pd_model_v1", version, registry.CLAIM_TAG, str(claim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage("pd_model_v1", version, "Production")


def test_settle_keeps_the_latest_claim_and_moves_champion(three_versions):
    store = three_versions
    client = MlflowClient(store, registry_uri=store)
    _send_to_production(client, "3", claim=2_000)
    _send_to_production(client, "1", claim=1_000)
    client.set_registered_model_alias("pd_model_v1", "champion", "1")
    # Both in Production: what an interrupted promotion can leave.
    assert str(registry.production_version(client, "pd_model_v1").version) == "3"

    winner, archived = registry.settle(client, "pd_model_v1")
    assert (str(winner.version), archived) == ("3", ["1"])
    assert stages(store) == {1: "Archived", 2: "None", 3: "Production"}
    assert champion(store) == "3"
    tags = client.get_model_version("pd_model_v1", "1").tags
    assert tags[registry.ARCHIVED_BY_TAG] == "version 3"
    # A settled registry is left as it is.
    assert registry.settle(client, "pd_model_v1")[1] == []
    # Sent back to Production on purpose, version 1 no longer says otherwise.
    pdflow.promote("pd_model_v1", 1, stage="Production", gate=OPEN, tracking_uri=store)
    assert (
        registry.ARCHIVED_BY_TAG
        not in client.get_model_version("pd_model_v1", "1").tags
    )
    assert (
        client.get_model_version("pd_model_v1", "3").tags[registry.ARCHIVED_BY_TAG]
        == "version 1"
    )


@pytest.mark.parametrize("racer_claims", ["earlier", "later"])
def test_two_promotions_at_once_leave_one_production_version(
    three_versions, monkeypatch, racer_claims
):
    """Version 3 reaches Production between version 2's move and its settling."""
    store = three_versions
    pdflow.promote("pd_model_v1", 1, stage="Production", gate=OPEN, tracking_uri=store)
    real_settle = registry.settle
    raced = []

    def settle_after_a_racer(client, name):
        if not raced:
            raced.append(True)
            claim = 1 if racer_claims == "earlier" else time.time_ns()
            _send_to_production(client, "3", claim)
        return real_settle(client, name)

    monkeypatch.setattr(registry, "settle", settle_after_a_racer)
    promote_2 = dict(stage="Production", gate=OPEN, tracking_uri=store)
    if racer_claims == "earlier":
        done = pdflow.promote("pd_model_v1", 2, **promote_2)
        assert sorted(done.archived) == ["1", "3"]
        assert stages(store) == {1: "Archived", 2: "Production", 3: "Archived"}
        assert champion(store) == "2"
        return
    with pytest.raises(PromotionBlocked, match="version 3 holds Production now"):
        pdflow.promote("pd_model_v1", 2, **promote_2)
    assert stages(store) == {1: "Archived", 2: "Archived", 3: "Production"}
    assert champion(store) == "3"
    tags = MlflowClient(store).get_model_version("pd_model_v1", "2").tags
    last = json.loads(tags["pdflow.promotion_history"])[-1]
    assert (last["stage"], last["superseded_by"]) == ("Production", "3")


def test_promotion_is_recorded_on_the_version(three_versions, monkeypatch):
    store = three_versions
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "validator-ann")
    pdflow.promote(
        "pd_model_v1", 2, stage="Staging", reason="for review", tracking_uri=store
    )
    pdflow.promote(
        "pd_model_v1",
        2,
        stage="Production",
        reason="approved in MRC-12",
        gate=OPEN,
        tracking_uri=store,
    )
    tags = MlflowClient(store).get_model_version("pd_model_v1", "2").tags
    assert tags["pdflow.promoted_by"] == "validator-ann"
    assert tags["pdflow.promoted_from"] == "Staging"
    assert tags["pdflow.promotion_reason"] == "approved in MRC-12"
    history = json.loads(tags["pdflow.promotion_history"])
    assert [(h["from_stage"], h["stage"], h["reason"]) for h in history] == [
        ("None", "Staging", "for review"),
        ("Staging", "Production", "approved in MRC-12"),
    ]


def test_alias_and_listing(three_versions, run_cli):
    store = three_versions
    done = run_cli(
        "promote", "--version", "2", "--alias", "challenger", "--tracking-uri", store
    )
    assert done.code == 0, done.stderr
    rows = {
        r["version"]: r for r in pdflow.list_versions("pd_model_v1", tracking_uri=store)
    }
    assert rows[2]["aliases"] == ["challenger"]
    listed = run_cli("models", "list", "--tracking-uri", store)
    assert listed.code == 0
    assert "@challenger" in listed.stdout and "roc_auc" in listed.stdout
    as_json = json.loads(
        run_cli("models", "list", "--json", "--tracking-uri", store).stdout
    )
    assert [r["version"] for r in as_json] == [3, 2, 1]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"version": 9, "stage": "Production"}, RegistryError, "has no version '9'"),
        ({"version": 1, "stage": "Live"}, ConfigError, "unknown stage 'Live'"),
        ({"version": 1, "alias": "champion"}, ConfigError, "follows the Production"),
        ({"version": 1}, ConfigError, "give --stage, --alias"),
        ({"version": 1, "alias": "bad alias!"}, ConfigError, "invalid alias"),
        ({"version": 1, "alias": "v2"}, ConfigError, "invalid alias"),
        # Spelled in lower case, Production still goes through the gate.
        (
            {"version": 1, "stage": "production", "gate": GateConfig(min_auc=0.99)},
            PromotionBlocked,
            "not promoted to Production: test AUC",
        ),
    ],
)
def test_bad_promotions_change_nothing(three_versions, kwargs, error, message):
    store = three_versions
    with pytest.raises(error, match=message):
        pdflow.promote("pd_model_v1", tracking_uri=store, **kwargs)
    assert stages(store) == {1: "None", 2: "None", 3: "None"}


def test_stage_names_in_any_case(three_versions):
    store = three_versions
    pdflow.promote("pd_model_v1", 2, stage="staging", tracking_uri=store)
    assert stages(store) == {1: "None", 2: "Staging", 3: "None"}


def test_unknown_model_name(three_versions):
    with pytest.raises(RegistryError, match="registered model 'nope' does not exist"):
        pdflow.promote("nope", 1, stage="Production", tracking_uri=three_versions)


def test_train_promote_first_then_only_when_better(store):
    first = pdflow.train("german", params=FAST, promote=True, tracking_uri=store)
    assert first.promoted and "first Production version" in first.promotion_message
    assert champion(store) == "1"

    # A forest of one shallow tree on the same split cannot beat the champion.
    weak = pdflow.train(
        "german",
        params={"n_estimators": 1, "max_depth": 1},
        promote=True,
        tracking_uri=store,
    )
    assert not weak.promoted
    assert "not promoted" in weak.promotion_message
    assert "Production version 1" in weak.promotion_message
    assert stages(store) == {1: "Production", 2: "None"}

    strong = pdflow.train(
        "german", params={"n_estimators": 300}, promote=True, tracking_uri=store
    )
    assert strong.metrics["roc_auc"] > first.metrics["roc_auc"]
    assert strong.promoted, strong.promotion_message
    assert stages(store) == {1: "Archived", 2: "None", 3: "Production"}
    assert champion(store) == "3"
