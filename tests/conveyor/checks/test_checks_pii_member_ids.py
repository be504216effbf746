"""More spellings of a person's id column: `membership_id` is THE name at a wholesale club."""

from __future__ import annotations

import pytest

from conveyor.checks import pii

ID_COLUMNS = (
    "membership_id",
    "MembershipNumber",
    "customer_id2",
    "customer_id_2",
    "account_id",
    "AccountNo",
    "acct_nbr",
    "user_uuid",
    "customer_identifier",
    "id_customer",
    "ID_Member",
    "cust#",
    "Cust #",
    "member_key",
    "customer_ref",
    "shopper_id",
)
NOT_ID_COLUMNS = (
    "membership_tier",
    "membership_fee",
    "customer_count",
    "account_type",
    "accounting_period",
    "store_nbr",
    "order_number",
    "keyword",
    "# of visits",
    "idle_member",
    "user_agent",
    "id",
)


@pytest.mark.parametrize("name", ID_COLUMNS)
def test_member_id_spellings_are_hashed_id_columns(name: str) -> None:
    assert pii.is_hashed_id_column(name)


@pytest.mark.parametrize("name", NOT_ID_COLUMNS)
def test_other_columns_are_not(name: str) -> None:
    assert not pii.is_hashed_id_column(name)


def test_hash_sign_reads_as_number() -> None:
    assert pii.column_words("Cust#") == "cust_no"
