"""The validation report: one self-contained HTML page of a ValidationResult.

The page carries its own CSS and embeds every figure as a base64 PNG, so it
can be logged as a single MLflow artifact or mailed as one file.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Mapping
from datetime import UTC, datetime

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup, escape
from matplotlib.figure import Figure

from pdflow import __version__
from pdflow.errors import ConfigError
from pdflow.stability import PSI_BANDS, psi_band
from pdflow.validation import ValidationResult

TEMPLATE = "report.html.j2"

# Section heading of each table of a ValidationResult, in the page's order.
TABLE_TITLES = {
    "grades": "Master scale: defaults and tests by grade",
    "hosmer_lemeshow": "Hosmer-Lemeshow test by PD decile",
    "psi_score": "Population stability of the PD, training against test",
    "csi": "Characteristic stability of each feature, training against test",
    "information_value": "Information value of each feature",
    "importance": "Permutation importance (AUC lost when shuffled)",
}

# Metrics shown as whole numbers or yes/no rather than with four decimals.
_COUNTS = ("n_grades_failing_binomial", "n_grades_failing_jeffreys")
_FLAGS = ("grades_monotone",)
_BANDED = ("psi_score", "max_csi")  # read against the PSI bands
_BANDS = {label for _, label in PSI_BANDS}


def render_report(
    result: ValidationResult, *, title: str, context: Mapping[str, object]
) -> str:
    """The HTML page of a validation result.

    Parameters
    ----------
    result : ValidationResult
        What :func:`pdflow.validation.validate` returned.
    title : str
        The page's title and main heading.
    context : mapping
        Facts shown in the header, in order, e.g. ``model_uri``, ``run_id``,
        ``data_digest``, ``pdflow_version`` and ``date``. The last two are
        filled in (this pdflow's version, the current UTC time) when absent.

    Returns
    -------
    str
        A complete HTML document with no external reference; every value
        taken from ``title``, ``context`` and the tables is escaped.
    """
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"a report needs a non-empty title, got {title!r}")
    if not isinstance(context, Mapping):
        raise ConfigError(f"context must be a mapping, got {type(context).__name__}")

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = {"pdflow_version": __version__, "date": now, **context}
    template = _environment().get_template(TEMPLATE)
    return template.render(
        title=title,
        header=[(str(k).replace("_", " "), str(v)) for k, v in header.items()],
        metrics=[_metric_row(k, v) for k, v in result.metrics.items()],
        band_note=_band_note(),
        tables=_table_sections(result.tables),
        figures=[(path, _png_base64(fig)) for path, fig in result.figures.items()],
    )


@functools.cache
def _environment() -> jinja2.Environment:
    # Autoescape on for every template, whatever its file name ends with.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pdflow", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _metric_row(name: str, value: float) -> dict[str, str]:
    if math.isnan(value):
        shown = "n/a"
    elif name in _COUNTS:
        shown = f"{value:.0f}"
    elif name in _FLAGS:
        shown = "yes" if value else "no"
    else:
        shown = _number(value)
    band = psi_band(value) if name in _BANDED and not math.isnan(value) else ""
    return {"name": name, "value": shown, "band": band}


def _band_note() -> str:
    """The PSI bands in words, e.g. ``stable below 0.1, watch below 0.25, ...``."""
    notes, lower = [], 0.0
    for edge, label in PSI_BANDS:
        if math.isfinite(edge):
            notes.append(f"{label} below {edge:g}")
        else:
            notes.append(f"{label} from {lower:g}")
        lower = edge
    return ", ".join(notes)


def _table_sections(tables: Mapping[str, pd.DataFrame]) -> list[dict]:
    known = [name for name in TABLE_TITLES if name in tables]
    others = [name for name in tables if name not in TABLE_TITLES]
    return [
        {"name": n, "title": TABLE_TITLES.get(n, n), "html": _table_html(tables[n])}
        for n in known + others
    ]


def _table_html(frame: pd.DataFrame) -> Markup:
    """The frame as an HTML table, every cell escaped, PSI bands coloured."""
    cells = pd.DataFrame(
        {
            str(escape(column)): [_cell(column, v) for v in frame[column]]
            for column in frame.columns
        }
    )
    # Cells are escaped above, so pandas must not escape them a second time.
    return Markup(
        cells.to_html(index=False, escape=False, border=0, classes="data", na_rep="")
    )


def _cell(column: str, value) -> str:
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return "&ndash;"
    if column == "band" and value in _BANDS:
        return f'<span class="band band-{value}">{value}</span>'
    if isinstance(value, float | np.floating):
        return _number(value)
    return str(escape(value))


def _number(value: float) -> str:
    """Four decimals, or scientific notation for small non-zero values."""
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}"


def _png_base64(figure: Figure | bytes) -> str:
    """A figure, or a PNG already rendered from one, as base64 text."""
    if isinstance(figure, bytes):
        return base64.b64encode(figure).decode("ascii")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
