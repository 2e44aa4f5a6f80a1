"""``pdflow score --engine spark``: Parquet to Parquet through MLflow's ``spark_udf``.

Spark is an optional extra (``pip install pdflow[spark]``). The model's pyfunc
runs inside Spark's Python workers, so the PDs are those of every other way of
scoring; the answer's columns come from the model's output signature.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from pathlib import Path

import mlflow

from pdflow import registry, tracking
from pdflow.data import PARQUET_SUFFIXES
from pdflow.errors import ConfigError, DataError, first_line

logger = logging.getLogger(__name__)

DEFAULT_MASTER = "local[2]"
# Spark's names of the column types widened to double before scoring.
WHOLE_NUMBERS = ("tinyint", "smallint", "int", "bigint", "float")


def spark_session(master: str = DEFAULT_MASTER):
    """A Spark session on ``master``, or a ConfigError saying how to get Spark."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "--engine spark needs pyspark: pip install 'pdflow[spark]'"
        ) from None
    # Spark's Python workers must be this Python, with pdflow's packages,
    # not whatever 'python3' is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName("pdflow-score")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def score(
    model_uri: str,
    inputs: list[Path],
    output: Path,
    *,
    id_cols: list[str] | None = None,
    reasons: bool = True,
    master: str = DEFAULT_MASTER,
    tracking_uri: str | None = None,
) -> int:
    """Score Parquet ``inputs`` into a Parquet folder ``output``; returns the rows.

    Spark writes ``output`` as a folder of part files, which pandas, pyarrow
    and Spark all read as one table.
    """
    for path in [*inputs, output]:
        if Path(path).suffix.lower() not in PARQUET_SUFFIXES:
            raise ConfigError(f"--engine spark reads and writes Parquet, not '{path}'")
    if not id_cols:
        # pandas numbers the rows it reads in order; Spark's parts have none.
        raise ConfigError(
            "--engine spark needs --id-cols: Spark writes its answer in parts, "
            "with no row order to number the loans by"
        )
    client = tracking.connect(tracking_uri, create=False)
    mv = registry.resolve_version(client, model_uri)
    pinned = f"models:/{mv.name}/{mv.version}"
    schema = mlflow.models.get_model_info(pinned).signature.inputs

    from pyspark.sql import functions as F

    existed = output.exists()
    spark = spark_session(master)
    try:
        frame = spark.read.parquet(*[str(p) for p in inputs])
        missing = [c for c in [*schema.input_names(), *(id_cols or [])]
                   if c not in frame.columns]  # fmt: skip
        if missing:
            raise DataError(
                f"{inputs[0]} lacks column(s) needed: {', '.join(missing[:10])}"
            )
        udf = mlflow.pyfunc.spark_udf(
            spark, pinned, env_manager="local", params={"reasons": reasons}
        )
        # Whole numbers arrive as Spark longs, which MLflow's signature check
        # refuses for the model's doubles: widen them, as pdflow predict does.
        # Text stays text, for the check to refuse with the column named.
        kinds = dict(frame.dtypes)
        features = F.struct(
            *[
                F.col(spec.name).cast("double").alias(spec.name)
                if "double" in str(spec.type) and kinds[spec.name] in WHOLE_NUMBERS
                else F.col(spec.name)
                for spec in schema.inputs
            ]
        )
        answer = frame.select(*(id_cols or []), udf(features).alias("answer"))
        answer = answer.select(*(id_cols or []), "answer.*")
        # MLflow casts a string column holding some None to numpy's str,
        # which writes the text 'None'; a missing reason is null here too.
        for name in (c for c in answer.columns if c.startswith("reason_")):
            answer = answer.withColumn(
                name, F.when(F.col(name) == "None", None).otherwise(F.col(name))
            )
        answer.write.mode("overwrite").parquet(str(output))
        return spark.read.parquet(str(output)).count()
    except Exception as exc:
        if not existed and output.exists():  # no half-written output
            shutil.rmtree(output, ignore_errors=True)
        if isinstance(exc, DataError):
            raise
        # Spark's Py4J errors run to pages; the Python worker's own error is
        # the last line that names one.
        raise DataError(f"Spark could not score: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """What a Spark error says went wrong: the words after the last "Error: "
    or "Exception: " in it (MLflow's schema check puts the column there)."""
    pattern = re.compile(r"(?:Error|Exception): (?=\S)")
    lines = [line for line in str(exc).splitlines() if pattern.search(line)]
    if not lines:
        return first_line(exc, 300)
    return first_line(pattern.split(lines[-1])[-1], 300)
