"""Figures logged with every run: confusion matrix, ROC, calibration and KS."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.calibration import CalibrationDisplay  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay  # noqa: E402


def confusion_matrix_figure(y_true, y_prob, *, threshold: float = 0.5) -> Figure:
    """Counts of predicted against observed defaults at ``threshold``."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    y_pred = (np.asarray(y_prob) >= threshold).astype(int)
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, display_labels=["non-default", "default"], ax=ax, colorbar=False
    )
    ax.set_title(f"Confusion matrix (PD >= {threshold:g})")
    fig.tight_layout()
    return fig


def roc_figure(y_true, y_prob) -> Figure:
    """ROC curve with its AUC, against the diagonal of a random score."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    RocCurveDisplay.from_predictions(y_true, y_prob, ax=ax, name="PD model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_title("ROC curve")
    fig.tight_layout()
    return fig


def calibration_figure(y_true, y_prob, *, n_bins: int = 10) -> Figure:
    """Observed default rate against mean PD in PD quantile bins."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    CalibrationDisplay.from_predictions(
        y_true, y_prob, n_bins=n_bins, strategy="quantile", ax=ax, name="PD model"
    )
    ax.set_xlabel("Mean predicted PD")
    ax.set_ylabel("Observed default rate")
    ax.set_title("Calibration")
    fig.tight_layout()
    return fig


def ks_figure(y_true, y_prob) -> Figure:
    """Cumulative PD distributions of defaults and non-defaults, KS marked."""
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=float)
    grid = np.unique(y_prob)
    cdf_bad = np.searchsorted(np.sort(y_prob[y_true == 1]), grid, side="right")
    cdf_good = np.searchsorted(np.sort(y_prob[y_true == 0]), grid, side="right")
    cdf_bad = cdf_bad / max((y_true == 1).sum(), 1)
    cdf_good = cdf_good / max((y_true == 0).sum(), 1)
    at = int(np.argmax(cdf_good - cdf_bad))

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.step(grid, cdf_good, where="post", label="non-defaults")
    ax.step(grid, cdf_bad, where="post", label="defaults")
    ax.vlines(grid[at], cdf_bad[at], cdf_good[at], colors="black", linestyles="--")
    ax.set_title(f"KS = {cdf_good[at] - cdf_bad[at]:.3f} at PD {grid[at]:.3f}")
    ax.set_xlabel("Predicted PD")
    ax.set_ylabel("Cumulative share")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def all_figures(y_true, y_prob, *, threshold: float = 0.5) -> dict[str, Figure]:
    """Every standard figure, keyed by the artifact file name it is logged as."""
    return {
        "plots/confusion_matrix.png": confusion_matrix_figure(
            y_true, y_prob, threshold=threshold
        ),
        "plots/roc_curve.png": roc_figure(y_true, y_prob),
        "plots/calibration_curve.png": calibration_figure(y_true, y_prob),
        "plots/ks_plot.png": ks_figure(y_true, y_prob),
    }


def png_bytes(figure: Figure, *, dpi: int = 100) -> bytes:
    """Render a figure to PNG and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()
