"""`conveyor monitor issue`: one `drift` issue, opened, updated, closed; its body; bad input.
The GitHub API call itself is the workflow's (no GitHub here): tested up to that boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.monitor import issue

DRIFTED = {
    "drifted": True,
    "drifted_columns": ["promo", "price"],
    "reference": {"path": "data/features/features.parquet", "rows": 640800},
    "current": {"path": "logs/", "rows": 18480},
    "columns": [
        {"column": "promo", "drifted": True, "reasons": ["PSI 10.8 > 0.25: category shares moved"]},
        {
            "column": "price",
            "drifted": True,
            "reasons": ["KS D 0.31 > 0.2: the distributions differ"],
        },
        {"column": "item_id", "drifted": False, "reasons": []},
    ],
    "prediction": {"column": "prediction", "drifted": True, "reasons": ["KS D 0.5 > 0.2: x"]},
    "performance": {
        "metric": "wape",
        "higher_is_better": False,
        "rows": 100,
        "live": 0.8,
        "evaluated": 0.44,
        "ratio": 1.82,
        "limit": 0.55,
        "degraded": True,
    },
}
CLEAR = {
    **DRIFTED,
    "drifted": False,
    "drifted_columns": [],
    "prediction": None,
    "performance": None,
}


@pytest.mark.parametrize(
    ("drifted", "open_numbers", "action", "number", "duplicates"),
    [
        (True, [], "open", None, []),
        (True, [12], "update", 12, []),
        (False, [12], "close", 12, []),
        (False, [], "none", None, []),
        (True, [40, 12, 33], "update", 12, [33, 40]),  # never a second issue: keep the oldest
    ],
)
def test_decision(drifted, open_numbers, action, number, duplicates):
    decision = issue.decide(drifted, sorted(open_numbers))
    assert (decision.action, decision.number, decision.duplicates) == (action, number, duplicates)


def _run(tmp_path: Path, drift: object, open_issues: object | None, *extra: str) -> int:
    (tmp_path / "drift.json").write_text(json.dumps(drift))
    args = ["monitor", "issue", "--drift", str(tmp_path / "drift.json"), "--out"]
    args.append(str(tmp_path / "out"))
    if open_issues is not None:
        (tmp_path / "open.json").write_text(json.dumps(open_issues))
        args += ["--open-issue-json", str(tmp_path / "open.json")]
    return main([*args, *extra])


def test_drift_without_an_open_issue_opens_one(tmp_path, capsys):
    url = "https://github.com/o/r/actions/runs/1"
    assert _run(tmp_path, DRIFTED, [], "--run-url", url) == 0
    assert capsys.readouterr().out.splitlines() == ["action=open", "number="]
    decision = json.loads((tmp_path / "out" / "issue.json").read_text())
    assert decision["action"] == "open"
    assert decision["labels"] == ["drift"]
    assert decision["title"] == issue.TITLE
    assert decision["drifted_columns"] == ["promo", "price"]
    body = Path(decision["body_file"]).read_text()
    assert body.startswith(issue.MARKER)
    # Worst first, as drift.json lists them; the prediction too; item_id did not drift.
    assert body.index("`promo`") < body.index("`price`") < body.index("`prediction`")
    assert "item_id" not in body
    assert "Live WAPE** 0.800 exceeds its limit 0.550" in body
    assert "docs/sop/drift.md" in body
    assert url in body
    assert "18,480 rows" in body


def test_the_runbook_link_works_in_an_issue_on_github(tmp_path, monkeypatch):
    """Relative links do not resolve in issue bodies: on Actions the link is absolute."""
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/demand")
    assert _run(tmp_path, DRIFTED, []) == 0
    body = (tmp_path / "out" / "issue.md").read_text()
    assert "(https://github.com/acme/demand/blob/HEAD/docs/sop/drift.md)" in body
    assert "--reference data/features/features.parquet --current logs/" in body


def test_drift_with_an_open_issue_updates_it(tmp_path, capsys):
    gh_list = [{"number": 7, "title": issue.TITLE, "state": "OPEN"}]  # gh issue list --json
    assert _run(tmp_path, DRIFTED, gh_list) == 0
    assert capsys.readouterr().out.splitlines() == ["action=update", "number=7"]
    decision = json.loads((tmp_path / "out" / "issue.json").read_text())
    assert (decision["action"], decision["number"]) == ("update", 7)
    assert "updates this issue while drift lasts" in Path(decision["body_file"]).read_text()


def test_cleared_drift_closes_the_open_issue(tmp_path):
    assert _run(tmp_path, CLEAR, {"number": 7}) == 0
    decision = json.loads((tmp_path / "out" / "issue.json").read_text())
    assert (decision["action"], decision["number"]) == ("close", 7)
    body = Path(decision["body_file"]).read_text()
    assert "Drift cleared" in body
    assert "| column |" not in body


def test_no_drift_and_no_issue_does_nothing(tmp_path):
    assert _run(tmp_path, CLEAR, None) == 0
    assert json.loads((tmp_path / "out" / "issue.json").read_text())["action"] == "none"


@pytest.mark.parametrize("nothing_open", [[], {}, None])
def test_every_way_of_saying_no_open_issue(tmp_path, nothing_open):
    """`gh issue list ... --json number` gives []; with `--jq '.[0] // {}'` (the monitor
    workflow) it gives {}."""
    (tmp_path / "open.json").write_text(json.dumps(nothing_open))
    args = ["--drift", str(tmp_path / "drift.json"), "--out", str(tmp_path / "out")]
    (tmp_path / "drift.json").write_text(json.dumps(DRIFTED))
    code = main(["monitor", "issue", *args, "--open-issue-json", str(tmp_path / "open.json")])
    assert code == 0
    assert json.loads((tmp_path / "out" / "issue.json").read_text())["action"] == "open"


def test_closed_issues_in_the_list_are_not_reused(tmp_path):
    assert _run(tmp_path, DRIFTED, [{"number": 3, "state": "CLOSED"}]) == 0
    assert json.loads((tmp_path / "out" / "issue.json").read_text())["action"] == "open"


def test_long_bodies_stay_under_githubs_limit(tmp_path):
    many = [{"column": f"c{i}", "drifted": True, "reasons": ["x" * 200]} for i in range(1000)]
    assert _run(tmp_path, {**DRIFTED, "columns": many}, []) == 0
    body = (tmp_path / "out" / "issue.md").read_text()
    assert len(body) <= 65_536
    assert body.rstrip().endswith("see the workflow run)")


@pytest.mark.parametrize(
    ("drift", "open_issues", "needle"),
    [
        ("not json", None, "not valid JSON"),
        ({"columns": []}, None, "no boolean 'drifted' key"),
        (DRIFTED, [{"title": "no number"}], "positive integer 'number'"),
        (DRIFTED, ["7"], "positive integer 'number'"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(tmp_path, capsys, drift, open_issues, needle):
    if drift == "not json":
        (tmp_path / "drift.json").write_text("{")
        args = ["monitor", "issue", "--drift", str(tmp_path / "drift.json")]
        code = main([*args, "--out", str(tmp_path / "out")])
    else:
        code = _run(tmp_path, drift, open_issues)
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert needle in err
    assert not (tmp_path / "out").exists()


def test_missing_drift_report(tmp_path, capsys):
    args = ["--drift", str(tmp_path / "drift.json"), "--out", str(tmp_path / "out")]
    assert main(["monitor", "issue", *args]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
