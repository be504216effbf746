"""What training on a sample of series costs in accuracy: full data vs `train.sample` shares.

    python benchmarks/train_sample.py [--shapes 10x60 40x250] [--shares 0.5 0.25 0.1]
                                      [--seeds 42] [--threads 2] [--rounds 300]
                                      [--stratify region category]

For each shape (clubs x items, 1096 days as params.yaml's generator) it generates the sales and
builds the features once, then trains the model (params.yaml, `num_threads` from ``--threads``) on
every training row and on seeded, stratified samples of whole series holding each share of the
rows (`train.sample.max_rows` = share x training rows; `stratify` from params.yaml unless
``--stratify`` names other columns), and scores every model with the
`evaluate` stage on the SAME full holdout (every series). Each training runs in its own child
process (this script with ``--child``), which times `train.run` alone and reads its peak RSS
right after it, before evaluating. Printed: WAPE overall and its ratio to the full model, the
worst slice's ratio (params.yaml `evaluate.slices`), train seconds and peak MB with their ratios,
then WAPE per slice. The load average before and after is printed (a shared machine).

Files go to benchmarks/.work/train_sample/ (git-ignored), figures to
benchmarks/.work/train_sample.json. Exit 0 whatever the figures (a report), non-zero on errors.
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
    PARAMS_FILE,
    ROOT,
    WORK,
    _children_cpu_s,
    _machine_busy_s,
    _peak_rss_kib,
    environment,
)

FOLDER = WORK / "train_sample"
REPORT = WORK / "train_sample.json"
DEFAULT_SHAPES = ("10x60",)
DEFAULT_SHARES = (0.5, 0.25, 0.1)
WAPE_SLACK = 0.02  # the conclusion: the smallest share whose WAPE stays within +2% of the full
CHILD_TIMEOUT_S = 7200


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])


def _shape(text: str) -> tuple[int, int]:
    clubs, items = (int(v) for v in text.lower().split("x"))
    return clubs, items


def _params(
    threads: int,
    rounds: int | None,
    max_rows: int = 0,
    seed: int = 42,
    stratify: list[str] | None = None,
) -> Any:
    from forecast.params import load_params

    base = load_params(PARAMS_FILE)
    sample = base.train.sample.model_copy(
        update={
            "max_rows": max_rows,
            "seed": seed,
            **({"stratify": stratify} if stratify is not None else {}),
        }
    )
    train = base.train.model_copy(
        update={
            "num_threads": threads,
            "sample": sample,
            **({"num_boost_round": rounds} if rounds else {}),
        }
    )
    return base.model_copy(update={"train": train})


def prepare(shape: str) -> dict[str, Any]:
    """Generate the sales and build the features for ``shape`` (kept when already there)."""
    import polars as pl

    from forecast import features
    from forecast.generate import generate_sales
    from forecast.holdout import holdout_start
    from forecast.params import SyntheticParams

    params = _params(1, None)
    folder = FOLDER / shape
    path = folder / "features.parquet"
    if not path.exists():
        clubs, items = _shape(shape)
        synthetic = SyntheticParams.model_validate(
            {**params.data.synthetic.model_dump(), "n_clubs": clubs, "n_items": items}
        )
        folder.mkdir(parents=True, exist_ok=True)
        generate_sales(synthetic, params.data.holidays_country).write_parquet(
            folder / "raw.parquet"
        )
        features.run(folder / "raw.parquet", params.features, params.data.holidays_country, path)
    frame = pl.scan_parquet(path)
    start = holdout_start(frame, params.evaluate.holdout_days)
    counts = frame.select(pl.len(), (pl.col("date") < start).sum()).collect().row(0)
    return {"shape": shape, "feature_rows": counts[0], "training_rows": counts[1]}


def child(
    shape: str,
    share: float,
    seed: int,
    threads: int,
    rounds: int | None,
    stratify: list[str] | None,
) -> dict[str, Any]:
    """Train on ``share`` of the training rows (1: all, no sample); evaluate on every series."""
    from forecast import evaluate, train

    folder = FOLDER / shape
    total = prepare(shape)["training_rows"]
    max_rows = 0 if share >= 1 else int(total * share)
    params = _params(threads, rounds, max_rows, seed, stratify)
    name = f"{share:g}_{seed}_{'-'.join(params.train.sample.stratify)}"
    model = folder / f"model_{name}.txt"
    start = time.perf_counter()
    rows = train.run(folder / "features.parquet", params, model, folder / f"importance_{name}.csv")
    seconds = time.perf_counter() - start
    peak = _peak_rss_kib()  # before evaluate reads the whole table: training's own peak
    metrics = evaluate.run(
        folder / "features.parquet",
        model,
        params.evaluate,
        folder / f"metrics_{name}.json",
        folder / f"slices_{name}.json",
        folder / f"plots_{name}",
    )
    slices = json.loads((folder / f"slices_{name}.json").read_text(encoding="utf-8"))
    return {
        "shape": shape,
        "share": share,
        "seed": seed,
        "max_rows": max_rows,
        "stratify": params.train.sample.stratify,
        "rows": rows,
        "train_s": round(seconds, 2),
        "peak_mb": round(peak["ru_maxrss_kib"] / 1024, 1),
        "wape": metrics["model"]["wape"],
        "holdout_rows": metrics["rows"],
        "slices": {
            f"{column}={value}": m["model"]["wape"]
            for column, values in slices.items()
            for value, m in values.items()
        },
    }


def launch(*args: str) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh interpreter; its JSON report plus the CPU share
    other processes used meanwhile."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    busy, mine, launched = _machine_busy_s(), _children_cpu_s(), time.time()
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S, check=False
    )
    elapsed = time.time() - launched
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"{' '.join(args)} failed (exit {proc.returncode})")
    other = (_machine_busy_s() - busy) - (_children_cpu_s() - mine)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["other_cpu_share"] = round(max(other, 0.0) / (elapsed * (os.cpu_count() or 1)), 2)
    return result


def print_tables(shape: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison with the full model for one shape; returns its conclusion."""
    full = next(r for r in runs if r["share"] >= 1)
    print(
        f"\n{shape}: {full['rows']:,} training rows, holdout {full['holdout_rows']:,} rows "
        f"(every series, every model); samples stratified by {', '.join(full['stratify'])}"
    )
    head = ("share", "seed", "rows", "WAPE", "x full", "worst slice", "train s", "x", "peak MB")
    print(f"{head[0]:>6} {head[1]:>5} {' '.join(f'{h:>11}' for h in head[2:])}  other CPU")
    for r in runs:
        worst = max(r["slices"], key=lambda s: r["slices"][s] / full["slices"][s])
        cells = (
            f"{r['rows']:,}",
            f"{r['wape']:.4f}",
            f"{r['wape'] / full['wape']:.3f}",
            f"{r['slices'][worst] / full['slices'][worst]:.3f}",
            f"{r['train_s']:.1f}",
            f"{r['train_s'] / full['train_s']:.2f}",
            f"{r['peak_mb']:,.0f}",
        )
        share = f"{r['share']:g}"
        print(
            f"{share:>6} {r['seed']:>5} {' '.join(f'{c:>11}' for c in cells)}  "
            f"{r['other_cpu_share']:.0%}  (worst: {worst})"
        )
    slices = list(full["slices"])
    print("\nWAPE per slice / the full model's:")
    print(f"{'share':>6} {'seed':>5} " + " ".join(f"{s.split('=')[1][:11]:>11}" for s in slices))
    for r in runs:
        cells = " ".join(f"{r['slices'][s] / full['slices'][s]:>11.3f}" for s in slices)
        print(f"{r['share']:>6g} {r['seed']:>5} {cells}")
    # The smallest share that, with every larger one, keeps WAPE within the slack for every seed.
    smallest = None
    for share in sorted({r["share"] for r in runs}, reverse=True):
        if any(r["wape"] > full["wape"] * (1 + WAPE_SLACK) for r in runs if r["share"] == share):
            break
        smallest = share
    print(f"\nsmallest share with WAPE within +{WAPE_SLACK:.0%} of the full model: {smallest:g}")
    return {"smallest_share_within_slack": smallest, "slack": WAPE_SLACK}


