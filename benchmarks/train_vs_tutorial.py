"""Time ``pdflow train`` against a plain MLflow-tutorial script, end to end.

Usage: python benchmarks/train_vs_tutorial.py [--rows 20000 100000] [--repeat 1]

For each row count the CSV is generated once (``pdflow data synthetic --seed
7``); each tool gets its own fresh, initialised SQLite store and runs as a
whole process with its store folder as cwd. Runs alternate between the two
tools; with ``--repeat`` > 1 the median wall time is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TUTORIAL = HERE / "tutorial_script.py"
PDFLOW = Path(sys.executable).parent / "pdflow"


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(
            f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n"
        )
        sys.exit(1)
    return wall, proc.stdout


def last_json(stdout: str) -> dict:
    """The JSON object a command printed (the whole stdout, or its last JSON line)."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        for line in reversed(stdout.strip().splitlines()):
            if line.lstrip().startswith("{"):
                return json.loads(line)
    raise ValueError(f"no JSON in output:\n{stdout}")


def init_store(folder: Path) -> str:
    folder.mkdir(parents=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    code = (
        f"import mlflow; mlflow.set_tracking_uri({uri!r}); mlflow.search_experiments()"
    )
    run([sys.executable, "-c", code], cwd=folder)
    return uri


def bench(rows: int, repeat: int, tmp: Path) -> dict:
    work = tmp / f"rows{rows}"
    work.mkdir()
    csv = work / "data.csv"
    run(
        [
            str(PDFLOW),
            "data",
            "synthetic",
            "--rows",
            str(rows),
            "--seed",
            "7",
            "--out",
            str(csv),
        ],
        cwd=work,
    )

    store_a, store_b = work / "storeA", work / "storeB"
    uri_a, uri_b = init_store(store_a), init_store(store_b)
    pdflow_cmd = [
        str(PDFLOW),
        "train",
        "--data",
        str(csv),
        "--target",
        "default",
        "--tracking-uri",
        uri_a,
        "--json",
    ]
    tutorial_cmd = [sys.executable, str(TUTORIAL), str(csv), "default", uri_b]

    results: dict[str, list] = {"pdflow": [], "tutorial": []}
    for i in range(repeat):
        order = [("pdflow", pdflow_cmd, store_a), ("tutorial", tutorial_cmd, store_b)]
        if i % 2:  # alternate who goes first so neither always runs on a warm cache
            order.reverse()
        for name, cmd, cwd in order:
            wall, out = run(cmd, cwd)
            results[name].append((wall, last_json(out)))
            print(
                f"  rows={rows} run {i + 1}/{repeat} {name}: {wall:.2f}s",
                file=sys.stderr,
                flush=True,
            )

    def median(name: str, key) -> float:
        return statistics.median(key(w, o) for w, o in results[name])

    return {
        "rows": rows,
        "pdflow_wall": median("pdflow", lambda w, o: w),
        "tutorial_wall": median("tutorial", lambda w, o: w),
        "pdflow_auc": results["pdflow"][-1][1]["metrics"]["roc_auc"],
        "tutorial_auc": results["tutorial"][-1][1]["roc_auc"],
        "pdflow_fit": median("pdflow", lambda w, o: o["timings"]["fit_seconds"]),
        "pdflow_mlflow": median("pdflow", lambda w, o: o["timings"]["mlflow_seconds"]),
        "tutorial_fit": median("tutorial", lambda w, o: o["timings"]["fit_seconds"]),
        "tutorial_mlflow": median(
            "tutorial", lambda w, o: o["timings"]["mlflow_seconds"]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pdflow-bench-") as tmp:
        table = [bench(rows, args.repeat, Path(tmp)) for rows in args.rows]

    header = (
        f"{'rows':>8} {'pdflow s':>9} {'tutorial s':>10} {'ratio':>6} "
        f"{'pdflow AUC':>10} {'tut. AUC':>9} {'pd fit s':>9} {'pd mlflow s':>11} "
        f"{'tut fit s':>9} {'tut mlflow s':>12}"
    )
    print(f"median of {args.repeat} run(s) each; wall = whole process")
    print(header)
    print("-" * len(header))
    for r in table:
        print(
            f"{r['rows']:>8} {r['pdflow_wall']:>9.2f} {r['tutorial_wall']:>10.2f} "
            f"{r['pdflow_wall'] / r['tutorial_wall']:>6.2f} "
            f"{r['pdflow_auc']:>10.4f} {r['tutorial_auc']:>9.4f} "
            f"{r['pdflow_fit']:>9.2f} {r['pdflow_mlflow']:>11.2f} "
            f"{r['tutorial_fit']:>9.2f} {r['tutorial_mlflow']:>12.2f}"
        )
    print(f"total benchmark time: {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
