"""Issue 14, items 3 and 15, on the workflows this repository ships (and its adoption example):
every `run:` fails when any command of a pipe fails, and secrets are read only in jobs behind an
`environment:`, never in the jobs that run a pull request's code. Plus act showing the shell
semantics the first rule relies on (GitHub's default `bash -e` hides a failure before `| tee`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import REPO

ACT = REPO / ".venv" / "bin" / "act"
WORKFLOWS = sorted(
    [
        *(REPO / ".github/workflows").glob("*.yml"),
        *(REPO / "examples/caller/.github/workflows").glob("*.yml"),
    ]
)
ACTIONS = sorted(REPO.glob("pipelines/*/action.yml"))
# `secrets.X` anywhere in an expression; GITHUB_TOKEN is the job's own token, not a stored secret.
SECRET = re.compile(r"\bsecrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[)")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.get("on", data.get(True))  # PyYAML reads a bare `on` as True
    return data


def _triggers(on: Any) -> set[str]:
    if isinstance(on, str):
        return {on}
    return set(on) if isinstance(on, (list, dict)) else set()


def _stored_secrets(node: Any) -> set[str]:
    """Stored secrets a job reads (`secrets: inherit` counts as all of them)."""
    text = yaml.safe_dump(node)
    names = {m.group(1) or "[computed]" for m in SECRET.finditer(text)}
    if isinstance(node, dict) and node.get("secrets") == "inherit":
        names.add("inherit")
    return names - {"GITHUB_TOKEN"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_workflow_runs_its_scripts_with_pipefail(path: Path) -> None:
    workflow = _load(path)
    if all("uses" in job for job in workflow["jobs"].values()):
        # Only calls of reusable workflows, whose own `defaults:` apply; a script added here
        # later is CNV_GHA_5's to report (tests/conveyor/scan/test_scan_pipefail_spellings.py).
        assert not any("steps" in job for job in workflow["jobs"].values())
        return
    assert workflow.get("defaults") == {"run": {"shell": "bash"}}


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_every_composite_step_runs_bash(path: Path) -> None:
    steps = yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]["steps"]
    runs = [step for step in steps if "run" in step]
    assert runs and all(step.get("shell") == "bash" for step in runs)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(REPO)))
def test_secrets_are_read_only_behind_an_environment(path: Path) -> None:
    for name, job in _load(path)["jobs"].items():
        if "uses" in job:  # a caller: what it passes is checked below, and in the callee
            continue
        read = _stored_secrets(job)
        assert not read or job.get("environment"), f"{name} reads {read} with no environment"


def _pull_request_code_workflows() -> list[Path]:
    """Workflows whose jobs run a pull request's code, and the reusable ones they call."""
    found = []
    for path in WORKFLOWS:
        data = _load(path)
        if _triggers(data["on"]) & {"pull_request", "pull_request_target"}:
            found.append(path)
            for job in data["jobs"].values():
                uses = str(job.get("uses", ""))
                if uses.startswith("./"):
                    found.append(REPO / uses)
                elif "/.github/workflows/" in uses:  # the example calls OWNER/conveyor@ref
                    found.append(
                        REPO
                        / ".github/workflows"
                        / uses.rsplit("/", maxsplit=1)[-1].split("@", maxsplit=1)[0]
                    )
    return sorted(set(found))


def test_no_secret_reaches_a_job_that_runs_pull_request_code() -> None:
    paths = _pull_request_code_workflows()
    names = {p.name for p in paths}
    assert {"pull-request.yml", "ml-ci.yml"} <= names, names
    for path in paths:
        data = _load(path)
        call = data["on"].get("workflow_call") if isinstance(data["on"], dict) else None
        assert not (call or {}).get("secrets"), f"{path.name} declares secrets"
        for name, job in data["jobs"].items():
            assert not _stored_secrets(job), f"{path.name}: {name} reads a secret"


def test_release_and_monitor_jobs_name_their_environment() -> None:
    # the jobs that may read the registry password and static AWS keys
    for workflow, job, default in (
        ("ml-release.yml", "release", "release"),
        ("ml-monitor.yml", "drift", "monitor"),
    ):
        data = _load(REPO / ".github/workflows" / workflow)
        assert data["jobs"][job]["environment"] == "${{ inputs.environment }}"
        assert data["on"]["workflow_call"]["inputs"]["environment"]["default"] == default
        assert _stored_secrets(data["jobs"][job])  # it does read some: the rule above matters


PIPE_WORKFLOW = """\
name: pipes
on: workflow_dispatch
permissions: {}
jobs:
  github-default:
    runs-on: ubuntu-latest
    steps:
      - run: false | tee out.txt
  workflow-default:
    runs-on: ubuntu-latest
    steps:
      - run: false | tee out.txt
"""


@pytest.mark.act
def test_act_a_failing_command_piped_into_tee_fails_only_under_shell_bash(tmp_path: Path) -> None:
    # The semantics the defaults rely on, with act running the steps on this host.
    workflows = tmp_path / ".github/workflows"
    workflows.mkdir(parents=True)
    text = PIPE_WORKFLOW.replace(
        "  workflow-default:\n", "  workflow-default:\n    defaults: {run: {shell: bash}}\n"
    )
    (workflows / "pipes.yml").write_text(text)
    (tmp_path / "event.json").write_text("{}")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = subprocess.run(
        [
            str(ACT),
            "workflow_dispatch",
            "-P",
            "ubuntu-latest=-self-hosted",
            "-e",
            "event.json",
            "-W",
            ".github/workflows/pipes.yml",
            "--json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ACT_DISABLE_VERSION_CHECK": "1"},
        timeout=300,
    )
    jobs = {}
    for line in (result.stdout + result.stderr).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if "jobResult" in entry:
            jobs[entry["jobID"]] = entry["jobResult"]
    assert jobs == {"github-default": "success", "workflow-default": "failure"}, result.stdout
