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
        if exc.error_code == "RESOURCE_ALREADY_EXISTS":
            raise RegistryError(f"user '{username}' exists already") from None
        raise RegistryError(
            f"cannot create user '{username}': {_why(exc, 'create users')}"
        ) from None


def grant(
    uri: str, client, username: str, model_name: str, role: str, experiment: str
) -> Grant:
    """Give ``username`` a role on ``model_name`` (made if new) and its experiment.

    Granting again changes the role: the model's permission becomes the new
    role's. The experiment's is raised when the role needs more and never
    lowered, so a modeller made approver keeps editing the runs they logged.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}', expected one of: {', '.join(ROLES)}")
    model_permission, experiment_permission = ROLES[role]
    auth = _auth(uri)
    try:
        auth.get_user(username)
    except MlflowException as exc:
        why = _why(exc, "grant roles")
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            why = f"no such user; create it first: pdflow users create {username}"
        raise RegistryError(f"cannot grant a role to '{username}': {why}") from None
    registry.ensure_model(client, model_name)
    experiment_id = tracking.ensure_experiment(client, experiment)
    on_model = _set_permission(
        auth, username, "registered_model", model_name, model_permission,
        shown=f"model '{model_name}'", lower=True,
    )  # fmt: skip
    on_experiment = _set_permission(
        auth, username, "experiment", experiment_id, experiment_permission,
        shown=f"experiment '{experiment}'", lower=False,
    )  # fmt: skip
    return Grant(username, model_name, role, on_model, experiment, on_experiment)


def revoke(uri: str, client, username: str, model_name: str, experiment: str) -> list:
    """Take ``username``'s role on ``model_name`` and its experiment away.

    Both permissions are deleted, so the server's default (READ) applies
    again; returns what the user held, as ``(shown, permission)`` pairs, with
    None where nothing was held.
    """
    auth = _auth(uri)
    _existing_user(auth, username, "revoke roles")
    found = client.get_experiment_by_name(experiment)
    places = [("registered_model", model_name, f"model '{model_name}'")]
    if found is not None:
        places.append(("experiment", found.experiment_id, f"experiment '{experiment}'"))
    held = []
    for kind, resource, shown in places:
        try:
            permission = auth.get_user_permission(username, kind, resource).permission
            auth.revoke_user_permission(username, kind, resource)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise RegistryError(
                    f"cannot revoke the rights of '{username}' on {shown}: "
                    f"{_why(exc, 'revoke roles')}"
                ) from None
            permission = None
        held.append((shown, permission))
    return held


def set_password(uri: str, username: str, password: str) -> None:
    """Give ``username`` a new password (an admin, or the user themself)."""
    if not password:
        raise ConfigError("the new password must not be empty")
    auth = _auth(uri)
    # MLflow asks users changing their own password for the current one.
    own = os.environ.get("MLFLOW_TRACKING_USERNAME") == username
    current = os.environ.get("MLFLOW_TRACKING_PASSWORD") if own else None
    try:
        auth.update_user_password(username, password, current_password=current)
    except MlflowException as exc:
        why = first_line(exc)
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            why = "no such user"
        elif tracking.refused(exc):
            user = os.environ.get("MLFLOW_TRACKING_USERNAME", "this user")
            why = f"user '{user}' may not: only an admin or '{username}' may"
        raise RegistryError(f"cannot set the password of '{username}': {why}") from None


def _existing_user(auth, username: str, action: str) -> None:
    try:
        auth.get_user(username)
    except MlflowException as exc:
        why = _why(exc, action)
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            why = "no such user"
        raise RegistryError(f"cannot {action} of '{username}': {why}") from None


def _set_permission(
    auth, username, kind, resource, permission, *, shown: str, lower: bool
) -> str:
    """Grant ``permission``, replacing one the user holds already (unless it is
    higher and not ``lower``); return the permission the user holds now."""
    from mlflow.server.auth.permissions import PERMISSION_PRIORITY

    try:
        try:
            auth.grant_user_permission(username, kind, resource, permission)
            return permission
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        held = auth.get_user_permission(username, kind, resource).permission
        if held == permission or (
            not lower and PERMISSION_PRIORITY[held] > PERMISSION_PRIORITY[permission]
        ):
            return held
        auth.revoke_user_permission(username, kind, resource)
        auth.grant_user_permission(username, kind, resource, permission)
        return permission
    except MlflowException as exc:
        raise RegistryError(
            f"cannot grant {permission} on {shown} to '{username}': "
            f"{_why(exc, 'grant roles')}"
        ) from None


def _why(exc: MlflowException, action: str) -> str:
    """MLflow's refusal in words: who may not do what, or its own first line."""
    if tracking.refused(exc):
        user = os.environ.get("MLFLOW_TRACKING_USERNAME", "this user")
        return f"user '{user}' may not {action}: only an admin may"
    return first_line(exc)


def may_edit_experiment(uri: str, experiment_id: str) -> bool:
    """Whether the signed-in user may change the experiment's runs (EDIT or
    more, or admin); True where there are no users to ask about."""
    username = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if not uri.startswith(("http://", "https://")) or not username:
        return True
    auth = _auth(uri)
    try:
        if auth.get_user(username).is_admin:
            return True
        held = auth.get_user_permission(username, "experiment", experiment_id)
    except MlflowException as exc:
        if exc.error_code == "ENDPOINT_NOT_FOUND":
            return True  # a server without sign-in
        raise RegistryError(
            f"cannot read the rights of user '{username}': {first_line(exc)}"
        ) from None
    return held.permission in ("EDIT", "MANAGE")


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
        held = auth.get_user_permission(username, "registered_model", model_name)
        held = held.permission  # the server's default when nothing was granted
    except MlflowException as exc:
        if exc.error_code == "ENDPOINT_NOT_FOUND":
            return  # a server without sign-in
        raise RegistryError(
            f"cannot read the rights of user '{username}': {first_line(exc)}"
        ) from None
    if held != PRODUCTION_RIGHT:
        raise PromotionBlocked(
            f"user '{username}' may not move versions of '{model_name}' to "
            f"Production or set champion: that needs {PRODUCTION_RIGHT} on the model "
            f"(the approver role), and '{username}' has {held}"
        )
