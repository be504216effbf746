"""What `conveyor workflows run` hands act, without running it: every remote `uses:` of conveyor's
workflows and composite actions is mapped to a shipped stand-in (an unmapped one would make act
clone it from GitHub), and the events and callers are chosen from the workflows' own `on:`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conveyor.errors import UserError
from conveyor.workflows import act
from tests.paths import REPO

PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s*([^\s#]+@[0-9a-f]{40})", re.M)


def test_every_pinned_action_of_conveyors_workflows_has_a_shipped_stand_in() -> None:
    plan = act.plan(REPO, act.callers(REPO, "pull_request"), REPO)
    mapped = {m.split("=", 1)[0] for m in plan.local_repositories}
    files = [*REPO.glob(".github/workflows/*.yml"), *REPO.glob("pipelines/*/action.yml")]
    used = {u for f in files for u in PINNED.findall(f.read_text())}
    assert used, "no pinned action found: the check would prove nothing"
    for uses in used:
        action, ref = uses.split("@")
        assert f"{'/'.join(action.split('/')[:2])}@{ref}" in mapped, uses
    for mapping in plan.local_repositories:
        folder = Path(mapping.split("=", 1)[1])
        assert folder.is_relative_to(act.STANDINS), mapping  # shipped in the package
        assert list(folder.glob("**/action.yml")), mapping


def test_conveyors_own_pull_request_caller_is_chosen_by_its_on() -> None:
    assert act.callers(REPO, "pull_request") == [REPO / ".github/workflows/pull-request.yml"]
    assert REPO / ".github/workflows/release.yml" in act.callers(REPO, "push")


@pytest.mark.parametrize(
    ("on", "expected"),
    [("push", {"push"}), (["push", "pull_request"], {"push", "pull_request"}), (None, set())],
)
def test_events_of_every_on_form(on: object, expected: set[str]) -> None:
    assert act.events_of({True: on}) == expected  # YAML 1.1 reads `on:` as True


def test_the_default_pull_request_goes_from_head_onto_base(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no commit yet"):
        (tmp_path / ".git").mkdir()
        act.default_event(tmp_path, "pull_request", "HEAD")
    payload = act.default_event(REPO, "pull_request", "HEAD")
    assert payload["pull_request"]["head"]["sha"] == payload["pull_request"]["base"]["sha"]
    assert len(payload["pull_request"]["head"]["sha"]) == 40


def test_the_default_payload_names_the_policys_base_branch(tmp_path: Path) -> None:
    # The base branch is the promotion policy's: a pull request onto it, a push to it.
    from conveyor.cli.workflows import _base_branch

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "promotion.yaml").write_text("base_branch: trunk\n")
    assert _base_branch(tmp_path) == "trunk"
    (tmp_path / "policies" / "promotion.yaml").unlink()
    assert _base_branch(tmp_path) == "main"  # a repository that promotes nothing
    pull = act.default_event(REPO, "pull_request", "HEAD", "trunk")
    assert pull["pull_request"]["base"]["ref"] == "trunk"
    assert act.default_event(REPO, "push", "HEAD", "trunk")["ref"] == "refs/heads/trunk"


def test_act_reads_copies_of_the_callers_without_the_keys_it_does_not_know(tmp_path) -> None:
    # GitHub's `cache-mode` (workflow or job level) makes act refuse the whole file: the copy act
    # reads leaves it out, and keeps every other line of the caller.
    caller = REPO / "examples/caller/.github/workflows/retrain.yml"
    text = caller.read_text()
    assert "cache-mode: read" in text
    (copy,) = act.act_copies([caller], tmp_path / "callers")
    kept = copy.read_text()
    assert "cache-mode" not in kept
    assert kept.splitlines() == [line for line in text.splitlines() if "cache-mode" not in line]
    workflow = tmp_path / "w.yml"
    workflow.write_text("name: w\ncache-mode: none\non: push\njobs:\n  a:\n    cache-mode: read\n")
    (copy,) = act.act_copies([workflow], tmp_path / "more")
    assert copy.read_text() == "name: w\non: push\njobs:\n  a:\n"
    assert caller.read_text() == text  # the repository's file is left as it is
