"""The PII guard knows a person's id column by its name in any spelling: case, separators
(space, dash, dot, underscore), camelCase and PascalCase, and the usual abbreviations."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conveyor.checks import pii
from conveyor.checks.contract import Contract
from conveyor.checks.rules import value_rules

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

ID_COLUMNS = (
    "member_id",
    "customer id",
    "customer-id",
    "Customer ID",
    "customer.id",
    "cust_id",
    "CustomerID",
    "customerId",
    "CUSTOMER_ID",
    "member no",
    "MemberNo",
    "member_number",
    "mbr_nr",
    "loyalty card number",
    "card_no",
    "clientNum",
    "user id",
    "userID",
    "person-id",
    "  customer   id  ",
    "customer_id_sha256",
    "customerid",
)
NOT_ID_COLUMNS = (
    "club_id",
    "item_id",
    "order_id",
    "discard_no",
    "membership_tier",
    "customers",
    "cardinality",
    "scorecard_id",
    "user_agent",
    "customer_segment",
    "idle_member",
)


@pytest.mark.parametrize("name", ID_COLUMNS)
def test_every_spelling_of_a_person_id_column_is_one(name: str) -> None:
    assert pii.is_hashed_id_column(name)


@pytest.mark.parametrize("name", NOT_ID_COLUMNS)
def test_other_columns_with_id_like_words_are_not(name: str) -> None:
    assert not pii.is_hashed_id_column(name)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Customer ID", "customer_id"),
        ("customerId", "customer_id"),
        ("CustomerID", "customer_id"),
        ("HTTPServerID", "http_server_id"),
        ("member--no.", "member_no"),
        ("lag_364", "lag_364"),
    ],
)
def test_column_words(name: str, words: str) -> None:
    assert pii.column_words(name) == words


def test_the_contract_default_puts_every_spelling_under_the_hashed_id_rule() -> None:
    contract = Contract.model_validate(
        {"name": "people", "allow_extra_columns": True, "columns": {"x": {"type": "string"}}}
    )
    columns = [*ID_COLUMNS, *NOT_ID_COLUMNS]
    rules = value_rules(contract, ["x"], columns, columns)
    hashed = {rule.column for rule in rules if rule.id.startswith("pii.hashed_id.")}
    assert hashed == set(ID_COLUMNS)


def test_a_contract_regex_still_matches_the_name_as_written() -> None:
    """A team's own regex, written for its raw column names, keeps working."""
    assert pii.is_hashed_id_column("KundenNr", r"^KundenNr$")
    assert pii.is_hashed_id_column("Kunden Nr", r"(?:^|_)kunden_nr$")


def _check_people(
    tmp_path: Path, csv: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], list[str]]:
    """`conveyor check data` of ``csv`` against a contract that names only `order_id` (the key):
    the run, its verdict and the text of every file it wrote."""
    data = tmp_path / "people.csv"
    data.write_text(csv, encoding="utf-8")
    contract = tmp_path / "people.yaml"
    contract.write_text(
        "name: people\nkey: [order_id]\nallow_extra_columns: true\n"
        "columns:\n  order_id: {type: string}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "check", "data", contract, data, "--out", out],
        capture_output=True,
        text=True,
        check=False,
    )
    verdict = json.loads((out / "people.json").read_text(encoding="utf-8"))
    written = [p.read_text("utf-8", "replace") for p in out.rglob("*") if p.is_file()]
    return run, verdict, written


def test_check_data_requires_hashes_in_oddly_spelled_id_columns(tmp_path: Path) -> None:
    """End to end: raw ids in `Customer ID`, `cust-id` and `memberNo` fail the data check, and
    the raw ids appear in none of its outputs."""
    raw = ["C" + str(10_000_000 + i) for i in range(3)]
    good = hashlib.sha256(b"x").hexdigest()
    lines = ["order_id,Customer ID,cust-id,memberNo,userId"]
    lines += [f"o{i},{raw[i]},{raw[i]},{raw[i]},{good}" for i in range(3)]
    run, verdict, written = _check_people(tmp_path, "\n".join(lines) + "\n")
    assert run.returncode == 1, run.stdout + run.stderr
    outcome = {r["id"]: r["passed"] for r in verdict["rules"] if r["id"].startswith("pii.hashed")}
    assert outcome == {
        "pii.hashed_id.Customer ID": False,
        "pii.hashed_id.cust-id": False,
        "pii.hashed_id.memberNo": False,
        "pii.hashed_id.userId": True,
    }
    for value in raw:
        assert all(value not in text for text in [run.stdout, run.stderr, *written]), value


@pytest.mark.parametrize(
    "header", ["jane.doe@example.com", "+1 (555) 010-2030", "4111 1111 1111 1111", "078-05-1120"]
)
def test_a_column_named_with_personal_data_is_shown_scrubbed(tmp_path: Path, header: str) -> None:
    """A data row read as the header makes personal data a column name: it reaches rule ids,
    columns, expectations, sample rows and the terminal only masked."""
    run, verdict, written = _check_people(
        tmp_path, f'order_id,"{header}"\no1,jane.doe@example.com\n'
    )
    assert run.returncode == 1, run.stdout + run.stderr  # the e-mail value fails the PII guard
    assert any(r["id"].startswith("pii.email.") and not r["passed"] for r in verdict["rules"])
    for text in [run.stdout, run.stderr, *written]:
        assert header not in text
