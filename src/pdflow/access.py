"""Who may do what on a team server: users, roles per model, the Production right.

Two roles, both held per registered model through MLflow's permissions:

- ``modeller``: EDIT on the model and its experiment: train, log, register;
- ``approver``: MANAGE on the model: besides, move a version to Production
  and point ``champion`` at it.

MLflow itself lets EDIT holders change stages and aliases; pdflow asks for
MANAGE before any promotion to Production, names who lacks it, and changes
nothing. Admins may do everything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from pdflow import registry, tracking
from pdflow.errors import ConfigError, PromotionBlocked, RegistryError, first_line

ROLES = {"modeller": ("EDIT", "EDIT"), "approver": ("MANAGE", "READ")}
PRODUCTION_RIGHT = "MANAGE"


@dataclass(frozen=True)
class Grant:
    """What ``pdflow users grant`` gave."""

    username: str
    model_name: str
    role: str
    model_permission: str
    experiment: str
    experiment_permission: str


def _auth(uri: str):
    if not uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"users live on a team server; '{uri}' is not one (see pdflow server)"
        )
    tracking.check_server(uri)  # fail fast, not after MLflow's retries
    from mlflow.server import get_app_client  # imports Flask: only when needed

    return get_app_client("basic-auth", tracking_uri=uri)


def create_user(uri: str, username: str, password: str) -> None:
    """Create a user on the server (admins only)."""
    if not username.strip() or not password:
        raise ConfigError("a user needs a name and a non-empty password")
    try:
        _auth(uri).create_user(username, password)
    except MlflowException as exc:
        raise RegistryError(
            f"cannot create user '{username}': {first_line(exc)}"
        ) from None


def grant(
    uri: str, client, username: str, model_name: str, role: str, experiment: str
) -> Grant:
    """Give ``username`` a role on ``model_name`` (made if new) and its experiment."""
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}', expected one of: {', '.join(ROLES)}")
    model_permission, experiment_permission = ROLES[role]
    registry.ensure_model(client, model_name)
    experiment_id = tracking.ensure_experiment(client, experiment)
    auth = _auth(uri)
    for kind, resource, permission in (
        ("registered_model", model_name, model_permission),
        ("experiment", experiment_id, experiment_permission),
    ):
        try:
            auth.grant_user_permission(username, kind, resource, permission)
        except MlflowException as exc:
            raise RegistryError(
                f"cannot grant {permission} on {kind} '{resource}' to '{username}': "
                f"{first_line(exc)}"
            ) from None
    return Grant(
        username, model_name, role, model_permission, experiment, experiment_permission
    )


def check_production_right(uri: str, model_name: str) -> None:
    """Refuse a promotion to Production by a signed-in user without MANAGE.

    Local stores have no users: anyone at the keyboard may promote.
    """
    if not uri.startswith(("http://", "https://")):
        return
    username = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if not username:
        return  # an open server: MLflow itself lets everyone through
    auth = _auth(uri)
    try:
        if auth.get_user(username).is_admin:
            return
        found = auth.get_user_permission(username, "registered_model", model_name)
    except MlflowException as exc:
        if "404" in str(exc) or "ENDPOINT_NOT_FOUND" in str(exc):
            return  # a server without sign-in
        raise RegistryError(
            f"cannot read the rights of user '{username}': {first_line(exc)}"
        ) from None
    if found.permission != PRODUCTION_RIGHT:
        raise PromotionBlocked(
            f"user '{username}' may not move versions of '{model_name}' to "
            f"Production or set champion: that needs {PRODUCTION_RIGHT} on the model "
            f"(the approver role), and '{username}' has {found.permission}"
        )
