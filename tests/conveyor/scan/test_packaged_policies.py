"""conveyor's checkov policies, config and baseline ship with the package: a repository with no
policies/checkov/ of its own gets them all, and its own folder adds checks, overrides config keys
(`policies:` merged id by id), replaces a packaged check by relative path and extends the
baseline. Real checkov (its own venv), no stand-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conveyor.cli import main
from conveyor.errors import ConfigError
from conveyor.scan.settings import (
    PACKAGED,
    BaselineEntry,
    checks_dir,
    load_baseline,
    load_config,
)

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "ab" * 32
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web, version: "1", environment: dev}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web, version: "1", environment: dev}}
    spec:
      containers:
        - name: web
          image: docker.io/library/nginx@{DIGEST}
"""
WORKFLOW = """\
name: ci
on: push
permissions: {}
defaults: {run: {shell: bash}}
jobs:
  a:
    runs-on: ubuntu-latest
    permissions: {contents: read}
    steps:
      - uses: actions/setup-python@v5
"""
# A custom YAML check of the repository's own: every Deployment must set spec.replicas.
CUSTOM_CHECK = """\
metadata:
  id: ACME_K8S_1
  name: Deployments say how many replicas they run
  category: GENERAL_SECURITY
definition:
  and:
    - cond_type: attribute
      resource_types: [Deployment]
      attribute: spec.replicas
      operator: exists
"""


def _repo(root: Path) -> Path:
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "deployment.yaml").write_text(DEPLOYMENT)
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    return root


def _scan(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict]]:
    code = main(["scan", "--root", str(root), "--out", str(root / "out")])
    capsys.readouterr()
    report = json.loads((root / "out" / "scan.json").read_text())
    return code, {f["policy_id"]: f for f in report["findings"]}


def test_a_repository_without_policies_gets_conveyors_checks_and_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repo(tmp_path / "repo")
    code, found = _scan(root, capsys)
    assert code == 1
    # conveyor's Python checks (CNV_GHA_1, CNV_K8S_1 with the packaged allowed_registries) and
    # its severity table ran, though the repository has no policies/checkov/ at all.
    assert found["CNV_GHA_1"]["file"] == ".github/workflows/ci.yml"
    assert found["CNV_K8S_1"]["severity"] == "high"
    assert "ACME_K8S_1" not in found
    assert not (root / "policies").exists()


def test_the_repositorys_folder_adds_checks_overrides_keys_and_replaces_a_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repo(tmp_path / "repo")
    own = root / "policies" / "checkov"
    (own / "acme").mkdir(parents=True)
    (own / "acme" / "acme_k8s_1_replicas.yaml").write_text(CUSTOM_CHECK)
    # Same relative path as conveyor's CNV_GHA_1: the repository's (empty) file replaces it.
    (own / "github_actions").mkdir()
    (own / "github_actions" / "cnv_gha_1_pinned_uses.py").write_text('"""switched off"""\n')
    config = {
        "allowed_registries": ["docker.io"],
        "policies": {"ACME_K8S_1": {"severity": "low", "remedy": "set spec.replicas"}},
    }
    (own / "config.yaml").write_text(yaml.safe_dump(config))
    code, found = _scan(root, capsys)
    assert code == 1
    assert found["ACME_K8S_1"]["severity"] == "low"  # added check, with the added policy entry
    assert "CNV_K8S_1" not in found  # allowed_registries replaced: docker.io is allowed now
    assert "CNV_GHA_1" not in found  # the packaged check file was replaced
    assert found["CNV_K8S_2"]["severity"] == "medium"  # conveyor's table is still there (merged)


def test_config_keys_override_and_policies_merge_by_id(tmp_path: Path) -> None:
    packaged = load_config(tmp_path / "absent")
    assert packaged.allowed_registries == ["ghcr.io"]
    own = tmp_path / "policies"
    own.mkdir()
    (own / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "max_file_mb": 2,
                "skip_checks": [],
                "policies": {"CKV_K8S_8": {"severity": "low", "remedy": "add a probe"}},
            }
        )
    )
    merged = load_config(own)
    assert merged.max_file_mb == 2
    assert merged.skip_checks == []  # a list set by the repository replaces conveyor's
    assert merged.allowed_registries == ["ghcr.io"]  # a key it does not set stays conveyor's
    assert merged.policies["CKV_K8S_8"].severity == "low"
    assert set(merged.policies) == set(packaged.policies)
    assert merged.policies["CNV_GHA_1"] == packaged.policies["CNV_GHA_1"]


def test_a_bad_repository_config_names_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("max_file_mb: -1\n")
    with pytest.raises(ConfigError, match=str(tmp_path / "config.yaml")):
        load_config(tmp_path)


def test_baselines_are_concatenated(tmp_path: Path) -> None:
    entry = {"id": "CKV_K8S_8", "file": "deploy/x.yaml", "reason": "reviewed: a batch job"}
    (tmp_path / "baseline.yaml").write_text(yaml.safe_dump({"suppressions": [entry]}))
    packaged = load_baseline(PACKAGED).suppressions
    assert load_baseline(tmp_path).suppressions == [*packaged, BaselineEntry(**entry)]


def test_checks_dir_holds_both_and_an_init_in_every_folder(tmp_path: Path) -> None:
    own = tmp_path / "own"
    (own / "acme").mkdir(parents=True)
    (own / "acme" / "check.yaml").write_text(CUSTOM_CHECK)
    (own / "config.yaml").write_text("max_file_mb: 1\n")
    merged = checks_dir(own, tmp_path / "merged")
    assert (merged / "acme" / "check.yaml").read_text() == CUSTOM_CHECK
    assert (merged / "acme" / "__init__.py").is_file()  # checkov skips a folder without one
    assert (merged / "github_actions" / "cnv_gha_1_pinned_uses.py").is_file()
    # Settings are merged by load_config, not by file: the checks folder keeps conveyor's.
    assert (merged / "config.yaml").read_text() == (PACKAGED / "config.yaml").read_text()


def test_a_missing_policies_folder_on_the_command_line_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repo(tmp_path / "repo")
    code = main(["scan", "--root", str(root), "--out", str(root / "out"), "--policies", "nope"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: --policies nope: no such folder"
    assert not (root / "out").exists()


def test_the_promotion_policys_registries_are_allowed_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A repository names where its releases go once, in policies/promotion.yaml: the scan
    allows that registry without a line in policies/checkov/config.yaml (issue 15: one rule,
    one place); a registry named nowhere is still a finding."""
    root = _repo(tmp_path / "repo")
    _, found = _scan(root, capsys)
    assert "CNV_K8S_1" in found  # docker.io: allowed by nobody
    (root / "policies").mkdir()
    policy = root / "policies" / "promotion.yaml"
    policy.write_text(yaml.safe_dump({"registries": ["docker.io/library/"]}))
    _, found = _scan(root, capsys)
    assert "CNV_K8S_1" not in found
    policy.write_text(yaml.safe_dump({"registries": ["quay.io/acme/"]}))
    _, found = _scan(root, capsys)
    assert "CNV_K8S_1" in found


def test_a_promotion_policy_without_a_list_of_registries_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repo(tmp_path / "repo")
    (root / "policies").mkdir()
    (root / "policies" / "promotion.yaml").write_text("registries: ghcr.io/acme/\n")
    code = main(["scan", "--root", str(root), "--out", str(root / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "error: policies/promotion.yaml: registries: must be a list of registry prefixes"
    ]
    assert not (root / "out").exists()
