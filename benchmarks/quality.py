"""Quality of every model family on German credit, HMEQ and the loan book.

Each family runs with its default hyperparameters under 5-fold stratified
cross-validation with fixed seeds. Printed per family and data set:

- AUC, Gini, KS and Brier score: the mean over the five test folds;
- HL p: the Hosmer-Lemeshow p-value over PD deciles of the pooled out-of-fold
  PDs (8 degrees of freedom);
- on the loan book also the oracle AUC (the AUC of ``true_pd`` on the same
  folds) and the mean absolute gap between predicted and true PD, raw and after
  calibration (``--calibrate``, on held-out folds of each training part).

Run: ``python benchmarks/quality.py`` (about ten minutes on two cores), or pick
with ``--data german --families logreg scorecard``. HMEQ is read from
``../shared/data/hmeq.csv`` beside the repository.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from pdflow.data import load_dataset
from pdflow.estimators import CalibratedPD
from pdflow.metrics import ks_score
from pdflow.models import FAMILIES, build_pipeline, resolve_params
from pdflow.validation import hosmer_lemeshow_test

HMEQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "hmeq.csv"
SEED = 42


def datasets(names: list[str], rows: int) -> dict:
    out = {}
    if "german" in names:
        out["german"] = load_dataset("german")
    if "hmeq" in names:
        out["hmeq"] = load_dataset(str(HMEQ), target="BAD")
    if "loanbook" in names:
        out["loanbook"] = load_dataset("loanbook", rows=rows, seed=SEED)
    return out


def cross_validate(dataset, family_name: str, calibrate: str) -> dict:
    """Fold-mean metrics, the pooled HL p-value and, with a true PD, the gaps."""
    family = FAMILIES[family_name]
    model = build_pipeline(
        family,
        resolve_params(family, {}),
        numeric=dataset.numeric,
        categorical=dataset.categorical,
        seed=SEED,
    )
    X, y = dataset.X, dataset.y.to_numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
    oof = np.zeros(len(y))
    rows = []
    started = time.perf_counter()
    for train, test in folds.split(X, y):
        fitted = clone(model).fit(X.iloc[train], y[train])
        oof[test] = fitted.predict_proba(X.iloc[test])[:, 1]
        row = {
            "auc": roc_auc_score(y[test], oof[test]),
            "ks": ks_score(y[test], oof[test]),
            "brier": brier_score_loss(y[test], oof[test]),
        }
        if dataset.true_pd is not None:
            true_pd = dataset.true_pd.to_numpy()
            row["oracle_auc"] = roc_auc_score(y[test], true_pd[test])
            row["pd_gap"] = np.abs(oof[test] - true_pd[test]).mean()
            if calibrate != "none":
                calibrated = CalibratedPD(model, method=calibrate, random_state=SEED)
                calibrated.fit(X.iloc[train], y[train])
                cal = calibrated.predict_proba(X.iloc[test])[:, 1]
                row["pd_gap_calibrated"] = np.abs(cal - true_pd[test]).mean()
        rows.append(row)
    result = pd.DataFrame(rows).mean().to_dict()
    result["gini"] = 2 * result["auc"] - 1
    result["hl_p"] = hosmer_lemeshow_test(y, oof).p_value
    result["seconds"] = time.perf_counter() - started
    return result


def markdown(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table, numbers to four decimals."""
    lines = [
        "| family | " + " | ".join(frame.columns) + " |",
        "|---" * (len(frame.columns) + 1) + "|",
    ]
    for name, row in frame.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", nargs="+", default=["german", "hmeq", "loanbook"], dest="names"
    )
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--rows", type=int, default=20_000, help="loan book size")
    parser.add_argument(
        "--calibrate", default="sigmoid", choices=["isotonic", "sigmoid", "none"]
    )
    args = parser.parse_args()

    columns = ["auc", "gini", "ks", "brier", "hl_p"]
    for name, dataset in datasets(args.names, args.rows).items():
        table = {}
        for family in args.families:
            table[family] = cross_validate(dataset, family, args.calibrate)
        frame = pd.DataFrame(table).T
        shown = columns + [
            c for c in ("oracle_auc", "pd_gap", "pd_gap_calibrated") if c in frame
        ]
        print(
            f"\n{name}: {len(dataset.y)} loans, {dataset.default_rate:.1%} defaults, "
            f"5-fold CV (seed {SEED})"
        )
        print(markdown(frame[shown + ["seconds"]]))


if __name__ == "__main__":
    main()