def _write(report: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments; run one training (child) or the whole comparison (parent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(DEFAULT_SHAPES), help="CLUBSxITEMS")
    parser.add_argument("--shares", type=float, nargs="+", default=list(DEFAULT_SHARES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="sample seeds")
    parser.add_argument("--threads", type=int, default=2, help="LightGBM num_threads")
    parser.add_argument("--rounds", type=int, help="boosting rounds (default: params.yaml)")
    parser.add_argument(
        "--stratify", nargs="*", help="train.sample.stratify (default: params.yaml)"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("SHAPE", "SHARE", "SEED"), help=argparse.SUPPRESS
    )
    parser.add_argument("--prepare", metavar="SHAPE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any(not 0 < s < 1 for s in args.shares):
        parser.error("every --shares value must lie between 0 and 1 (the full model always runs)")

    if args.prepare:
        print(json.dumps(prepare(args.prepare)))
        return 0
    if args.child:
        shape, share, seed = args.child
        result = child(shape, float(share), int(seed), args.threads, args.rounds, args.stratify)
        print(json.dumps(result))
        return 0

    load_before = _load()
    print(f"load average before: {load_before}", flush=True)
    report: dict[str, Any] = {"load_before": load_before, "shapes": {}}
    options = [
        "--threads",
        str(args.threads),
        *(["--rounds", str(args.rounds)] if args.rounds else []),
        *(["--stratify", *args.stratify] if args.stratify is not None else []),
    ]
    try:
        for shape in args.shapes:
            print(f"... {shape} features", file=sys.stderr, flush=True)
            data = launch("--prepare", shape)
            runs = []
            for share, seed in [(1.0, 42)] + [(s, d) for s in args.shares for d in args.seeds]:
                print(f"... {shape} share {share:g} seed {seed}", file=sys.stderr, flush=True)
                runs.append(launch("--child", shape, str(share), str(seed), *options))
            conclusion = print_tables(shape, runs)
            report["shapes"][shape] = {**data, "runs": runs, **conclusion}
            _write(report)  # after each shape: a long run keeps what it measured
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        print(f"train_sample: {exc}", file=sys.stderr)
        return 1
    report |= {"load_after": _load(), "threads": args.threads, "environment": environment()}
    report["stratify"] = args.stratify
    after = report["load_after"]
    print(f"\nload average before: {load_before}; after: {after} ({os.cpu_count()} CPUs)")
    _write(report)
    print(f"figures: {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
