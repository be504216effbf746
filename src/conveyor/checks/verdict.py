"""A contract's verdict: all rule results for one data set, worst failure first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.checks.backend import RuleResult
from conveyor.checks.rules import SEVERITY_ORDER


@dataclass(frozen=True)
class Verdict:
    """The outcome of one contract on one data set."""

    contract: str
    data: Path
    rows: int
    results: list[RuleResult]

    @property
    def passed(self) -> bool:
        """True when every rule passed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[RuleResult]:
        """Failed rules, worst first: critical before error, then by share of failing rows."""
        return sorted(
            (r for r in self.results if not r.passed),
            key=lambda r: (
                SEVERITY_ORDER[r.rule.severity],
                -(r.failing_percent or 100.0),
                r.rule.id,
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The machine verdict written to ``<contract>.json``."""
        return {
            "contract": self.contract,
            "data": str(self.data),
            "rows": self.rows,
            "passed": self.passed,
            "rules_checked": len(self.results),
            "rules_failed": len(self.failures),
            "rules": [_rule_json(r) for r in self.failures + [r for r in self.results if r.passed]],
        }


def _rule_json(result: RuleResult) -> dict[str, Any]:
    rule = result.rule
    entry: dict[str, Any] = {
        "id": rule.id,
        "passed": result.passed,
        "severity": rule.severity,
        "column": rule.column,
        "expected": rule.expected,
        "observed": result.observed,
    }
    if result.failing_rows is not None:
        entry["failing_rows"] = result.failing_rows
        entry["failing_percent"] = round(result.failing_percent or 0.0, 6)
    if result.sample and not result.passed:
        entry["sample"] = result.sample
    return entry
