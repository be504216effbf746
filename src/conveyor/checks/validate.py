"""`conveyor check data`: run contracts on data sets in one process, write verdicts and docs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from conveyor.checks import pii
from conveyor.checks.backend import CheckBackend, RuleResult
from conveyor.checks.contract import Contract
from conveyor.checks.dataio import SchemaConflict, mixed_schema, read_frame, read_spark
from conveyor.checks.rules import Rule, structure_rules, value_rules
from conveyor.checks.tables import Table, table_of
from conveyor.checks.verdict import Verdict
from conveyor.checks.verdict_text import json_text, markdown
from conveyor.errors import UserError
from conveyor.files import atomic_path, require_writable_dir
from conveyor.stored_data import Location

__all__ = ["check", "check_frame", "check_out_dir", "write_outputs"]


def check(
    contract: Contract, data_path: Location, backend: CheckBackend, spark: Any | None = None
) -> Verdict:
    """Validate the data file, folder, Delta table or URL at ``data_path`` against one contract,
    in this process or, given a Spark session, on Spark."""
    conflict = mixed_schema(data_path)
    if conflict is not None:
        return _mixed_schema_verdict(contract, data_path, conflict)
    if spark is None:
        frame = read_frame(data_path, contract)
    else:
        frame = read_spark(spark, data_path, contract)
    return check_frame(contract, frame, data_path, backend)


def _mixed_schema_verdict(
    contract: Contract, origin: Location, conflict: SchemaConflict
) -> Verdict:
    """A folder whose files disagree on a column fails its contract on that column; no other
    rule can be trusted on data read with one file's schema."""
    rule = Rule(
        "table.schema",
        "critical",
        "same_schema",
        "every file with the same columns and types",
        conflict.column,
    )
    result = RuleResult(rule, False, f"{conflict.column}: {conflict.observed}")
    return Verdict(contract.name, origin, conflict.rows, redact([result]))


def check_frame(contract: Contract, frame: Any, origin: Location, backend: CheckBackend) -> Verdict:
    """Validate a data set already loaded (a pandas or Spark DataFrame, or its Table):
    structure first, then values."""
    table = table_of(frame)
    table = table.renamed(_masked_names(table, contract))
    columns = table.columns
    keys = [k for k in contract.key if k in columns]
    results = backend.validate(
        f"{contract.name}.structure", table, structure_rules(contract, columns), keys
    )
    # Value rules only for columns that exist with the right type: a column of text in place of
    # numbers is one clear type failure, not a cascade of range errors.
    broken = {r.rule.column for r in results if not r.passed and r.rule.column}
    usable = [c for c in contract.columns if c in columns and c not in broken]
    text = [c for c in columns if c not in broken and table.is_text(c)]
    results += backend.validate(
        contract.name, table, value_rules(contract, usable, columns, text), keys
    )
    return Verdict(contract.name, origin, table.row_count(), redact(results))


def hashed_id_columns(results: list[RuleResult]) -> set[str]:
    """Columns that identify people (the PII guard's hashed-id rule runs on them)."""
    return {
        r.rule.column for r in results if r.rule.column and r.rule.id.startswith("pii.hashed_id.")
    }


def redact(results: list[RuleResult]) -> list[RuleResult]:
    """Results whose samples and observations hold no personal data (see ``pii.redact``), keys
    included. Done once, here, so the terminal, the markdown and the JSON can only show what is
    left."""
    hashed = hashed_id_columns(results)
    return [
        replace(
            result,
            observed=pii.scrub(result.observed),
            sample=[
                {name: pii.redact(value, name, hashed) for name, value in row.items()}
                for row in result.sample
            ],
        )
        for result in results
    ]


def _masked_names(table: Table, contract: Contract) -> dict[str, str]:
    """New names for the data's columns whose names look like personal data (a data row read as
    the header): the checks, verdicts and data docs then only ever see the masked name. A
    contract's own column names are the team's, and stay."""
    renamed: dict[str, str] = {}
    taken = set(table.columns)
    for position, name in enumerate(table.columns):
        masked = pii.scrub(name)
        if name in contract.columns or masked == name:
            continue
        if masked in taken:  # two names that mask alike stay two columns
            masked = f"{masked} (column {position + 1})"
        renamed[name] = masked
        taken.add(masked)
    return renamed


def check_out_dir(out_dir: Path, contracts: list[str]) -> None:
    """A usage error unless every file ``write_outputs`` would write can be written: checked
    before the (slow) run, so a wrong ``--out`` costs nothing and leaves nothing behind."""
    require_writable_dir(out_dir)
    for target in (out_dir / f"{name}.{ext}" for name in contracts for ext in ("json", "md")):
        if target.exists() and not target.is_file():
            raise UserError(f"--out {out_dir}: {target} exists and is not a file")
    docs = out_dir / "docs"
    if docs.exists() and not docs.is_dir():
        raise UserError(f"--out {out_dir}: {docs} exists and is not a folder")


def write_outputs(verdicts: list[Verdict], out_dir: Path, backend: CheckBackend) -> None:
    """``<contract>.json`` and ``<contract>.md`` per contract, covering every data set it checked
    (passed only if all passed), and the backend's HTML docs."""
    by_contract: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        by_contract.setdefault(verdict.contract, []).append(verdict)
    for name, group in by_contract.items():
        with atomic_path(out_dir / f"{name}.json") as tmp:
            tmp.write_text(json_text(group), encoding="utf-8")
        with atomic_path(out_dir / f"{name}.md") as tmp:
            tmp.write_text(markdown(group), encoding="utf-8")
    backend.write_docs(out_dir / "docs" / "+".join(by_contract))
