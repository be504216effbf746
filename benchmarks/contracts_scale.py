"""Scale benchmark of Great Expectations data-contract validation of raw sales (`check data`).

    python benchmarks/contracts_scale.py [--sizes default 1000000 10000000] [--profile]
                                         [--engines local spark]

Per size, one child process (this script with ``--step data``) generates the raw sales, or reuses
the Parquet file benchmarks/pipeline_scale.py wrote for that size, and writes a benchmark copy of
the contract. A second child (``--step check``) then times, separately: (a) GX's import and the
backend's construction, the fixed start-up cost; (b) reading the data; (c) the validation, and
reports its own peak RSS as JSON on the last line of its stdout (the layout of pipeline_scale.py,
whose helpers it imports). Each engine (``--engines``: this process with pandas, and Spark
local[2] as `compute.engine: spark` runs it) gets its own check child, side by side per size; for
Spark, (a) includes the session's start and (b) is lazy (Spark reads the files during (c)).
``--profile`` runs (c) under cProfile and writes the statistics next to
the data and the figures to contracts_scale.profiled.json: the profiler inflates the times.

"default" is the default data set (10 clubs x 60 items x 1096 days = 657,600 rows); a number
is a row count shaped as pipeline_scale.py shapes it (730 days). Outputs go to benchmarks/.work/
(git-ignored), the figures to benchmarks/.work/contracts_scale.json. The exit code is 0 even when a
target is missed (this is a report) and non-zero on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
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

CONTRACT = ROOT / "policies" / "data" / "raw_sales.yaml"
REPORT = WORK / "contracts_scale.json"
PROFILED_REPORT = WORK / "contracts_scale.profiled.json"  # kept apart: inflated times
DEFAULT = "default"
DEFAULT_SHAPE = (10, 60, 1096)  # params.yaml data.synthetic: clubs, items, days
DEFAULT_SIZES = (DEFAULT, "1000000", "10000000")
VALIDATION_SIZE, VALIDATION_LIMIT_S = "10000000", 60.0
SPARK_RATIO_LIMIT = 3.0  # Spark local[2] within 3x of the local path at 10M rows (issue #20)
ENGINES = ("local", "spark")
DEFAULT_CHECK_LIMIT_S = 20.0
STEP_TIMEOUT_S = 3600
ENV = {"DVC_NO_ANALYTICS": "1", "BENTOML_DO_NOT_TRACK": "true", "GX_ANALYTICS_ENABLED": "False"}


@dataclass(frozen=True)
class DataSet:
    """One benchmark size: its generator shape and where its files live."""

    name: str  # "default" or a requested row count
    n_clubs: int
    n_items: int
    n_days: int
    raw: Path

    @property
    def rows(self) -> int:
        """Rows the generator writes: one per club, item and day."""
        return self.n_clubs * self.n_items * self.n_days

    @property
    def contract(self) -> Path:
        """The benchmark copy of the contract for this size."""
        return self.raw.parent / "raw_sales.yaml"

    @property
    def label(self) -> str:
        """'default', '1M', '10M'."""
        return self.name if self.name == DEFAULT else label(int(self.name))


def data_set(name: str) -> DataSet:
    """The data set for a ``--sizes`` entry; row counts reuse pipeline_scale.py's shape and file."""
    if name == DEFAULT:
        return DataSet(name, *DEFAULT_SHAPE, WORK / DEFAULT / "sales.parquet")
    size = int(name)
    return DataSet(name, *shape_for(size), N_DAYS, step_paths(size)["raw"])


# --------------------------------------------------------------------------- child: data


