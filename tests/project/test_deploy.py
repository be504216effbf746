"""The kustomize overlays render (kubectl kustomize, offline) into what the policies promise: the
image by digest, a non-root locked-down pod with probes and resources, per-environment sizing.
Applying them needs a cluster, which is Argo CD's side of the boundary."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from conveyor.promotion.policy import load_policy
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

ENVIRONMENTS = ("dev", "staging", "prod")


def render(env: str) -> dict[str, dict]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / "environments" / env)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(result.stdout) if doc}


def test_policy_lists_exactly_the_overlays():
    policy = load_policy(REPO)
    overlays = sorted(p.name for p in (REPO / "deploy/environments").iterdir() if p.is_dir())
    assert sorted(policy.environments) == overlays
    assert list(policy.environments) == list(ENVIRONMENTS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_overlay_renders_a_locked_down_service(env):
    docs = render(env)
    assert set(docs) >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
    }
    assert {doc["metadata"]["namespace"] for doc in docs.values()} == {f"conveyor-{env}"}
    deployment = docs["Deployment"]
    pod = deployment["spec"]["template"]
    for labels in (deployment["metadata"]["labels"], pod["metadata"]["labels"]):
        assert labels["app"] == "conveyor-forecaster"
        assert labels["environment"] == env
        assert "version" in labels
    assert "version" not in deployment["spec"]["selector"]["matchLabels"]  # selectors immutable
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    dockerfile = (REPO / "deploy/docker/Dockerfile.template").read_text()
    assert f"ARG BENTO_USER_UID={spec['securityContext']['runAsUser']}\n" in dockerfile
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    name, _, digest = container["image"].partition("@")
    assert name == "ghcr.io/your-org/conveyor-forecaster"
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert docs["NetworkPolicy"]["spec"]["egress"] == []
    assert docs["ServiceMonitor"]["spec"]["endpoints"][0]["path"] == "/metrics"


def test_environments_grow_towards_prod():
    sizes = {env: render(env) for env in ENVIRONMENTS}
    replicas = [sizes[env]["Deployment"]["spec"]["replicas"] for env in ENVIRONMENTS]
    assert replicas == sorted(replicas)
    assert replicas[0] < replicas[-1]
    hpa = sizes["prod"]["HorizontalPodAutoscaler"]["spec"]
    assert hpa["minReplicas"] == sizes["prod"]["Deployment"]["spec"]["replicas"]
    assert hpa["maxReplicas"] > hpa["minReplicas"]


def test_argocd_applications_point_at_the_overlays():
    for env in ENVIRONMENTS:
        app = yaml.safe_load((REPO / "deploy/argocd" / f"{env}.yaml").read_text())
        assert app["spec"]["source"]["path"] == f"deploy/environments/{env}"
        assert app["spec"]["destination"]["namespace"] == f"conveyor-{env}"
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert (REPO / app["spec"]["source"]["path"] / "kustomization.yaml").is_file()


def test_promoted_overlays_pass_the_security_scan(tmp_path):
    """What Argo CD would apply after a promotion (a real digest in every environment) passes
    `conveyor scan`: checkov's Kubernetes checks and our own policies, on the rendered overlays."""
    from conveyor.promotion.environments import write_release
    from conveyor.release import ReleaseRecord
    from conveyor.scan.run import scan
    from tests.promotion_repos import record

    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    policy = load_policy(REPO)
    for env in ENVIRONMENTS:
        write_release(tmp_path, policy, env, ReleaseRecord.model_validate(record("v1.0.0")))
    result = scan(
        tmp_path,
        [tmp_path / "deploy" / "environments"],
        REPO / "policies" / "checkov",
        tmp_path / "out",
    )
    rendered = sorted(p.name for p in (tmp_path / "out" / "rendered").iterdir())
    assert rendered == [f"deploy-environments-{env}.yaml" for env in sorted(ENVIRONMENTS)]
    assert (
        "ghcr.io/your-org/conveyor-forecaster@sha256:"
        in (tmp_path / "out" / "rendered" / "deploy-environments-prod.yaml").read_text()
    )
    assert [f"{f.policy_id} {f.file}:{f.line}" for f in result.findings] == []
    assert result.checks_passed > 100  # checkov really ran its Kubernetes checks on them
    assert result.suppressed == []
