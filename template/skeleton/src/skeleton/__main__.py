"""The pipeline's stages: `python -m skeleton STAGE` (see dvc.yaml), each one command."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from skeleton import model


def _params(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def ingest(args: argparse.Namespace, params: dict[str, Any]) -> str:
    """Write the raw table (the built-in generator; read your source here)."""
    data = params["data"]
    raw = model.generate(int(data["rows"]), int(data["seed"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw.write_parquet(args.out)
    return f"ingest: {raw.height:,} rows -> {args.out}"


def prepare(args: argparse.Namespace, params: dict[str, Any]) -> str:
    """Features of the raw table."""
    frame = model.features(pl.read_parquet(args.raw), float(params["evaluate"]["holdout_share"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(args.out)
    return f"prepare: {frame.height:,} feature rows -> {args.out}"


def train(args: argparse.Namespace, params: dict[str, Any]) -> str:
    """Fit the model on the training rows."""
    fitted = model.fit(pl.read_parquet(args.features), float(params["train"]["ridge"]))
    model.write_json(args.model, fitted)
    return f"train: {len(fitted['coef'])} coefficients -> {args.model}"


def evaluate(args: argparse.Namespace, _params: dict[str, Any]) -> str:
    """Holdout metrics (metrics.json) and per-segment metrics (slices.json)."""
    fitted = json.loads(args.model.read_text(encoding="utf-8"))
    metrics, slices = model.evaluate(fitted, pl.read_parquet(args.features))
    model.write_json(args.metrics, metrics)
    model.write_json(args.slices, slices)
    model_wape, baseline_wape = metrics["model"]["wape"], metrics["baseline"]["wape"]
    return f"evaluate: WAPE {model_wape:.3f} (baseline {baseline_wape:.3f})"


def register(args: argparse.Namespace, params: dict[str, Any]) -> str:
    """Store the model in BentoML's model store; write its tag for the service and the release."""
    import bentoml  # heavy: only this stage needs it

    metrics = json.loads(args.metrics.read_text(encoding="utf-8"))
    with bentoml.models.create(
        params["model_store"]["model_name"], metadata={"wape": metrics["model"]["wape"]}
    ) as stored:
        shutil.copyfile(args.model, Path(stored.path) / "model.json")
    model.write_json(args.out, {"tag": str(stored.tag), "file": "model.json"})
    return f"register: BentoML model {stored.tag}"


def summary(args: argparse.Namespace, _params: dict[str, Any]) -> str:
    """The metrics of the last run, for people."""
    metrics = json.loads(args.metrics.read_text(encoding="utf-8"))
    return (
        f"holdout rows {metrics['rows']}: model WAPE {metrics['model']['wape']:.3f}, "
        f"baseline WAPE {metrics['baseline']['wape']:.3f}, skill {metrics['skill']['wape']:+.1%}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one stage; a usage error exits 2 (argparse), a missing file exits 1 with one line."""
    parser = argparse.ArgumentParser(prog="python -m skeleton")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    stages = parser.add_subparsers(dest="stage", required=True)
    options = {
        "ingest": ("out",),
        "prepare": ("raw", "out"),
        "train": ("features", "model"),
        "evaluate": ("features", "model", "metrics", "slices"),
        "register": ("model", "metrics", "out"),
        "summary": ("metrics",),
    }
    defaults = {"metrics": "metrics/metrics.json"}
    for stage, names in options.items():
        sub = stages.add_parser(stage)
        for name in names:
            sub.add_argument(
                f"--{name}", type=Path, required=name not in defaults, default=defaults.get(name)
            )
    args = parser.parse_args(argv)
    try:
        print(globals()[args.stage](args, _params(args.params)))
    except (FileNotFoundError, KeyError) as error:
        print(f"{args.stage}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
