"""Speed of the batch forecast (`python -m forecast batch`, the CronJob's command): every series x
28 days for the default data (600 series: 16,800 rows), 1M and 10M output rows.

    python benchmarks/batch_speed.py [--sizes default 1000000 10000000] [--limit-gb 12]
        [--baseline main] [--cold]

Each size is run as the service image runs it: a Bento's layout (bento.yaml, models/NAME/VERSION/
holding the bundle register writes) and `python -m forecast batch --bento DIR --out DIR` in a
child process, timed from the parent (interpreter start and imports included) with the child's
peak RSS (VmHWM, polled from /proc; the child is stopped if it passes --limit-gb, so a shared
machine is not pushed out of memory: the report then says "stopped"). The model is trained once
on the default data (params.yaml); larger sizes keep its clubs' history and add clubs (copies of
the generated ones under new ids: the same per-series work) until series x 28 reaches the size
(10M: 596 copies of 600 series, 10,012,800 rows).
A bundle keeps the last `history_days` (371) days of every series, so 10M output rows means
357,143 series and 132M history rows to compute lags and rolling windows from.
The trees are compiled once per model (forecast/compiled.py) into benchmarks/.work/batch/cache
($CONVEYOR_CACHE_DIR of the child): the first run of a model pays for the compile, later ones load
it; --cold empties that folder before every run, as a CronJob pod without a kept cache runs.
--baseline REF runs each size first with the code of git REF (its src/, exported with `git
archive`, first on the child's PYTHONPATH) and then with this tree's, back to back, and prints the
ratio: the machine is shared, so a ratio measured in one run says more than two runs' figures.
Targets: 10M rows within 60 s and 4 GB on 2 cores. Figures: benchmarks/.work/batch_speed.json.
Exit 0 even when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline_scale import PARAMS_FILE, WORK, _machine_busy_s, environment, label

ROOT = Path(__file__).resolve().parents[1]
BENCH = WORK / "batch"
REPORT = WORK / "batch_speed.json"
TARGET_S, TARGET_MB, TARGET_ROWS = 60.0, 4 * 1024, 10_000_000
PACKAGES = ("polars", "numpy", "pyarrow", "lightgbm", "lleaves", "llvmlite")


def default_inputs() -> tuple[Path, Path]:
    """The default data's raw sales and a model trained on them (params.yaml), made once."""
    from forecast import train
    from forecast.features import build_features
    from forecast.generate import generate_sales
    from forecast.params import load_params

    raw, model = BENCH / "default" / "sales.parquet", BENCH / "default" / "model.txt"
    if model.is_file():
        return raw, model
    params = load_params(PARAMS_FILE)
    raw.parent.mkdir(parents=True, exist_ok=True)
    sales = generate_sales(params.data.synthetic, params.data.holidays_country)
    sales.write_parquet(raw)
    features = raw.with_name("features.parquet")
    build_features(sales, params.features, params.data.holidays_country).write_parquet(features)
    train.run(features, params, model, raw.with_name("importance.csv"))
    return raw, model


def bento(size: str, raw: Path, model: Path) -> tuple[Path, int]:
    """A Bento layout whose model's history holds enough series for ``size`` output rows; the
    expected row count. Copies of the default clubs under new ids, written streaming."""
    import polars as pl
    import yaml

    from forecast.forecaster import HISTORY_FILE, bundle_digest, write_bundle
    from forecast.params import load_params

    params = load_params(PARAMS_FILE)
    horizon = params.features.horizon_days
    folder = BENCH / size / "bento"
    if (folder / "rows.json").is_file():
        return folder, json.loads((folder / "rows.json").read_text())["rows"]
    shutil.rmtree(folder, ignore_errors=True)
    bundle = folder / "models" / "demand_forecaster" / "building"
    bundle.mkdir(parents=True)
    write_bundle(bundle, model, raw, params.features, params.data.holidays_country, 21)
    history = pl.scan_parquet(bundle / HISTORY_FILE)
    series = history.select(pl.struct("club_id", "item_id").n_unique()).collect().item()
    if size != "default":
        # Whole copies of every club under new ids (x000_club_001, ...): each copy is sorted as
        # write_bundle sorts, and the prefixes keep the concatenation sorted (no sort of 132M rows).
        copies = math.ceil(int(size) / horizon / series)
        pl.concat(
            [
                history.with_columns((pl.lit(f"x{copy:03d}_") + pl.col("club_id")).alias("club_id"))
                for copy in range(copies)
            ]
        ).sink_parquet(bundle / "history.tmp")
        (bundle / "history.tmp").replace(bundle / HISTORY_FILE)
        series *= copies
    version = bundle_digest(bundle)
    bundle.rename(bundle.with_name(version))
    services = [{"name": "demand_forecaster", "models": [{"tag": f"demand_forecaster:{version}"}]}]
    (folder / "bento.yaml").write_text(yaml.safe_dump({"services": services}))
    (folder / "rows.json").write_text(json.dumps({"rows": series * horizon}))
    return folder, series * horizon


