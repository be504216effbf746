"""Detection and false-alarm rates of `conveyor monitor drift` over generator seeds.

    python benchmarks/drift_detection.py [--seeds 10] [--days 1096]

Per seed s (the default data's shape: params.yaml data.synthetic, --days long), the reference is
the whole data set of seed s and three four-week current windows are compared with it, as the
monitoring job compares the inference log with the training data:

- ordinary: a later window of the same chain (catalogue_seed=s, seed=s+1000: same clubs, items
  and prices, other promotions and demand) - any alarm is a false alarm;
- prices +30%: that window with every price 30% higher - a miss is a missed detection;
- new catalogue: the last weeks of seed s+1000 with its own catalogue (every item's price
  drawn again) - reported, neither right nor wrong.

Each is judged twice, with params.yaml's `monitoring` as it is and with `monitoring.within`
emptied (the pooled KS alone, the baseline measured in the same run). It prints one line per
seed and the rates; exit 0 (a report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from conveyor.monitor import drift  # noqa: E402
from conveyor.monitor.config import load_monitoring  # noqa: E402
from forecast.generate import generate_sales  # noqa: E402
from forecast.params import load_params  # noqa: E402

COLUMNS = ["club_id", "item_id", "date", "price", "promo"]


def _last_days(frame: pl.DataFrame, days: int = 28) -> pl.DataFrame:
    return frame.filter(pl.col("date") > frame["date"].max() - dt.timedelta(days=days))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--days", type=int, default=None, help="days per data set")
    args = parser.parse_args(argv)
    synthetic = load_params(ROOT / "params.yaml").data.synthetic
    shape = {"n_days": args.days or synthetic.n_days}
    monitoring = load_monitoring(ROOT / "params.yaml").model_copy(
        update={"actual": None, "performance": None}
    )
    judges = {"within": monitoring, "pooled": monitoring.model_copy(update={"within": {}})}
    counts = {(judge, case): 0 for judge in judges for case in ("ordinary", "up", "catalogue")}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for seed in range(args.seeds):
            base = synthetic.model_copy(update={**shape, "seed": seed})
            reference = generate_sales(base)
            later = generate_sales(base.model_copy(update={"seed": seed + 1000}))
            same_chain = generate_sales(
                base.model_copy(update={"seed": seed + 1000, "catalogue_seed": seed})
            )
            windows = {
                "ordinary": _last_days(same_chain),
                "up": _last_days(same_chain).with_columns(pl.col("price") * 1.3),
                "catalogue": _last_days(later),
            }
            paths = {"reference": folder / "reference.parquet"}
            reference.select(COLUMNS).write_parquet(paths["reference"])
            for case, frame in windows.items():
                paths[case] = folder / f"{case}.parquet"
                frame.select(COLUMNS).write_parquet(paths[case])
            line = [f"seed {seed}:"]
            for judge, params in judges.items():
                for case in windows:
                    result = drift.run(paths["reference"], paths[case], params)
                    flagged = "price" in result.drifted_columns
                    counts[judge, case] += flagged
                    price = next(c for c in result.columns if c.column == "price")
                    shift = "" if price.key_shift is None else f" shift {price.key_shift:+.3f}"
                    line.append(
                        f"{judge}/{case} {'FLAG' if flagged else 'ok'} KS {price.ks:.3f}{shift}"
                    )
            print("  ".join(line), flush=True)
    n = args.seeds
    print(f"\n{n} seeds, {shape['n_days']} days each, {time.perf_counter() - started:.0f} s")
    for judge in judges:
        print(
            f"{judge:>7}: detection of +30% prices {counts[judge, 'up'] / n:.0%}, "
            f"false alarms on ordinary windows {counts[judge, 'ordinary'] / n:.0%}, "
            f"new catalogue flagged {counts[judge, 'catalogue'] / n:.0%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
