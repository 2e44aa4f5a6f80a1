import hashlib

import numpy as np
import pandas as pd
import pytest

from pdflow.data import load_dataset, make_synthetic
from pdflow.errors import ConfigError, DataError

from .conftest import shared_file

GERMAN_SHA256 = "2c0bae00275c028fc853a1ea72cc7a68002c3f6876c41300c5c948711540c8c6"


def test_german_is_shipped_with_its_digest():
    ds = load_dataset("german")
    assert ds.X.shape == (1000, 20)
    assert int(ds.y.sum()) == 300  # 'bad' is the event
    assert ds.digest == GERMAN_SHA256
    assert ds.positive == "bad"
    assert len(ds.categorical) == 13 and len(ds.numeric) == 7


def test_synthetic_is_reproducible_with_about_ten_percent_defaults():
    a, b = make_synthetic(5000, seed=3), make_synthetic(5000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert 0.08 < a["default"].mean() < 0.13
    assert not a.equals(make_synthetic(5000, seed=4))
    assert list(a.columns[:3]) == ["income", "debt_to_income", "credit_utilization"]
    ds = load_dataset("synthetic", rows=5000, seed=3)
    assert ds.digest == load_dataset("synthetic", rows=5000, seed=3).digest
    assert ds.digest != load_dataset("synthetic", rows=5000, seed=4).digest


def test_hmeq_keeps_text_columns_and_missing_values():
    path = shared_file("hmeq.csv")
    ds = load_dataset(str(path), target="BAD")
    assert ds.categorical == ["REASON", "JOB"]
    assert int(ds.X.isna().sum().sum()) == 5271
    assert ds.default_rate == pytest.approx(0.1995, abs=1e-4)
    assert ds.digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_and_positive_value(tmp_path):
    frame = pd.DataFrame({"x": np.arange(20.0), "status": ["late", "ok"] * 10})
    frame.to_parquet(tmp_path / "loans.parquet")
    ds = load_dataset(str(tmp_path / "loans.parquet"), target="status", positive="late")
    assert ds.y.tolist() == [1, 0] * 10


def test_a_dataframe_is_data_as_its_file_is(tmp_path):
    frame = pd.DataFrame({"x": np.arange(20.0), "status": ["late", "ok"] * 10})
    frame.to_csv(tmp_path / "loans.csv", index=False)
    from_file = load_dataset(
        str(tmp_path / "loans.csv"), target="status", positive="late"
    )
    given = load_dataset(frame, target="status", positive="late")
    pd.testing.assert_frame_equal(given.X, from_file.X)
    assert given.y.tolist() == from_file.y.tolist() == [1, 0] * 10
    assert given.source == "DataFrame(20 x 2)"
    assert (
        given.digest
        == load_dataset(frame.copy(), target="status", positive="late").digest
    )
    changed = frame.assign(x=frame["x"] + 1)
    assert (
        load_dataset(changed, target="status", positive="late").digest != given.digest
    )
    with pytest.raises(ConfigError, match="or a DataFrame; got int"):
        load_dataset(42)
    with pytest.raises(DataError, match="the DataFrame given as data has no rows"):
        load_dataset(frame.head(0), target="status")
    twice = pd.concat([frame, frame[["x"]]], axis=1)
    with pytest.raises(DataError, match="has duplicate column names: x"):
        load_dataset(twice, target="status", positive="late")
    # A numeric event may be named as a number or as its text.
    flags = frame.assign(status=[1, 0] * 10)
    assert load_dataset(flags, target="status", positive=1).y.tolist() == [1, 0] * 10


def test_dates_are_refused_by_name(tmp_path):
    frame = pd.DataFrame(
        {
            "x": np.arange(20.0),
            "opened": pd.date_range("2024-01-01", periods=20),
            "default": [0, 1] * 10,
        }
    )
    with pytest.raises(DataError, match=r"column\(s\) opened of .* hold dates"):
        load_dataset(frame)
    frame.to_parquet(tmp_path / "loans.parquet")
    with pytest.raises(DataError, match="derive a number .* or pass --drop"):
        load_dataset(str(tmp_path / "loans.parquet"))
    assert list(load_dataset(frame, drop=["opened"]).X.columns) == ["x"]


def test_drop_removes_id_column():
    ds = load_dataset("german", drop=["telephone"])
    assert "telephone" not in ds.X.columns


def test_columns_like_ids_are_named_in_a_warning(tmp_path, caplog):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "loan_id": np.arange(1000, 1100),  # distinct whole numbers: an id
            "ref": [f"L{i}" for i in range(100)],  # distinct texts: an id
            "income": rng.normal(3000, 500, 100),  # distinct, with decimals
            "term": rng.choice([12, 24, 36], 100),  # whole numbers that repeat
            "default": [0, 1] * 50,
        }
    )
    frame.to_csv(tmp_path / "book.csv", index=False)
    load_dataset(str(tmp_path / "book.csv"))
    named = [r.getMessage().split("'")[1] for r in caplog.records]
    assert named == ["loan_id", "ref"]
    caplog.clear()
    load_dataset(str(tmp_path / "book.csv"), drop=["loan_id", "ref"])
    assert caplog.records == []


def _write(tmp_path, name, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("", {}, "is empty"),
        ("a,default\n", {}, "header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", {}, "not a readable CSV"),
        ("a,b\n1,0\n2,1\n", {}, "target column 'default' not found"),
        ("a,default\n1,0\n2,1\n3,2\n", {}, "3 distinct values"),
        ("a,default\n1,0\n2,0\n", {}, "single class"),
        ("a,default\n1,x\n2,y\n", {}, "pass --positive"),
        ("a,default\n1,x\n2,y\n", {"positive": "z"}, "'z' does not occur"),
        ("a,default\n1,0\n2,\n", {}, "1 missing value"),
        ("a,default\n1,0\n2,1\n", {"drop": ["nope"]}, "--drop names column"),
        ("a,default\n1,0\n2,1\n", {"drop": ["default"]}, "names the target"),
        ("default\n0\n1\n", {}, "no feature columns"),
        ("a,default\n1,0\ninf,1\n", {}, "column 'a' of .* holds inf on row 2"),
        ("a,default\n1,0\n1e300,1\n", {}, "holds 1e.300 on row 2 .1 row.s. in all"),
        ("a,default\n1,0\n2,1\n3,2\n4,1\n", {}, r"\(0, 1, 2\), expected two"),
        ("a,default\n1,3\n2,4\n", {}, "holds 3, 4; pass --positive"),
    ],
)
def test_bad_files_are_refused_with_their_reason(tmp_path, content, kwargs, message):
    path = _write(tmp_path, "loans.csv", content)
    with pytest.raises(DataError, match=message):
        load_dataset(path, **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(str(tmp_path / "nope.csv"))
