"""``pdflow score``: registered models over loan files of any size, in chunks.

Input files (CSV, TSV or Parquet; several, or globs) are read a chunk at a
time, checked row by row against the model's signature, scored through the
model's pyfunc and appended to one output file (CSV or Parquet by its
suffix), so memory stays flat however many rows there are. Each output row
carries the id columns asked for (or its row number) and the model's answer:
``pd``, ``grade``, ``score`` and the reasons.

Rows that cannot be scored are reported with their row number and the reason.
With ``on_error="fail"`` the first such chunk stops the job and no output file
is left behind; with ``"skip"`` the good rows are written and the rejected
ones go to a file of their own.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import Progress

from pdflow import registry, tracking
from pdflow.data import PARQUET_SUFFIXES
from pdflow.errors import ConfigError, DataError, first_line
from pdflow.scoring import (
    OUTPUT_COLUMNS,
    ROW_COLUMN,
    check_rows,
    describe_bad_rows,
    refuse_overwriting_inputs,
)

logger = logging.getLogger(__name__)

ON_ERROR = ("fail", "skip")


@dataclass
class ScoreResult:
    """What a batch scoring wrote."""

    model_uri: str
    output: str
    rows: int
    rejected: int
    rejected_file: str | None
    mean_pd: float
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def score(
    model_uri: str,
    inputs: list[str],
    output: str | Path,
    *,
    id_cols: list[str] | None = None,
    chunk_size: int = 100_000,
    on_error: str = "fail",
    rejected: str | Path | None = None,
    reasons: bool = True,
    progress: bool = False,
    tracking_uri: str | None = None,
) -> ScoreResult:
    """Score every row of ``inputs`` with a registered model into ``output``.

    Parameters
    ----------
    inputs : list of str
        Files or glob patterns, read in order.
    id_cols : list of str, optional
        Columns passed through to the output; without them each output row
        gets its 1-based ``row`` number over all inputs.
    on_error : {"fail", "skip"}
        What to do with rows that cannot be scored.
    rejected : path, optional
        Where skipped rows go, with ``row`` and ``reason``; by default beside
        the output as ``NAME.rejected.csv``.
    reasons : bool
        Fill ``reason_1`` to ``reason_3``; off is faster.
    """
    output = Path(output)
    files = expand_inputs(inputs)
    _check_options(output, chunk_size, on_error)
    rejected = Path(rejected) if rejected else _rejected_path(output)
    refuse_overwriting_inputs(output, files)
    refuse_overwriting_inputs(rejected, files)
    tracking.connect(tracking_uri, create=False)
    model = registry.load_pyfunc(model_uri)
    schema = model.metadata.get_input_schema()

    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    writer = _Writer(partial)
    bad_writer = None
    if on_error == "skip":
        rejected.unlink(missing_ok=True)  # an earlier run's would look current
        bad_writer = _Writer(rejected)
    total = sum_pd = n_bad = 0
    try:
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("scoring", total=_count_rows(files))
            for chunk, first_row, where in _chunks(files, chunk_size, id_cols):
                good, bad = check_rows(chunk, schema, first_row=first_row, where=where)
                if len(bad) and on_error == "fail":
                    raise DataError(_describe(bad, where))
                if len(bad):
                    bad_writer.write(_with_ids(bad, chunk, id_cols))
                    n_bad += len(bad)
                if len(good):
                    answer = _answer(model, good, reasons)
                    writer.write(_output_frame(chunk.loc[good.index], answer, id_cols))
                    total += len(good)
                    sum_pd += float(answer["pd"].sum())
                bar.advance(task, len(chunk))
        if not total:
            raise DataError(_nothing_scored(files, n_bad, rejected))
        writer.close()
        os.replace(partial, output)
    finally:
        writer.close()
        partial.unlink(missing_ok=True)
        if bad_writer is not None:
            bad_writer.close()
    logger.info("scored %d rows, rejected %d", total, n_bad)
    return ScoreResult(
        model_uri=model_uri,
        output=str(output),
        rows=total,
        rejected=n_bad,
        rejected_file=str(rejected) if n_bad else None,
        mean_pd=sum_pd / total if total else float("nan"),
        files=[str(f) for f in files],
    )


def _answer(model, good: pd.DataFrame, reasons: bool) -> pd.DataFrame:
    answer = model.predict(good, params={"reasons": reasons})
    if not isinstance(answer, pd.DataFrame) or "pd" not in answer.columns:
        answer = pd.DataFrame({"pd": np.asarray(answer)[:, 1]})
    answer.index = good.index
    return answer


def _with_ids(bad: pd.DataFrame, chunk: pd.DataFrame, id_cols) -> pd.DataFrame:
    """Rejected rows with their id columns, so they can be found and fixed."""
    if not id_cols:
        return bad
    ids = chunk.loc[bad[ROW_COLUMN].to_numpy(), id_cols].reset_index(drop=True)
    return pd.concat([ids, bad], axis=1)


def _output_frame(chunk, answer, id_cols) -> pd.DataFrame:
    keep = chunk[id_cols] if id_cols else chunk[[ROW_COLUMN]]
    out = keep.copy()
    for column in (c for c in OUTPUT_COLUMNS if c in answer.columns):
        out[column] = answer[column].to_numpy()
    return out


def _nothing_scored(files: list[Path], n_bad: int, rejected: Path) -> str:
    if n_bad:
        return f"all {n_bad} row(s) were rejected, see '{rejected}'; no output written"
    shown = ", ".join(f"'{f}'" for f in files[:3]) + (" ..." if len(files) > 3 else "")
    verb = "holds" if len(files) == 1 else "hold"
    return f"{shown} {verb} no loans, only a header: no output written"


def _describe(bad: pd.DataFrame, where: str) -> str:
    return describe_bad_rows(
        bad, where, "nothing written (--on-error skip writes the rest)"
    )


def expand_inputs(inputs: list[str]) -> list[Path]:
    """The files that ``inputs`` (paths or glob patterns) name, in order."""
    if not inputs:
        raise ConfigError("give at least one --input file")
    files: list[Path] = []
    for pattern in inputs:
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not found:
            raise DataError(f"--input '{pattern}' matches no file")
        for name in found:
            path = Path(name)
            if not path.is_file():
                raise DataError(f"input file '{path}' does not exist")
            files.append(path)
    return files


def _check_options(output: Path, chunk_size: int, on_error: str) -> None:
    if output.suffix.lower() not in (".csv", *PARQUET_SUFFIXES):
        raise ConfigError(f"--output '{output}' must end in .csv or .parquet")
    if on_error not in ON_ERROR:
        raise ConfigError(f"--on-error must be fail or skip, got '{on_error}'")
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}")


def _rejected_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejected.csv")


def _count_rows(files: list[Path]) -> int:
    total = 0
    for path in files:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            total += pq.ParquetFile(path).metadata.num_rows
        else:
            with path.open("rb") as handle:
                lines = sum(
                    block.count(b"\n")
                    for block in iter(lambda: handle.read(1 << 20), b"")
                )
            total += max(lines - 1, 0)
    return total


def _chunks(
    files: list[Path], chunk_size: int, id_cols: list[str] | None
) -> Iterator[tuple[pd.DataFrame, int, str]]:
    """Each chunk with its first 1-based row number over all files, and its file."""
    first_row = 1
    for path in files:
        for chunk in _read_chunks(path, chunk_size, id_cols):
            missing = [c for c in id_cols or [] if c not in chunk.columns]
            if missing:
                raise DataError(f"{path} has no id column(s) {', '.join(missing)}")
            chunk.index = pd.RangeIndex(first_row, first_row + len(chunk))
            # Added by concat: read_csv gives a block per column, and pandas
            # warns about inserting into a frame of many blocks.
            rows = pd.DataFrame({ROW_COLUMN: chunk.index.to_numpy()}, index=chunk.index)
            chunk = pd.concat(
                [chunk.drop(columns=ROW_COLUMN, errors="ignore"), rows], axis=1
            )
            yield chunk, first_row, str(path)
            first_row += len(chunk)


def _read_chunks(path: Path, chunk_size: int, id_cols) -> Iterator[pd.DataFrame]:
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
                yield batch.to_pandas()
            return
        sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        dtype = {c: str for c in id_cols or []}
        yield from pd.read_csv(path, sep=sep, chunksize=chunk_size, dtype=dtype)
    except (UnicodeDecodeError, pd.errors.ParserError, pa.ArrowException) as exc:
        raise DataError(f"cannot read '{path}': {first_line(exc, 160)}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"input file '{path}' is empty") from None


class _Writer:
    """Appends frames to one CSV or Parquet file, created on the first write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parquet = path.suffix.lower() in PARQUET_SUFFIXES
        self._pq: pq.ParquetWriter | None = None
        self._started = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._pq is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._pq = pq.ParquetWriter(self.path, table.schema)
            self._pq.write_table(table.cast(self._pq.schema))
            return
        if not self._started:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(self.path, mode="a" if self._started else "w",
                     header=not self._started, index=False)  # fmt: skip
        self._started = True

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
            self._pq = None
