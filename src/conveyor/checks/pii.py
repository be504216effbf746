"""Patterns of personal data that must never appear in a data set's text columns, and the masking
that keeps what the guard finds out of every report it writes.

A PII finding is reported by its kind (the rule id), its column, the row's key and a masked value
(``j***@e***.com``, ``***-**-**89``): enough to find and fix the row, never the value itself.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "HASHED_ID",
    "HASHED_ID_COLUMNS",
    "TEXT_PATTERNS",
    "column_words",
    "is_hashed_id_column",
    "mask",
    "redact",
    "scrub",
]

# Searched anywhere in a value (not anchored): a hit means the column may hold personal data.
TEXT_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    # North American and international numbers: 10+ digits with optional separators.
    "phone": r"(?:\+\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}\b",
    # 13-19 digits, optionally grouped by spaces or dashes, as card numbers are written.
    "payment_card": r"\b\d(?:[ -]?\d){12,18}\b",
    # A US social security number as it is written: 3-2-4 digits.
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
}

# A hashed identifier: SHA-256 as lowercase hex.
HASHED_ID = r"^[0-9a-f]{64}$"

# Words naming a person (or the account that stands for one) and words naming an identifier.
_PERSON = (
    r"(?:member|membership|mbr|customer|cust|client|loyalty|card|cardholder|user|person|account"
    r"|acct|subscriber|shopper|patron)"
)
_ID = r"(?:id|identifier|uuid|guid|key|ref|number|num|no|nr|nbr)"
# Column names (in the snake_case of `column_words`) that identify a person: their values must
# be hashes. Person word then id word (`membership_id`, `customer_id2`, `user_uuid`, `cust#` as
# `cust_no`) or id word then person word (`id_customer`). Whole words only, so `discard_no`,
# `membership_tier` or `customer_count` are not ids.
HASHED_ID_COLUMNS = rf"(?:^|_)(?:{_PERSON}_?{_ID}\d*|{_ID}_{_PERSON})(?:_|$)"

# One pass over a value finds every kind; the email pattern first, as its local part may be digits.
_ANY = re.compile("|".join(f"(?:{pattern})" for pattern in TEXT_PATTERNS.values()))
_EMAIL = re.compile(TEXT_PATTERNS["email"])
_ALNUM = re.compile(r"[A-Za-z0-9]")
_HASHED = re.compile(HASHED_ID)
# Where camelCase and PascalCase put a word break: `customerId`, `CustomerID`, `HTTPServer`.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")


def column_words(name: str) -> str:
    """A column name as lowercase words joined by ``_``, whatever its case and separators:
    ``Customer ID``, ``customer-id``, ``CustomerID``, ``customerId`` -> ``customer_id``."""
    # `#` reads as "number" (`cust#` is `cust_no`); any other symbol only separates words.
    words = _CAMEL.sub("_", name.replace("#", "_no_"))
    return _SEPARATORS.sub("_", words).strip("_").lower()


def is_hashed_id_column(name: str, pattern: str | re.Pattern[str] = HASHED_ID_COLUMNS) -> bool:
    """Whether ``name`` (as written, or in the words of `column_words`) matches ``pattern``: one
    spelling of a person's id column is the same column as every other spelling."""
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    return bool(regex.search(name) or regex.search(column_words(name)))


def mask(value: object) -> str:
    """``value`` with all but its last few letters and digits starred, separators kept.

    E-mail addresses keep the first letter of each side and the top-level domain
    (``j***@e***.com``); anything else keeps its last 4 characters when it has 12 or more, its
    last 2 when it has 6 to 11, none when shorter (``***-**-**89``, ``****-****-****-1111``).
    """
    text = str(value)
    if _EMAIL.fullmatch(text):
        local, domain = text.rsplit("@", 1)
        host, _, tld = domain.rpartition(".")
        return f"{local[:1]}***@{host[:1]}***.{tld}"
    count = len(_ALNUM.findall(text))
    keep = 4 if count >= 12 else 2 if count >= 6 else 0
    out, seen = [], 0
    for char in text:
        if _ALNUM.match(char):
            seen += 1
            out.append(char if seen > count - keep else "*")
        else:
            out.append(char)
    return "".join(out)


def scrub(value: Any) -> Any:
    """``value`` (text, or text nested in lists and mappings) with every stretch that looks like
    personal data masked in place: for our own sentences and whatever else a backend keeps."""
    if isinstance(value, str):
        return _ANY.sub(lambda hit: mask(hit.group(0)), value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def findings(value: object) -> str:
    """What a report shows of a value holding personal data: each PII-shaped stretch, masked, and
    none of the text around it (a free-text field holding an e-mail may hold a name beside it)."""
    return ", ".join(mask(hit.group(0)) for hit in _ANY.finditer(str(value))) or mask(value)


def redact(value: Any, column: str, hashed_columns: set[str]) -> Any:
    """A sampled ``value`` of ``column`` as a report may show it. In a column of hashed person ids,
    anything but a hash is masked; elsewhere a value holding PII shows only its masked findings,
    and any other value (a club, a date, an order number) is shown as it is, so the row can be
    found. Missing values stay missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    if column in hashed_columns:
        return value if _HASHED.fullmatch(str(value)) else mask(value)
    if isinstance(value, str) and _ANY.search(value):
        return findings(value)
    return value
