"""Verdicts for people: one terminal line per failed rule, and markdown for pull requests.

Samples have been redacted before they get here (``validate.redact``): what these show of a row is
its key and masked PII. Everything quoted from the data or the contract goes through ``escape``.
"""

from __future__ import annotations

import json
from typing import Any

from conveyor.checks.backend import RuleResult
from conveyor.checks.verdict import Verdict, contract_json
from conveyor.report.escape import code, one_line

__all__ = ["json_text", "markdown", "terminal_lines"]

MAX_TABLE_ROWS = 50


def terminal_lines(verdict: Verdict) -> list[str]:
    """``FAIL`` lines, worst first, then one summary line; each a single line whatever the data
    holds (a value with a newline cannot forge a line, or a workflow command, in a CI log)."""
    lines = [f"FAIL [{r.rule.severity}] {_sentence(verdict, r)}" for r in verdict.failures]
    state = "passed" if verdict.passed else f"FAILED ({len(verdict.failures)} rule(s))"
    lines.append(
        f"{verdict.contract}: {state}: {len(verdict.results)} rules on {verdict.rows:,} rows "
        f"of {one_line(verdict.data)}"
    )
    return lines


def _sentence(verdict: Verdict, result: RuleResult) -> str:
    rule = result.rule
    text = f"{verdict.contract}: {rule.id}: expected {rule.expected}; observed {result.observed}"
    if result.sample:
        text += f"; e.g. {_compact(result.sample[0])}"
    return one_line(text)


def _compact(row: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in row.items())


def markdown(verdicts: list[Verdict]) -> str:
    """A section per contract and data set: headline, failed rules as a table, passing rules
    folded away."""
    parts = []
    for verdict in verdicts:
        icon = "✅" if verdict.passed else "❌"
        parts.append(
            f"### {icon} {code(verdict.contract)}: "
            + ("passed" if verdict.passed else f"{len(verdict.failures)} rule(s) failed")
            + f" ({len(verdict.results)} rules, {verdict.rows:,} rows, {code(verdict.data)})"
        )
        parts.append("")
        if verdict.failures:
            parts += [
                "| severity | rule | expected | observed | example |",
                "|---|---|---|---|---|",
            ]
            for result in verdict.failures[:MAX_TABLE_ROWS]:
                rule = result.rule
                example = _compact(result.sample[0]) if result.sample else ""
                cells = (rule.id, rule.expected, result.observed, example)
                parts.append(
                    f"| {rule.severity} | " + " | ".join(code(c, cell=True) for c in cells) + " |"
                )
            if len(verdict.failures) > MAX_TABLE_ROWS:
                parts.append(
                    f"\n_{len(verdict.failures) - MAX_TABLE_ROWS} more failed rules in "
                    f"{code(verdict.contract + '.json')}._"
                )
            parts.append("")
        passing = [r for r in verdict.results if r.passed]
        if passing:
            parts.append(f"<details><summary>{len(passing)} passing rules</summary>\n")
            parts += [f"- {code(r.rule.id)}: {code(r.rule.expected)}" for r in passing]
            parts += ["", "</details>", ""]
    return "\n".join(parts)


def json_text(verdicts: list[Verdict]) -> str:
    """The verdict file of one contract (every data set it checked) as stable JSON text."""
    return json.dumps(contract_json(verdicts), indent=2, sort_keys=False, default=str) + "\n"