def prepare_data(data: DataSet) -> dict[str, Any]:
    """Generate the raw sales unless the file exists; write the benchmark copy of the contract."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import yaml

    detail: dict[str, Any] = {"generated": not data.raw.is_file()}
    if detail["generated"]:
        from forecast.generate import generate_sales
        from forecast.params import SyntheticParams, load_params

        data_params = load_params(PARAMS_FILE).data
        synthetic = SyntheticParams.model_validate(
            {
                **data_params.synthetic.model_dump(),
                "n_clubs": data.n_clubs,
                "n_items": data.n_items,
                "n_days": data.n_days,
            }
        )
        start = time.perf_counter()
        sales = generate_sales(synthetic, data_params.holidays_country)
        data.raw.parent.mkdir(parents=True, exist_ok=True)
        sales.write_parquet(data.raw)
        detail["generate_s"] = round(time.perf_counter() - start, 3)
    table = pq.read_table(data.raw, columns=["date"])
    last = pc.max(table["date"]).as_py()

    # The repository's contract fits the default data set only: its row-count band, its allowed
    # clubs and items (10 and 60 of them) and its freshness reference date (2025-12-31). The copy
    # widens the rows to [1, 10 x size], drops `allowed` from club_id and item_id (their regex
    # stays) and sets the reference date to the data's last date, so every rule still runs and
    # the data passes. Distribution bands, ranges and the PII guard are unchanged.
    spec = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    spec["rows"] = {"min": 1, "max": 10 * table.num_rows}
    for column in ("club_id", "item_id"):
        spec["columns"][column].pop("allowed", None)
    spec["freshness"]["reference_date"] = last.isoformat()
    header = (
        f"# Benchmark copy of {CONTRACT.relative_to(ROOT)} ({data.label}): contracts_scale.py\n"
    )
    data.contract.write_text(header + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return {
        "step": "data",
        "size": data.name,
        "rows": table.num_rows,
        "last_date": last.isoformat(),
        "detail": {
            **detail,
            "n_clubs": data.n_clubs,
            "n_items": data.n_items,
            "n_days": data.n_days,
        },
    }


# --------------------------------------------------------------------------- child: check


def _hwm_mb() -> float:
    """Peak RSS so far in MB (VmHWM where /proc exists, else ru_maxrss)."""
    peak = _peak_rss_kib()
    return round(peak.get("vm_hwm_kib", peak["ru_maxrss_kib"]) / 1024, 1)


def _write_profile(profiler: Any, folder: Path) -> Path:
    """Dump the cProfile statistics of the validation and a readable top 40 beside them."""
    import io
    import pstats

    profiler.dump_stats(folder / "check.prof")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(40)
    out = folder / "check_profile.txt"
    out.write_text(text.getvalue(), encoding="utf-8")
    return out


def run_check(data: DataSet, profile: bool, engine: str = "local") -> dict[str, Any]:
    """Time GX start-up, reading and validation of ``data`` in this process (on ``engine``);
    return the figures."""

    from conveyor.checks.contract import load_contract

    contract = load_contract(data.contract)  # before the clock, as the CLI does before GX
    started_at = time.time()
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    # (a) GX's import (inside the constructor) and its ephemeral context: paid once per process.
    from conveyor.checks.gx_backend import GreatExpectationsBackend

    backend = GreatExpectationsBackend()
    spark = None
    if engine == "spark":
        from conveyor.compute.params import SparkSettings
        from conveyor.compute.session import spark_session

        spark = spark_session(SparkSettings(master="local[2]"), "check data")
    started = time.perf_counter()
    hwm = {"startup": _hwm_mb()}
    # (b) reading the data.
    from conveyor.checks.dataio import read_frame, read_spark

    frame = (
        read_frame(data.raw, contract) if spark is None else read_spark(spark, data.raw, contract)
    )
    read = time.perf_counter()
    hwm["read"] = _hwm_mb()
    # (c) the validation alone, on the frame read in (b).
    from conveyor.checks.validate import check_frame

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    verdict = check_frame(contract, frame, data.raw, backend)
    checked = time.perf_counter()
    if profiler is not None:
        profiler.disable()
    hwm["check"] = _hwm_mb()
    detail: dict[str, Any] = {
        "rules": len(verdict.results),
        "failed": [f"{r.rule.id}: {r.observed}" for r in verdict.failures],
        "hwm_after_mb": hwm,
        "profiled": profile,
    }
    if profiler is not None:
        detail["profile"] = str(_write_profile(profiler, data.raw.parent).relative_to(ROOT))
    return {
        "step": "check",
        "size": data.name,
        "engine": engine,
        "rows": verdict.rows,
        "gx_startup_s": round(started - start, 3),
        "read_s": round(read - started, 3),
        "check_s": round(checked - read, 3),
        "seconds": round(checked - start, 3),
        "cpu_s": round(_cpu_seconds() - cpu_start, 3),  # user + system, all threads
        "passed": verdict.passed,
        "started_at": started_at,
        **_peak_rss_kib(),
        "detail": detail,
    }


# --------------------------------------------------------------------------- parent: the report


def launch(step: str, data: DataSet, profile: bool, engine: str = "local") -> dict[str, Any]:
    """Run ``step`` for ``data`` in a fresh interpreter; return its report plus start-up time."""
    command = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--size", data.name]
    command += ["--profile"] if profile else []
    command += ["--engine", engine]
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
    # CPU that other processes used meanwhile: other work on the machine skews the timings.
    other = (_machine_busy_s() - busy_before) - (_children_cpu_s() - child_before)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"step {step} at {data.label} failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["other_cpu_share"] = round(max(other, 0.0) / (elapsed * (os.cpu_count() or 1)), 3)
    if "started_at" in result:
        result["startup_s"] = round(result.pop("started_at") - launched, 3)
        result["peak_mb"] = round(result["ru_maxrss_kib"] / 1024, 1)
        seconds = result["check_s"]
        result["rows_per_s"] = round(result["rows"] / seconds) if seconds else None
    if proc.stderr.strip():  # kept, not echoed: the table is the output
        result["stderr"] = proc.stderr.strip().splitlines()[-20:]
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    """One line per size and engine: start-up of the interpreter, of GX (and Spark), read,
    check, rows/s, peak RSS (of the Python process: Spark's JVM is not in it)."""
    header = ("rows", "py start s", "gx start s", "read s", "check s", "check rows/s", "peak MB")
    print(f"{'size':>7}  {'engine':>6}  {' '.join(f'{h:>12}' for h in header)}  rules")
    for r in results:
        cells = (
            f"{r['rows']:,}",
            f"{r['startup_s']:.2f}",
            f"{r['gx_startup_s']:.2f}",
            f"{r['read_s']:.2f}",
            f"{r['check_s']:.2f}",
            f"{r['rows_per_s']:,}",
            f"{r['peak_mb']:,.0f}",
        )
        verdict = "all passed" if r["passed"] else f"{len(r['detail']['failed'])} failed"
        rules = f"{r['detail']['rules']} ({verdict})"
        size = data_set(r["size"]).label
        print(f"{size:>7}  {r['engine']:>6}  {' '.join(f'{c:>12}' for c in cells)}  {rules}")


def targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The two targets, for the sizes that were run."""
    by = {r["size"]: r for r in results if r["engine"] == "local"}
    on_spark = {r["size"]: r for r in results if r["engine"] == "spark"}
    checks: dict[str, Any] = {}
    if VALIDATION_SIZE in by and VALIDATION_SIZE in on_spark:
        ratio = on_spark[VALIDATION_SIZE]["check_s"] / max(by[VALIDATION_SIZE]["check_s"], 1e-9)
        checks["spark_ratio"] = {
            "size": VALIDATION_SIZE,
            "ratio": round(ratio, 2),
            "limit": SPARK_RATIO_LIMIT,
            "pass": ratio <= SPARK_RATIO_LIMIT,
        }
    if VALIDATION_SIZE in by:
        seconds = by[VALIDATION_SIZE]["check_s"]
        checks["validation"] = {
            "size": VALIDATION_SIZE,
            "rows": by[VALIDATION_SIZE]["rows"],
            "seconds": seconds,
            "limit_s": VALIDATION_LIMIT_S,
            "pass": seconds < VALIDATION_LIMIT_S,
        }
    if DEFAULT in by:
        r = by[DEFAULT]
        seconds = round(r["gx_startup_s"] + r["read_s"] + r["check_s"], 3)
        checks["default_check"] = {
            "rows": r["rows"],
            "gx_startup_s": r["gx_startup_s"],
            "read_s": r["read_s"],
            "check_s": r["check_s"],
            "seconds": seconds,
            "limit_s": DEFAULT_CHECK_LIMIT_S,
            "pass": seconds < DEFAULT_CHECK_LIMIT_S,
        }
    return checks


def print_targets(checks: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """The PASS/FAIL lines, and which sizes failed the contract (they should not)."""
    print()
    if "validation" in checks:
        c = checks["validation"]
        print(
            f"validation of {label(int(c['size']))} rows ({c['rows']:,}): {c['seconds']:.1f} s "
            f"(target < {c['limit_s']:g} s)  {'PASS' if c['pass'] else 'FAIL'}"
        )
    if "spark_ratio" in checks:
        c = checks["spark_ratio"]
        print(
            f"Spark local[2] / local check at {label(int(c['size']))} rows: {c['ratio']:.2f} x "
            f"(target <= {c['limit']:g} x)  {'PASS' if c['pass'] else 'FAIL'}"
        )
    if "default_check" in checks:
        c = checks["default_check"]
        print(
            f"full check of the default data set ({c['rows']:,} rows): {c['seconds']:.1f} s = "
            f"GX start-up {c['gx_startup_s']:.1f} + read {c['read_s']:.1f} + check "
            f"{c['check_s']:.1f} (target < {c['limit_s']:g} s)  {'PASS' if c['pass'] else 'FAIL'}"
        )
    for r in results:
        for failure in r["detail"]["failed"]:
            print(f"note: {data_set(r['size']).label} failed {failure}")


def parse_size(text: str) -> str:
    """A ``--sizes`` entry: 'default' or a row count of at least one series."""
    if text == DEFAULT:
        return text
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'default' nor a row count") from None
    if size < N_DAYS:
        raise argparse.ArgumentTypeError(f"a size must be >= {N_DAYS} rows (one series)")
    return str(size)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments; run one step (child) or the whole benchmark (parent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--profile", action="store_true", help="cProfile the validation")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--engine", choices=ENGINES, default="local", help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=("data", "check"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=parse_size, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.step:
        data = data_set(args.size)
        if args.step == "data":
            result = prepare_data(data)
        else:
            result = run_check(data, args.profile, args.engine)
        print(json.dumps(result))
        return 0

    sets = sorted({data_set(name) for name in args.sizes}, key=lambda d: d.rows)
    prepared, results = [], []
    try:
        for data in sets:
            print(f"... {data.label} data", file=sys.stderr, flush=True)
            prepared.append(launch("data", data, False))
            for engine in args.engines:
                print(f"... {data.label} check on {engine}", file=sys.stderr, flush=True)
                results.append(launch("check", data, args.profile, engine))
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        print(f"contracts_scale: {exc}", file=sys.stderr)
        return 1

    note = ", profiled: times inflated" if args.profile else ""
    print(f"\ncontract validation benchmark: {CONTRACT.relative_to(ROOT)} (benchmark copy){note}\n")
    print_table(results)
    checks = targets(results)
    print_targets(checks, results)
    busiest = max(results, key=lambda r: r["other_cpu_share"])
    if busiest["other_cpu_share"] >= BUSY_SHARE:
        print(
            f"\nnote: other processes used {busiest['other_cpu_share']:.0%} of the machine's CPU "
            f"during the {data_set(busiest['size']).label} check: the times may be skewed"
        )
    env = environment()
    try:
        env["packages"]["great_expectations"] = metadata.version("great_expectations")
    except metadata.PackageNotFoundError:
        env["packages"]["great_expectations"] = None
    report = {
        "contract": str(CONTRACT.relative_to(ROOT)),
        "profiled": args.profile,
        "data": prepared,
        "results": results,
        "checks": checks,
        "environment": env,
    }
    out = PROFILED_REPORT if args.profile else REPORT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
