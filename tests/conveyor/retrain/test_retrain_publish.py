"""The retraining flow as ml-retrain.yml runs it, command by command, on a real small project:
`conveyor retrain window`, `dvc repro`, `conveyor gate --champion prod`, `conveyor report`,
`conveyor retrain publish`, against a bare `origin` (git) and a DVC remote on disk. GitHub is
the recording gh stub (tests/gh_stub.py): what would reach it is asserted, nothing else is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.champion_repos import BIN, FIRST_END, conveyor, edit_params, go_live, make_project, run
from tests.gh_stub import GhStub
from tests.promotion_repos import git

pytestmark = [pytest.mark.integration, pytest.mark.pipeline]

PR_URL = "https://github.com/your-org/conveyor/pull/7"


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A project whose prod runs an under-trained model (8 rounds); main trains 40 since."""
    root = tmp_path_factory.mktemp("retrain")
    work = make_project(root)
    edit_params(work, {"train.num_boost_round": 8})
    run(work, "dvc", "repro")
    run(work, "dvc", "push")
    git(work, "commit", "--quiet", "-am", "the champion: 8 rounds")
    git(work, "push", "--quiet", "origin", "main")
    go_live(work, "prod", "v1.0.0", git(work, "rev-parse", "HEAD"))
    edit_params(work, {"train.num_boost_round": 40})
    run(work, "dvc", "repro")
    run(work, "dvc", "push")
    git(work, "commit", "--quiet", "-am", "train 40 rounds")
    git(work, "push", "--quiet", "origin", "main")
    return root / "origin.git"


def _retrain(
    origin: Path,
    where: Path,
    to: str,
    answers: dict,
    issue: int | None = 3,
    change: dict | None = None,
    extra: tuple[str, ...] = (),
) -> dict:
    """One retraining run in a fresh clone of ``origin``; ``change``: a params edit committed
    on the clone's main first (a main whose training got worse)."""
    clone = where / "clone"
    where.mkdir(parents=True, exist_ok=True)
    git(where, "clone", "--quiet", str(origin), str(clone))
    if change:
        edit_params(clone, change)
        git(clone, "commit", "--quiet", "-am", "a worse training")
    stub = GhStub(where / "gh", answers)
    out = where / "retrain"
    summary, output = where / "summary.md", where / "output"
    summary.touch()
    output.touch()
    moved = conveyor(clone, "retrain", "window", "--to", to)
    assert moved.returncode == 0, moved.stderr
    run(clone, "dvc", "repro")
    gate = conveyor(
        clone,
        "gate",
        "--champion",
        "prod",
        "--branch",
        "origin/main",
        "--exit-zero",
        "--out",
        str(out),
    )
    assert gate.returncode == 0, gate.stdout + gate.stderr
    report = conveyor(
        clone,
        "report",
        "--gate",
        str(out / "gate.json"),
        "--out",
        str(out / "report.md"),
        "--plots-dir",
        str(out / "plots"),
    )
    assert report.returncode == 0, report.stdout + report.stderr
    publish = conveyor(
        clone,
        "retrain",
        "publish",
        "--gate",
        str(out / "gate.json"),
        "--report",
        str(out / "report.md"),
        "--branch",
        f"retrain/{to}",
        *(("--issue", str(issue)) if issue else ()),
        *extra,
        "--job-summary",
        "--github-output",
        PATH=os.pathsep.join([str(stub.path), str(BIN), os.environ["PATH"]]),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
    )
    assert publish.returncode == 0, publish.stdout + publish.stderr
    return {
        "clone": clone,
        "stub": stub,
        "gate": json.loads((out / "gate.json").read_text()),
        "summary": summary.read_text(),
        "output": output.read_text(),
        "stdout": publish.stdout,
    }


def _remote_branch(origin: Path, branch: str) -> str | None:
    listed = run(origin, "git", "rev-parse", "--verify", "--quiet", branch, check=False)
    return listed.stdout.strip() if listed.returncode == 0 else None


def test_a_better_challenger_opens_one_pull_request_and_a_rerun_updates_it(origin, tmp_path):
    first = _retrain(origin, tmp_path / "a", "2024-05-01", {"pr list": "", "pr create": PR_URL})
    assert first["gate"]["passed"] and first["gate"]["champion"]["version"] == "v1.0.0"
    assert first["output"] == f"outcome=pull-request\npull_request={PR_URL}\n"
    head = _remote_branch(origin, "retrain/2024-05-01")
    assert head is not None
    # The branch is main plus the retraining: the window recorded in params, the new lock.
    assert run(origin, "git", "rev-parse", f"{head}^").stdout.strip() == _remote_branch(
        origin, "main"
    )
    params = run(origin, "git", "show", f"{head}:params.yaml").stdout
    assert 'end_date: "2024-05-01"' in params
    changed = run(origin, "git", "diff", "--name-only", f"{head}^", head).stdout.split()
    assert {"params.yaml", "dvc.lock", "metrics/metrics.json"} <= set(changed)
    calls, bodies = first["stub"].calls(), first["stub"].bodies()
    create = next(i for i, c in enumerate(calls) if c[:2] == ["pr", "create"])
    assert calls[create][calls[create].index("--head") + 1] == "retrain/2024-05-01"
    assert calls[create][calls[create].index("--base") + 1] == "main"
    assert "## Champion vs challenger" in bodies[create] and "#3" in bodies[create]
    comment = next(i for i, c in enumerate(calls) if c[:3] == ["issue", "comment", "3"])
    assert PR_URL in bodies[comment]
    # A second run of the same day: the same branch moves, the same pull request is edited.
    second = _retrain(
        origin, tmp_path / "b", "2024-05-01", {"pr list": PR_URL, "pr list --state": []}
    )
    assert second["output"] == f"outcome=pull-request\npull_request={PR_URL}\n"
    again = [c[:2] for c in second["stub"].calls()]
    assert ["pr", "edit"] in again and ["pr", "create"] not in again
    assert _remote_branch(origin, "retrain/2024-05-01") not in (None, head)


