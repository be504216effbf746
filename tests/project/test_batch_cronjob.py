"""The nightly batch forecast as a Kubernetes CronJob (deploy/base/cronjob.yaml): it renders in
every environment, runs the service's image (pinned by the digest a promotion writes, the same
`images:` entry as the Deployment), under the Deployment's hardened security context, runs a
command `python -m forecast batch` accepts, validates against Kubernetes' schema strictly, and
passes `conveyor scan` (checkov sees it: a weakened copy fails). That the command forecasts with
the Bento's model inside the built Bento: tests/e2e/test_image.py."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from conveyor.promotion.environments import write_release
from conveyor.promotion.policy import load_policy
from conveyor.release import ReleaseRecord
from forecast.__main__ import build_parser
from tests.paths import REPO
from tests.promotion_repos import digest_of, record

ENVIRONMENTS = ("dev", "staging", "prod")


def render(root: Path, env: str) -> dict[tuple[str, str], dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(root / "deploy" / "environments" / env)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def _pods(docs: dict[tuple[str, str], dict[str, Any]]) -> tuple[dict, dict]:
    """The service's pod spec and the batch's."""
    service = docs["Deployment", "forecaster"]["spec"]["template"]["spec"]
    batch = docs["CronJob", "forecaster-batch"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return service, batch


@pytest.fixture(scope="module")
def promoted(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """deploy/ after a promotion of a different release to each environment."""
    root = tmp_path_factory.mktemp("promoted")
    shutil.copytree(REPO / "deploy", root / "deploy")
    policy = load_policy(REPO)
    versions = dict(zip(ENVIRONMENTS, ("v1.2.0", "v1.1.0", "v1.0.0"), strict=True))
    for env, version in versions.items():
        write_release(root, policy, env, ReleaseRecord.model_validate(record(version)))
    return root, versions


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_batch_runs_the_image_the_promotion_pins(promoted, env) -> None:
    root, versions = promoted
    service, batch = _pods(render(root, env))
    (container,) = batch["containers"]
    assert container["image"] == service["containers"][0]["image"]
    assert container["image"] == f"ghcr.io/your-org/conveyor-forecaster@{digest_of(versions[env])}"
    labels = render(root, env)["CronJob", "forecaster-batch"]["metadata"]["labels"]
    assert labels["version"] == versions[env]
    # Before any promotion: the placeholder digest, the same for both.
    service, batch = _pods(render(REPO, env))
    assert batch["containers"][0]["image"] == service["containers"][0]["image"]
    assert "@sha256:" in batch["containers"][0]["image"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_batch_runs_under_the_services_security_context(env) -> None:
    service, batch = _pods(render(REPO, env))
    assert batch["securityContext"] == service["securityContext"]
    assert batch["automountServiceAccountToken"] is service["automountServiceAccountToken"] is False
    (job,), (server,) = batch["containers"], service["containers"]
    assert job["securityContext"] == server["securityContext"]
    assert job["securityContext"]["readOnlyRootFilesystem"] is True
    # Writable paths are mounted volumes only: the output claim and emptyDirs.
    volumes = {v["name"]: v for v in batch["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in job["volumeMounts"]}
    assert mounts["/forecasts"]["persistentVolumeClaim"]["claimName"] == "forecasts"
    assert {path for path, v in mounts.items() if "emptyDir" in v} == {
        "/tmp",  # noqa: S108 - the manifest's mount path
        "/home/bentoml/bentoml",
    }
    assert batch["restartPolicy"] == "Never"
    for kind in ("requests", "limits"):
        assert set(job["resources"][kind]) == {"cpu", "memory"}
    policies = [d for (k, _), d in render(REPO, env).items() if k == "NetworkPolicy"]
    (isolated,) = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].get(
        "component") == "forecaster-batch"]  # fmt: skip
    assert isolated["spec"]["ingress"] == [] and isolated["spec"]["egress"] == []


def test_the_command_is_the_batch_stage_writing_to_the_volume() -> None:
    _, batch = _pods(render(REPO, "prod"))
    (job,) = batch["containers"]
    assert job["command"][:4] == ["python", "-m", "forecast", "batch"]
    args = build_parser().parse_args(job["command"][3:])  # what `python -m forecast` accepts
    assert args.stage == "batch" and args.bento is None and args.plan is None  # $BENTO_PATH
    assert Path(args.out).parent == Path("/forecasts")  # the claim, so the swap stays on it
    assert job["workingDir"].endswith("/src")  # the Bento's src/: where the forecast package is


def test_the_cronjob_passes_kubernetes_schema_strictly_and_a_typo_fails() -> None:
    cronjob = render(REPO, "prod")["CronJob", "forecaster-batch"]
    for version in ("1.25.0", kubernetes_validate.utils.latest_version()):
        kubernetes_validate.validate(cronjob, version, strict=True)
    typo = copy.deepcopy(cronjob)
    typo["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["workDir"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError, match="workDir"):
        kubernetes_validate.validate(typo, kubernetes_validate.utils.latest_version(), strict=True)
    bad = copy.deepcopy(cronjob)
    bad["spec"]["startingDeadlineSeconds"] = "1h"
    with pytest.raises(kubernetes_validate.ValidationError, match="1h"):
        kubernetes_validate.validate(bad, kubernetes_validate.utils.latest_version(), strict=True)


def test_the_cronjob_passes_conveyor_scan_and_a_weakened_one_fails(promoted, tmp_path) -> None:
    from conveyor.scan.run import scan

    root, _ = promoted
    prod = [root / "deploy" / "environments" / "prod"]
    result = scan(root, prod, REPO / "policies" / "checkov", tmp_path / "out")
    rendered = (tmp_path / "out" / "rendered" / "deploy-environments-prod.yaml").read_text()
    assert "kind: CronJob" in rendered
    assert [f"{f.policy_id} {f.resource}" for f in result.findings] == []
    # The same CronJob, writable root and privilege escalation allowed: checkov names it.
    weak = tmp_path / "weak"
    shutil.copytree(root / "deploy", weak / "deploy")
    cronjob = weak / "deploy" / "base" / "cronjob.yaml"
    text = cronjob.read_text()
    text = text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    text = text.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    cronjob.write_text(text)
    weak_result = scan(weak, [weak / "deploy" / "environments" / "prod"],
                       REPO / "policies" / "checkov", tmp_path / "weak-out")  # fmt: skip
    flagged = {(f.policy_id, f.resource) for f in weak_result.findings}
    assert flagged and all("CronJob" in resource for _, resource in flagged), flagged
    assert {"CKV_K8S_20", "CKV_K8S_22"} <= {policy for policy, _ in flagged}, flagged
