"""`conveyor init` in an empty repository: the callers, the promotion policy and deploy/ under the
adopter's names, every one of this repository's files and no other; the manifests pass the
checks deploy/ passes here (kustomize renders, the Kubernetes and CRD schemas, Argo CD's sync
permissions, `conveyor scan`); nothing is ever overwritten and bad names write nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from conveyor import renames
from conveyor.promotion.policy import load_policy
from conveyor.renames import BATCH_FILES
from tests import argocd_project as argocd
from tests.e2e.template_projects import files_naming
from tests.paths import REPO
from tests.schemas import crd_schemas

CONVEYOR = Path(sys.executable).parent / "conveyor"
SHA = "0123456789abcdef0123456789abcdef01234567"
ARGS = [
    "--name", "churn", "--registry", "ghcr.io/acme", "--repository", "acme/churn-repo",
    "--conveyor-repository", "acme-tools/conveyor", "--conveyor-ref", SHA,
]  # fmt: skip


def _init(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONVEYOR), "init", "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _tracked(folder: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", folder], cwd=REPO, capture_output=True, text=True, check=True
    )
    return listed.stdout.splitlines()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def adopter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adopter")
    done = _init(root, *ARGS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == sorted(_tree(root))
    return root


def test_init_writes_this_repositorys_files_under_the_adopters_names(adopter: Path) -> None:
    callers = [f".github/workflows/{Path(n).name}" for n in _tracked("examples/caller")]
    expected = {*callers, *_tracked("deploy"), "policies/promotion.yaml"}
    # The nightly batch CronJob runs a `batch` command the adopter's model need not have: only
    # with --batch (below); the kustomization no longer lists its files (they render: below).
    assert set(_tree(adopter)) == expected - set(BATCH_FILES)
    resources = yaml.safe_load((adopter / "deploy/base/kustomization.yaml").read_text())
    assert not {Path(f).name for f in BATCH_FILES} & set(resources["resources"])
    for word in ("forecast", "your-org", "owner/conveyor", "skeleton", "demand"):
        assert files_naming(adopter, word) == [], word
    for folder in ("base", "environments", "argocd", "monitoring"):
        assert files_naming(adopter / "deploy" / folder, "conveyor-") == []
    # The callers call the adopter's conveyor at the pinned commit, so the pinning check's
    # exception for the example's tag is gone.
    for caller in callers:
        text = (adopter / caller).read_text()
        assert "checkov:skip" not in text and "OWNER" not in text, caller
        for job in yaml.safe_load(text)["jobs"].values():
            assert job["uses"].startswith("acme-tools/conveyor/.github/workflows/"), caller
            assert job["uses"].endswith(f".yml@{SHA}"), caller
            assert job["with"]["toolkit-repository"] == "acme-tools/conveyor", caller
            assert job["with"]["toolkit-ref"] == SHA, caller
        assert len(text.splitlines()) <= 15, caller  # a caller stays small (issue #16)
    policy = load_policy(adopter)
    assert policy.image_name == "churn"
    assert policy.registries == ["ghcr.io/acme/"]
    assert list(policy.environments) == ["dev", "staging", "prod"]
    app = yaml.safe_load((adopter / "deploy/argocd/dev.yaml").read_text())
    assert app["spec"]["source"]["repoURL"] == "https://github.com/acme/churn-repo.git"


def _render(root: Path, folder: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(root / folder)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_the_manifests_pass_the_checks_deploy_passes_here(adopter: Path) -> None:
    schemas = crd_schemas.load_schemas()
    project = yaml.safe_load((adopter / "deploy/argocd/project.yaml").read_text())
    for env in ("dev", "staging", "prod"):
        docs = _render(adopter, f"deploy/environments/{env}")
        assert {doc["metadata"]["namespace"] for doc in docs} == {f"churn-{env}"}
        (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
        assert deployment["metadata"]["labels"]["app"] == "churn"
        for doc in docs:
            key = (doc["apiVersion"], doc["kind"])
            if key in schemas:
                errors = list(crd_schemas.validator(schemas[key]).iter_errors(doc))
                assert errors == [], (env, key, errors)
            else:
                kubernetes_validate.validate(doc, kubernetes_validate.utils.latest_version(), True)
        app = yaml.safe_load((adopter / f"deploy/argocd/{env}.yaml").read_text())
        assert argocd.sync_refusals(project, app, docs) == []
    rules = _render(adopter, "deploy/monitoring")
    assert {doc["kind"] for doc in rules} >= {"PrometheusRule"}
    scan = subprocess.run(
        [str(CONVEYOR), "scan", "--root", str(adopter), "--out", str(adopter.parent / "scan"),
         "--checkov", str(REPO / ".tools" / "checkov" / "bin" / "checkov")],
        capture_output=True, text=True, check=False, cwd=adopter,
    )  # fmt: skip
    assert scan.returncode == 0, scan.stdout + scan.stderr


def test_the_batch_cronjob_comes_only_when_asked(tmp_path: Path) -> None:
    done = _init(tmp_path, *ARGS, "--batch")
    assert done.returncode == 0, done.stderr
    assert set(BATCH_FILES) <= set(_tree(tmp_path))
    cronjob = yaml.safe_load((tmp_path / "deploy/base/cronjob.yaml").read_text())
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:4] == ["python", "-m", "churn", "batch"]
    kinds = {doc["kind"] for doc in _render(tmp_path, "deploy/environments/dev")}
    assert "CronJob" in kinds


def test_environments_and_base_branch_are_the_adopters(tmp_path: Path) -> None:
    done = _init(tmp_path, *ARGS, "--environments", "qa,live", "--base-branch", "trunk")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "deploy/environments").iterdir()) == ["live", "qa"]
    policy = load_policy(tmp_path)
    assert list(policy.environments) == ["qa", "live"]
    assert policy.base_branch == "trunk"
    for caller in (tmp_path / ".github/workflows").iterdir():
        assert "[main]" not in caller.read_text(), caller.name
    assert "branches: [trunk]" in (tmp_path / ".github/workflows/pull-request.yml").read_text()
    app = yaml.safe_load((tmp_path / "deploy/argocd/live.yaml").read_text())
    assert app["spec"]["source"]["targetRevision"] == "trunk"
    assert app["spec"]["destination"]["namespace"] == "churn-live"


def test_a_file_already_there_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/promotion.yaml").write_text("mine\n")
    (tmp_path / ".github").write_text("a file where a folder goes\n")
    before = _tree(tmp_path)
    done = _init(tmp_path, *ARGS)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    taken = len(_tracked("examples/caller")) + 1  # every caller under .github, and the policy
    assert (
        f"{taken} file(s) already there, nothing written (conveyor init never overwrites)" in line
    )
    assert "policies/promotion.yaml" in line and ".github/workflows/main.yml" in line
    assert _tree(tmp_path) == before


BAD = [
    (["--name", "Churn_Model"], "--name 'Churn_Model': must be 1-40 lowercase letters"),
    (["--name", "forecaster"], "'forecaster' is the template's own name"),
    (["--package", "class"], "'class' is a Python keyword"),
    (["--registry", "https://ghcr.io/acme"], "must be a registry host"),
    (["--environments", "dev,dev"], "must not name an environment twice"),
    (["--environments", "Dev"], "'Dev' is not an environment name"),
    (["--repository", "acme"], "--repository 'acme': must be OWNER/NAME"),
    (
        ["--conveyor-ref", "v1 beta"],
        "--conveyor-ref 'v1 beta': must be a tag, branch or commit SHA",
    ),
    (["--base-branch", "a..b"], "--base-branch not a branch name git accepts"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_name_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = _init(tmp_path, *ARGS, *args)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_names_rules_are_copiers() -> None:
    """conveyor init checks names by copier.yml's validators: the same patterns, reserved names."""
    copier = (REPO / "copier.yml").read_text()
    patterns = re.findall(r"regex_search\('([^']+)'\)", copier)
    shapes = {kind: pattern for kind, (pattern, _) in renames.SHAPES.items()}
    assert patterns == [shapes[k] for k in ("project", "package", "owner", "registry")] + [
        shapes["environment"]
    ]
    config = yaml.safe_load(copier)
    reserved = re.findall(r"in \[([^\]]+)\]", config["package_name"]["validator"])
    assert [re.findall(r"'([^']+)'", names) for names in reserved][1] == list(
        renames.RESERVED_PACKAGES
    )
    project = re.search(r"in \[([^\]]+)\]", config["project_name"]["validator"])
    assert project is not None
    assert re.findall(r"'([^']+)'", project[1]) == list(renames.RESERVED_PROJECTS)
