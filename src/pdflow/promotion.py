"""Promotions that go through the gate before a version enters Production.

:func:`promote` is what ``pdflow promote`` and ``pdflow train --promote`` call.
A move to Production first runs the gate on the challenger's own test split
(the evidence training kept with the run, or that a caller passes in); a
failed gate is recorded on the version and raises :class:`PromotionBlocked`
before any stage or alias changes, unless the promotion is forced with a
reason, which is recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.metrics import roc_auc_score

from pdflow import access, gate, registry, tracking
from pdflow.config import GateConfig
from pdflow.errors import ConfigError, PromotionBlocked
from pdflow.registry import Promotion


@dataclass
class Evidence:
    """What the gate judges a version on: its test loans and its measurements."""

    X_test: pd.DataFrame
    y_test: pd.Series
    auc: float
    hl_pvalue: float | None
    psi: float | None


def promote(
    client,
    model_name: str,
    version: str | int,
    *,
    stage: str | None = None,
    alias: str | None = None,
    reason: str = "",
    force: bool = False,
    gate_config: GateConfig | None = None,
    evidence: Evidence | None = None,
) -> Promotion:
    """Move a version, running the gate first when the move is to Production.

    Raises
    ------
    PromotionBlocked
        The gate failed and ``force`` was not given; stages and aliases are
        unchanged, the verdict is recorded on the version.
    """
    if force and not reason.strip():
        raise ConfigError("--force needs --reason: say why the gate is overridden")
    # Spelled as MLflow does before anything else: "production" is gated too.
    stage = registry.canonical_stage(stage)
    if stage != "Production":
        return registry.promote(
            client, model_name, version, stage=stage, alias=alias, reason=reason
        )

    mv = registry.get_version(client, model_name, version)
    access.check_production_right(client.tracking_uri, model_name)
    if evidence is None:
        evidence = logged_evidence(client, mv)
    outcome = gate.assess(
        client,
        model_name,
        mv.version,
        X_test=evidence.X_test,
        y_test=evidence.y_test,
        auc=evidence.auc,
        hl_pvalue=evidence.hl_pvalue,
        psi=evidence.psi,
        config=gate_config or GateConfig(),
    )
    outcome.forced = force and not outcome.passed
    registry.record_gate(
        client, model_name, mv.version, outcome.to_dict(), reason=reason
    )
    if not outcome.passed and not force:
        raise PromotionBlocked(
            f"{model_name} version {mv.version} not promoted to Production: "
            f"{outcome.summary()}"
        )

    if not reason:
        first = "first Production version, " if outcome.champion_version is None else ""
        reason = f"{first}passed the gate: {outcome.summary()}"
    return registry.promote(
        client,
        model_name,
        mv.version,
        stage=stage,
        alias=alias,
        reason=reason,
        gate="forced" if outcome.forced else "passed",
    )


def logged_evidence(client, mv) -> Evidence:
    """A version's evidence from its run: the test split kept with it, rescored."""
    frame = tracking.load_frame(client, mv.run_id, tracking.TEST_SPLIT_ARTIFACT)
    run = client.get_run(mv.run_id)
    target = run.data.params["target"]
    X_test, y_test = frame.drop(columns=[target]), frame[target]
    model = registry.load_sklearn(f"models:/{mv.name}/{mv.version}")
    metrics = run.data.metrics
    return Evidence(
        X_test=X_test,
        y_test=y_test,
        auc=float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])),
        hl_pvalue=metrics.get("hl_pvalue"),
        psi=metrics.get("psi_score"),
    )