def _vm(pid: int, key: str) -> int:
    """A VmXXX field of /proc/PID/status in KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def baseline_source(ref: str) -> Path:
    """The src/ folder of git ``ref``, exported (not checked out: the work tree stays as it is)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    # outside the repository: tests that read every .py file under it must not meet a copy
    folder = Path(tempfile.gettempdir()) / f"conveyor-batch-baseline-{commit}"
    if not (folder / "src").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit, "src"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def run_batch(
    folder: Path, rows: int, limit_kib: int, source: Path | None = None, cold: bool = False
) -> dict[str, Any]:
    """`python -m forecast batch --bento` in a child (with the code in ``source`` when given):
    wall time, peak RSS, rows written, the predictor it reported, the load average."""
    out = folder.parent / "forecasts"
    command = [sys.executable, "-m", "forecast", "batch", "--bento", str(folder), "--out", str(out)]
    cache = BENCH / "cache"
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "CONVEYOR_CACHE_DIR": str(cache)}
    env.pop("CONVEYOR_MODEL_TAG", None)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")]).rstrip(":")
    load = os.getloadavg()[0]
    busy_before = _machine_busy_s()
    start = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=folder.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    peak, stopped = 0, False
    while child.poll() is None:
        peak = max(peak, _vm(child.pid, "VmHWM"))
        if peak > limit_kib:
            child.kill()
            stopped = True
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    stdout, stderr = child.communicate()
    busy = _machine_busy_s() - busy_before
    result: dict[str, Any] = {
        "rows": rows,
        "seconds": round(seconds, 2),
        "peak_mb": round(peak / 1024),
        "exit_code": child.returncode,
        "stopped_at_limit": stopped,
        "machine_cpu_share": round(busy / (seconds * (os.cpu_count() or 1)), 2),
        "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)],  # before, after
        "code": "this tree"
        if source is None
        else source.parent.name.removeprefix("conveyor-batch-"),
        "predictor": next(
            (line for line in stderr.splitlines() if line.startswith("batch: predicted")), ""
        ),
    }
    if child.returncode == 0:
        import polars as pl

        written = pl.scan_parquet(out / "*" / "*.parquet").select(pl.len()).collect().item()
        result |= {
            "written": written,
            "rows_per_s": round(written / seconds),
            "line": stdout.strip(),
        }
    else:
        result["error"] = (stderr.strip().splitlines() or ["(killed)"])[-1]
    shutil.rmtree(out, ignore_errors=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Build the inputs, run each size once, print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", nargs="+", default=["default", "1000000", "10000000"])
    parser.add_argument("--limit-gb", type=float, default=12.0, help="stop a child above this")
    parser.add_argument("--baseline", metavar="REF", help="also run git REF's code, before ours")
    parser.add_argument("--cold", action="store_true", help="no compiled trees kept between runs")
    args = parser.parse_args(argv)
    raw, model = default_inputs()
    source = baseline_source(args.baseline) if args.baseline else None
    limit = int(args.limit_gb * 2**20)
    results, baselines = [], []
    for size in args.sizes:
        folder, rows = bento(size, raw, model)
        if source is not None:
            baselines.append({"size": size, **run_batch(folder, rows, limit, source)})
            print(json.dumps(baselines[-1]), flush=True)
        result = {"size": size, **run_batch(folder, rows, limit, cold=args.cold)}
        results.append(result)
        print(json.dumps(result), flush=True)
    print(
        f"{'size':>8} {'code':>15} {'rows':>11} {'seconds':>8} {'rows/s':>10} {'peak MB':>8} "
        f"{'cpu':>5} {'load':>10}"
    )
    for r in [*baselines, *results]:
        name = r["size"] if r["size"] == "default" else label(int(r["size"]))
        print(
            f"{name:>8} {r['code']:>15} {r['rows']:>11,} {r['seconds']:>8.1f} "
            f"{r.get('rows_per_s', 0):>10,} {r['peak_mb']:>8,} {r['machine_cpu_share']:>5.0%} "
            f"{r['load_1min'][0]:>4.1f}-{r['load_1min'][1]:<4.1f}"
            + ("" if r["exit_code"] == 0 else f"  FAILED: {r.get('error')}")
        )
    for base, ours in zip(baselines, results, strict=False):  # no baseline: nothing
        if base["exit_code"] == ours["exit_code"] == 0:
            print(
                f"{base['size']}: {base['code']} {base['seconds']:.1f} s -> this tree "
                f"{ours['seconds']:.1f} s ({base['seconds'] / ours['seconds']:.1f}x)"
            )
    largest = max(results, key=lambda r: r["rows"])
    checks = {
        "at_target_size": largest["rows"] >= TARGET_ROWS,
        "seconds_ok": largest["exit_code"] == 0 and largest["seconds"] <= TARGET_S,
        "memory_ok": largest["exit_code"] == 0 and largest["peak_mb"] <= TARGET_MB,
    }
    print(
        f"target at {largest['rows']:,} rows: {largest['seconds']:.1f} s (<= {TARGET_S:.0f} s) "
        f"{'OK' if checks['seconds_ok'] else 'MISSED'}; {largest['peak_mb']:,} MB "
        f"(<= {TARGET_MB:,} MB) {'OK' if checks['memory_ok'] else 'MISSED'}"
    )
    REPORT.write_text(
        json.dumps(
            {
                "results": results,
                "baselines": baselines,
                "checks": checks,
                "environment": environment(PACKAGES),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"figures: {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
