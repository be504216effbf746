"""Load YAML configuration into pydantic models, with errors that name file, key and problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from conveyor.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; missing file, bad syntax or non-mapping: ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def format_validation_error(path: Path, error: ValidationError) -> str:
    """Render the first pydantic error as ``file: key.path: problem (got value)``."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "<root>"
    problem = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        problem = "unknown key (check its spelling, or remove it)"
    elif first["type"] == "missing":
        problem = "required key is missing"
    detail = f"{path}: {key}: {problem}"
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        detail += f" (got {first['input']!r})"
    more = error.error_count() - 1
    if more:
        detail += f" [+{more} more problem{'s' if more > 1 else ''}]"
    return detail


def load_model(path: Path, model: type[ModelT], section: str | None = None) -> ModelT:
    """Validate the YAML file at ``path`` (or one top-level ``section`` of it) against ``model``."""
    data = read_yaml(path)
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: {section}: required section is missing")
        data = data[section]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message = format_validation_error(path, exc)
        if section is not None:
            message = message.replace(f"{path}: ", f"{path}: {section}.", 1)
        raise ConfigError(message) from None
