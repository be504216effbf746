"""The PII guard reports what it finds without copying it: kind, column, row key and a masked
value in the terminal, the markdown (the PR comment), the JSON and the data docs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from conveyor.checks import pii

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONTRACT = """\
name: contacts
key: [order_id]
columns:
  order_id: {type: string}
  note: {type: string}
  member_id: {type: string}
  amount: {type: float, min: 0}
"""


def _personal_data() -> dict[str, str]:
    """Personal data of each kind, built at run time (no PII-shaped literal in the repository)."""
    return {
        "email": "jane.doe" + "@" + "example.com",
        "phone": "-".join(["555", "201", "7788"]),
        "card": " ".join(["4111"] * 4),
        "ssn": "-".join(["123", "45", "6789"]),
        "member": "M" + "".join(str(d) for d in range(1, 10)) + "0",
        "key": "bob.smith" + "@" + "example.org",
    }


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def leaked(tmp_path_factory) -> dict[str, object]:
    """One `conveyor check data` run on data holding every kind; everything it printed and wrote."""
    root = tmp_path_factory.mktemp("pii")
    values = _personal_data()
    rows = [
        ("o1", f"write to {values['email']} today", _hash("1"), "1.0"),
        ("o2", f"call {values['phone']}", _hash("2"), "2.0"),
        ("o3", f"card {values['card']} on file", _hash("3"), "3.0"),
        ("o4", f"ssn {values['ssn']}", _hash("4"), "4.0"),
        ("o5", "fine", values["member"], "5.0"),
        # PII in the key itself, and a range failure whose sample shows that key.
        (values["key"], "fine", _hash("6"), "-1.0"),
    ]
    data = root / "contacts.csv"
    data.write_text(
        "order_id,note,member_id,amount\n" + "".join(",".join(row) + "\n" for row in rows),
        encoding="utf-8",
    )
    contract = root / "contacts.yaml"
    contract.write_text(CONTRACT, encoding="utf-8")
    out = root / "out"
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "check", "data", contract, data, "--out", out],
        capture_output=True,
        text=True,
        check=False,
    )
    written = {p: p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file()}
    return {"run": run, "out": out, "written": written, "values": values}


def _fragments(values: dict[str, str]) -> list[str]:
    # The whole values, and the parts of them a partial mask could still give away.
    return [
        *values.values(),
        "jane.doe",
        "example.com",
        "bob.smith",
        "example.org",
        "201-7788",
        "4111 4111",
        "123-45",
        "M12345678",
    ]


def test_no_raw_personal_data_in_any_output(leaked):
    run = leaked["run"]
    assert run.returncode == 1, run.stderr
    written = leaked["written"]
    out = leaked["out"]
    assert {out / "contacts.json", out / "contacts.md"} <= set(written)
    assert any(p.suffix == ".html" for p in written)  # the data docs were written, and checked
    outputs = {"stdout": run.stdout, "stderr": run.stderr} | {str(p): t for p, t in written.items()}
    for fragment in _fragments(leaked["values"]):
        for where, text in outputs.items():
            assert fragment not in text, f"{fragment!r} in {where}"


def test_findings_show_kind_column_key_and_masked_value(leaked):
    run = leaked["run"]
    lines = {line.split(": ")[1]: line for line in run.stdout.splitlines() if "FAIL" in line}
    expected = {
        "pii.email.note": "order_id=o1, note=j***@e***.com",
        "pii.phone.note": "order_id=o2, note=***-***-**88",
        "pii.payment_card.note": "order_id=o3, note=**** **** **** 4111",
        "pii.ssn.note": "order_id=o4, note=***-**-**89",
        "pii.hashed_id.member_id": "order_id=o5, member_id=*********90",
        # The key column held an e-mail: it is masked wherever it appears, samples of other rules
        # included, so the row is still named (by its masked key) and nothing leaks.
        "pii.email.order_id": "order_id=b***@e***.org",
        "amount.range": "order_id=b***@e***.org, amount=-1.0",
    }
    for rule, example in expected.items():
        assert rule in lines, sorted(lines)
        assert lines[rule].endswith(f"e.g. {example}"), lines[rule]
    verdict = json.loads((leaked["out"] / "contacts.json").read_text(encoding="utf-8"))
    by_id = {rule["id"]: rule for rule in verdict["rules"]}
    assert by_id["pii.email.note"]["sample"] == [{"order_id": "o1", "note": "j***@e***.com"}]
    assert by_id["pii.email.note"]["column"] == "note"
    markdown = (leaked["out"] / "contacts.md").read_text(encoding="utf-8")
    assert "`order_id=o1, note=j***@e***.com`" in markdown


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("jane.doe" + "@" + "example.com", "j***@e***.com"),
        ("-".join(["123", "45", "6789"]), "***-**-**89"),
        (" ".join(["4111"] * 4), "**** **** **** 4111"),
        ("+1 (555) 201-7788", "+* (***) ***-**88"),
        ("abc", "***"),
    ],
)
def test_mask_keeps_shape_and_at_most_the_last_four(value, masked):
    assert pii.mask(value) == masked


def test_scrub_masks_pii_inside_any_text_and_leaves_the_rest():
    email = "x.y" + "@" + "corp.example"
    assert pii.scrub(f"ask {email} now") == "ask x***@c***.example now"
    assert pii.scrub({"k": [f"{email}", 3]}) == {"k": ["x***@c***.example", 3]}
    assert pii.scrub("club_001") == "club_001"
