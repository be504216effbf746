"""The promotion pull request's body shows a record's text fields as text: a backtick, a pipe or
markup in a model tag, a gate's summary or a commit subject cannot close its code span, split a
table row or render as a link (the report's escaping rules, held by the same parser check)."""

from __future__ import annotations

from pathlib import Path

from conveyor.promotion.pull_request import pull_request_body
from conveyor.release import ReleaseRecord
from tests.conveyor.report.test_report_escaping import _codes, assert_inert
from tests.promotion_repos import git, record

HOSTILE = "x` | **bold** [link](https://evil.invalid) @someone <img src=x>"


def _record(version: str, **changes: object) -> ReleaseRecord:
    data = record(version)
    data.update(changes)
    return ReleaseRecord.model_validate(data)


def test_record_text_stays_text_in_every_table(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    gates = dict(_record("v2.0.0").gates)
    gates["metrics"] = gates["metrics"].model_copy(update={"summary": HOSTILE})
    new = _record("v2.0.0", model_tag=HOSTILE, bento_tag=HOSTILE, signature=HOSTILE, gates=gates)
    old = _record("v1.0.0", model_tag=HOSTILE)
    body = pull_request_body(tmp_path, "dev", new, old, superseded=None, rollback=False)
    tokens = assert_inert(body)
    # The hostile text is shown whole, inside code, once per place it was put.
    assert _codes(tokens).count(HOSTILE.replace("|", "\\|")) + _codes(tokens).count(HOSTILE) >= 5
