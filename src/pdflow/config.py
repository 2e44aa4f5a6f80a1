"""Project settings read from ``pdflow.toml`` in the working folder.

The file is optional. Two tables are understood::

    [gate]                      # what a version must pass to enter Production
    min_auc = 0.65
    max_auc_drop = 0.0          # 0: the challenger must beat the champion
    min_hl_pvalue = 0.01
    max_psi = 0.25

    [master_scale]              # rating grades: upper PD edges, the last is 1
    bounds = [0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.30, 1.0]
    labels = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]

Flags on the command line override the file, which overrides the defaults.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pdflow.errors import ConfigError
from pdflow.ratings import MasterScale

CONFIG_FILE = "pdflow.toml"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the promotion gate.

    Attributes
    ----------
    min_auc : float
        Smallest test AUC a challenger may have.
    max_auc_drop : float
        The challenger's AUC, scored on the same loans as the champion's, may
        fall short of the champion's by less than this; 0 means it must beat it.
    min_hl_pvalue : float
        Smallest Hosmer-Lemeshow p-value (calibration over PD deciles).
    max_psi : float
        Largest PSI of the score between training and test loans.
    """

    min_auc: float = 0.60
    max_auc_drop: float = 0.0
    min_hl_pvalue: float = 0.01
    max_psi: float = 0.25

    def __post_init__(self) -> None:
        for name in ("min_auc", "min_hl_pvalue"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ConfigError(f"gate {name} must lie in [0, 1], got {value!r}")
        for name in ("max_auc_drop", "max_psi"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ConfigError(f"gate {name} must be 0 or more, got {value!r}")

    def with_overrides(self, **values: float | None) -> GateConfig:
        """A copy with every value that is not None replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True)
class Settings:
    """Everything ``pdflow.toml`` can set."""

    gate: GateConfig = GateConfig()
    master_scale: MasterScale = MasterScale()
    path: str | None = None


def load_settings(path: str | Path | None = None) -> Settings:
    """Read ``path``, or ``pdflow.toml`` in the working folder when there is one."""
    explicit = path is not None
    path = Path(path if explicit else CONFIG_FILE)
    if not path.is_file():
        if explicit:
            raise ConfigError(f"config file '{path}' does not exist")
        return Settings()
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None

    unknown = sorted(set(raw) - {"gate", "master_scale"})
    if unknown:
        raise ConfigError(
            f"config file '{path}' has unknown table(s) {', '.join(unknown)}; "
            "expected gate, master_scale"
        )
    gate = _table(
        path, "gate", raw.get("gate", {}), {f.name for f in fields(GateConfig)}
    )
    scale = _table(
        path, "master_scale", raw.get("master_scale", {}), {"bounds", "labels"}
    )
    for key, kind, ok in (
        ("bounds", "numbers", _is_number),
        ("labels", "texts", lambda v: isinstance(v, str)),
    ):
        value = scale.get(key, [])
        if not isinstance(value, list) or not all(map(ok, value)):
            raise ConfigError(
                f"config file '{path}': [master_scale] {key} must be a list of "
                f"{kind}, got {value!r}"
            )
    try:
        return Settings(
            gate=GateConfig(**gate),
            master_scale=MasterScale(**_tuples(scale)) if scale else MasterScale(),
            path=str(path),
        )
    except ConfigError as exc:
        raise ConfigError(f"config file '{path}': {exc}") from None


def parse_grades(text: str | None, base: MasterScale) -> MasterScale:
    """``--grades "0.01,0.05,0.2,1"`` as a master scale; None keeps ``base``."""
    if text is None:
        return base
    try:
        bounds = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--grades expects increasing PD edges separated by commas, got '{text}'"
        ) from None
    return MasterScale(bounds=bounds)


def _table(path: Path, name: str, table: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"config file '{path}': [{name}] must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"config file '{path}': unknown key(s) in [{name}]: {', '.join(unknown)}; "
            f"expected {', '.join(sorted(allowed))}"
        )
    return table


def _tuples(table: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
