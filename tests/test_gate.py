"""The promotion gate's rule and the settings file it reads."""

from __future__ import annotations

import math

import pytest

from pdflow.config import GateConfig, load_settings, parse_grades
from pdflow.errors import ConfigError
from pdflow.gate import check_gate
from pdflow.ratings import MasterScale

GATE = GateConfig(min_auc=0.70, max_auc_drop=0.0, min_hl_pvalue=0.05, max_psi=0.25)


def test_a_challenger_that_clears_every_threshold_passes():
    result = check_gate(
        GATE,
        auc=0.78,
        hl_pvalue=0.40,
        psi=0.03,
        champion_auc=0.75,
        champion_version="1",
    )
    assert result.passed and result.failures == []
    assert [c.name for c in result.checks] == [
        "min_auc",
        "max_auc_drop",
        "min_hl_pvalue",
        "max_psi",
    ]
    assert result.checks[1].value == pytest.approx(-0.03)
    assert "beats Production version 1's 0.7500" in result.summary()


@pytest.mark.parametrize(
    ("numbers", "failed", "message"),
    [
        (
            {"auc": 0.65, "champion_auc": 0.6},
            "min_auc",
            "test AUC 0.6500 is below the minimum 0.7",
        ),
        (
            {"champion_auc": 0.78},
            "max_auc_drop",
            "test AUC 0.7800 does not beat Production version 1's 0.7800",
        ),
        ({"hl_pvalue": 0.01}, "min_hl_pvalue", "Hosmer-Lemeshow p 0.0100 is below"),
        ({"hl_pvalue": math.nan}, "min_hl_pvalue", "was not measured"),
        ({"psi": 0.31}, "max_psi", "score PSI 0.3100 (shift) is not below 0.25"),
        ({"psi": None}, "max_psi", "score PSI was not measured"),
    ],
)
def test_each_threshold_fails_on_its_own(numbers, failed, message):
    kwargs = {
        "auc": 0.78,
        "hl_pvalue": 0.40,
        "psi": 0.03,
        "champion_auc": 0.75,
        "champion_version": "1",
    }
    result = check_gate(GATE, **{**kwargs, **numbers})
    assert not result.passed
    assert [c.name for c in result.checks if not c.passed] == [failed]
    assert len(result.failures) == 1
    assert message in result.summary()


def test_an_allowed_auc_drop_lets_a_slightly_weaker_challenger_through():
    lenient = GATE.with_overrides(max_auc_drop=0.02)
    result = check_gate(
        lenient,
        auc=0.77,
        hl_pvalue=0.4,
        psi=0.03,
        champion_auc=0.78,
        champion_version="2",
    )
    assert result.passed
    assert "is within 0.02 of Production version 2's 0.7800" in result.summary()
    result = check_gate(
        lenient,
        auc=0.75,
        hl_pvalue=0.4,
        psi=0.03,
        champion_auc=0.78,
        champion_version="2",
    )
    assert not result.passed
    assert "falls more than 0.02" in result.summary()


def test_without_a_champion_only_the_absolute_checks_count():
    result = check_gate(GATE, auc=0.71, hl_pvalue=0.06, psi=0.24)
    assert result.passed
    assert [c.name for c in result.checks] == ["min_auc", "min_hl_pvalue", "max_psi"]


def test_settings_file_sets_gate_and_grades_and_flags_override(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings().gate == GateConfig()
    (tmp_path / "pdflow.toml").write_text(
        "[gate]\nmin_auc = 0.72\nmin_hl_pvalue = 0.1\n\n"
        "[master_scale]\nbounds = [0.01, 0.05, 0.2, 1.0]\n"
        "labels = ['A', 'B', 'C', 'D']\n"
    )
    settings = load_settings()
    assert settings.gate == GateConfig(min_auc=0.72, min_hl_pvalue=0.1)
    assert settings.master_scale == MasterScale(
        (0.01, 0.05, 0.2, 1.0), ("A", "B", "C", "D")
    )
    assert settings.gate.with_overrides(min_auc=0.8, max_psi=None).min_auc == 0.8
    assert parse_grades("0.02, 0.1, 1", settings.master_scale).bounds == (
        0.02,
        0.1,
        1.0,
    )
    assert parse_grades(None, settings.master_scale) is settings.master_scale


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gate]\nmin_auk = 0.7\n", r"unknown key\(s\) in \[gate\]: min_auk"),
        ("[gates]\n", r"unknown table\(s\) gates"),
        ("[gate]\nmin_auc = 1.5\n", r"gate min_auc must lie in \[0, 1\], got 1.5"),
        ("[gate]\nmax_psi = -1\n", "gate max_psi must be 0 or more, got -1"),
        ("[gate\n", "is not valid TOML"),
        ("[master_scale]\nbounds = [0.1, 0.5]\n", r"must cover \[0, 1\]"),
        ("[gate]\nmin_hl_pvalue = true\n", "gate min_hl_pvalue must lie in .* True"),
        ("[gate]\nmin_auc = 'high'\n", "pdflow.toml': gate min_auc must lie in"),
        (
            '[master_scale]\nbounds = "0.01,1"\n',
            r"pdflow.toml': \[master_scale\] bounds must be a list of numbers, "
            "got '0.01,1'",
        ),
        (
            "[master_scale]\nbounds = [0.5, 1]\nlabels = [1, 2]\n",
            "labels must be a list of texts, got",
        ),
    ],
)
def test_bad_settings_files_are_refused(tmp_path, text, message):
    path = tmp_path / "pdflow.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_bad_grades_flag_and_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="--grades expects increasing PD edges"):
        parse_grades("0.1,x,1", MasterScale())
    with pytest.raises(ConfigError, match=r"must cover \[0, 1\]: the last edge is 0.5"):
        parse_grades("0.1,0.5", MasterScale())
    with pytest.raises(ConfigError, match="config file '.*nope.toml' does not exist"):
        load_settings(tmp_path / "nope.toml")
