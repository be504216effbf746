"""A short, human summary of the metrics files, printed at the end of `make pipeline`."""

from __future__ import annotations

import json
from pathlib import Path

from forecast.evaluate import BASELINE, MODEL


def render(metrics_path: Path, slices_path: Path) -> str:
    """Overall model vs seasonal-naive, then WAPE per slice."""
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    slices = json.loads(slices_path.read_text(encoding="utf-8"))
    holdout = metrics["holdout"]
    lines = [
        f"Holdout {holdout['start']} .. {holdout['end']} ({metrics['rows']} rows)",
        f"{'':22}{'WAPE':>8}{'MAE':>9}{'RMSE':>9}{'bias':>8}",
    ]
    for name in (MODEL, BASELINE):
        m = metrics[name]
        lines.append(f"{name:22}{m['wape']:8.3f}{m['mae']:9.2f}{m['rmse']:9.2f}{m['bias']:+8.3f}")
    verdict = "beats" if metrics["skill"]["wape"] > 0 else "does NOT beat"
    lines.append(f"Model {verdict} seasonal-naive: WAPE skill {metrics['skill']['wape']:+.1%}")
    for column, values in slices.items():
        cells = ", ".join(f"{value} {m[MODEL]['wape']:.3f}" for value, m in values.items())
        lines.append(f"WAPE by {column}: {cells}")
    return "\n".join(lines)
