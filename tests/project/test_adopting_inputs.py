"""docs/adopting.md lists every input of every reusable workflow with the workflow's default, and
the model contract names every input that locates the model's files."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.paths import REPO

GUIDE = REPO / "docs" / "adopting.md"
REUSABLE = (
    "ml-ci.yml",
    "ml-release.yml",
    "ml-promote.yml",
    "ml-monitor.yml",
    "ml-main.yml",
    "ml-retrain.yml",
    "ml-verify.yml",
)


def _inputs(workflow: str) -> dict[str, dict]:
    document = yaml.safe_load((REPO / ".github/workflows" / workflow).read_text())
    on = document.get("on", document.get(True))  # PyYAML reads a bare `on:` key as True
    return on["workflow_call"].get("inputs") or {}


def _documented(workflow: str) -> dict[str, str]:
    """input -> default cell of the guide's table for ``workflow``."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"**`{workflow}`**")
    rows = {}
    for line in text[start:].splitlines()[1:]:
        if rows and not line.startswith("|"):
            break  # the table ends at its first non-row line
        match = re.match(r"\| `([a-z0-9-]+)` \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def _expected_default(spec: dict) -> str:
    if spec.get("required"):
        return "required"
    default = spec.get("default")
    if default is None or default == "":
        return "(empty)"
    return f"`{str(default).lower() if isinstance(default, bool) else default}`"


@pytest.mark.parametrize("workflow", REUSABLE)
def test_every_input_is_documented_with_its_default(workflow: str) -> None:
    inputs = _inputs(workflow)
    documented = _documented(workflow)
    assert set(documented) == set(inputs), workflow
    for name, spec in inputs.items():
        assert documented[name] == _expected_default(spec), f"{workflow}: {name}"


def test_the_release_passes_the_model_contract_inputs_to_the_build() -> None:
    inputs = _inputs("ml-release.yml")
    assert {"register-stage", "model-tag-file", "bentofile", "bento-context"} <= set(inputs)
    workflow = (REPO / ".github/workflows/ml-release.yml").read_text()
    for name in ("model-tag-file", "bentofile", "bento-context"):
        assert f"${{{{ inputs.{name} }}}}" in workflow, name
    action = yaml.safe_load((REPO / "pipelines/build-bento/action.yml").read_text())
    command = action["runs"]["steps"][0]["run"]
    for option in ("--model-tag-file", "--bentofile", "--context"):
        assert option in command, option
    section = GUIDE.read_text(encoding="utf-8").split("## 9. The model contract")[1]
    for name in (
        "register-stage",
        "model-tag-file",
        "bentofile",
        "bento-context",
        "data_md5",
        "git_commit",
        "CONVEYOR_MODEL_TAG",
    ):
        assert name in section, name
