"""Registry operations for notebook users, each opening the store itself."""

from __future__ import annotations

from pdflow import promotion, registry, tracking
from pdflow.config import GateConfig, load_settings
from pdflow.registry import Promotion


def promote(
    model_name: str,
    version: str | int,
    *,
    stage: str | None = None,
    alias: str | None = None,
    reason: str = "",
    force: bool = False,
    gate: GateConfig | None = None,
    tracking_uri: str | None = None,
) -> Promotion:
    """Move a model version to a stage and/or alias, recording who and why.

    A move to Production must pass the promotion gate (thresholds from
    ``gate``, else ``pdflow.toml``, else the defaults), judged on the
    version's own test split with the champion scored on the same loans.
    ``force`` with a ``reason`` overrides a failed gate, and says so on the
    version. See :func:`pdflow.promotion.promote`.
    """
    gate = gate if gate is not None else load_settings().gate
    client = tracking.connect(tracking_uri, create=False)
    return promotion.promote(
        client,
        model_name,
        version,
        stage=stage,
        alias=alias,
        reason=reason,
        force=force,
        gate_config=gate,
    )


def list_versions(model_name: str, *, tracking_uri: str | None = None) -> list[dict]:
    """Every version of a registered model with stage, aliases and key metrics."""
    return registry.list_versions(
        tracking.connect(tracking_uri, create=False), model_name
    )


def load_model(model_uri: str, *, tracking_uri: str | None = None):
    """Load a registered pipeline (``models:/NAME/latest``, ``/3``, ``@champion``)."""
    tracking.connect(tracking_uri, create=False)
    return registry.load_sklearn(model_uri)
