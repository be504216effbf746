"""Custom resources are validated like built-in ones: every Argo CD Application/AppProject and
every PrometheusRule/ServiceMonitor under deploy/ (as `kubectl kustomize` renders it) against the
upstream CRD schemas vendored in tests/schemas/, strictly (an unknown field fails, as the API
server's strict field validation refuses it); the built-in kinds against Kubernetes' own schemas
(kubernetes-validate --strict, which skips custom kinds). And every Application syncs within
its AppProject, decided as Argo CD decides it: the CreateNamespace=true / "resource :Namespace
is not permitted" case, destinations, source repositories, every kind the overlay renders."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests import argocd_project as argocd
from tests.paths import REPO
from tests.schemas import crd_schemas

SCHEMAS = REPO / "tests" / "schemas"
ARGOCD = REPO / "deploy" / "argocd"
CUSTOM_KINDS = {
    ("argoproj.io/v1alpha1", "Application"),
    ("argoproj.io/v1alpha1", "AppProject"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
# Application-level sync options Argo CD v3.5 knows (docs/user-guide/sync-options.md). Argo CD
# ignores an option it does not know, so a typo (CreateNamespaces=true) fails only at sync.
KNOWN_SYNC_OPTIONS = {
    "ApplyOutOfSyncOnly=true",
    "ClientSideApplyMigration=false",
    "CreateNamespace=true",
    "Delete=confirm",
    "Delete=false",
    "FailOnSharedResource=true",
    "Prune=confirm",
    "Prune=false",
    "PruneLast=true",
    "PrunePropagationPolicy=background",
    "PrunePropagationPolicy=foreground",
    "PrunePropagationPolicy=orphan",
    "Replace=true",
    "RespectIgnoreDifferences=true",
    "ServerSideApply=true",
    "SkipDryRunOnMissingResource=true",
    "Validate=false",
}


def kustomizations() -> list[str]:
    """Every kustomization under deploy/ that renders on its own (components do not)."""
    found = []
    for path in sorted((REPO / "deploy").rglob("kustomization.yaml")):
        if yaml.safe_load(path.read_text())["kind"] == "Kustomization":
            found.append(path.parent.relative_to(REPO).as_posix())
    return found


def render(directory: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(REPO / directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def argocd_manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(ARGOCD.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def is_custom(doc: dict[str, Any]) -> bool:
    """A kind from a CRD: its API group has a dot and is not one of Kubernetes' own *.k8s.io."""
    group = doc["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


@pytest.fixture(scope="module")
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    return crd_schemas.load_schemas()


@pytest.fixture(scope="module")
def manifests() -> dict[str, list[dict[str, Any]]]:
    """Every manifest under deploy/: deploy/argocd as written, each kustomization as rendered."""
    found = {directory: render(directory) for directory in kustomizations()}
    found["deploy/argocd"] = argocd_manifests()
    return found


def errors(schema: dict[str, Any], doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, failed keyword, message) of each schema error."""
    return sorted(
        ("/".join(map(str, e.absolute_path)), str(e.validator), e.message)
        for e in crd_schemas.validator(schema).iter_errors(doc)
    )


def one(manifests: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    """A deep copy of the first real manifest of this kind."""
    return copy.deepcopy(next(d for docs in manifests.values() for d in docs if d["kind"] == kind))


# --- the vendored CRDs and the schemas made from them --------------------------------------------


def test_vendored_crds_are_upstreams_and_the_schemas_are_current():
    result = subprocess.run(
        [sys.executable, str(SCHEMAS / "crd_schemas.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    sources = json.loads((SCHEMAS / "upstream.json").read_text())
    assert {s["repository"] for s in sources} == {
        "argoproj/argo-cd",
        "prometheus-operator/prometheus-operator",
    }
    readme = (SCHEMAS / "README.md").read_text().splitlines()
    for source in sources:
        assert source["license"] == "Apache-2.0"
        assert source["tag"].startswith("v")
        assert len(source["commit"]) == 40
        # the README's table says the same as upstream.json
        (row,) = [line for line in readme if line.startswith(f"| `{source['file']}` |")]
        for field in ("repository", "tag", "commit", "path", "license"):
            assert source[field] in row, (source["file"], field)
    assert "Apache License" in (SCHEMAS / "LICENSE").read_text()
    assert set(crd_schemas.load_schemas()) == CUSTOM_KINDS
    for schema in crd_schemas.load_schemas().values():
        jsonschema.Draft4Validator.check_schema(schema)


def _copy_schemas(tmp_path: Path) -> Path:
    copy_dir = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, copy_dir, ignore=shutil.ignore_patterns("__pycache__"))
    return copy_dir


def _script(directory: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(directory / "crd_schemas.py"), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_catches_an_edited_crd_and_a_stale_schema(tmp_path):
    copy_dir = _copy_schemas(tmp_path)
    crd = copy_dir / "crds" / "argo-cd" / "appproject-crd.yaml"
    original = crd.read_bytes()
    crd.write_bytes(original + b"# edited here\n")
    result = _script(copy_dir, "--check")
    assert result.returncode == 1
    assert "crds/argo-cd/appproject-crd.yaml: git blob" in result.stderr
    assert "vendored files stay verbatim" in result.stderr
    regenerate = _script(copy_dir)  # refuses to build schemas from an edited CRD
    assert regenerate.returncode == 1
    assert len(regenerate.stderr.splitlines()) == 1

    crd.write_bytes(original)
    schema = copy_dir / "json" / "monitoring.coreos.com_v1_ServiceMonitor.json"
    schema.write_text(schema.read_text().replace('"additionalProperties": false', "", 1))
    result = _script(copy_dir, "--check")
    assert result.returncode == 1
    assert "json/monitoring.coreos.com_v1_ServiceMonitor.json: out of date" in result.stderr
    assert _script(copy_dir).returncode == 0
    assert _script(copy_dir, "--check").returncode == 0


def _fake_upstream(tmp_path: Path) -> tuple[Path, str]:
    """A git clone of 'argo-cd' whose tag v9.9.9 adds a field to the AppProject CRD."""
    clone = tmp_path / "argo-cd"
    (clone / "manifests" / "crds").mkdir(parents=True)
    shutil.copy(SCHEMAS / "crds/argo-cd/application-crd.yaml", clone / "manifests/crds")
    project = yaml.safe_load((SCHEMAS / "crds/argo-cd/appproject-crd.yaml").read_text())
    spec = project["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["newField"] = {"type": "string"}
    (clone / "manifests/crds/appproject-crd.yaml").write_text(yaml.safe_dump(project))
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=dev", "-c", "user.email=dev@conveyor.invalid"]
    steps = (["init", "-q"], ["add", "-A"], [*ident, "commit", "-qm", "crds"], ["tag", "v9.9.9"])
    for args in steps:
        subprocess.run(["git", "-C", str(clone), *args], check=True, env=env)
    commit = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return clone, commit


def test_vendor_brings_a_new_tag_from_a_clone(tmp_path):
    copy_dir = _copy_schemas(tmp_path)
    clone, commit = _fake_upstream(tmp_path)
    before = {s["file"]: s for s in json.loads((copy_dir / "upstream.json").read_text())}
    result = _script(copy_dir, "vendor", "argoproj/argo-cd", clone, "v9.9.9")
    assert result.returncode == 0, result.stderr
    assert "vendored crds/argo-cd/appproject-crd.yaml" in result.stdout
    after = {s["file"]: s for s in json.loads((copy_dir / "upstream.json").read_text())}
    for name, source in after.items():
        if source["repository"] == "argoproj/argo-cd":
            assert (source["tag"], source["commit"]) == ("v9.9.9", commit)
            blob = subprocess.run(
                ["git", "-C", str(clone), "rev-parse", f"v9.9.9:{source['path']}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert source["blob"] == blob
        else:
            assert source == before[name]
    schema = json.loads((copy_dir / "json/argoproj.io_v1alpha1_AppProject.json").read_text())
    assert schema["properties"]["spec"]["properties"]["newField"] == {"type": "string"}
    assert _script(copy_dir, "--check").returncode == 0


@pytest.mark.parametrize(
    ("repository", "clone", "tag", "says"),
    [
        ("argoproj/argo-cd", "argo-cd", "v0.0.0-missing", "git rev-parse"),
        ("argoproj/argo-rollouts", "argo-cd", "v9.9.9", "no vendored CRD comes from"),
        ("argoproj/argo-cd", "not-a-clone", "v9.9.9", "is not a git clone"),
    ],
)
def test_vendor_refuses_bad_input_and_writes_nothing(tmp_path, repository, clone, tag, says):
    copy_dir = _copy_schemas(tmp_path)
    _fake_upstream(tmp_path)
    (tmp_path / "not-a-clone").mkdir()
    before = {p: p.read_bytes() for p in copy_dir.rglob("*") if p.is_file()}
    result = _script(copy_dir, "vendor", repository, tmp_path / clone, tag)
    assert result.returncode == 2
    assert says in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in copy_dir.rglob("*") if p.is_file()} == before


def _crd(schema: dict[str, Any], served: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "schema": {"openAPIV3Schema": schema}},
                {"name": "v0", "served": served, "schema": {"openAPIV3Schema": schema}},
            ],
        },
    }


WIDGET = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"x-kubernetes-int-or-string": True},
                "mode": {"type": "string", "nullable": True, "pattern": "^(?i)(fast|slow)$"},
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "either": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                    "anyOf": [{"properties": {"a": {"minLength": 1}}}, {"required": ["b"]}],
                },
            },
        }
    },
}


def test_conversion_is_strict_where_kubernetes_is_and_open_where_it_is_not():
    schemas = crd_schemas.crd_to_schemas(_crd(WIDGET, served=False))
    assert list(schemas) == ["example.com_v1_Widget.json"]  # an unserved version is skipped
    schema = schemas["example.com_v1_Widget.json"]
    good = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": {
            "size": "50%",
            "mode": "FAST",  # RE2's ^(?i) became Python's (?i)^
            "tags": ["x", "y"],
            "values": {"anything": {"goes": [1]}},
            "env": {"A": "1"},
            "either": {"a": "x"},  # an anyOf branch's `properties` does not close the object
        },
    }
    assert errors(schema, good) == []
    assert errors(schema, {**good, "spec": {**good["spec"], "size": 3, "mode": None}}) == []
    bad = copy.deepcopy(good)
    bad["spec"].update(size=1.5, tags=["x", "x"], env={"A": 1}, extra=True)
    bad["metadata"]["lables"] = {}
    bad["apiVersion"] = "example.com/v0"
    found = {(path, keyword) for path, keyword, _ in errors(schema, bad)}
    assert found == {
        ("apiVersion", "enum"),
        ("metadata", "additionalProperties"),
        ("spec", "additionalProperties"),
        ("spec/size", "anyOf"),
        ("spec/tags", "uniqueItems"),
        ("spec/env/A", "type"),
    }
    assert ("spec", "required") in {(p, k) for p, k, _ in errors(schema, {**good, "spec": {}})}


def test_a_schema_rule_we_cannot_evaluate_is_refused_not_skipped():
    cel = {"type": "object", "x-kubernetes-validations": [{"rule": "self.a > 0"}]}
    with pytest.raises(crd_schemas.SchemaError, match="x-kubernetes-validations"):
        crd_schemas.crd_to_schemas(_crd(cel))
    with pytest.raises(crd_schemas.SchemaError, match="not a Python regex"):
        crd_schemas.crd_to_schemas(_crd({"type": "string", "pattern": "(?P<"}))


# --- the manifests under deploy/ ------------------------------------------------------------------


@pytest.mark.parametrize("source", ["deploy/argocd", *kustomizations()])
def test_custom_resources_pass_their_upstream_schema_strictly(source, manifests, schemas):
    problems = []
    for doc in manifests[source]:
        if not is_custom(doc):
            continue  # a built-in kind: Kubernetes' own schemas, not a CRD's
        key = (doc["apiVersion"], doc["kind"])
        if key not in schemas:
            problems.append(f"{key}: no vendored CRD schema (add it to tests/schemas)")
            continue
        for path, _, message in errors(schemas[key], doc):
            problems.append(f"{doc['kind']}/{doc['metadata'].get('name')} at {path}: {message}")
    assert problems == [], f"{source}: " + "; ".join(problems)


def test_every_custom_kind_is_validated_somewhere(manifests):
    seen = {(d["apiVersion"], d["kind"]) for docs in manifests.values() for d in docs}
    assert seen >= CUSTOM_KINDS
    per_env = {source: {d["kind"] for d in docs} for source, docs in manifests.items()}
    for env in ("dev", "staging", "prod"):
        assert "ServiceMonitor" in per_env[f"deploy/environments/{env}"]
    assert "PrometheusRule" in per_env["deploy/monitoring"]


def _rule(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["groups"][1]["rules"][0]


def _endpoint(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["endpoints"][0]


# The oldest and the newest Kubernetes kubernetes-validate ships schemas for: an API version
# removed since, or a field added only lately, fails one of them.
KUBERNETES = ("1.25.0", kubernetes_validate.utils.latest_version())


@pytest.mark.parametrize("source", ["deploy/argocd", *kustomizations()])
def test_built_in_kinds_pass_kubernetes_schemas_strictly(source, manifests):
    """kubernetes-validate has no schema for a CRD's kinds (it skips them, exit 0, with a
    warning): the only kinds it cannot check must be the ones validated above."""
    unchecked = set()
    for version in KUBERNETES:
        for doc in manifests[source]:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                unchecked.add((doc["apiVersion"], doc["kind"]))
    assert unchecked <= CUSTOM_KINDS


def test_kubernetes_validate_is_strict_and_blind_to_custom_kinds(manifests):
    deployment = one(manifests, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        kubernetes_validate.validate(deployment, KUBERNETES[-1], strict=True)
    monitor = one(manifests, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(monitor, KUBERNETES[-1], strict=True)


# Each mistake is one a person makes; each must fail, at that path, for that reason.
MISTAKES = [
    ("Application", "unknown field", lambda d: d["spec"]["source"].update(repoUrl="x"),
     "spec/source", "additionalProperties"),
    ("Application", "wrong type", lambda d: d["spec"].update(revisionHistoryLimit="10"),
     "spec/revisionHistoryLimit", "type"),
    ("Application", "missing field", lambda d: d["spec"].pop("destination"),
     "spec", "required"),
    ("AppProject", "unknown field", lambda d: d["spec"]["destinations"][0].update(cluster="x"),
     "spec/destinations/0", "additionalProperties"),
    ("AppProject", "wrong type", lambda d: d["spec"].update(sourceRepos="https://x"),
     "spec/sourceRepos", "type"),
    ("AppProject", "missing field", lambda d: d["spec"]["clusterResourceWhitelist"][0].pop("kind"),
     "spec/clusterResourceWhitelist/0", "required"),
    ("PrometheusRule", "unknown field", lambda d: _rule(d).update(severity="critical"),
     "spec/groups/1/rules/0", "additionalProperties"),
    ("PrometheusRule", "wrong type", lambda d: _rule(d).update({"for": 600}),
     "spec/groups/1/rules/0/for", "type"),
    ("PrometheusRule", "missing field", lambda d: d["spec"]["groups"][0].pop("name"),
     "spec/groups/0", "required"),
    ("ServiceMonitor", "unknown field", lambda d: _endpoint(d).update(scrapeInterval="30s"),
     "spec/endpoints/0", "additionalProperties"),
    ("ServiceMonitor", "wrong type", lambda d: _endpoint(d).update(port=3000),
     "spec/endpoints/0/port", "type"),
    ("ServiceMonitor", "missing field", lambda d: d["spec"].pop("selector"),
     "spec", "required"),
    ("ServiceMonitor", "metadata typo", lambda d: d["metadata"].update(lables={}),
     "metadata", "additionalProperties"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "mistake", "mutate", "path", "keyword"),
    MISTAKES,
    ids=[f"{m[0]}-{m[1]}" for m in MISTAKES],
)
def test_a_mistake_in_a_real_manifest_fails(
    manifests, schemas, kind, mistake, mutate, path, keyword
):
    doc = one(manifests, kind)
    schema = schemas[doc["apiVersion"], doc["kind"]]
    assert errors(schema, doc) == []
    mutate(doc)
    assert [(p, k) for p, k, _ in errors(schema, doc)] == [(path, keyword)], mistake


def test_free_form_fields_stay_free_form(manifests, schemas):
    """Strict only where Kubernetes is: x-kubernetes-preserve-unknown-fields keeps accepting."""
    app = one(manifests, "Application")
    app["spec"]["source"]["helm"] = {"valuesObject": {"replicas": 3, "any": {"nested": ["thing"]}}}
    assert errors(schemas[app["apiVersion"], "Application"], app) == []


# --- every Application syncs within its AppProject, as Argo CD decides it ------------------------

# Argo CD v3.5.1's own test tables (pkg/apis/application/v1alpha1/types_test.go), replayed against
# the port in tests/argocd_project.py.
SOURCE_CASES = [
    (["*"], "https://github.com/argoproj/test.git", True),
    (["https://github.com/argoproj/test.git"], "https://github.com/argoproj/test.git", True),
    (["ssh://git@GITHUB.com:argoproj/test"], "ssh://git@github.com:argoproj/test", True),
    (["https://github.com/argoproj/*"], "https://github.com/argoproj/argoproj.git", True),
    (["https://github.com/test1/test.git", "https://github.com/test2/test.git"],
     "https://github.com/test2/test.git", True),
    (["https://github.com/argoproj/test1.git"], "https://github.com/argoproj/test2.git", False),
    (["https://github.com/argoproj/*.git"], "https://github.com/argoproj1/test2.git", False),
    (["https://github.com/argoproj/foo"], "https://github.com/argoproj/foo1", False),
    (["https://gitlab.com/group/*"], "https://gitlab.com/group/repo/owner", False),
    (["https://gitlab.com/group/*/*"], "https://gitlab.com/group/repo/owner", True),
    (["https://gitlab.com/group/*/*/*"], "https://gitlab.com/group/sub-group/repo/owner", True),
    (["https://gitlab.com/group/**"], "https://gitlab.com/group/sub-group/repo/owner", True),
    (["!https://github.com/argoproj/test.git"], "https://github.com/argoproj/test.git", False),
    (["https://github.com/test1/test.git", "!https://github.com/test2/test.git"],
     "https://github.com/test2/test.git", False),
    (["!https://github.com/argoproj/foo*"], "https://github.com/argoproj/foo1", False),
]  # fmt: skip
K8S = "https://kubernetes.default.svc"
DESTINATION_CASES = [
    ([(K8S, "default")], (K8S, "default"), True),
    ([(K8S, "default")], (K8S, "kube-system"), False),
    ([("https://my-cluster", "default")], (K8S, "default"), False),
    ([(K8S, "*")], (K8S, "kube-system"), True),
    ([("https://*.default.svc", "default")], (K8S, "default"), True),
    ([("https://team1-*", "default")], ("https://test2-dev-cluster", "default"), False),
    ([(K8S, "test-*")], (K8S, "test-foo"), True),
    ([(K8S, "test-*")], (K8S, "test"), False),
    ([("*", "*")], (K8S, "test"), True),
    ([(K8S, "!kube-system"), (K8S, "*")], (K8S, "kube-system"), False),
]


@pytest.mark.parametrize(("patterns", "repo", "permitted"), SOURCE_CASES)
def test_source_repos_match_as_in_argo_cd(patterns, repo, permitted):
    project = {"spec": {"sourceRepos": patterns}}
    assert argocd.source_permitted(project, repo) is permitted


@pytest.mark.parametrize(("allowed", "target", "permitted"), DESTINATION_CASES)
def test_destinations_match_as_in_argo_cd(allowed, target, permitted):
    project = {"spec": {"destinations": [{"server": s, "namespace": n} for s, n in allowed]}}
    assert argocd.destination_permitted(project, target[0], "", target[1]) is permitted


def test_resource_lists_match_as_in_argo_cd():
    project = {
        "spec": {
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": "team-*"}],
            "namespaceResourceBlacklist": [{"group": "*", "kind": "Secret"}],
        }
    }
    assert argocd.group_kind_permitted(project, "", "Namespace", "team-a", namespaced=False)
    assert not argocd.group_kind_permitted(project, "", "Namespace", "default", namespaced=False)
    assert not argocd.group_kind_permitted(project, "rbac.authorization.k8s.io", "ClusterRole",
                                           "x", namespaced=False)  # fmt: skip
    assert argocd.group_kind_permitted(project, "apps", "Deployment", "x", namespaced=True)
    assert not argocd.group_kind_permitted(project, "", "Secret", "x", namespaced=True)
    empty = {"spec": {"namespaceResourceWhitelist": []}}  # empty list: nothing; absent: all
    assert not argocd.group_kind_permitted(empty, "apps", "Deployment", "x", namespaced=True)


def applications() -> list[str]:
    return sorted(
        p.stem
        for p in ARGOCD.glob("*.yaml")
        if any(d and d["kind"] == "Application" for d in yaml.safe_load_all(p.read_text()))
    )


def projects() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in argocd_manifests() if d["kind"] == "AppProject"}


@pytest.mark.parametrize("name", applications())
def test_application_syncs_within_its_project(name, manifests):
    app = yaml.safe_load((ARGOCD / f"{name}.yaml").read_text())
    project = projects()[app["spec"]["project"]]
    # Argo CD looks projects up in its own namespace; an Application elsewhere needs
    # sourceNamespaces, which this project does not grant.
    assert app["metadata"]["namespace"] == project["metadata"]["namespace"] == "argocd"
    options = app["spec"]["syncPolicy"]["syncOptions"]
    assert set(options) <= KNOWN_SYNC_OPTIONS
    resources = manifests[app["spec"]["source"]["path"]]
    assert {r["kind"] for r in resources} >= {"Deployment", "Service", "ServiceMonitor"}
    assert argocd.sync_refusals(project, app, resources) == []
    if "CreateNamespace=true" in options:
        namespace = app["spec"]["destination"]["namespace"]
        assert argocd.group_kind_permitted(project, "", "Namespace", namespace, namespaced=False)


def test_a_project_without_the_namespace_refuses_create_namespace(manifests):
    """The bug this file was written for: the project once whitelisted no cluster resource."""
    app = yaml.safe_load((ARGOCD / "prod.yaml").read_text())
    project = copy.deepcopy(projects()["conveyor"])
    project["spec"]["clusterResourceWhitelist"] = []
    resources = manifests["deploy/environments/prod"]
    assert argocd.sync_refusals(project, app, resources) == [
        "resource :Namespace is not permitted in project conveyor"
    ]


def test_the_project_grants_no_more_than_the_overlays_need(manifests):
    app = yaml.safe_load((ARGOCD / "dev.yaml").read_text())
    project = projects()["conveyor"]
    resources = manifests["deploy/environments/dev"]

    def refusals(**changes: Any) -> list[str]:
        changed = copy.deepcopy(app)
        for dotted, value in changes.items():
            *parents, leaf = dotted.split("__")
            node = changed
            for key in parents:
                node = node[key]
            node[leaf] = value
        return argocd.sync_refusals(project, changed, extra)

    extra = [
        *resources,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "admin", "namespace": "conveyor-dev"},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"}},
    ]
    assert refusals() == [
        "resource :Namespace is not permitted in project conveyor",
        "resource rbac.authorization.k8s.io:RoleBinding is not permitted in project conveyor",
        "namespace default is not permitted in project 'conveyor'",
    ]
    extra = resources
    assert refusals(spec__source__repoURL="https://github.com/someone-else/conveyor.git") == [
        "application repo https://github.com/someone-else/conveyor.git is not permitted in "
        "project 'conveyor'"
    ]
    assert refusals(spec__destination__namespace="kube-system")[0] == (
        "application destination server 'https://kubernetes.default.svc' and namespace "
        "'kube-system' do not match any of the allowed destinations in project 'conveyor'"
    )
    assert "resource :Namespace is not permitted in project conveyor" in refusals(
        spec__destination__namespace="kube-system"
    )