def test_a_later_day_closes_the_earlier_open_retrain_pull_request_linking_the_new_one(
    origin, tmp_path
):
    new_pr = "https://github.com/your-org/conveyor/pull/12"
    still_open = [
        {"number": 7, "headRefName": "retrain/2024-04-26", "url": PR_URL},
        {"number": 9, "headRefName": "feature/other-work", "url": PR_URL[:-1] + "9"},
        {"number": 10, "headRefName": "retrain/drift-2024-04-20", "url": PR_URL[:-1] + "10"},
        # A later day's (a run asked by hand for an older day): never closed by an older one.
        {"number": 11, "headRefName": "retrain/2024-06-01", "url": PR_URL[:-1] + "11"},
    ]
    answers = {"pr list": "", "pr list --state": still_open, "pr create": new_pr}
    done = _retrain(origin, tmp_path, "2024-05-03", answers)
    assert done["output"] == f"outcome=pull-request\npull_request={new_pr}\n"
    closes = [c for c in done["stub"].calls() if c[:2] == ["pr", "close"]]
    # Only the workflow's own retrain/<date> of an earlier day: not other work, not a person's
    # retrain branch, not a later day's.
    assert [c[2] for c in closes] == ["7"]
    comment = closes[0][closes[0].index("--comment") + 1]
    create = next(c for c in done["stub"].calls() if c[:2] == ["pr", "create"])
    title = create[create.index("--title") + 1]  # "retrain: data window to <the data's end>"
    assert new_pr in comment and title.rsplit(" ", 1)[-1] in comment
    assert _remote_branch(origin, "retrain/2024-05-03") is not None


def test_without_an_issue_number_the_open_drift_issue_is_found_and_told(origin, tmp_path):
    # The weekly schedule names no issue: the monitor's open drift issue still hears why.
    answers = {"issue list": [{"number": 11, "state": "OPEN"}, {"number": 4, "state": "OPEN"}]}
    done = _retrain(
        origin,
        tmp_path,
        "2024-05-04",
        answers,
        issue=None,
        change={"train.num_boost_round": 2},
        extra=("--drift-label", "drift"),
    )
    assert done["output"] == "outcome=champion-wins\npull_request=\n"
    calls, bodies = done["stub"].calls(), done["stub"].bodies()
    listing = next(c for c in calls if c[:2] == ["issue", "list"])
    assert listing[listing.index("--label") + 1] == "drift"
    told = [i for i, c in enumerate(calls) if c[:2] == ["issue", "comment"]]
    assert [calls[i][2] for i in told] == ["4"]
    assert "the champion stays" in bodies[told[0]]


def test_a_worse_challenger_opens_none_and_says_why_with_the_figures(origin, tmp_path):
    done = _retrain(origin, tmp_path, "2024-05-02", {}, change={"train.num_boost_round": 2})
    assert not done["gate"]["passed"]
    assert done["output"] == "outcome=champion-wins\npull_request=\n"
    assert _remote_branch(origin, "retrain/2024-05-02") is None
    calls, bodies = done["stub"].calls(), done["stub"].bodies()
    assert not [c for c in calls if c[0] == "pr"]
    comment = next(i for i, c in enumerate(calls) if c[:3] == ["issue", "comment", "3"])
    wape = next(c for c in done["gate"]["checks"] if c["metric"].endswith(":model.wape"))
    for text in (bodies[comment], done["summary"]):
        assert "the champion stays" in text
        assert "Champion vs challenger" in text
        assert f"{wape['baseline']:.4g}" in text and f"{wape['current']:.4g}" in text
    assert git(done["clone"], "status", "--porcelain", "--untracked-files=no")  # not committed


def test_no_new_data_ends_without_a_pull_request_and_says_so(origin, tmp_path):
    done = _retrain(origin, tmp_path, FIRST_END, {}, issue=None)
    assert done["output"] == "outcome=no-new-data\npull_request=\n"
    assert "no new data" in done["summary"] and FIRST_END in done["summary"]
    assert not [c for c in done["stub"].calls() if c[0] in ("pr", "issue")]
