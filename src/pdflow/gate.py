"""The promotion gate: what a challenger must show before it enters Production.

A challenger is judged on its own test split. Its AUC, Hosmer-Lemeshow
p-value and score PSI are held against the thresholds of a
:class:`~pdflow.config.GateConfig`, and the Production version (the champion),
when there is one, is scored on the very same loans so that the two AUCs are
comparable. :func:`check_gate` is the pure rule; :func:`assess` gathers the
numbers from the registry.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import pandas as pd
from sklearn.metrics import roc_auc_score

from pdflow import registry
from pdflow.config import GateConfig
from pdflow.errors import first_line
from pdflow.stability import psi_band

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One rule of the gate and how the challenger fared."""

    name: str
    value: float | None
    limit: float
    passed: bool
    message: str


@dataclass
class GateResult:
    """Every check, and whether all of them passed."""

    checks: list[Check]
    champion_version: str | None = None
    champion_auc: float | None = None
    forced: bool = False
    config: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[str]:
        return [check.message for check in self.checks if not check.passed]

    def summary(self) -> str:
        """One line: the failed checks, or every check when all passed."""
        if self.passed:
            return "; ".join(check.message for check in self.checks)
        return "; ".join(self.failures)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "forced": self.forced,
            "champion_version": self.champion_version,
            "champion_auc": self.champion_auc,
            "checks": [asdict(check) for check in self.checks],
            "config": self.config,
        }


def check_gate(
    config: GateConfig,
    *,
    auc: float,
    hl_pvalue: float | None,
    psi: float | None,
    champion_auc: float | None = None,
    champion_version: str | None = None,
) -> GateResult:
    """Hold a challenger's numbers against the gate's thresholds.

    Parameters
    ----------
    config : GateConfig
        The thresholds.
    auc : float
        The challenger's AUC on its test split.
    hl_pvalue, psi : float or None
        Its Hosmer-Lemeshow p-value and the PSI of its score between training
        and test; None or NaN (not measured) fails the check.
    champion_auc : float, optional
        The champion's AUC on the same loans; None when there is no champion.

    Examples
    --------
    >>> check_gate(GateConfig(), auc=0.8, hl_pvalue=0.4, psi=0.02).passed
    True
    """
    checks = [
        Check(
            "min_auc",
            auc,
            config.min_auc,
            _ok(auc) and auc >= config.min_auc,
            f"test AUC {_fmt(auc)} "
            + ("reaches" if _ok(auc) and auc >= config.min_auc else "is below")
            + f" the minimum {config.min_auc:g}",
        ),
        _calibration_check(hl_pvalue, config.min_hl_pvalue),
        _stability_check(psi, config.max_psi),
    ]
    if champion_auc is not None:
        checks.insert(1, _champion_check(auc, champion_auc, champion_version, config))
    return GateResult(
        checks=checks,
        champion_version=champion_version,
        champion_auc=champion_auc,
        config=asdict(config),
    )


def _champion_check(auc, champion_auc, version, config: GateConfig) -> Check:
    drop = champion_auc - auc if _ok(auc) and _ok(champion_auc) else math.nan
    passed = _ok(drop) and drop < config.max_auc_drop
    who = f"Production version {version}'s {_fmt(champion_auc)}"
    if config.max_auc_drop == 0:
        verdict = "beats" if passed else "does not beat"
        message = f"test AUC {_fmt(auc)} {verdict} {who} on the same test data"
    else:
        verdict = "is within" if passed else "falls more than"
        message = (
            f"test AUC {_fmt(auc)} {verdict} {config.max_auc_drop:g} of {who} "
            "on the same test data"
        )
    return Check("max_auc_drop", drop, config.max_auc_drop, passed, message)


def _calibration_check(pvalue: float | None, limit: float) -> Check:
    passed = _ok(pvalue) and pvalue >= limit
    if not _ok(pvalue):
        message = "Hosmer-Lemeshow p-value was not measured"
    elif passed:
        message = f"Hosmer-Lemeshow p {_fmt(pvalue)} is at least {limit:g}"
    else:
        message = (
            f"Hosmer-Lemeshow p {_fmt(pvalue)} is below {limit:g}: the PDs do not "
            "match the observed default rates"
        )
    return Check("min_hl_pvalue", pvalue, limit, passed, message)


def _stability_check(psi: float | None, limit: float) -> Check:
    passed = _ok(psi) and psi < limit
    if not _ok(psi):
        message = "score PSI was not measured"
    else:
        relation = "is below" if passed else "is not below"
        message = f"score PSI {_fmt(psi)} ({psi_band(psi)}) {relation} {limit:g}"
    return Check("max_psi", psi, limit, passed, message)


def assess(
    client,
    model_name: str,
    version: str | int,
    *,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    auc: float,
    hl_pvalue: float | None,
    psi: float | None,
    config: GateConfig,
) -> GateResult:
    """Run the gate for ``version``, scoring the champion on the same loans."""
    current = registry.production_version(client, model_name)
    if current is None or str(current.version) == str(version):
        return check_gate(config, auc=auc, hl_pvalue=hl_pvalue, psi=psi)

    try:
        champion = registry.load_sklearn(f"models:/{model_name}/{current.version}")
        champion_auc = float(
            roc_auc_score(y_test, champion.predict_proba(X_test)[:, 1])
        )
    except Exception as exc:  # a champion trained on other columns
        result = check_gate(config, auc=auc, hl_pvalue=hl_pvalue, psi=psi)
        result.champion_version = str(current.version)
        result.checks.insert(
            1,
            Check(
                "max_auc_drop",
                None,
                config.max_auc_drop,
                False,
                f"Production version {current.version} cannot score this test "
                f"data ({first_line(exc, 120)})",
            ),
        )
        return result
    logger.info("champion version %s: AUC %.4f", current.version, champion_auc)
    return check_gate(
        config,
        auc=auc,
        hl_pvalue=hl_pvalue,
        psi=psi,
        champion_auc=champion_auc,
        champion_version=str(current.version),
    )


def _ok(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _fmt(value: float | None) -> str:
    return "n/a" if not _ok(value) else f"{value:.4f}"
