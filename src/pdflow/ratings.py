"""The master scale (PD bands to rating grades) and the points scale of scores.

Both are shared by training, validation and scoring, so a loan gets the same
grade and score wherever it is rated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pdflow.errors import ConfigError

# Upper PD edges of the non-default grades, best grade first. Each band is
# (previous edge, edge]; the first starts at 0 and the last must end at 1.
DEFAULT_BOUNDS = (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.30, 1.0)

DEFAULT_PDO = 20.0
DEFAULT_BASE_ODDS = 50.0
DEFAULT_BASE_POINTS = 600.0


@dataclass(frozen=True)
class MasterScale:
    """Rating grades from PD bands.

    Parameters
    ----------
    bounds : tuple of float
        Increasing upper PD edges of the grades; the last must be 1.
    labels : tuple of str, optional
        One name per grade, best first; ``"1"``, ``"2"``, ... by default.
    """

    bounds: tuple[float, ...] = DEFAULT_BOUNDS
    labels: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        bounds = tuple(float(b) for b in self.bounds)
        if len(bounds) < 2:
            raise ConfigError(f"a master scale needs at least 2 grades, got {bounds}")
        if any(not 0 < b <= 1 for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise ConfigError(
                f"grade bounds must rise strictly within (0, 1], got {list(bounds)}"
            )
        if bounds[-1] != 1.0:
            raise ConfigError(
                f"grade bounds must cover [0, 1]: the last edge is {bounds[-1]}, "
                "expected 1"
            )
        labels = tuple(self.labels) or tuple(str(i + 1) for i in range(len(bounds)))
        if len(labels) != len(bounds) or len(set(labels)) != len(labels):
            raise ConfigError(
                f"a master scale of {len(bounds)} grades needs as many distinct "
                f"labels, got {list(labels)}"
            )
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "labels", labels)

    def grade_index(self, pd_values) -> np.ndarray:
        """The 0-based grade of each PD (0 is the best grade)."""
        values = np.clip(np.asarray(pd_values, dtype=float), 0.0, 1.0)
        return np.searchsorted(np.asarray(self.bounds), values, side="left")

    def assign(self, pd_values) -> np.ndarray:
        """The grade label of each PD."""
        return np.asarray(self.labels, dtype=object)[self.grade_index(pd_values)]

    def to_dict(self) -> dict:
        return {"bounds": list(self.bounds), "labels": list(self.labels)}


def pd_to_score(
    pd_values,
    *,
    pdo: float = DEFAULT_PDO,
    base_odds: float = DEFAULT_BASE_ODDS,
    base_points: float = DEFAULT_BASE_POINTS,
) -> np.ndarray:
    """Scale PDs to points: ``base_points`` at good:bad odds ``base_odds``.

    Every ``pdo`` points double the odds of a good loan, so higher is safer.

    Examples
    --------
    >>> float(pd_to_score([1 / 51])[0])
    600.0
    """
    check_scaling(pdo=pdo, base_odds=base_odds)
    p = np.clip(np.asarray(pd_values, dtype=float), 1e-12, 1 - 1e-12)
    factor = pdo / math.log(2)
    offset = base_points - factor * math.log(base_odds)
    return offset + factor * np.log((1 - p) / p)


def check_scaling(*, pdo: float, base_odds: float) -> None:
    """Refuse a points scale that cannot be built."""
    if not pdo > 0:
        raise ConfigError(f"--pdo must be positive, got {pdo}")
    if not base_odds > 0:
        raise ConfigError(f"--base-odds must be positive, got {base_odds}")
