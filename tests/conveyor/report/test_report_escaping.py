"""Values from the data reach the pull-request comment (and the drift issue) as text, never as
markdown or HTML: rendered with hostile values and parsed the way GitHub parses a comment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from conveyor.checks.backend import RuleResult
from conveyor.checks.rules import Rule
from conveyor.checks.verdict import Verdict
from conveyor.checks.verdict_text import markdown as checks_markdown
from conveyor.gate import FAIL, PASS, Check, GateResult
from conveyor.monitor import drift_report, issue
from conveyor.monitor.config import MonitoringParams
from conveyor.monitor.drift import DriftResult
from conveyor.monitor.stats import ColumnDrift
from conveyor.report import comment, gate_table, pull_request
from conveyor.report.escape import code, one_line

# Each one would do something in a GitHub comment if it were pasted in as markdown.
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<!-- hidden -->",
    "@octo-org/admins please approve",
    "[click](http://evil.example/x)",
    "![pixel](http://evil.example/p.png)",
    "http://bare.example/autolinked",
    "www.bare.example",
    "`one` ``two`` ```three",
    "trailing backtick `",
    "a | b | c",
    "escaped \\| pipe",
    "first line\nsecond line\r\n| forged | row |",
    "para\u2028sep",
    "# heading",
    "**bold** _em_",
    "&lt;img src=x&gt;",
]

# The only HTML our own reports write: the comment marker and the fold around passing rules.
OUR_HTML = re.compile(
    r"^(<!-- conveyor:[a-z-]+ -->|<details><summary>\d+ passing rules</summary>|</details>)\s*$"
)
MENTION = re.compile(r"@[A-Za-z0-9]")
BARE_LINK = re.compile(r"(?i)https?://|www\.")


def _parse(text: str) -> list[Token]:
    # GitHub-flavoured: CommonMark plus tables.
    return MarkdownIt("commonmark").enable("table").parse(text)


def _inline_children(tokens: list[Token]) -> list[Token]:
    return [child for t in tokens if t.type == "inline" for child in t.children or []]


def assert_inert(text: str, allowed_links: frozenset[str] = frozenset()) -> list[Token]:
    """No HTML but ours, no link or image but ``allowed_links``, no mention or bare URL outside
    code, every table row as wide as its header. Returns the tokens for more checks."""
    tokens = _parse(text)
    for token in tokens + _inline_children(tokens):
        if token.type in ("html_block", "html_inline"):
            assert OUR_HTML.match(token.content), f"HTML from data: {token.content!r}"
        if token.type == "link_open":
            assert token.attrs["href"] in allowed_links, f"link from data: {token.attrs}"
        assert token.type != "image", f"image from data: {token.attrs}"
        if token.type == "text":
            assert not MENTION.search(token.content), f"mention outside code: {token.content!r}"
            assert not BARE_LINK.search(token.content), f"URL outside code: {token.content!r}"
    width = None
    for token in tokens:
        if token.type == "table_open":
            width, cells = None, 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
        elif token.type == "tr_close":
            width = cells if width is None else width
            assert cells == width, "a value changed a table's column count"
            cells = 0
    return tokens


def _codes(tokens: list[Token]) -> list[str]:
    return [c.content for c in _inline_children(tokens) if c.type == "code_inline"]


def _shown(value: str) -> str:
    # Code spans show a value as one line, exactly as it is otherwise.
    return one_line(value).strip()


# Values at the edges of the code-span rules: spaces and backticks at either end, only spaces.
EDGES = [" lead", "trail ", " both ", "`", "``", "` x `", "|", "   ", "a\\", "\\|", "x```y"]


@pytest.mark.parametrize("value", HOSTILE + EDGES)
def test_a_code_span_shows_the_value_exactly_and_nothing_else(value):
    for cell in (False, True):
        rendered = code(value, cell=cell)
        if cell:
            rendered = f"| h |\n|---|\n| {rendered} |\n"
        tokens = assert_inert(rendered)
        assert _codes(tokens) == [one_line(value)]
    assert code("") == ""


def _check_verdict() -> Verdict:
    results = []
    for i, value in enumerate(HOSTILE):
        rule = Rule(
            f"pii.email.{value}",
            "critical",
            "not_regex",
            f"one of {{{value}}}",
            value,
        )
        sample = [{value: value, "key": f"row {i}"}]
        results.append(RuleResult(rule, False, f"unexpected [{value}]", 1, 10.0, sample))
    results.append(RuleResult(Rule(f"{HOSTILE[0]}.ok", "error", "regex", HOSTILE[4]), True, "0"))
    return Verdict("contacts", Path(HOSTILE[4]), 10, results)


def test_check_verdict_markdown_is_inert():
    text = checks_markdown([_check_verdict()])
    tokens = assert_inert(text)
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == len(HOSTILE) + 1  # one row per failure and the header: no forged rows
    codes = _codes(tokens)
    for value in HOSTILE:
        assert f"pii.email.{_shown(value)}" in codes
        assert any(_shown(value) in c for c in codes)


def _gate_result() -> GateResult:
    checks = [
        Check(f"metrics/slices.json:by_region.{value}.wape", 0.3, 0.5, "<= 0.4", FAIL, value)
        for value in HOSTILE
    ]
    checks.append(Check("metrics/metrics.json:model.wape", 0.3, 0.3, ">= 0", PASS, "ok"))
    return GateResult(HOSTILE[3], "a" * 40, checks)


def test_gate_markdown_is_inert():
    tokens = assert_inert(gate_table.markdown(_gate_result()))
    assert sum(t.type == "tr_open" for t in tokens) == len(HOSTILE) + 2
    codes = _codes(tokens)
    for value in HOSTILE:
        assert f"metrics/slices.json:by_region.{_shown(value)}.wape" in codes
    # The terminal table stays one line per check whatever the slice is called.
    lines = gate_table.text(_gate_result()).splitlines()
    assert len(lines) == len(HOSTILE) + 3


def test_the_whole_pr_report_is_inert(tmp_path):
    data_md = tmp_path / "data" / "contacts.md"
    data_md.parent.mkdir()
    data_md.write_text(checks_markdown([_check_verdict()]), encoding="utf-8")
    changes = {
        f"metrics/{HOSTILE[0]}.json": {v: {"old": 0.1, "new": v, "diff": 0.2} for v in HOSTILE},
    }
    params = {"params.yaml": {v: {"old": v, "new": [v]} for v in HOSTILE}}
    diffs = {
        "Metrics diff": pull_request.diff_table("metrics", changes),
        "Params diff": pull_request.diff_table("params", params),
    }
    plot = tmp_path / "out" / "my plots (1)" / "error-by-slice.png"
    images = [(HOSTILE[0], plot), (HOSTILE[5], plot)]
    body = pull_request.build(_gate_result(), [data_md], diffs, images, tmp_path / "out")
    tokens = assert_inert(
        body, allowed_links=frozenset({"my%20plots%20%281%29/error-by-slice.png"})
    )
    assert sum(t.type == "link_open" for t in _inline_children(tokens)) == 2  # the two plots
    assert sum(t.type == "table_open" for t in tokens) == 4  # gate, data, metrics, params
    assert body.startswith(comment.MARKER)


def _drift_result() -> DriftResult:
    columns = [
        ColumnDrift(
            value,
            "categorical",
            "feature",
            drifted=True,
            reasons=[f"unseen share 0.5 > 0.01: 1 category never seen in training ({value})"],
        )
        for value in HOSTILE
    ]
    params = MonitoringParams(features={"region": "categorical"})
    return DriftResult(
        {"path": HOSTILE[4], "rows": 10},
        {"path": HOSTILE[3], "rows": 10},
        columns,
        None,
        None,
        params,
        notes=[f"prediction drift not measured: no {HOSTILE[0]!r} column"],
    )


def test_drift_report_and_issue_are_inert():
    result = _drift_result()
    plots = {value: f"drift_{i}.png" for i, value in enumerate(HOSTILE)}
    tokens = assert_inert(drift_report.markdown(result, plots).replace("![", "["), _plot_links())
    assert sum(t.type == "tr_open" for t in tokens) == len(HOSTILE) + 1
    # Images of our own plots are the one thing the report embeds: their alt text is code.
    images = _inline_children(_parse(drift_report.markdown(result, plots)))
    assert [c.attrs["src"] for c in images if c.type == "image"] == list(plots.values())
    body = issue.body(result.to_json(), issue.Decision("open", None, []), None)
    tokens = assert_inert(body, frozenset({issue.SOP}))
    assert sum(t.type == "tr_open" for t in tokens) == len(HOSTILE) + 1
    assert len(drift_report.terminal(result).splitlines()) == len(HOSTILE) + 2


def _plot_links() -> frozenset[str]:
    return frozenset(f"drift_{i}.png" for i in range(len(HOSTILE)))
