"""The base branch lives in one file (policies/promotion.yaml): the workflows' `branches:`
filters (which GitHub cannot read from a file) name the same one, and no workflow passes a
base branch of its own to a command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conveyor.promotion.policy import base_branch
from tests.paths import REPO

WORKFLOW_FOLDERS = [
    REPO / ".github" / "workflows",
    REPO / "examples" / "caller" / ".github" / "workflows",
    REPO / "template" / "project" / ".github" / "workflows",
]
WORKFLOWS = sorted(p for folder in WORKFLOW_FOLDERS for p in folder.glob("*.yml"))
# Options that once named the base branch, and the inputs that took it: none is left. (ml-release
# passes GitHub's default branch from the event, held to the policy by the CLI: tested below.)
ANOTHER_BASE = re.compile(r"--base\b|--base-branch|inputs\.default-branch|default-branch:")


def _triggers(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    return document.get("on", document.get(True)) or {}  # YAML 1.1 reads `on` as True


def test_there_are_workflows_to_check():
    assert len(WORKFLOWS) > 10


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(REPO)))
def test_branch_filters_name_the_policys_base_branch(path):
    expected = base_branch(REPO)
    triggers = _triggers(path)
    for event in ("push", "pull_request", "pull_request_target"):
        spec = triggers.get(event) if isinstance(triggers, dict) else None
        if isinstance(spec, dict) and "branches" in spec:
            assert spec["branches"] == [expected], f"{path.name}: on.{event}.branches"


@pytest.mark.parametrize(
    "path",
    [*WORKFLOWS, *sorted((REPO / "pipelines").glob("*/action.yml"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_no_workflow_passes_a_base_branch_of_its_own(path):
    found = [line.strip() for line in path.read_text().splitlines() if ANOTHER_BASE.search(line)]
    assert found == [], f"{path.relative_to(REPO)}: the policy's base_branch is the one source"


def test_ml_release_checks_against_githubs_default_branch_not_the_tags_own_policy():
    # The tagged commit is the checkout: its own policies/promotion.yaml could name any branch
    # (review finding B). The default branch comes from the event, which it cannot edit; the
    # CLI then requires the policy committed there to name the same branch.
    document = yaml.safe_load((REPO / ".github/workflows/ml-release.yml").read_text())
    steps = [s for job in document["jobs"].values() for s in job.get("steps", [])]
    command = re.compile(r"conveyor release (?:on-branch|record|verify)")
    release_steps = [s for s in steps if command.search(s.get("run", ""))]
    assert len(release_steps) == 3, [s.get("name") for s in release_steps]
    for step in release_steps:
        assert step["env"]["DEFAULT_BRANCH"] == "${{ github.event.repository.default_branch }}"
        # every release command of the step (comments aside) is given that branch
        code = "\n".join(x for x in step["run"].splitlines() if not x.lstrip().startswith("#"))
        given = code.count('--branch "origin/${DEFAULT_BRANCH')
        assert given == len(command.findall(code)), step["name"]
