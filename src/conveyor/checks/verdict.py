"""A contract's verdict: all rule results for one data set, worst failure first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.checks.backend import RuleResult
from conveyor.checks.rules import SEVERITY_ORDER

__all__ = ["Verdict", "contract_json"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one contract on one data set."""

    contract: str
    data: Path | str  # a str is a URL
    rows: int
    results: list[RuleResult]

    @property
    def passed(self) -> bool:
        """True when every rule passed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[RuleResult]:
        """Failed rules, worst first: critical before error, then by share of failing rows."""
        return sorted((r for r in self.results if not r.passed), key=_worst_first)

    def to_json(self) -> dict[str, Any]:
        """The machine verdict of this one data set (see ``contract_json`` for the file)."""
        return contract_json([self])


def contract_json(verdicts: list[Verdict]) -> dict[str, Any]:
    """The machine verdict written to ``<contract>.json``: one contract on every data set it
    checked in the run, passed only when it passed on all of them.

    One file per contract, whatever the number of data files, so two data sets checked against
    one contract cannot overwrite each other's verdict and the file a release reads is the whole
    truth. Every rule entry names its data file; failures (worst first) come first.
    """
    names = sorted({v.contract for v in verdicts})
    if len(names) != 1:
        raise ValueError(f"one contract per verdict file, got {names}")
    data = [str(v.data) for v in verdicts]
    failures = [(v, r) for v in verdicts for r in v.failures]
    failures.sort(key=lambda pair: _worst_first(pair[1]))
    passing = [(v, r) for v in verdicts for r in v.results if r.passed]
    return {
        "contract": names[0],
        "data": ", ".join(data),
        "data_files": data,
        "rows": sum(v.rows for v in verdicts),
        "passed": all(v.passed for v in verdicts),
        "rules_checked": sum(len(v.results) for v in verdicts),
        "rules_failed": len(failures),
        "rules": [_rule_json(v, r) for v, r in failures + passing],
    }


def _worst_first(result: RuleResult) -> tuple[int, float, str]:
    # Critical before error, then by share of failing rows (unknown counts as all), then by id.
    return (
        SEVERITY_ORDER[result.rule.severity],
        -(result.failing_percent or 100.0),
        result.rule.id,
    )


def _rule_json(verdict: Verdict, result: RuleResult) -> dict[str, Any]:
    rule = result.rule
    entry: dict[str, Any] = {
        "id": rule.id,
        "data": str(verdict.data),
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
