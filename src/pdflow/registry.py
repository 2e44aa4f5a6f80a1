"""The model registry: versions, stages, aliases and the record of promotions."""

from __future__ import annotations

import getpass
import json
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.utils.models import get_model_name_and_version
from mlflow.tracking import MlflowClient

from pdflow.errors import ConfigError, PromotionBlocked, RegistryError, first_line
from pdflow.tracking import store_lock

STAGES = ("Staging", "Production", "Archived", "None")


def canonical_stage(stage: str | None) -> str | None:
    """A stage as MLflow spells it ("production" is "Production"); anything
    else unchanged, for the caller to refuse."""
    if stage is None:
        return None
    return {s.lower(): s for s in STAGES}.get(stage.lower(), stage)


CHAMPION = "champion"
KEY_METRICS = ("roc_auc", "gini", "ks", "brier")
HISTORY_TAG = "pdflow.promotion_history"
# When a version was sent to Production (nanoseconds since the epoch), written
# before the move: of several versions found in Production, the latest claim
# holds it. See settle().
CLAIM_TAG = "pdflow.production_claim"
# Set on a version that settle() archived: which version took Production.
ARCHIVED_BY_TAG = "pdflow.archived_by"
_SETTLE_ROUNDS = 20
# Tag values are capped by the store; keep the newest entries that fit.
_HISTORY_LIMIT = 4000


@dataclass
class Promotion:
    """What one promotion did, as recorded on the model version."""

    model_name: str
    version: str
    stage: str | None
    alias: str | None
    from_stage: str
    by: str
    at: str
    reason: str
    archived: list[str] = field(default_factory=list)
    gate: str | None = None
    superseded_by: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def current_user() -> str:
    """Who is acting: the tracking server's user name if set, else the OS login."""
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or getpass.getuser()


def register(
    client: MlflowClient,
    model_uri: str,
    name: str,
    *,
    run_id: str,
    tags: dict[str, str],
    description: str = "",
    model_id: str | None = None,
) -> ModelVersion:
    """Register ``model_uri`` as a new version of ``name`` (created if new).

    ``model_id`` is MLflow 3's logged model behind a ``models:/m-...`` URI,
    which a tracking server needs to accept it as the version's source.
    """
    with store_lock(client.tracking_uri):
        ensure_model(client, name)
        return client.create_model_version(
            name,
            model_uri,
            run_id=run_id,
            tags=tags,
            description=description,
            model_id=model_id,
        )


