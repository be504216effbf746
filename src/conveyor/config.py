"""Load YAML configuration into pydantic models, with errors that name file, key and problem."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from conveyor import files
from conveyor.errors import ConfigError

__all__ = [
    "Count",
    "Number",
    "Strict",
    "bentofile_packages",
    "format_validation_error",
    "load_model",
    "parse_yaml",
    "read_text",
    "read_yaml",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

# A threshold or bound read from a file: a finite number written as a number. `.nan` would make
# every comparison false (a gate that passes everything), `.inf` a bound that is no bound, and
# `true` or "0.5" are typos that lax parsing would silently turn into 1.0 or 0.5.
Number = Annotated[float, pydantic.Strict(), pydantic.AllowInfNan(False)]
# A count read from a file (rows): a whole number, not `true`, "10" or 1.5.
Count = Annotated[int, pydantic.Strict()]


class Strict(BaseModel):
    """The base of every model read from a file (params, contracts, policies, records)."""

    # An unknown key is an error: a misspelt knob or threshold must fail loudly, not silently
    # fall back to its default. Frozen: what was validated is what the run uses.
    model_config = ConfigDict(extra="forbid", frozen=True)


def read_text(path: Path) -> str:
    """The file's text; missing, a folder, unreadable, binary or not UTF-8: a ConfigError."""
    return files.read_text(path, error=ConfigError)


def parse_yaml(path: Path, text: str) -> dict[str, Any]:
    """Parse ``text`` (read from ``path``) as a YAML mapping; bad syntax names line and column."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    except RecursionError:
        # PyYAML composes one Python frame per nesting level; a hostile file must not crash us.
        raise ConfigError(f"{path}: nested too deeply to read as YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {files.kind_of(data)}")
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; missing file, bad syntax or non-mapping: ConfigError."""
    return parse_yaml(path, read_text(path))


# The distribution name that starts a requirement (PEP 508): "polars>=1.20" -> "polars".
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def bentofile_packages(path: Path) -> list[str]:
    """The distribution names of a bentofile's ``python.packages``, in its order: what the
    service needs at run time, declared once (doctor and the build record read it here). None
    declared: an empty list."""
    python = read_yaml(path).get("python") or {}
    if not isinstance(python, dict):
        raise ConfigError(f"{path}: python: expected a mapping, got {files.kind_of(python)}")
    packages = python.get("packages") or []
    if not isinstance(packages, list):
        raise ConfigError(f"{path}: python.packages: expected a list of requirements")
    names = []
    for requirement in packages:
        match = _REQUIREMENT_NAME.match(requirement) if isinstance(requirement, str) else None
        if match is None:
            raise ConfigError(f"{path}: python.packages: not a requirement: {requirement!r}")
        names.append(match.group(1))
    return list(dict.fromkeys(names))


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Line (1-based) of the deepest node on ``loc`` that exists in the YAML ``text``."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((pair for pair in node.value if pair[0].value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def format_validation_error(
    path: Path, error: ValidationError, text: str = "", prefix: tuple[str, ...] = ()
) -> str:
    """Render the first pydantic error as ``file:line: key.path: problem (got value)``."""
    first = error.errors()[0]
    loc = (*prefix, *first["loc"])
    key = ".".join(str(part) for part in loc)
    problem = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        problem = "unknown key (check its spelling, or remove it)"
    elif first["type"] == "missing":
        problem = "required key is missing"
    line = _line_of(text, loc) if text else None
    where = f"{path}:{line}" if line else str(path)
    # A rule across several keys reports at the model's level: its message names the keys.
    detail = f"{where}: {key}: {problem}" if loc else f"{where}: {problem}"
    value = first.get("input")
    # Show the offending value when it is a value; a whole mapping would drown the message.
    if first["type"] not in ("missing", "extra_forbidden") and not isinstance(value, dict | list):
        shown = repr(value)
        detail += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    more = error.error_count() - 1
    if more:
        detail += f" [+{more} more problem{'s' if more > 1 else ''}]"
    return detail


def load_model(path: Path, model: type[ModelT], section: str | None = None) -> ModelT:
    """Validate the YAML file at ``path`` (or one top-level ``section`` of it) against ``model``."""
    text = read_text(path)
    data = parse_yaml(path, text)
    prefix: tuple[str, ...] = ()
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: {section}: required section is missing")
        data, prefix = data[section], (section,)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc, text, prefix)) from None
