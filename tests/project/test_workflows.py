"""The workflows and composite actions, read as files: pinning, permissions, inputs, docs, and
the real linters (zizmor offline, actionlint, check-jsonschema) on them and on bad examples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import REPO

BIN = REPO / ".venv" / "bin"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted(REPO.glob("pipelines/*/action.yml"))
REUSABLE = (
    "ml-ci.yml",
    "ml-release.yml",
    "ml-promote.yml",
    "ml-monitor.yml",
    "ml-main.yml",
    "ml-retrain.yml",
    "ml-verify.yml",
)
CALLERS = (
    "pull-request.yml",
    "release.yml",
    "promote.yml",
    "promote-next.yml",
    "monitor.yml",
    "main.yml",
    "retrain.yml",
    "verify.yml",
)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _on(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    return workflow.get("on", workflow.get(True)) or {}


def _steps(path: Path) -> list[dict[str, Any]]:
    doc = _load(path)
    if "runs" in doc:
        return doc["runs"]["steps"]
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def _tool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "ZIZMOR_OFFLINE": "true"},
    )


def test_every_workflow_of_the_issue_exists() -> None:
    names = {path.name for path in WORKFLOWS}
    assert set(REUSABLE) | set(CALLERS) <= names
    steps = {path.parent.name for path in ACTIONS}
    assert {"setup", "data-check", "gate", "report", "build-bento", "promote"} <= steps


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: p.name)
def test_every_remote_action_is_pinned_to_a_commit_with_its_tag(path: Path) -> None:
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:- )?uses:\s*(.+)$", line)
        if match and not match.group(1).startswith("./"):
            assert PINNED.match(match.group(1).strip()), f"{path.name}: {line.strip()}"


def test_each_action_is_pinned_to_one_commit_everywhere() -> None:
    seen: dict[str, set[str]] = {}
    for path in [*WORKFLOWS, *ACTIONS]:
        for step in _steps(path):
            uses = step.get("uses", "")
            if "@" in uses and not uses.startswith("./"):
                name, sha = uses.split("@")
                seen.setdefault(name.split("/upload-sarif")[0], set()).add(sha)
    assert seen
    assert {name: shas for name, shas in seen.items() if len(shas) > 1} == {}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_start_empty_and_each_grant_says_why(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {}
    assert "pull_request_target" not in _on(workflow)
    for job in workflow["jobs"].values():
        assert isinstance(job.get("permissions"), dict), f"{path.name}: a job without permissions"
    for line in path.read_text().splitlines():
        if re.match(r"\s+[a-z-]+: (read|write)\s*(#.*)?$", line):
            assert "  # " in line, f"{path.name}: permission without a reason: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_have_timeouts_and_checkouts_keep_no_credentials(path: Path) -> None:
    for name, job in _load(path)["jobs"].items():
        if "uses" in job:
            continue  # a caller job: the called workflow's jobs carry the timeouts
        assert job.get("timeout-minutes"), f"{path.name}:{name} has no timeout"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{path.name}:{name}"


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: p.name)
def test_no_expression_is_interpolated_into_a_script(path: Path) -> None:
    for step in _steps(path):
        assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name', step['run'])}"


@pytest.mark.parametrize("name", REUSABLE)
def test_reusable_workflows_document_inputs_secrets_and_outputs(name: str) -> None:
    call = _on(_load(REPO / ".github" / "workflows" / name))["workflow_call"]
    for key, spec in call["inputs"].items():
        assert spec.get("description"), f"{name}: input {key}"
        assert spec.get("required") or "default" in spec, f"{name}: input {key} has no default"
    for key, spec in (call.get("secrets") or {}).items():
        # Every secret optional: OIDC-only callers pass none.
        assert spec["required"] is False, f"{name}: secret {key}"
    assert call["outputs"]
    for key, spec in call["outputs"].items():
        assert spec.get("description") and spec.get("value"), f"{name}: output {key}"


def test_gate_runs_once_per_pull_request_and_deploys_once_per_environment() -> None:
    ci = _load(REPO / ".github" / "workflows" / "ml-ci.yml")["jobs"]
    assert ci["train-and-gate"]["concurrency"]["cancel-in-progress"] is True
    assert ci["train-and-gate"]["needs"] == "data"  # bad data never trains a model
    promote = _load(REPO / ".github" / "workflows" / "ml-promote.yml")["jobs"]["promote"]
    assert promote["environment"] == "${{ inputs.environment }}"
    assert "inputs.environment" in promote["concurrency"]["group"]
    assert promote["concurrency"]["cancel-in-progress"] is False
    release = _load(REPO / ".github" / "workflows" / "ml-release.yml")["jobs"]["release"]
    assert release["permissions"]["id-token"] == "write"  # keyless signing needs OIDC
    assert release["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"


def test_release_signs_and_attests_the_digest_not_a_tag() -> None:
    text = (REPO / ".github" / "workflows" / "ml-release.yml").read_text()
    steps = {s.get("id"): s for s in _steps(REPO / ".github" / "workflows" / "ml-release.yml")}
    assert steps["sign"]["env"]["IMAGE"].endswith("@${{ steps.push.outputs.digest }}")
    assert "subject-digest: ${{ steps.push.outputs.digest }}" in text
    assert "image: ${{ steps.names.outputs.image }}@${{ steps.push.outputs.digest }}" in text


def test_zizmor_actionlint_and_schemas_report_nothing() -> None:
    zizmor = _tool("zizmor", "--offline", "--no-progress", ".github/", "pipelines/")
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    actionlint = _tool("actionlint")
    assert actionlint.returncode == 0, actionlint.stdout
    files = [str(p) for p in WORKFLOWS]
    examples = [str(p) for p in (REPO / "examples" / "caller").glob(".github/workflows/*.yml")]
    assert examples
    workflows = _tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files)
    assert workflows.returncode == 0, workflows.stdout
    examples_ok = _tool(
        "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *examples
    )
    assert examples_ok.returncode == 0, examples_ok.stdout
    actions = [
        str(p) for p in [*ACTIONS, *REPO.glob("src/conveyor/workflows/standins/**/action.yml")]
    ]
    schema = _tool("check-jsonschema", "--builtin-schema", "vendor.github-actions", *actions)
    assert schema.returncode == 0, schema.stdout


BAD_WORKFLOW = """\
on: pull_request
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_the_linters_fail_on_a_bad_workflow(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BAD_WORKFLOW)
    zizmor = _tool("zizmor", "--offline", "--no-progress", ".github/", cwd=tmp_path)
    assert zizmor.returncode != 0
    for audit in ("unpinned-uses", "template-injection", "artipacked", "excessive-permissions"):
        assert audit in zizmor.stdout, audit
    (workflows / "bad.yml").write_text(BAD_WORKFLOW.replace("runs-on", "run-on"))
    schema = _tool(
        "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        str(workflows / "bad.yml"),
    )
    assert schema.returncode == 1


