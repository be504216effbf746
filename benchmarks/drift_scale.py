"""Scale benchmark of `conveyor monitor drift`: 1M and 10M rows x the model's features.

    python benchmarks/drift_scale.py [--sizes 1000000 10000000]

Per size, the reference is the feature table benchmarks/pipeline_scale.py builds for that size
(benchmarks/.work/<size>/features.parquet; made here with its generate and prepare steps when
missing), and the current window is a drifted copy of it of the same size (prices +30%,
promotions everywhere), written once with polars' streaming sink. Every model feature is
monitored (club, item, region, category, promo and is_holiday as categories, the rest numeric),
through a copy of params.yaml with that `monitoring.features` (benchmarks/.work/drift_params.yaml).

A child process per size runs the real command (`conveyor.cli.main(["monitor", "drift", ...])`:
statistics, plots, drift.json, drift.md), times imports separately, and reports its peak RSS. A
baseline in the same child: reading the monitored columns of both windows once (the I/O floor),
so the report shows the ratio drift-check / read. Targets: 10M rows under 60 s and under 4 GB.
Figures go to benchmarks/.work/drift_scale.json. Exit 0 even when a target is missed.
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
PACKAGES = ("polars", "numpy", "scipy", "matplotlib")


def bench_params() -> Path:
    """A copy of params.yaml whose `monitoring.features` lists every model feature."""
    import yaml

    from forecast.features import feature_columns
    from forecast.params import load_params

    params = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    columns = feature_columns(load_params(PARAMS_FILE).features)
    params["monitoring"]["features"] = {
        c: "categorical" if c in CATEGORICAL else "numeric" for c in columns
    }
    target = WORK / "drift_params.yaml"
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


def run_check(size: int, params: Path) -> dict[str, Any]:
    """Child: time the read baseline and the real `monitor drift` command; report peak RSS."""
    begin = time.perf_counter()
    import polars as pl

    from conveyor.cli import main
    from conveyor.monitor.config import load_monitoring

    imports_s = time.perf_counter() - begin
    reference, current = step_paths(size)["features"], current_path(size)
    columns = list(load_monitoring(params).features)
    rows = pl.scan_parquet(current).select(pl.len()).collect().item()
    ref_rows = pl.scan_parquet(reference).select(pl.len()).collect().item()

    start = time.perf_counter()
    for path in (reference, current):  # the I/O floor: each monitored column read once
        for column in columns:
            pl.scan_parquet(path).select(column).collect()
    read_s = time.perf_counter() - start

    out = WORK / str(size) / "drift"
    argv = ["monitor", "drift", "--reference", str(reference), "--current", str(current)]
    start = time.perf_counter()
    code = main([*argv, "--out", str(out), "--params", str(params)])
    drift_s = time.perf_counter() - start
    report = json.loads((out / "drift.json").read_text(encoding="utf-8"))
    peak = _peak_rss_kib()
    return {
        "size": size,
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


def launch_check(size: int, params: Path) -> dict[str, Any]:
    """Run one size in a fresh interpreter (so its peak memory is its own)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(size), str(params)]
    busy_before, child_before = _machine_busy_s(), _children_cpu_s()
    launched = time.time()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.time() - launched
    other = (_machine_busy_s() - busy_before) - (_children_cpu_s() - child_before)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"drift check at {size:,} rows failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["other_cpu_share"] = round(max(other, 0.0) / (elapsed * (os.cpu_count() or 1)), 3)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare data, run each size in a child, print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_check(int(args.child[0]), Path(args.child[1]))))
        return 0

    params = bench_params()
    results = []
    for size in args.sizes:
        if not step_paths(size)["features"].exists():  # pipeline_scale.py's data, same shape
            for step in ("generate", "prepare"):
                launch(step, size, rounds=1)
        results.append(launch_check(size, params))

    print(
        f"{'rows':>6} {'cols':>4} {'seconds':>8} {'rows/s':>11} {'peak MB':>8} "
        f"{'read s':>7} {'x read':>6} {'exit':>4}  drifted"
    )
    for r in results:
        print(
            f"{label(r['size']):>6} {r['columns']:>4} {r['seconds']:>8.2f} {r['rows_per_s']:>11,} "
            f"{r['peak_mb']:>8,.0f} {r['read_s']:>7.2f} {r['seconds'] / r['read_s']:>6.1f} "
            f"{r['exit_code']:>4}  {', '.join(r['drifted_columns'])}"
        )
        if r["other_cpu_share"] > BUSY_SHARE:
            print(f"       note: other processes used {r['other_cpu_share']:.0%} of the CPU")
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


if __name__ == "__main__":
    sys.exit(main())
