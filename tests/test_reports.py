"""The HTML validation report: header, metrics, tables, figures, escaping."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import pdflow
from pdflow.errors import ConfigError
from pdflow.reports import TABLE_TITLES, render_report
from pdflow.validation import validate

IMG = '<img src="data:image/png;base64,'
CONTEXT = {
    "model_uri": "models:/pd-model/3",
    "run_id": "0123abcd",
    "data_digest": "sha256:feedbeef",
    "date": "2025-01-31",
}


@pytest.fixture(scope="module")
def result():
    """The validation of a small seeded logistic model."""
    X, y = make_classification(
        1200, n_features=4, n_informative=2, weights=[0.85], random_state=11
    )
    X = pd.DataFrame(X, columns=["income", "utilisation", "age", "tenure"])
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(X[:600], y[:600])
    return validate(model, X[:600], y[:600], X[600:], y[600:])


@pytest.fixture(scope="module")
def html(result):
    return render_report(result, title="PD model validation", context=CONTEXT)


def test_header_shows_title_and_context(html):
    assert "<title>PD model validation</title>" in html
    assert "<h1>PD model validation</h1>" in html
    for value in CONTEXT.values():
        assert value in html
    assert pdflow.__version__ in html  # filled in when the context has none


def test_headline_metrics_are_formatted(result, html):
    auc = result.metrics["auc"]
    assert f"<td>auc</td><td>{auc:.4f}</td>" in html
    monotone = "yes" if result.metrics["grades_monotone"] else "no"
    assert f"<td>grades_monotone</td><td>{monotone}</td>" in html


def test_every_table_has_its_heading(result, html):
    assert set(result.tables) == set(TABLE_TITLES)
    for title in TABLE_TITLES.values():
        assert f"<h2>{title}</h2>" in html


def test_one_embedded_png_per_figure(result, html):
    assert html.count(IMG) == len(result.figures) == 2
    for path in result.figures:
        assert f"<figcaption>{path}</figcaption>" in html


def test_psi_bands_are_colour_coded(result, html):
    # Every feature of the CSI table and the score's PSI carry a band badge.
    badges = re.findall(r'<span class="band band-(stable|watch|shift)">', html)
    assert len(badges) >= len(result.tables["csi"]) + 2  # + psi_score, max_csi
    assert ".band-shift {" in html


def test_page_is_self_contained(html):
    assert "<script" not in html
    assert "<link" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_context_and_title_are_escaped(result):
    html = render_report(
        result,
        title="A & B <b>",
        context={"model_uri": "<script>alert('x')</script>"},
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<h1>A &amp; B &lt;b&gt;</h1>" in html


def test_table_cells_are_escaped(result):
    tables = dict(result.tables)
    tables["csi"] = pd.DataFrame(
        {"feature": ["<img src=x>"], "csi": [0.3], "band": ["shift"]}
    )
    changed = type(result)(metrics=result.metrics, tables=tables, figures={})
    html = render_report(changed, title="t", context={})
    assert "&lt;img src=x&gt;" in html
    assert '<span class="band band-shift">shift</span>' in html
    assert IMG not in html


@pytest.mark.parametrize(
    ("title", "context", "match"),
    [
        ("", {}, "a report needs a non-empty title, got ''"),
        ("t", ["run_id"], "context must be a mapping, got list"),
    ],
)
def test_bad_title_or_context_is_refused(result, title, context, match):
    with pytest.raises(ConfigError, match=match):
        render_report(result, title=title, context=context)
