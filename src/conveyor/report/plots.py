"""Render the plots that dvc.yaml declares (top-level `plots:`) to PNG files with matplotlib.

Images stay with the run: a workflow uploads the folder as an artifact. Nothing is sent to an
image host (the complaint CML's users raise about its default).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from conveyor.config import read_yaml
from conveyor.errors import DataError

__all__ = ["plot_specs", "render"]


@dataclass(frozen=True)
class PlotSpec:
    """One plot: its title, template, and the x and y fields of each file."""

    title: str
    template: str
    x: dict[str, str]
    y: dict[str, list[str]]


def plot_specs(dvc_yaml: Path) -> list[PlotSpec]:
    """The plots of ``dvc.yaml`` that name their x and y fields per file."""
    specs = []
    for entry in read_yaml(dvc_yaml).get("plots") or []:
        if not isinstance(entry, dict):
            continue  # a bare file path: DVC's defaults, nothing to render without fields
        for title, definition in entry.items():
            body = definition or {}
            y_fields = (body.get("y") or {}).items()
            y = {f: [v] if isinstance(v, str) else list(v) for f, v in y_fields}
            x_field = body.get("x")
            x = x_field if isinstance(x_field, dict) else dict.fromkeys(y, x_field)
            if y and all(x.get(f) for f in y):
                # every x field is set (just checked): the mapping is what PlotSpec declares
                x_fields = cast("dict[str, str]", x)
                specs.append(PlotSpec(title, body.get("template", "linear"), x_fields, y))
    return specs


def render(specs: list[PlotSpec], root: Path, out_dir: Path) -> list[tuple[str, Path]]:
    """Draw each plot into ``out_dir``; return (title, png path) pairs."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CI runners
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    images = []
    for spec in specs:
        figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
        for file, fields in spec.y.items():
            rows = _read_table(root / file)
            x_values = [row[spec.x[file]] for row in rows]
            for field in fields:
                if spec.template.startswith("bar"):
                    # DVC's horizontal bars: y names the category, x holds the value.
                    categories = [row[field] for row in rows][::-1]
                    axes.barh(categories, [_float(v) for v in x_values][::-1], label=spec.x[file])
                else:
                    values = [_float(row[field]) for row in rows]
                    axes.plot(_axis(x_values), values, label=field)
        _decorate(axes, spec)
        figure.tight_layout()
        target = out_dir / f"{_slug(spec.title)}.png"
        figure.savefig(target)
        plt.close(figure)
        images.append((spec.title, target))
    return images


def _decorate(axes: Any, spec: PlotSpec) -> None:
    axes.set_title(spec.title)
    if spec.template.startswith("bar"):
        axes.set_xlabel(", ".join(sorted(set(spec.x.values()))))
    else:
        axes.set_xlabel(", ".join(sorted(set(spec.x.values()))))
        axes.tick_params(axis="x", labelrotation=30)
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)


def _read_table(path: Path) -> list[dict[str, str]]:
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: only CSV plot files are rendered")
    if not path.is_file():
        raise DataError(f"{path}: plot file does not exist (run the pipeline first)")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def _numeric(values: list[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def _axis(values: list[str]) -> list[Any]:
    numbers = _numeric(values)
    if numbers is not None:
        return numbers
    try:
        import datetime as dt

        return [dt.date.fromisoformat(v) for v in values]
    except ValueError:
        return values


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "plot"