def ensure_model(client: MlflowClient, name: str) -> None:
    """Create registered model ``name`` unless it exists (safe when racing)."""
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def get_version(client: MlflowClient, name: str, version: str | int) -> ModelVersion:
    """A model version, or a RegistryError naming what does not exist."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        raise RegistryError(
            f"registered model '{name}' does not exist in {client.tracking_uri}"
        ) from None
    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        raise RegistryError(f"model '{name}' has no version '{version}'") from None


def production_version(client: MlflowClient, name: str) -> ModelVersion | None:
    """The version of ``name`` that holds Production, or None.

    Normally the only version there; if a promotion was interrupted between
    its move and its settling, the one with the latest claim (see settle()).
    """
    return max(_in_production(client, name), key=_claim, default=None)


def _in_production(client: MlflowClient, name: str) -> list[ModelVersion]:
    return [
        mv
        for mv in client.search_model_versions(f"name = '{name}'")
        if mv.current_stage == "Production"
    ]


def _claim(mv: ModelVersion) -> tuple[int, int]:
    value = mv.tags.get(CLAIM_TAG, "")
    # A version moved by MLflow's own API has no claim: its last change stands in.
    when = int(value) if value.isdigit() else mv.last_updated_timestamp * 1_000_000
    return when, int(mv.version)


def settle(client: MlflowClient, name: str) -> tuple[ModelVersion | None, list[str]]:
    """Leave one version in Production, with ``champion`` on it; return it.

    A promotion on a team server is several requests (claim, move, archive,
    alias) and nothing on the server makes them one transaction, so two
    promotions at once can both reach Production. Every promotion therefore
    ends here: of the versions in Production the latest claim wins, the others
    are archived, and the alias is pointed at the winner, over and over until
    one round reads a settled registry and changes nothing. Every process
    applies the same rule to what it reads, and each one's last write is
    followed by its own reading, so they agree once the last has finished.

    Returns the winner (None if Production is empty) and the versions this
    call archived.
    """
    archived: list[str] = []
    for _ in range(_SETTLE_ROUNDS):
        held = _in_production(client, name)
        winner = max(held, key=_claim, default=None)
        changed = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            for mv in held:
                if mv is winner:
                    continue
                client.transition_model_version_stage(name, mv.version, "Archived")
                client.set_model_version_tag(
                    name, mv.version, ARCHIVED_BY_TAG, f"version {winner.version}"
                )
                archived.append(str(mv.version))
                changed = True
        champion = client.get_registered_model(name).aliases.get(CHAMPION)
        if winner is None and champion is not None:
            try:
                client.delete_registered_model_alias(name, CHAMPION)
            except MlflowException:  # another process removed it first
                pass
            changed = True
        elif winner is not None and str(champion) != str(winner.version):
            client.set_registered_model_alias(name, CHAMPION, winner.version)
            changed = True
        if not changed:
            return winner, archived
    raise RegistryError(
        f"the Production stage of '{name}' kept changing under pdflow for "
        f"{_SETTLE_ROUNDS} rounds; run 'pdflow models list' and promote again"
    )


def promote(
    client: MlflowClient,
    name: str,
    version: str | int,
    *,
    stage: str | None = None,
    alias: str | None = None,
    reason: str = "",
    gate: str | None = None,
) -> Promotion:
    """Move a version to a stage and/or point an alias at it, and record why.

    Moving a version to Production archives the version there before and
    points the ``champion`` alias at the new one; a version that leaves
    Production loses ``champion``. The record (who, when, from which stage,
    why) is kept in the version's tags. A promotion to Production that loses a
    race with another (see settle()) is recorded and raises PromotionBlocked.
    """
    if stage is None and alias is None:
        raise ConfigError("give --stage, --alias or both")
    stage = canonical_stage(stage)
    if stage is not None and stage not in STAGES:
        raise ConfigError(
            f"unknown stage '{stage}', expected one of: {', '.join(STAGES)}"
        )
    if alias == CHAMPION and stage != "Production":
        raise ConfigError(
            "the 'champion' alias follows the Production stage; use --stage Production"
        )
    # MLflow's rules for aliases, checked before anything changes.
    if alias is not None and (
        not re.fullmatch(r"[\w-]{1,255}", alias)
        or alias.lower() == "latest"
        or re.fullmatch(r"[vV]?\d+", alias)
    ):
        raise ConfigError(
            f"invalid alias '{alias}': use letters, digits, '_' or '-', and not "
            "'latest' or a version such as 'v3'"
        )

    with store_lock(client.tracking_uri):
        mv = get_version(client, name, version)
        record = Promotion(
            model_name=name,
            version=str(mv.version),
            stage=stage,
            alias=alias,
            from_stage=mv.current_stage,
            by=current_user(),
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            reason=reason,
            gate=gate,
        )
        try:
            if stage is not None:
                record.archived = _move_stage(client, mv, stage)
        except _Superseded as lost:
            record.archived, record.superseded_by = lost.archived, lost.winner
            _record(client, mv, record)
            holder = f"version {lost.winner}" if lost.winner else "no version"
            raise PromotionBlocked(
                f"{name} version {mv.version} reached Production but was moved out "
                f"at once by a promotion at the same moment; {holder} holds "
                "Production now"
            ) from None
        if alias is not None:
            client.set_registered_model_alias(name, alias, mv.version)
        _record(client, mv, record)
    return record


def _move_stage(client: MlflowClient, mv: ModelVersion, stage: str) -> list[str]:
    if ARCHIVED_BY_TAG in mv.tags:
        # Moved on purpose now: the tag no longer says why it is where it is.
        client.delete_model_version_tag(mv.name, mv.version, ARCHIVED_BY_TAG)
    if stage == "Production":
        # The claim goes first, so whoever sees this version in Production
        # also sees when it was sent there.
        client.set_model_version_tag(
            mv.name, mv.version, CLAIM_TAG, str(time.time_ns())
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        # Not archive_existing_versions: settle() archives the version there
        # before, and MLflow's SQL for that flag fails on PostgreSQL (it
        # compares the integer version column with the request's text).
        client.transition_model_version_stage(mv.name, mv.version, stage)
    winner, archived = settle(client, mv.name)
    if stage == "Production" and (
        winner is None or str(winner.version) != str(mv.version)
    ):
        # Another promotion at the same moment holds Production (or another
        # process moved this version out again before it settled).
        raise _Superseded(winner and str(winner.version), archived)
    return archived


class _Superseded(Exception):
    def __init__(self, winner: str | None, archived: list[str]) -> None:
        super().__init__(winner)
        self.winner = winner
        self.archived = archived


def _record(client: MlflowClient, mv: ModelVersion, record: Promotion) -> None:
    tags = dict(client.get_model_version(mv.name, mv.version).tags)
    history = json.loads(tags.get(HISTORY_TAG, "[]"))
    history.append(
        {
            k: v
            for k, v in record.to_dict().items()
            if k not in ("model_name", "version")
        }
    )
    while len(json.dumps(history)) > _HISTORY_LIMIT and len(history) > 1:
        history.pop(0)
    values = {
        "pdflow.promoted_by": record.by,
        "pdflow.promoted_at": record.at,
        "pdflow.promoted_from": record.from_stage,
        "pdflow.promotion_reason": record.reason or "(none given)",
        HISTORY_TAG: json.dumps(history),
    }
    for key, value in values.items():
        client.set_model_version_tag(mv.name, mv.version, key, value)


def record_gate(
    client: MlflowClient,
    name: str,
    version: str | int,
    outcome: dict,
    *,
    reason: str = "",
) -> None:
    """Keep the promotion gate's verdict and every check on the version.

    A forced promotion also records who forced it and why.
    """
    verdict = (
        "forced" if outcome["forced"] else ("passed" if outcome["passed"] else "failed")
    )
    failed = [c["message"] for c in outcome["checks"] if not c["passed"]]
    values = {
        "pdflow.gate": verdict,
        "pdflow.gate_reasons": "; ".join(failed) or "all checks passed",
        "pdflow.gate_checks": json.dumps(outcome)[:_HISTORY_LIMIT],
    }
    if outcome["forced"]:
        values["pdflow.forced_by"] = current_user()
        values["pdflow.forced_reason"] = reason
    for key, value in values.items():
        client.set_model_version_tag(name, str(version), key, value)


def resolve_version(client: MlflowClient, model_uri: str) -> ModelVersion:
    """The version a ``models:/`` URI (number, latest, stage or @alias) names."""
    if not model_uri.startswith("models:/"):
        raise ConfigError(
            f"'{model_uri}' is not a registered model URI; expected "
            "models:/NAME/VERSION, models:/NAME/latest, /STAGE or models:/NAME@ALIAS"
        )
    try:
        name, version = get_model_name_and_version(client, model_uri)
    except MlflowException as exc:
        raise RegistryError(
            f"cannot resolve model '{model_uri}': {first_line(exc)}"
        ) from None
    return get_version(client, name, version)


def tag_version(client: MlflowClient, mv: ModelVersion, tags: dict[str, str]) -> None:
    """Set tags on a version: links to its validation and monitoring runs."""
    for key, value in tags.items():
        client.set_model_version_tag(mv.name, mv.version, key, value)


def list_versions(client: MlflowClient, name: str) -> list[dict]:
    """Every version of ``name``, newest first, with stage, aliases and metrics."""
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        raise RegistryError(
            f"registered model '{name}' does not exist in {client.tracking_uri}"
        ) from None
    by_version: dict[str, list[str]] = {}
    for alias, version in model.aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        rows.append(
            {
                "version": int(mv.version),
                "stage": mv.current_stage,
                "aliases": sorted(by_version.get(str(mv.version), [])),
                "run_id": mv.run_id,
                "created": datetime.fromtimestamp(
                    mv.creation_timestamp / 1000, UTC
                ).isoformat(timespec="seconds"),
                **{m: _float(mv.tags.get(m)) for m in KEY_METRICS},
            }
        )
    return sorted(rows, key=lambda r: r["version"], reverse=True)


def load_sklearn(model_uri: str):
    """Load a registered pipeline, with a one-line error for unknown URIs."""
    try:
        return mlflow.sklearn.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        raise RegistryError(_unloadable(model_uri, exc)) from None


def input_schema(model_uri: str):
    """The input schema of a model's signature (None without one), unloaded."""
    try:
        signature = mlflow.models.get_model_info(model_uri).signature
    except (MlflowException, OSError) as exc:
        raise RegistryError(_unloadable(model_uri, exc)) from None
    return signature.inputs if signature is not None else None


def load_pyfunc(model_uri: str):
    """Load a model as MLflow's generic pyfunc, with a one-line error."""
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        raise RegistryError(_unloadable(model_uri, exc)) from None


def _unloadable(model_uri: str, exc: BaseException) -> str:
    """Why a model URI could not be loaded, with a hint for a bare model name."""
    said = f"cannot load model '{model_uri}': {first_line(exc)}"
    rest = model_uri.removeprefix("models:/")
    if rest != model_uri and "/" not in rest and "@" not in rest:
        # models:/X names a logged model's id in MLflow 3, not a registered name.
        said += (
            f" (for registered model '{rest}' give a version: "
            f"models:/{rest}/VERSION, /latest, /STAGE or models:/{rest}@ALIAS)"
        )
    return said


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)
