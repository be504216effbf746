"""Scale benchmark of the forecasting pipeline: generate -> prepare -> train at 1M and 10M rows.

    python benchmarks/pipeline_scale.py [--sizes 1000000 10000000] [--rounds 50]

Each step runs in its own child process (this script with ``--step``). The child times only the
work itself (interpreter start-up and imports are reported separately) and reports its own peak
RSS as JSON on the last line of its stdout, so the memory figure belongs to that step alone. The
parent imports nothing heavy, so the RSS a forked child inherits before ``exec`` is negligible.

Outputs go to benchmarks/.work/ (git-ignored); the figures to benchmarks/.work/pipeline_scale.json.
The exit code is 0 even when a target is missed (this is a report) and non-zero on errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
PARAMS_FILE = ROOT / "params.yaml"
REPORT = WORK / "pipeline_scale.json"

STEPS = ("generate", "prepare", "train")
DEFAULT_SIZES = (1_000_000, 10_000_000)
DEFAULT_ROUNDS = 50
N_DAYS = 730  # two years: enough for the 364-day lag and a holdout
# Requested rows -> (n_clubs, n_items); other sizes use a club:item ratio near these.
PRESETS = {1_000_000: (10, 137), 10_000_000: (50, 274)}
TIME_SLACK = 1.2  # time may grow 20% faster than rows: 10x the rows within 12x the time
MEMORY_LIMIT_MB = 8 * 1024
STEP_TIMEOUT_S = 3600
BUSY_SHARE = 0.10  # share of CPU used by other processes above which timings are suspect
PACKAGES = ("polars", "numpy", "pandas", "pyarrow", "lightgbm")


# --------------------------------------------------------------------------- child: one step


def shape_for(size: int) -> tuple[int, int]:
    """(n_clubs, n_items) whose product times N_DAYS is as close to ``size`` rows as practical."""
    if size in PRESETS:
        return PRESETS[size]
    series = max(1, round(size / N_DAYS))
    clubs = max(1, round(math.sqrt(series / 5)))
    return clubs, max(1, round(series / clubs))


def step_paths(size: int) -> dict[str, Path]:
    """Where the steps for ``size`` read and write their files."""
    folder = WORK / str(size)
    return {
        "raw": folder / "sales.parquet",
        "features": folder / "features.parquet",
        "model": folder / "model.txt",
        "importance": folder / "importance.csv",
    }


def _peak_rss_kib() -> dict[str, int]:
    """This process's peak RSS: getrusage's ru_maxrss and /proc's VmHWM (both KiB on Linux)."""
    peak = {"ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                peak["vm_hwm_kib"] = int(line.split()[1])
    return peak


def _cpu_seconds() -> float:
    """User plus system CPU time of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_step(step: str, size: int, rounds: int) -> dict[str, Any]:
    """Run one pipeline step for ``size`` rows in this process; return its measurements."""
    # Imported here, not at the top: the parent must stay small (see the module docstring).
    import polars as pl

    from forecast import features, train
    from forecast.generate import generate_sales
    from forecast.params import SyntheticParams, load_params

    base = load_params(PARAMS_FILE)
    params = base.model_copy(
        update={"train": base.train.model_copy(update={"num_boost_round": rounds})}
    )
    country = params.data.holidays_country
    paths = step_paths(size)
    detail: dict[str, Any] = {}
    if step == "prepare":  # counted before the clock starts: the step's input rows
        rows = pl.scan_parquet(paths["raw"]).select(pl.len()).collect().item()

    started_at = time.time()
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    if step == "generate":
        clubs, items = shape_for(size)
        synthetic = SyntheticParams.model_validate(
            {
                **params.data.synthetic.model_dump(),
                "n_clubs": clubs,
                "n_items": items,
                "n_days": N_DAYS,
            }
        )
        sales = generate_sales(synthetic, country)
        detail["generate_s"] = round(time.perf_counter() - start, 3)
        paths["raw"].parent.mkdir(parents=True, exist_ok=True)
        sales.write_parquet(paths["raw"])
        rows = sales.height
        detail |= {"n_clubs": clubs, "n_items": items, "n_days": N_DAYS}
    elif step == "prepare":
        detail["feature_rows"] = features.run(
            paths["raw"], params.features, country, paths["features"]
        )
    elif step == "train":
        rows = train.run(paths["features"], params, paths["model"], paths["importance"])
        detail["num_boost_round"] = rounds
    else:
        raise ValueError(f"unknown step {step!r}")
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    return {
        "step": step,
        "size": size,
        "rows": rows,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 3),  # user + system, all threads: ~2x seconds when both cores work
        "started_at": started_at,
        **_peak_rss_kib(),
        "detail": detail,
    }


# --------------------------------------------------------------------------- parent: the report


def _machine_busy_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (all cores), from /proc/stat."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0.0
    ticks = [int(v) for v in stat.read_text(encoding="ascii").split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """User plus system CPU time of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def launch(step: str, size: int, rounds: int) -> dict[str, Any]:
    """Run ``step`` in a fresh interpreter; return its JSON report plus start-up time."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "BENTOML_DO_NOT_TRACK": "true"}
    command = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--size", str(size)]
    command += ["--rounds", str(rounds)]
    busy_before, child_before = _machine_busy_s(), _children_cpu_s()
    launched = time.time()
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=STEP_TIMEOUT_S, check=False
    )
    elapsed = time.time() - launched
    # CPU that other processes used meanwhile: other work on the machine skews the timings.
    other = (_machine_busy_s() - busy_before) - (_children_cpu_s() - child_before)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"step {step} at {size:,} rows failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["startup_s"] = round(result.pop("started_at") - launched, 3)
    result["other_cpu_share"] = round(max(other, 0.0) / (elapsed * (os.cpu_count() or 1)), 3)
    result["peak_mb"] = round(result["ru_maxrss_kib"] / 1024, 1)
    result["rows_per_s"] = round(result["rows"] / result["seconds"]) if result["seconds"] else None
    if proc.stderr.strip():  # kept, not echoed: the table is the output
        result["stderr"] = proc.stderr.strip().splitlines()[-20:]
    return result


def label(size: int) -> str:
    """1000000 -> '1M', 250000 -> '250k'."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:g}M"
    return f"{size / 1_000:g}k" if size >= 1_000 else str(size)


def print_table(results: list[dict[str, Any]]) -> None:
    """One line per (size, step): rows, work seconds, rows/s, peak RSS, start-up seconds."""
    header = ("size", "step", "rows", "seconds", "rows/s", "peak MB", "startup s")
    print(f"{header[0]:>5}  {header[1]:<8} {' '.join(f'{h:>12}' for h in header[2:])}")
    for r in results:
        cells = (
            f"{r['rows']:,}",
            f"{r['seconds']:.2f}",
            f"{r['rows_per_s']:,}",
            f"{r['peak_mb']:,.0f}",
            f"{r['startup_s']:.2f}",
        )
        print(f"{label(r['size']):>5}  {r['step']:<8} {' '.join(f'{c:>12}' for c in cells)}")


def scaling(results: list[dict[str, Any]], sizes: Sequence[int]) -> dict[str, Any]:
    """Time ratios largest/smallest size for prepare and train, and peak memory at the largest."""
    by = {(r["size"], r["step"]): r for r in results}
    small, large = min(sizes), max(sizes)
    checks: dict[str, Any] = {"time": {}, "memory": {}}
    if small != large:
        row_ratio = by[large, "generate"]["rows"] / by[small, "generate"]["rows"]
        target = round(TIME_SLACK * row_ratio, 1)
        for step in ("prepare", "train"):
            ratio = by[large, step]["seconds"] / by[small, step]["seconds"]
            checks["time"][step] = {
                "ratio": round(ratio, 2),
                "row_ratio": round(row_ratio, 2),
                "target": target,
                "pass": ratio <= target,
            }
    for step in STEPS:
        peak = by[large, step]["peak_mb"]
        checks["memory"][step] = {
            "peak_mb": peak,
            "limit_mb": MEMORY_LIMIT_MB,
            "pass": peak < MEMORY_LIMIT_MB,
        }
    return checks


def print_scaling(checks: dict[str, Any], sizes: Sequence[int]) -> None:
    """The PASS/FAIL lines for the scaling targets."""
    small, large = label(min(sizes)), label(max(sizes))
    print()
    for step, c in checks["time"].items():
        verdict = "PASS" if c["pass"] else "FAIL"
        print(
            f"{step:<8} time {large}/{small}: {c['ratio']:.2f}x for {c['row_ratio']:.2f}x rows "
            f"(target within {c['target']:g}x)  {verdict}"
        )
    for step, c in checks["memory"].items():
        verdict = "PASS" if c["pass"] else "FAIL"
        print(
            f"{step:<8} peak memory at {large}: {c['peak_mb']:,.0f} MB (target < 8 GB)  {verdict}"
        )


def environment(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """Machine and library versions, so figures from different runs can be compared."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": versions,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments; run one step (child) or the whole benchmark (parent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="boosting rounds")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1 or any(size < N_DAYS for size in args.sizes):
        parser.error(f"--rounds must be >= 1 and every size >= {N_DAYS} (one series)")

    if args.step:
        print(json.dumps(run_step(args.step, args.size, args.rounds)))
        return 0

    sizes = sorted(set(args.sizes))
    results = []
    try:
        for size in sizes:
            for step in STEPS:
                print(f"... {label(size)} {step}", file=sys.stderr, flush=True)
                results.append(launch(step, size, args.rounds))
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        print(f"pipeline_scale: {exc}", file=sys.stderr)
        return 1

    print(f"\npipeline scale benchmark: {N_DAYS} days, {args.rounds} boosting rounds\n")
    print_table(results)
    checks = scaling(results, sizes)
    print_scaling(checks, sizes)
    busiest = max(results, key=lambda r: r["other_cpu_share"])
    if busiest["other_cpu_share"] >= BUSY_SHARE:
        print(
            f"\nnote: other processes used {busiest['other_cpu_share']:.0%} of the machine's CPU "
            f"during {label(busiest['size'])} {busiest['step']}: the times may be skewed"
        )
    report = {
        "rounds": args.rounds,
        "n_days": N_DAYS,
        "sizes": sizes,
        "results": results,
        "checks": checks,
        "environment": environment(),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures: {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
