"""Stage entry points of the forecasting pipeline: `python -m forecast STAGE` (see dvc.yaml)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from conveyor.errors import DataError, UserError
from forecast.params import DEFAULT_PARAMS, PipelineParams, load_params


def _ingest(args: argparse.Namespace, params: PipelineParams) -> str:
    from forecast import ingest

    rows = ingest.run(params.data, args.out)
    return f"ingest: {rows:,} rows ({params.data.source.kind}) -> {args.out}"


def _prepare(args: argparse.Namespace, params: PipelineParams) -> str:
    from conveyor.compute.params import load_compute
    from forecast import features

    # The engine is params.yaml's `compute:` (conveyor's section: the model's params ignore it).
    compute = load_compute(args.params)
    rows = features.run(args.raw, params.features, params.data.holidays_country, args.out, compute)
    return f"prepare: {rows:,} feature rows -> {args.out}"


def _train(args: argparse.Namespace, params: PipelineParams) -> str:
    from forecast import train

    rows = train.run(args.features, params, args.model, args.importance)
    return f"train: {params.train.num_boost_round} rounds on {rows:,} rows -> {args.model}"


def _evaluate(args: argparse.Namespace, params: PipelineParams) -> str:
    from forecast import evaluate

    metrics = evaluate.run(
        args.features, args.model, params.evaluate, args.metrics, args.slices, args.plots
    )
    return (
        f"evaluate: WAPE {metrics['model']['wape']:.3f} "
        f"(seasonal-naive {metrics['seasonal_naive']['wape']:.3f}) -> {args.metrics}"
    )


def _register(args: argparse.Namespace, params: PipelineParams) -> str:
    from forecast import register

    metrics = json.loads(args.metrics.read_text(encoding="utf-8"))
    tag = register.run(args.model, args.raw, metrics, params, args.out)
    return f"register: BentoML model {tag}"


def _bento(args: argparse.Namespace) -> Path | None:
    """--bento, else $BENTO_PATH: BentoML's Dockerfile sets it, so in the service image the
    batch forecasts with the Bento's own model."""
    if args.bento is not None:
        return Path(args.bento)
    return Path(os.environ["BENTO_PATH"]) if os.environ.get("BENTO_PATH") else None


def _batch(args: argparse.Namespace, params: PipelineParams | None) -> str:
    from forecast import batch

    rows, tag = batch.run(
        params, args.out, args.tag_file, args.model, args.raw, args.plan, _bento(args)
    )
    return f"batch: {rows:,} forecasts with {tag} -> {args.out}"


def _packaged_batch(args: argparse.Namespace) -> str | None:
    """The batch with a packaged model (a Bento, the model store), which carries the settings
    it was built with: no params.yaml needed (the image has none). None for the pipeline's."""
    from forecast.batch import needs_params

    return None if needs_params(_bento(args)) else _batch(args, None)


def _summary(args: argparse.Namespace, params: PipelineParams) -> str:
    from forecast import summary

    return summary.render(args.metrics, args.slices)


STAGES: dict[str, tuple[Callable[[argparse.Namespace, PipelineParams], str], dict[str, str]]] = {
    "ingest": (_ingest, {"out": "data/raw/sales.parquet"}),
    "prepare": (
        _prepare,
        {"raw": "data/raw/sales.parquet", "out": "data/features/features.parquet"},
    ),
    "train": (
        _train,
        {
            "features": "data/features/features.parquet",
            "model": "models/model.txt",
            "importance": "plots/feature_importance.csv",
        },
    ),
    "evaluate": (
        _evaluate,
        {
            "features": "data/features/features.parquet",
            "model": "models/model.txt",
            "metrics": "metrics/metrics.json",
            "slices": "metrics/slices.json",
            "plots": "plots",
        },
    ),
    "register": (
        _register,
        {
            "model": "models/model.txt",
            "raw": "data/raw/sales.parquet",
            "metrics": "metrics/metrics.json",
            "out": "models/bentoml_model.json",
        },
    ),
    "batch": (
        _batch,
        {
            "tag-file": "models/bentoml_model.json",
            "model": "models/model.txt",
            "raw": "data/raw/sales.parquet",
            "out": "data/forecasts",
            "plan": "",
            "bento": "",
        },
    ),
    "summary": (_summary, {"metrics": "metrics/metrics.json", "slices": "metrics/slices.json"}),
}


# What each stage option names (the same name means the same file in every stage).
OPTION_HELP = {
    "raw": "raw sales, Parquet",
    "out": "what the stage writes",
    "features": "the feature table, Parquet",
    "model": "the trained LightGBM model",
    "importance": "feature importance, CSV",
    "metrics": "overall metrics, JSON",
    "slices": "metrics per slice, JSON",
    "plots": "folder of plot data",
    "tag-file": "the registered model's tag (JSON the register stage writes)",
    "plan": "Parquet of planned prices and promotions (club_id, item_id, date, price, promo)",
    "bento": "a built Bento folder: forecast with its packaged model (the CronJob's way)",
}


def build_parser() -> argparse.ArgumentParser:
    """One sub-command per pipeline stage, each with its input/output paths as options."""
    parser = argparse.ArgumentParser(prog="python -m forecast", description=__doc__)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params file")
    commands = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (_, paths) in STAGES.items():
        sub = commands.add_parser(name, help=f"run the {name} stage")
        for option, default in paths.items():
            # An empty default: an optional input (None unless given).
            said = f"default: {default}" if default else "optional"
            sub.add_argument(
                f"--{option}",
                type=Path,
                default=Path(default) if default else None,
                help=f"{OPTION_HELP[option]} ({said})",
            )
    return parser


# The Parquet data each stage reads: refused in one line (missing, not Parquet, a footer that
# does not read) before the stage starts, rather than as the reader's traceback midway.
PARQUET_INPUTS = {
    "prepare": ("raw",),
    "train": ("features",),
    "evaluate": ("features",),
    "register": ("raw",),
}
# The other files a stage reads (register records the raw file's md5: a file, not a folder).
FILE_INPUTS = {"evaluate": ("model",), "register": ("model", "metrics", "raw")}
# The files a stage writes: a folder there, or one that cannot be written, is refused in one
# line before the work (it was the writer's traceback after it).
FILE_OUTPUTS = {
    "ingest": ("out",),
    "prepare": ("out",),
    "train": ("model", "importance"),
    "evaluate": ("metrics", "slices"),
    "register": ("out",),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Validate params.yaml, run one stage, print one line; user errors are one line, exit 2."""
    from conveyor.checks.dataio import require_readable
    from conveyor.files import require_writable_file

    args = build_parser().parse_args(argv)
    handler, _ = STAGES[args.stage]
    try:
        for option in PARQUET_INPUTS.get(args.stage, ()):
            require_readable(getattr(args, option), csv=False)
        for option in FILE_INPUTS.get(args.stage, ()):
            path: Path = getattr(args, option)
            if not path.is_file():
                problem = "not a file" if path.exists() else "no such file"
                raise DataError(f"{path}: {problem} ({OPTION_HELP[option]})")
        for option in FILE_OUTPUTS.get(args.stage, ()):
            require_writable_file(getattr(args, option), f"--{option}")
        # Every stage validates params.yaml before any work, but a batch with a packaged model.
        packaged = _packaged_batch(args) if args.stage == "batch" else None
        print(packaged if packaged is not None else handler(args, load_params(args.params)))
    except UserError as error:
        print(f"error: {args.stage}: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
