"""Scale benchmark of `conveyor monitor drift`: 1M and 10M rows x the model's features.

    python benchmarks/drift_scale.py [--sizes 1000000 10000000] [--engines local spark]

Per size, the reference is the feature table benchmarks/pipeline_scale.py builds for that size
(benchmarks/.work/<size>/features.parquet; made here with its generate and prepare steps when
missing), and the current window is a drifted copy of it of the same size (prices +30%,
promotions everywhere), written once with polars' streaming sink. Every model feature is
monitored (club, item, region, category, promo and is_holiday as categories, the rest numeric),
through a copy of params.yaml with that `monitoring.features` (benchmarks/.work/drift_params.yaml).

A child process per size and engine (``--engines``: polars in this process, and Spark local[2]
as `compute.engine: spark` runs it, through a params copy with that `compute:` section) runs the
real command (`conveyor.cli.main(["monitor", "drift", ...])`: statistics, plots, drift.json,
drift.md), times imports (and the Spark session's start) separately, and reports its peak RSS
(on Spark, the JVM's too). A baseline in the same child: reading the monitored columns of both
windows once with polars (the I/O floor), so the report shows the ratio drift-check / read, and
each engine's time is comparable with the other's through it. Both engines must name the same
drifted columns. Targets (local): 10M rows under 60 s and under 4 GB. Figures go to
benchmarks/.work/drift_scale.json. Exit 0 even when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline_scale import (
    BUSY_SHARE,
    PARAMS_FILE,
    WORK,
    _children_cpu_s,
    _machine_busy_s,
    _peak_rss_kib,
    environment,
    label,
    launch,
    step_paths,
)

DEFAULT_SIZES = (1_000_000, 10_000_000)
TARGET_S, TARGET_MB, TARGET_ROWS = 60.0, 4 * 1024, 10_000_000
CATEGORICAL = ("club_id", "item_id", "region", "category", "promo", "is_holiday")
REPORT = WORK / "drift_scale.json"
PACKAGES = ("polars", "numpy", "scipy", "matplotlib", "pyspark")
ENGINES = ("local", "spark")
SPARK = {"engine": "spark", "spark": {"master": "local[2]"}}  # as tests/spark runs it


def bench_params(engine: str = "local") -> Path:
    """A copy of params.yaml whose `monitoring.features` lists every model feature, on
    ``engine`` (its `compute:` section)."""
    import yaml

    from forecast.features import feature_columns
    from forecast.params import load_params

    params = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    columns = feature_columns(load_params(PARAMS_FILE).features)
    params["monitoring"]["features"] = {
        c: "categorical" if c in CATEGORICAL else "numeric" for c in columns
    }
    if engine == "spark":
        params["compute"] = SPARK
    target = WORK / ("drift_params.yaml" if engine == "local" else f"drift_params_{engine}.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return target


def current_path(size: int) -> Path:
    """The drifted copy of the reference, written once (streaming: never whole in memory)."""
    import polars as pl

    reference = step_paths(size)["features"]
    target = reference.with_name("drift_current.parquet")
    if not target.exists() or target.stat().st_mtime < reference.stat().st_mtime:
        pl.scan_parquet(reference).with_columns(
            pl.col("price") * 1.3, pl.lit(1, pl.Int8).alias("promo")
        ).sink_parquet(target)
    return target


def run_check(size: int, params: Path, engine: str = "local") -> dict[str, Any]:
    """Child: time the read baseline and the real `monitor drift` command on ``engine``; report
    peak RSS (this process's, and on Spark the JVM's)."""
    begin = time.perf_counter()
    import polars as pl

    from conveyor.cli import main
    from conveyor.monitor.config import load_monitoring

    imports_s = time.perf_counter() - begin
    session_s, jvm = 0.0, None
    if engine == "spark":
        # Started here as the command starts it (the command then gets this session): its
        # start-up is timed apart from the drift check.
        from conveyor.compute.params import load_compute
        from conveyor.compute.session import spark_session

        start = time.perf_counter()
        spark = spark_session(load_compute(params).spark, "monitor drift")
        session_s = time.perf_counter() - start
        jvm = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    reference, current = step_paths(size)["features"], current_path(size)
    columns = list(load_monitoring(params).features)
    rows = pl.scan_parquet(current).select(pl.len()).collect().item()
    ref_rows = pl.scan_parquet(reference).select(pl.len()).collect().item()

    start = time.perf_counter()
    for path in (reference, current):  # the I/O floor: each monitored column read once
        for column in columns:
            pl.scan_parquet(path).select(column).collect()
    read_s = time.perf_counter() - start

    out = WORK / str(size) / f"drift-{engine}"
    argv = ["monitor", "drift", "--reference", str(reference), "--current", str(current)]
    start = time.perf_counter()
    code = main([*argv, "--out", str(out), "--params", str(params)])
    drift_s = time.perf_counter() - start
    report = json.loads((out / "drift.json").read_text(encoding="utf-8"))
    peak = _peak_rss_kib()
    return {
        "size": size,
        "engine": engine,
        "session_s": round(session_s, 3),
        "jvm_peak_mb": None if jvm is None else round(_jvm_hwm_kib(jvm) / 1024, 1),
        "rows": rows,
        "reference_rows": ref_rows,
        "columns": len(columns),
        "exit_code": code,
        "drifted_columns": report["drifted_columns"],
        "imports_s": round(imports_s, 3),
        "read_s": round(read_s, 3),
        "seconds": round(drift_s, 3),
        "rows_per_s": round(rows / drift_s),
        "peak_mb": round(peak.get("vm_hwm_kib", peak["ru_maxrss_kib"]) / 1024, 1),
    }


def _jvm_hwm_kib(pid: int) -> int:
    """The peak RSS (VmHWM) of the JVM with ``pid``, while it runs."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def launch_check(size: int, params: Path, engine: str = "local") -> dict[str, Any]:
    """Run one size on one engine in a fresh interpreter (so its peak memory is its own)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(size), str(params)]
    command += ["--engine", engine]
    busy_before, child_before = _machine_busy_s(), _children_cpu_s()
    launched = time.time()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.time() - launched
    other = (_machine_busy_s() - busy_before) - (_children_cpu_s() - child_before)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(
            f"drift check at {size:,} rows on {engine} failed (exit {proc.returncode})"
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["other_cpu_share"] = round(max(other, 0.0) / (elapsed * (os.cpu_count() or 1)), 3)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare data, run each size and engine in a child, print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "PARAMS"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, default="local", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_check(int(args.child[0]), Path(args.child[1]), args.engine)))
        return 0

    params = {engine: bench_params(engine) for engine in args.engines}
    results = []
    for size in args.sizes:
        if not step_paths(size)["features"].exists():  # pipeline_scale.py's data, same shape
            for step in ("generate", "prepare"):
                launch(step, size, rounds=1)
        for engine in args.engines:
            print(f"... {label(size)} rows on {engine}", file=sys.stderr, flush=True)
            results.append(launch_check(size, params[engine], engine))

    print(
        f"{'rows':>6} {'engine':>6} {'cols':>4} {'seconds':>8} {'rows/s':>11} {'peak MB':>8} "
        f"{'JVM MB':>7} {'start s':>7} {'read s':>7} {'x read':>6} {'exit':>4}  drifted"
    )
    for r in results:
        jvm = f"{r['jvm_peak_mb']:>7,.0f}" if r["jvm_peak_mb"] is not None else f"{'-':>7}"
        print(
            f"{label(r['size']):>6} {r['engine']:>6} {r['columns']:>4} {r['seconds']:>8.2f} "
            f"{r['rows_per_s']:>11,} {r['peak_mb']:>8,.0f} {jvm} {r['session_s']:>7.1f} "
            f"{r['read_s']:>7.2f} {r['seconds'] / r['read_s']:>6.1f} {r['exit_code']:>4}  "
            f"{', '.join(r['drifted_columns'])}"
        )
        if r["other_cpu_share"] > BUSY_SHARE:
            print(f"       note: other processes used {r['other_cpu_share']:.0%} of the CPU")
    checks: dict[str, Any] = {}
    local = [r for r in results if r["engine"] == "local"]
    if local:
        checks.update(_targets(local))
    by_size = {(r["size"], r["engine"]): r for r in results}
    for size in args.sizes:
        pair = by_size.get((size, "local")), by_size.get((size, "spark"))
        if pair[0] is None or pair[1] is None:
            continue
        ours, theirs = pair
        same = ours["drifted_columns"] == theirs["drifted_columns"]
        ratio = theirs["seconds"] / ours["seconds"]
        checks[f"spark_{size}"] = {"same_verdict": same, "time_x_local": round(ratio, 2)}
        print(
            f"{label(size)}: Spark local[2] took {ratio:.1f}x the local time (session start "
            f"apart), {'the same' if same else 'NOT the same'} drifted columns"
        )
    REPORT.write_text(
        json.dumps(
            {"results": results, "checks": checks, "environment": environment(PACKAGES)},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"figures: {REPORT}")
    return 0


def _targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The local engine's targets at the largest size, and how time scaled with rows."""
    largest = max(results, key=lambda r: r["size"])
    checks = {
        "largest_rows": largest["rows"],
        "seconds_ok": largest["seconds"] < TARGET_S,
        "memory_ok": largest["peak_mb"] < TARGET_MB,
        "at_target_size": largest["size"] >= TARGET_ROWS,
    }
    if len(results) > 1:
        small = min(results, key=lambda r: r["size"])
        checks["time_ratio"] = round(largest["seconds"] / small["seconds"], 2)
        checks["row_ratio"] = round(largest["rows"] / small["rows"], 2)
        print(f"scaling: {checks['row_ratio']}x the rows took {checks['time_ratio']}x the time")
    print(
        f"target at {label(largest['size'])}: {largest['seconds']:.1f} s (< {TARGET_S:.0f} s) "
        f"{'OK' if checks['seconds_ok'] else 'MISSED'}; {largest['peak_mb']:,.0f} MB "
        f"(< {TARGET_MB:,} MB) {'OK' if checks['memory_ok'] else 'MISSED'}"
    )
    return checks


if __name__ == "__main__":
    sys.exit(main())
