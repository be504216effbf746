"""What `conveyor verify` selects by is what the manifests produce: every pod of an environment
carries its release version as the `version` label (the release component, from release.json),
the ServiceMonitor copies that label onto every series it scrapes, and each environment's
verification selector names the namespace its overlay deploys to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conveyor.promotion import environments as envs
from conveyor.promotion.policy import load_policy
from conveyor.release import ReleaseRecord
from tests.promotion_repos import REPO, record

POLICY = load_policy(REPO)
assert POLICY.verification is not None
LABEL = POLICY.verification.release_label


def _render(root: Path, env: str) -> dict[str, dict]:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(root / "deploy" / "environments" / env)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}


@pytest.mark.parametrize("env", list(POLICY.environments))
def test_each_environment_labels_its_series_with_the_release_version(env, tmp_path):
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    data = ReleaseRecord.model_validate(record("v4.2.0"))
    envs.write_release(tmp_path, POLICY, env, data)  # what a merged promotion leaves
    kinds = _render(tmp_path, env)
    pod = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert pod[LABEL] == "v4.2.0"
    # The selector must not carry it: a Deployment's selector is immutable, a release is not.
    assert LABEL not in kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    assert LABEL in kinds["ServiceMonitor"]["spec"]["podTargetLabels"]
    namespace = kinds["Deployment"]["metadata"]["namespace"]
    assert POLICY.verification.environments[env].selector == f'namespace="{namespace}"'
