"""`conveyor check data`: run contracts on data sets in one process, write verdicts and docs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from conveyor.checks.backend import CheckBackend
from conveyor.checks.contract import Contract
from conveyor.checks.dataio import read_frame
from conveyor.checks.report import json_text, markdown
from conveyor.checks.rules import structure_rules, value_rules
from conveyor.checks.verdict import Verdict
from conveyor.files import atomic_path


def check(contract: Contract, data_path: Path, backend: CheckBackend) -> Verdict:
    """Validate the data file at ``data_path`` against one contract."""
    return check_frame(contract, read_frame(data_path, contract), data_path, backend)


def check_frame(
    contract: Contract, frame: pd.DataFrame, origin: Path, backend: CheckBackend
) -> Verdict:
    """Validate a data set already in memory: structure first, then values."""
    columns = [str(c) for c in frame.columns]
    keys = [k for k in contract.key if k in columns]
    results = backend.validate(
        f"{contract.name}.structure", frame, structure_rules(contract, columns), keys
    )
    # Value rules only for columns that exist with the right type: a column of text in place of
    # numbers is one clear type failure, not a cascade of range errors.
    broken = {r.rule.column for r in results if not r.passed and r.rule.column}
    usable = [c for c in contract.columns if c in columns and c not in broken]
    text = [c for c in columns if c not in broken and _is_text(frame[c])]
    results += backend.validate(
        contract.name, frame, value_rules(contract, usable, columns, text), keys
    )
    return Verdict(contract.name, origin, len(frame), results)


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column) or column.dtype == object


def write_outputs(verdicts: list[Verdict], out_dir: Path, backend: CheckBackend) -> None:
    """``<contract>.json`` and ``<contract>.md`` per verdict, and the backend's HTML docs."""
    for verdict in verdicts:
        with atomic_path(out_dir / f"{verdict.contract}.json") as tmp:
            tmp.write_text(json_text(verdict), encoding="utf-8")
        with atomic_path(out_dir / f"{verdict.contract}.md") as tmp:
            tmp.write_text(markdown([verdict]), encoding="utf-8")
    backend.write_docs(out_dir / "docs" / "+".join(v.contract for v in verdicts))
