"""Patterns of personal data that must never appear in a data set's text columns."""

from __future__ import annotations

# Searched anywhere in a value (not anchored): a hit means the column may hold personal data.
TEXT_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    # North American and international numbers: 10+ digits with optional separators.
    "phone": r"(?:\+\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}\b",
    # 13-19 digits, optionally grouped by spaces or dashes, as card numbers are written.
    "payment_card": r"\b\d(?:[ -]?\d){12,18}\b",
}

# A hashed identifier: SHA-256 as lowercase hex.
HASHED_ID = r"^[0-9a-f]{64}$"
