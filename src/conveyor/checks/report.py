"""Verdicts for people: one terminal line per failed rule, and markdown for pull requests."""

from __future__ import annotations

import json
from typing import Any

from conveyor.checks.backend import RuleResult
from conveyor.checks.verdict import Verdict

MAX_TABLE_ROWS = 50


def terminal_lines(verdict: Verdict) -> list[str]:
    """``FAIL`` lines, worst first, then one summary line."""
    lines = [f"FAIL [{r.rule.severity}] {_sentence(verdict, r)}" for r in verdict.failures]
    state = "passed" if verdict.passed else f"FAILED ({len(verdict.failures)} rule(s))"
    lines.append(
        f"{verdict.contract}: {state}: {len(verdict.results)} rules on {verdict.rows:,} rows "
        f"of {verdict.data}"
    )
    return lines


def _sentence(verdict: Verdict, result: RuleResult) -> str:
    rule = result.rule
    text = f"{verdict.contract}: {rule.id}: expected {rule.expected}; observed {result.observed}"
    if result.sample:
        text += f"; e.g. {_compact(result.sample[0])}"
    return text


def _compact(row: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in row.items())


def markdown(verdicts: list[Verdict]) -> str:
    """A section per contract: headline, failed rules as a table, passing rules folded away."""
    parts = []
    for verdict in verdicts:
        icon = "✅" if verdict.passed else "❌"
        parts.append(
            f"### {icon} `{verdict.contract}`: "
            + ("passed" if verdict.passed else f"{len(verdict.failures)} rule(s) failed")
            + f" ({len(verdict.results)} rules, {verdict.rows:,} rows, `{verdict.data}`)"
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
                parts.append(
                    f"| {rule.severity} | `{rule.id}` | {_cell(rule.expected)} "
                    f"| {_cell(result.observed)} | {_cell(example)} |"
                )
            if len(verdict.failures) > MAX_TABLE_ROWS:
                parts.append(
                    f"\n_{len(verdict.failures) - MAX_TABLE_ROWS} more failed rules in "
                    f"`{verdict.contract}.json`._"
                )
            parts.append("")
        passing = [r for r in verdict.results if r.passed]
        if passing:
            parts.append(f"<details><summary>{len(passing)} passing rules</summary>\n")
            parts += [f"- `{r.rule.id}`: {r.rule.expected}" for r in passing]
            parts += ["", "</details>", ""]
    return "\n".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def json_text(verdict: Verdict) -> str:
    """The verdict as stable JSON text."""
    return json.dumps(verdict.to_json(), indent=2, sort_keys=False, default=str) + "\n"
