"""Data text reaches the GX data docs (an HTML artifact of ml-ci) as text, never as markup:
failing values, data column names, contract column names, allowed values and regexes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

# Built at run time so each payload is unique and its escaped form is known.
PAYLOADS = {
    "value": "<img src=y onerror=alert(1)>",
    "data_column": "<b id=col>x</b>",
    "contract_column": "<svg onload=alert(3)>",
    "allowed": "<i>c</i>",
    "regex": "^<script>$",
}


def test_check_data_docs_show_markup_in_data_as_text(tmp_path: Path) -> None:
    contract = tmp_path / "c.yaml"
    contract.write_text(
        "name: people\nkey: [row]\ncolumns:\n  row: {type: integer}\n"
        f"  notes: {{type: string, allowed: ['{PAYLOADS['allowed']}']}}\n"
        f"  code: {{type: string, regex: '{PAYLOADS['regex']}'}}\n"
        f"  '{PAYLOADS['contract_column']}': {{type: string, nullable: true}}\n",
        encoding="utf-8",
    )
    data = tmp_path / "d.csv"
    data.write_text(
        f"row,notes,code,{PAYLOADS['data_column']}\n1,{PAYLOADS['value']},zz,1\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "check", "data", contract, data, "--out", out],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    pages = [p.read_text("utf-8") for p in (out / "docs").rglob("*.html")]
    assert len(pages) >= 2  # the index and at least one validation page
    html = "\n".join(pages)
    for what, payload in PAYLOADS.items():
        assert payload not in html, f"{what} {payload!r} is markup in the data docs"
    # Still shown, as text: the failing value and the unexpected column are in the docs.
    assert "&lt;img src=y onerror=alert(1)&gt;" in html
    assert "&lt;b id=col&gt;x&lt;/b&gt;" in html
