"""Registry operations for notebook users, each opening the store itself."""

from __future__ import annotations

from pdflow import registry, tracking
from pdflow.registry import Promotion


def promote(
    model_name: str,
    version: str | int,
    *,
    stage: str | None = None,
    alias: str | None = None,
    reason: str = "",
    tracking_uri: str | None = None,
) -> Promotion:
    """Move a model version to a stage and/or alias; see :func:`registry.promote`."""
    client = tracking.connect(tracking_uri)
    return registry.promote(
        client, model_name, version, stage=stage, alias=alias, reason=reason
    )


def list_versions(model_name: str, *, tracking_uri: str | None = None) -> list[dict]:
    """Every version of a registered model with stage, aliases and key metrics."""
    return registry.list_versions(tracking.connect(tracking_uri), model_name)


def load_model(model_uri: str, *, tracking_uri: str | None = None):
    """Load a registered pipeline (``models:/NAME/latest``, ``/3``, ``@champion``)."""
    tracking.connect(tracking_uri)
    return registry.load_sklearn(model_uri)
