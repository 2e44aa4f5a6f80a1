"""Population stability: PSI of a score and CSI of each feature.

Shared by the validation suite (training against test) and by monitoring
(training population against a new one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The usual reading of a PSI: below 0.10 stable, up to 0.25 watch, above shift.
PSI_BANDS = ((0.10, "stable"), (0.25, "watch"), (float("inf"), "shift"))
_FLOOR = 1e-4  # share given to an empty bin, so that the log stays finite


def psi_table(expected, actual, *, bins: int = 10) -> pd.DataFrame:
    """Bin-by-bin population stability of ``actual`` against ``expected``.

    Numeric values are cut at the deciles (``bins`` quantiles) of
    ``expected``; text values are compared category by category. Missing
    values form a bin of their own.

    Returns
    -------
    DataFrame
        ``bin``, ``expected_share``, ``actual_share`` and ``psi`` per bin.
    """
    expected = pd.Series(np.asarray(expected, dtype=object)).reset_index(drop=True)
    actual = pd.Series(np.asarray(actual, dtype=object)).reset_index(drop=True)
    e_bins, a_bins = _bin(expected, actual, bins)

    e_share = e_bins.value_counts(normalize=True, dropna=False)
    a_share = a_bins.value_counts(normalize=True, dropna=False)
    labels = sorted(set(e_share.index) | set(a_share.index), key=_bin_order)
    table = pd.DataFrame(
        {
            "bin": [str(b) for b in labels],
            "expected_share": [float(e_share.get(b, 0.0)) for b in labels],
            "actual_share": [float(a_share.get(b, 0.0)) for b in labels],
        }
    )

    e = table["expected_share"].clip(lower=_FLOOR)
    a = table["actual_share"].clip(lower=_FLOOR)
    table["psi"] = (a - e) * np.log(a / e)
    return table


def psi(expected, actual, *, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Examples
    --------
    >>> round(psi([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], bins=2), 6)
    0.0
    """
    return float(psi_table(expected, actual, bins=bins)["psi"].sum())


def psi_band(value: float) -> str:
    """``stable``, ``watch`` or ``shift`` for a PSI value."""
    return next(label for edge, label in PSI_BANDS if value < edge)


def csi_table(
    expected: pd.DataFrame, actual: pd.DataFrame, *, bins: int = 10
) -> pd.DataFrame:
    """Characteristic stability (PSI per feature) for the columns both share."""
    rows = []
    for column in expected.columns:
        if column not in actual.columns:
            continue
        value = psi(expected[column], actual[column], bins=bins)
        rows.append({"feature": column, "csi": value, "band": psi_band(value)})
    return pd.DataFrame(rows, columns=["feature", "csi", "band"])


def _bin_order(label) -> tuple:
    """Numeric bins by their lower edge, then categories by name."""
    if isinstance(label, pd.Interval):
        return (0, label.left, "")
    return (1, 0.0, str(label))


def _bin(expected: pd.Series, actual: pd.Series, bins: int):
    e_num = pd.to_numeric(expected, errors="coerce")
    a_num = pd.to_numeric(actual, errors="coerce")
    numeric = e_num.notna().sum() > 0 and (e_num.notna() == expected.notna()).all()
    if not numeric:
        missing = "(missing)"
        return expected.fillna(missing).astype(str), actual.fillna(missing).astype(str)

    edges = np.unique(np.nanquantile(e_num, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    if len(edges) < 2:
        edges = np.array([-np.inf, np.inf])
    return (
        pd.cut(e_num, edges, duplicates="drop").astype(object),
        pd.cut(a_num, edges, duplicates="drop").astype(object),
    )
