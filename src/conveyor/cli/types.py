"""argparse ``type``s for the numbers and names a user types: refused while parsing, with one
line and exit 2, before any file is read or written.

Every numeric option of every subcommand uses one of these
(tests/conveyor/cli/test_cli_bad_input.py checks that none is a bare ``int`` or ``float``): a
NaN, an infinity or a negative value where it means nothing must never reach a gate, a band or a
date window.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

__all__ = ["checked", "contract_name", "finite_number", "optional", "whole_number"]

# Digits only: no sign, no spaces, no underscores, no other scripts' digits (int() takes them all).
_WHOLE = re.compile(r"[0-9]+")


def whole_number(minimum: int, unit: str = "") -> Callable[[str], int]:
    """A whole number >= ``minimum``, written in ASCII digits; ``unit`` names it in the error."""
    what = f"a whole number{f' of {unit}' if unit else ''} >= {minimum}"

    def parse(text: str) -> int:
        if not _WHOLE.fullmatch(text) or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be {what} (got {text!r})")
        return int(text)

    parse.__name__ = "whole_number"
    return parse


def finite_number(minimum: float) -> Callable[[str], float]:
    """A finite decimal number >= ``minimum``: never NaN nor an infinity (``1e400`` is one)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum:
            raise argparse.ArgumentTypeError(
                f"must be a finite number >= {minimum:g} (got {text!r})"
            )
        return value

    parse.__name__ = "finite_number"
    return parse


def contract_name(text: str) -> str:
    """A data contract's name, by the rule a contract file's ``name:`` follows."""
    from conveyor.checks.contract import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a contract name (lowercase letters, digits, '_', '.', '-'; "
            "starting with a letter or digit)"
        )
    return text


def checked(rule: str) -> Callable[[str], str]:
    """A value that ``conveyor.release.<rule>`` accepts (it raises a ValueError saying why not):
    a bad value is a usage error while parsing, before any work, by the record's own rule."""

    def parse(text: str) -> str:
        from conveyor import release  # pydantic loads only for the commands that use it

        try:
            getattr(release, rule)(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
        return text

    return parse


def optional(parse: Callable[[str], str]) -> Callable[[str], str]:
    """``parse``, except that an empty value stays empty (not given: a workflow passes its
    inputs whether set or not)."""
    return lambda text: parse(text) if text else text
