"""The interface a check backend implements, and the result it returns for each rule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conveyor.checks.rules import Rule
from conveyor.checks.tables import Table

__all__ = ["CheckBackend", "RuleResult"]


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule: pass/fail, what was observed, and a few offending rows."""

    rule: Rule
    passed: bool
    observed: str
    failing_rows: int | None = None
    failing_percent: float | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)


class CheckBackend(ABC):
    """Runs rules on a data frame. One instance serves every contract of a process."""

    @abstractmethod
    def validate(
        self, suite: str, table: Table, rules: list[Rule], key_columns: list[str]
    ) -> list[RuleResult]:
        """Evaluate ``rules`` on ``table``; samples of failing rows carry ``key_columns``."""

    def write_docs(self, out_dir: Path) -> Path | None:
        """Write human-readable documentation of the runs so far; return its index, if any."""
        return None
