"""The one rule for putting a value we did not write into markdown: a code span, on one line.

Column names, data values, row keys, slice names, paths and rule text that quotes a contract all
reach the pull-request comment. Inside a code span GitHub renders no HTML, no links, no
``@mentions`` and no emphasis, so a value is shown exactly as it is and can do nothing else.
"""

from __future__ import annotations

import re

__all__ = ["code", "one_line"]

# Any control character or Unicode line/paragraph separator would end the line (or the table row).
_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_TICKS = re.compile(r"`+")


def one_line(value: object) -> str:
    """``value`` as text with every line break and control character folded into one space."""
    return _BREAKS.sub(" ", str(value))


def code(value: object, *, cell: bool = False) -> str:
    """``value`` as an inline code span that nothing inside it can close or break.

    The fence is one backtick longer than the longest run of backticks in the value, padded with a
    space when the value starts or ends with a backtick or a space (CommonMark strips one, unless
    the span holds nothing but spaces). In a
    table cell (``cell=True``) pipes are escaped, as GitHub splits cells before it parses spans.
    An empty value is an empty string: no span can hold nothing.
    """
    text = one_line(value)
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in _TICKS.findall(text)), default=0) + 1)
    if text.strip() and (text[0] in "` " or text[-1] in "` "):
        text = f" {text} "
    if cell:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"
