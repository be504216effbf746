"""The `prepare` stage on the local engine (polars) and on Spark local[2], side by side.

    python benchmarks/spark_scale.py [--sizes 1000000 10000000] [--driver-memory 4g] [--repeat 3]

For each size, one child process per step (this script with ``--step``): ``data`` generates the
raw sales as pipeline_scale.py shapes them (or reuses its file), ``local`` runs
forecast.features.run, ``spark`` starts a Spark session (timed apart, as start-up) and runs
forecast.features_spark.run_spark: each reads the raw Parquet file and writes the one features
file. The raw file is in key order, as ingest writes it, so ``spark`` takes the path without a
shuffle (its workers read their own row groups); ``shuffle`` runs Spark's path for raw sales in
any other order (the workers' rows range-partitioned by series, sorted) on the same file.
``compare`` then checks that the three files hold the same table (row count, key order at both
ends, each column's null count and sum within 1e-9 relative; tests/spark/ compares every value).

``floor`` measures what any Spark version of the stage pays before computing a single feature, in
one session: reading the raw file and range-partitioning it by series, sorted, to Spark's no-op sink
(timed first, cold, as the stage's first job); the raw file's rows handed to a Python worker as
Arrow, in the stage's batches, without a shuffle (what the path for raw in key order started from
before its workers read the row groups themselves); the shuffled rows handed over likewise (what a
pandas or Arrow UDF starts from); Spark writing the feature table as Parquet (the local engine's
file read, then read and written: the write is the difference); and polars joining those parts into
one file, as the stage does. All but the first run warm (the Python workers started first), which
favours Spark. The printed sums add wall times: lower bounds only if the parts do not overlap
(benchmarks/README.md says what that assumes).

Outputs go to benchmarks/.work/ (git-ignored); the figures to benchmarks/.work/spark_scale.json.
The exit code is 0 when the tables agree, whatever the times (this is a report); non-zero on errors
or on tables that differ.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline_scale import (
    BUSY_SHARE,
    N_DAYS,
    PARAMS_FILE,
    ROOT,
    WORK,
    _children_cpu_s,
    _cpu_seconds,
    _machine_busy_s,
    _peak_rss_kib,
    environment,
    label,
    shape_for,
    step_paths,
)

REPORT = WORK / "spark_scale.json"
DEFAULT_SIZES = (1_000_000, 10_000_000)
MASTER = "local[2]"
# "shuffle": Spark on the same raw file through the path for raw sales in any other order.
STEPS = ("data", "local", "spark", "shuffle", "compare", "floor")
TIMED = ("local", "spark", "shuffle")
STEP_TIMEOUT_S = 3600
TOLERANCE = 1e-9
ENV = {"DVC_NO_ANALYTICS": "1", "BENTOML_DO_NOT_TRACK": "true"}
PACKAGES = ("polars", "pyarrow", "pyspark", "numpy")


def outputs(size: int) -> dict[str, Path]:
    """The raw file (pipeline_scale.py's) and the features file each engine writes."""
    folder = WORK / str(size)
    return {
        "raw": step_paths(size)["raw"],
        "local": folder / "features.local.parquet",
        "spark": folder / "features.spark.parquet",
        "shuffle": folder / "features.shuffle.parquet",
    }


# --------------------------------------------------------------------------- child: one step


def make_data(size: int) -> dict[str, Any]:
    """Generate the raw sales for ``size`` unless pipeline_scale.py (or an earlier run) did."""
    import polars as pl

    raw = outputs(size)["raw"]
    if not raw.is_file():
        from forecast.generate import generate_sales
        from forecast.params import SyntheticParams, load_params

        data = load_params(PARAMS_FILE).data
        clubs, items = shape_for(size)
        shape = {"n_clubs": clubs, "n_items": items, "n_days": N_DAYS}
        synthetic = SyntheticParams.model_validate({**data.synthetic.model_dump(), **shape})
        raw.parent.mkdir(parents=True, exist_ok=True)
        generate_sales(synthetic, data.holidays_country).write_parquet(raw)
    return {"rows": pl.scan_parquet(raw).select(pl.len()).collect().item()}


def _jvm_usage(spark: Any) -> dict[str, float | None]:
    """The Spark driver JVM's peak RSS, and the CPU seconds of the JVM and the processes it
    started (the Python workers of the `prepare` stage: its work, not other processes')."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    usage: dict[str, float | None] = {"jvm_peak_mb": None, "jvm_cpu_s": None}
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return usage
    for line in (proc / "status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            usage["jvm_peak_mb"] = round(int(line.split()[1]) / 1024, 1)
    usage["jvm_cpu_s"] = _tree_cpu_s(pid)
    return usage


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants, with the children each has reaped."""
    total, stack = 0.0, [pid]
    while stack:
        proc = Path(f"/proc/{stack.pop()}")
        try:
            fields = (proc / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            for task in (proc / "task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # ended meanwhile
        total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def run_engine(engine: str, size: int, driver_memory: str) -> dict[str, Any]:
    """Build the features of ``size`` raw rows on ``engine``; time the work and its start-up."""
    from forecast.params import load_params

    params = load_params(PARAMS_FILE)
    paths = outputs(size)
    country, detail = params.data.holidays_country, {}
    started_at = time.time()
    if engine in ("spark", "shuffle"):
        from conveyor.compute.params import SparkSettings
        from conveyor.compute.session import spark_session
        from forecast import features_spark
        from forecast.features_spark import run_spark

        if engine == "shuffle":
            # What raw sales out of key order cost: the check for order is skipped (it stops
            # at once on them) and Spark range-partitions the series, sorted.
            features_spark._in_file_order = lambda *_args: None  # type: ignore[assignment]
        start = time.perf_counter()
        settings = SparkSettings(master=MASTER, conf={"spark.driver.memory": driver_memory})
        spark = spark_session(settings, "benchmark")
        detail["session_s"] = round(time.perf_counter() - start, 3)
        cpu_start, start = _cpu_seconds(), time.perf_counter()
        rows = run_spark(spark, paths["raw"], params.features, country, paths[engine])
        seconds = time.perf_counter() - start
        detail |= {"master": MASTER, "driver_memory": driver_memory}
        detail |= _jvm_usage(spark)
    else:
        from forecast import features

        cpu_start, start = _cpu_seconds(), time.perf_counter()
        rows = features.run(paths["raw"], params.features, country, paths["local"])
        seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 3),
        # Python's CPU only: Spark's work is in the JVM (see other_cpu_share in the parent).
        "python_cpu_s": round(_cpu_seconds() - cpu_start, 3),
        "feature_rows": rows,
        "started_at": started_at,
        **_peak_rss_kib(),
        "detail": detail,
    }


def compare(size: int) -> dict[str, Any]:
    """Each Spark path's features file holds the local table: rows, ends, per-column null counts
    and sums."""
    import polars as pl

    paths = outputs(size)
    frames = {engine: pl.scan_parquet(paths[engine]) for engine in TIMED}
    schemas = {engine: frame.collect_schema() for engine, frame in frames.items()}
    if len({tuple(schema.items()) for schema in schemas.values()}) > 1:
        return {"equal": False, "why": f"schemas differ: {schemas}"}
    numeric = [name for name, dtype in schemas["local"].items() if dtype.is_numeric()]
    summary = [pl.len().alias("_rows")]
    summary += [pl.col(c).null_count().alias(f"{c}.nulls") for c in schemas["local"]]
    summary += [pl.col(c).cast(pl.Float64).sum().alias(f"{c}.sum") for c in numeric]
    summary += [pl.struct("club_id", "item_id", "date").first().alias("_first")]
    summary += [pl.struct("club_id", "item_id", "date").last().alias("_last")]
    got = {
        engine: frame.select(summary).collect().row(0, named=True)
        for engine, frame in frames.items()
    }
    differ = [
        f"{engine}: {name}"
        for engine in TIMED[1:]
        for name, value in got["local"].items()
        if not _close(value, got[engine][name])
    ]
    return {
        "equal": not differ,
        "why": f"differ: {differ}" if differ else "",
        "rows": got["local"]["_rows"],
    }


def floor(size: int, driver_memory: str) -> dict[str, Any]:
    """Spark's fixed costs for the stage at ``size`` (see the module docstring), in seconds."""
    from conveyor.compute.params import SparkSettings
    from conveyor.compute.session import spark_session
    from forecast.features_spark import ARROW_BATCH_ROWS, _arrow_batch_rows, _join
    from forecast.schema import KEYS, SERIES_KEYS

    paths = outputs(size)
    conf = {"spark.driver.memory": driver_memory, "spark.pyspark.python": sys.executable}
    spark = spark_session(SparkSettings(master=MASTER, conf=conf), "benchmark")
    raw = spark.read.parquet(str(paths["raw"]))
    ordered = raw.repartitionByRange(*SERIES_KEYS).sortWithinPartitions(*KEYS)

    def to_noop(frame: Any) -> float:
        start = time.perf_counter()
        frame.write.format("noop").mode("overwrite").save()
        return time.perf_counter() - start

    def consume(batches: Any) -> Any:
        for _ in batches:
            pass
        return iter(())

    shuffle_s = to_noop(ordered)
    # The Python workers started (untimed), so that neither hand-over below pays for it.
    to_noop(spark.range(1).mapInArrow(consume, "id long"))
    with _arrow_batch_rows(spark, ARROW_BATCH_ROWS):  # the stage's batch size
        scan_arrow_s = to_noop(raw.mapInArrow(consume, raw.schema))  # raw in key order
        arrow_s = to_noop(ordered.mapInArrow(consume, ordered.schema))
    features = spark.read.parquet(str(paths["local"]))
    read_s = to_noop(features)
    with tempfile.TemporaryDirectory(dir=paths["local"].parent) as tmp:
        start = time.perf_counter()
        features.write.parquet(str(Path(tmp) / "parts"))
        write_s = time.perf_counter() - start - read_s
        # Joining a table of parts into the one file the later stages read, as the stage does.
        start = time.perf_counter()
        _join(sorted((Path(tmp) / "parts").glob("part-*.parquet")), Path(tmp) / "one.parquet")
        join_s = time.perf_counter() - start
    return {
        "shuffle_s": round(shuffle_s, 3),
        "scan_arrow_s": round(scan_arrow_s, 3),
        "arrow_s": round(arrow_s, 3),
        "write_s": round(write_s, 3),
        "join_s": round(join_s, 3),
    }


def _close(a: Any, b: Any) -> bool:
    """Equal, or floats within TOLERANCE relative."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=0.0)
    return bool(a == b)


def run_step(step: str, size: int, driver_memory: str) -> dict[str, Any]:
    """One step in this process."""
    if step == "data":
        return make_data(size)
    if step == "compare":
        return compare(size)
    if step == "floor":
        return floor(size, driver_memory)
    return run_engine(step, size, driver_memory)


# --------------------------------------------------------------------------- parent: the report


def launch(step: str, size: int, driver_memory: str) -> dict[str, Any]:
    """Run ``step`` in a fresh interpreter; return its JSON report plus start-up and CPU share."""
    command = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--size", str(size)]
    command += ["--driver-memory", driver_memory]
    busy_before, child_before = _machine_busy_s(), _children_cpu_s()
    launched = time.time()
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    elapsed = time.time() - launched
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"step {step} at {size:,} rows failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if "started_at" in result:
        # The JVM is the step's child, not waited for: its CPU is the step's, not "other".
        jvm = result["detail"].get("jvm_cpu_s") or 0.0
        other = (_machine_busy_s() - busy_before) - (_children_cpu_s() - child_before) - jvm
        result["startup_s"] = round(result.pop("started_at") - launched, 3)
        result["other_cpu_share"] = round(max(other, 0.0) / (elapsed * (os.cpu_count() or 1)), 3)
        result["peak_mb"] = round(result["ru_maxrss_kib"] / 1024, 1)
    return result


def fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of an engine's runs, with every run's seconds (this machine is shared: the
    best of a few is the engine's own speed, the spread the machine's noise)."""
    best = min(runs, key=lambda run: run.get("seconds", 0.0))
    return {**best, "runs_s": [run["seconds"] for run in runs]} if "seconds" in best else best


def print_table(rows_by_size: dict[int, int], results: dict[tuple[int, str], Any]) -> None:
    """One line per size: rows, local and Spark seconds and rows/s, the ratio, Spark's start."""
    header = ("size", "raw rows", "local s", "spark s", "spark/local", "shuffle s", "shuffle/local")
    header += ("local rows/s", "spark rows/s", "session s", "JVM peak MB", "same table")
    print(" ".join(f"{h:>12}" for h in header))
    for size, rows in rows_by_size.items():
        local, spark = results[size, "local"], results[size, "spark"]
        shuffle = results[size, "shuffle"]
        cells = (
            label(size),
            f"{rows:,}",
            f"{local['seconds']:.2f}",
            f"{spark['seconds']:.2f}",
            f"{spark['seconds'] / local['seconds']:.2f}x",
            f"{shuffle['seconds']:.2f}",
            f"{shuffle['seconds'] / local['seconds']:.2f}x",
            f"{rows / local['seconds']:,.0f}",
            f"{rows / spark['seconds']:,.0f}",
            f"{spark['detail']['session_s']:.2f}",
            f"{spark['detail']['jvm_peak_mb'] or 0:,.0f}",
            "yes" if results[size, "compare"]["equal"] else "NO",
        )
        print(" ".join(f"{c:>12}" for c in cells))


def print_floor(rows_by_size: dict[int, int], results: dict[tuple[int, str], Any]) -> None:
    """Spark's fixed costs, each as a multiple of the local engine's whole stage, and their sums
    for a version on Spark's functions and one on Python workers (one-file output)."""
    print("\nSpark's floor for the stage, as multiples of the local engine's whole run:")
    header = ("size", "scan to Python", "shuffle", "+ to Python", "write", "join")
    header += ("functions", "workers")
    print(" ".join(f"{h:>14}" for h in header))
    for size in rows_by_size:
        local, floor_s = results[size, "local"]["seconds"], results[size, "floor"]
        scan, shuffle, arrow, write, join = (
            floor_s[k] for k in ("scan_arrow_s", "shuffle_s", "arrow_s", "write_s", "join_s")
        )
        # Spark's functions: shuffle, Spark's writer, the join (computing nothing); Python
        # workers: shuffle and hand-over, polars' own work (its whole local run), the join.
        least = (shuffle + write + join, arrow + local + join)
        cells = [label(size)] + [
            f"{s:.2f} s {s / local:.2f}x" for s in (scan, shuffle, arrow, write, join, *least)
        ]
        print(" ".join(f"{c:>14}" for c in cells))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments; run one step (child) or the whole comparison (parent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory (local mode)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each engine; the fastest is reported"
    )
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any(size < N_DAYS for size in args.sizes):
        parser.error(f"every size must be >= {N_DAYS} (one series)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.step:
        print(json.dumps(run_step(args.step, args.size, args.driver_memory)))
        return 0

    sizes, results, rows_by_size = sorted(set(args.sizes)), {}, {}
    try:
        for size in sizes:
            for step in STEPS:
                print(f"... {label(size)} {step}", file=sys.stderr, flush=True)
                runs = args.repeat if step in TIMED else 1
                results[size, step] = fastest(
                    [launch(step, size, args.driver_memory) for _ in range(runs)]
                )
            rows_by_size[size] = results[size, "data"]["rows"]
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        print(f"spark_scale: {exc}", file=sys.stderr)
        return 1

    print(f"\nprepare on the local engine and on Spark {MASTER}: {N_DAYS} days\n")
    print_table(rows_by_size, results)
    busy = [(k, r["other_cpu_share"]) for k, r in results.items() if "other_cpu_share" in r]
    (size, step), share = max(busy, key=lambda item: item[1])
    if share >= BUSY_SHARE:
        print(
            f"\nnote: other processes used {share:.0%} of the machine's CPU during "
            f"{label(size)} {step}: the times may be skewed"
        )
    report = {
        "master": MASTER,
        "driver_memory": args.driver_memory,
        "n_days": N_DAYS,
        "sizes": sizes,
        "results": [{"size": s, "step": step, **r} for (s, step), r in results.items()],
        "environment": environment(PACKAGES),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_floor(rows_by_size, results)
    print(f"\nfigures: {REPORT.relative_to(ROOT)}")
    differ = [s for s in sizes if not results[s, "compare"]["equal"]]
    for s in differ:
        print(f"spark_scale: {label(s)}: the tables differ: {results[s, 'compare']['why']}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
