"""Scoring speed: the pyfunc against the raw model, batch files, and HTTP.

Usage: python benchmarks/scoring.py [--rows 1000000] [--http-seconds 10]

Trains LightGBM on a 20,000-loan book in a fresh store, then prints:

1. in-process throughput on ``--rows`` loans: the raw model's
   ``predict_proba`` against the registered pyfunc (PD, grade, score, with and
   without reasons), and their ratio;
2. ``pdflow score`` on a Parquet file of each ``--rows`` count, as a whole
   process: rows per second and the largest peak memory of the processes so
   far (with reasons only up to a million rows);
3. ``pdflow score --engine pandas`` against ``--engine spark`` on the
   smallest row count;
4. ``pdflow serve`` on loopback: p50/p95/p99 latency of single-loan and
   1,000-loan requests, and requests per second from 8 concurrent clients.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import mlflow

import pdflow
from pdflow.data import make_loanbook

PDFLOW = Path(sys.executable).parent / "pdflow"
DROP = ["default", "true_pd"]


def book(rows: int, seed: int):
    return make_loanbook(rows, seed=seed).drop(columns=DROP)


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def in_process(uri: str, loans) -> None:
    raw = mlflow.sklearn.load_model(uri)
    pyfunc = mlflow.pyfunc.load_model(uri)
    n = len(loans)
    t_raw = timed(lambda: raw.predict_proba(loans))
    t_fast = timed(lambda: pyfunc.predict(loans, params={"reasons": False}))
    t_full = timed(lambda: pyfunc.predict(loans), repeat=1)
    print(f"\nin process, {n:,} loans (best of 3)")
    print(f"  raw predict_proba        {n / t_raw:12,.0f} rows/s")
    print(
        f"  pyfunc, no reasons       {n / t_fast:12,.0f} rows/s   "
        f"ratio {t_raw / t_fast:.0%}"
    )
    print(
        f"  pyfunc, with reasons     {n / t_full:12,.0f} rows/s   "
        f"ratio {t_raw / t_full:.0%}"
    )


def batch(uri: str, store: str, folder: Path, rows: int) -> None:
    source = folder / f"book-{rows}.parquet"
    parts = []
    for i, start in enumerate(range(0, rows, 1_000_000)):
        part = book(min(1_000_000, rows - start), seed=100 + i)
        parts.append(part)
    import pandas as pd

    pd.concat(parts, ignore_index=True).to_parquet(source, index=False)
    del parts
    # Reasons cost one more scoring pass per feature (LightGBM's pred_contrib
    # here): past a million rows only the PD is timed.
    for reasons in ("--no-reasons", "--reasons")[: 2 if rows <= 1_000_000 else 1]:
        out = folder / f"scored-{rows}.parquet"
        command = [
            PDFLOW, "score", "--model-uri", uri, "--input", source, "--output", out,
            reasons, "--tracking-uri", store, "--json",
        ]  # fmt: skip
        started = time.perf_counter()
        peak = peak_rss_mib(command)
        wall = time.perf_counter() - started
        print(
            f"  pdflow score {rows:>11,} rows {reasons:<12} {wall:7.1f} s  "
            f"{rows / wall:10,.0f} rows/s  peak RSS {peak:,.0f} MiB"
        )


def peak_rss_mib(command: list) -> float:
    """Run ``command`` in a fresh watcher process; return the command's peak RSS."""
    watcher = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, capture_output=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", watcher, *map(str, command)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(done.stdout.split()[-1]) / 1024


def spark(uri: str, store: str, folder: Path, rows: int) -> None:
    """The same Parquet file through both engines, each as a whole process."""
    source = folder / f"book-ids-{rows}.parquet"
    if not source.exists():
        loans = book(rows, seed=100)
        loans.insert(0, "loan_id", range(rows))  # Spark's output needs ids
        loans.to_parquet(source, index=False)
    for engine in ("pandas", "spark"):
        out = folder / f"{engine}-{rows}.parquet"
        command = [
            PDFLOW, "score", "--engine", engine, "--model-uri", uri, "--input", source,
            "--output", out, "--no-reasons", "--id-cols", "loan_id",
            "--tracking-uri", store, "--json",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - started
        print(f"  --engine {engine:<7} {rows:>11,} rows {wall:7.1f} s  "
              f"{rows / wall:10,.0f} rows/s")  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: bytes) -> float:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100)
    return f"p50 {q[49]:6.1f} ms  p95 {q[94]:6.1f} ms  p99 {q[98]:6.1f} ms"


def http(uri: str, store: str, loans, seconds: float, workers: int) -> None:
    port = free_port()
    server = subprocess.Popen(
        [PDFLOW, "serve", "--model-uri", uri, "--port", str(port),
         "--workers", str(workers), "--tracking-uri", store],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/ping", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        url = f"{base}/invocations"
        one = json.dumps(
            {"dataframe_records": json.loads(loans.head(1).to_json(orient="records"))}
        ).encode()
        many = json.dumps(
            {"dataframe_split": json.loads(loans.head(1000).to_json(orient="split"))}
        ).encode()
        for _ in range(20):
            post(url, one)
        print(f"\nHTTP on loopback, {workers} server worker(s)")
        print(f"  1 loan      {percentiles([post(url, one) for _ in range(300)])}")
        print(f"  1,000 loans {percentiles([post(url, many) for _ in range(40)])}")

        done = []
        stop = time.monotonic() + seconds

        def client() -> None:
            while time.monotonic() < stop:
                done.append(post(url, one))

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(
            f"  8 clients, 1 loan each: {len(done) / seconds:,.0f} requests/s, "
            f"{percentiles(done)}"
        )
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--http-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="pdflow serve's")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["memory", "batch", "spark", "http"],
        choices=["memory", "batch", "spark", "http"],
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = f"sqlite:///{folder / 'mlflow.db'}"
        trained = pdflow.train(
            "loanbook", rows=20_000, seed=1, model="lgbm", tracking_uri=store
        )
        uri = trained.model_uri
        loans = book(min(args.rows), seed=7)
        if "memory" in args.parts:
            in_process(uri, loans)
        if "batch" in args.parts:
            print("\nbatch files, whole processes")
            for rows in args.rows:
                batch(uri, store, folder, rows)
        if "spark" in args.parts:
            print("\npandas against Spark (local[2]), whole processes, no reasons")
            spark(uri, store, folder, min(args.rows))
        if "http" in args.parts:
            http(uri, store, loans, args.http_seconds, args.workers)


if __name__ == "__main__":
    main()