def test_a_caller_passing_an_unknown_input_is_rejected(tmp_path: Path) -> None:
    # GitHub refuses such a run before any job starts (act does not check inputs); actionlint,
    # in make lint, reports it at the line.
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ml-ci.yml").write_text((REPO / ".github/workflows/ml-ci.yml").read_text())
    (workflows / "caller.yml").write_text(
        "on: pull_request\npermissions: {}\njobs:\n  ci:\n    uses: ./.github/workflows/ml-ci.yml\n"
        "    with:\n      pyton-version: '3.12'\n"
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = _tool("actionlint", cwd=tmp_path)
    assert result.returncode == 1
    assert 'input "pyton-version" is not defined' in result.stdout


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_each_composite_action_has_a_readme_listing_its_inputs_and_outputs(path: Path) -> None:
    action = _load(path)
    readme = (path.parent / "README.md").read_text()
    for name in [*(action.get("inputs") or {}), *(action.get("outputs") or {})]:
        assert f"`{name}`" in readme, f"{path.parent.name}/README.md does not list {name}"


def test_the_example_caller_calls_the_reusable_workflows_at_a_tag_with_known_inputs() -> None:
    callers = sorted((REPO / "examples" / "caller" / ".github" / "workflows").glob("*.yml"))
    assert callers
    called = set()
    for path in callers:
        for job in _load(path)["jobs"].values():
            match = re.fullmatch(
                r"OWNER/conveyor/\.github/workflows/(ml-[a-z]+\.yml)@v1", job["uses"]
            )
            assert match, f"{path.name}: {job['uses']}"
            called.add(match.group(1))
            known = _on(_load(REPO / ".github" / "workflows" / match.group(1)))["workflow_call"]
            assert set(job.get("with", {})) <= set(known["inputs"]), path.name
            assert set(job.get("secrets", {})) <= set(known.get("secrets") or {}), path.name
    assert called == set(REUSABLE)
    # A caller stays small: 15 lines at most (issue #16).
    lengths = {path.name: len(path.read_text().strip().splitlines()) for path in callers}
    assert {name: n for name, n in lengths.items() if n > 15} == {}


def test_the_adoption_guide_covers_what_a_caller_needs() -> None:
    guide = (REPO / "docs" / "adopting.md").read_text()
    for topic in (
        "permissions",
        "id-token: write",
        "OIDC",
        "secrets",
        "environments",
        "required reviewers",
        "branch protection",
        "dvc.yaml",
        "params.yaml",
        "uv.lock",
        "toolkit-repository",
    ):
        assert topic in guide, topic


def test_which_environment_is_verified_is_the_policys_and_no_workflows() -> None:
    """ml-promote asks conveyor whether the environment needs a verdict (and of which one);
    ml-verify asks which releases are under soak: no workflow or caller names an environment of
    policies/promotion.yaml in an expression or in what it passes to ml-verify."""
    names = yaml.safe_load((REPO / "policies/promotion.yaml").read_text())["environments"]
    callers = sorted((REPO / "examples/caller/.github/workflows").glob("*.yml"))
    for path in [*WORKFLOWS, *callers]:
        for expression in re.findall(r"\$\{\{(.*?)\}\}", path.read_text(), re.S):
            quoted = set(re.findall(r"'([^']*)'", expression))
            assert not quoted & set(names), f"{path.name}: {expression.strip()}"
        for job in _load(path)["jobs"].values():
            if job.get("uses", "").split("@")[0].endswith("ml-verify.yml"):
                assert set(job.get("with", {})) <= {
                    "prometheus-url",
                    "toolkit-repository",
                    "toolkit-ref",
                    "rollback",
                }, path.name
    promote = {s.get("id"): s for s in _steps(REPO / ".github/workflows/ml-promote.yml")}
    assert promote["verify"]["env"]["ENVIRONMENT"] == "${{ inputs.environment }}"
    assert '--for-promotion "$ENVIRONMENT"' in promote["verify"]["run"]
    assert promote["promote"]["with"]["verification"] == "${{ steps.verify.outputs.verdict }}"
    verify = _load(REPO / ".github/workflows/ml-verify.yml")
    assert "environments" not in _on(verify)["workflow_call"]["inputs"]
    (listing,) = [s for s in verify["jobs"]["under-soak"]["steps"] if s.get("id") == "list"]
    assert listing["run"] == "conveyor verify --under-soak --github-output"
    matrix = verify["jobs"]["verify"]["strategy"]["matrix"]["environment"]
    assert matrix == "${{ fromJSON(needs.under-soak.outputs.environments) }}"
    assert verify["jobs"]["verify"]["if"] == "needs.under-soak.outputs.environments != '[]'"
    # The callers that can reach an environment the example policy verifies (prod) pass the
    # Prometheus; promote-next only ever proposes staging, which the policy does not verify.
    for caller in ("promote.yml", "verify.yml"):
        passed = _load(REPO / "examples/caller/.github/workflows" / caller)["jobs"]
        (job,) = passed.values()
        assert job["with"]["prometheus-url"] == "${{ vars.PROMETHEUS_URL }}", caller
    policy = yaml.safe_load((REPO / "policies/promotion.yaml").read_text())["environments"]
    assert not policy["staging"].get("verified"), "promote-next.yml must pass prometheus-url"
