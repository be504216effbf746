"""What an Argo CD AppProject permits, decided the way Argo CD v3.5 decides it, so a test can say
before any cluster does that a sync would fail with "resource :Namespace is not permitted".

Ported from argoproj/argo-cd v3.5.1 (Apache-2.0): pkg/apis/application/v1alpha1/
app_project_types.go (IsSourcePermitted, isDestinationMatched, IsGroupKindNamePermitted),
types.go (isResourceInList, isNamedResourceInList: Go's filepath.Match), util/glob (gobwas/glob)
and util/git.NormalizeGitURL. tests/project/test_crds.py replays Argo CD's own test tables
against it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

_SSH_URL = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")
# Argo CD asks the cluster's API discovery whether a kind is namespaced; without a cluster, the
# built-in cluster-scoped kinds a GitOps repository may carry (any other kind is namespaced).
CLUSTER_SCOPED = {
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
}


def _class(pattern: str, i: int, negate: str) -> tuple[str, int]:
    """A ``[...]`` character class starting at ``pattern[i] == '['`` -> (regex, index after)."""
    end = pattern.index("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
    body = pattern[i + 1 : end]
    if body[:1] in negate:
        body = "^" + body[1:]
    return "[" + body.replace("\\", "\\\\") + "]", end + 1


@cache
def _gobwas_regex(pattern: str, separators: str) -> re.Pattern[str] | None:
    """gobwas/glob: ``*`` = any run without a separator, ``**`` = any run, ``?`` = one
    non-separator, ``[..]``/``[!..]``, ``{a,b}``, ``\\`` escapes. None if it does not compile."""
    not_sep = f"[^{re.escape(separators)}]" if separators else "."
    out, i, depth = [], 0, 0
    try:
        while i < len(pattern):
            char = pattern[i]
            if char == "*":
                if pattern[i : i + 2] == "**":
                    out.append(".*")
                    i += 2
                    continue
                out.append(f"{not_sep}*")
            elif char == "?":
                out.append(not_sep)
            elif char == "[":
                regex, i = _class(pattern, i, "!")
                out.append(regex)
                continue
            elif char == "{":
                depth += 1
                out.append("(?:")
            elif char == "}" and depth:
                depth -= 1
                out.append(")")
            elif char == "," and depth:
                out.append("|")
            elif char == "\\":
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(re.escape(char))
            i += 1
        return None if depth else re.compile("".join(out), re.DOTALL)
    except (ValueError, IndexError, re.error):
        return None


def glob_match(pattern: str, value: str, allow_negation: bool, separators: str = "") -> bool:
    """Argo CD's globMatch: a ``!pattern`` matches what the pattern does not."""
    if allow_negation and pattern.startswith("!"):
        return not glob_match(pattern[1:], value, False, separators)
    if pattern == "*":
        return True
    regex = _gobwas_regex(pattern, separators)
    return bool(regex and regex.fullmatch(value))


@cache
def _filepath_regex(pattern: str) -> re.Pattern[str] | None:
    """Go's path/filepath.Match: ``*`` and ``?`` never cross ``/``; ``[^..]`` negates."""
    out, i = [], 0
    try:
        while i < len(pattern):
            char = pattern[i]
            if char == "*":
                out.append("[^/]*")
            elif char == "?":
                out.append("[^/]")
            elif char == "[":
                regex, i = _class(pattern, i, "^")
                out.append(regex)
                continue
            elif char == "\\":
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(re.escape(char))
            i += 1
        return re.compile("".join(out), re.DOTALL)
    except (ValueError, IndexError, re.error):
        return None


def filepath_match(pattern: str, value: str) -> bool:
    """Go's filepath.Match; a malformed pattern matches nothing (Argo CD ignores the error)."""
    regex = _filepath_regex(pattern)
    return bool(regex and regex.fullmatch(value))


def normalize_git_url(repo: str) -> str:
    """util/git.NormalizeGitURL for the URL forms a project lists (https, ssh, scp-like)."""
    repo = repo.strip().lower()
    if _SSH_URL.match(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    return repo.removesuffix(".git").removeprefix("ssh://")


def source_permitted(project: dict[str, Any], repo_url: str) -> bool:
    """AppProject.IsSourcePermitted: some pattern matches and no ``!pattern`` refuses."""
    source = normalize_git_url(repo_url)
    matched = False
    for pattern in project["spec"].get("sourceRepos") or []:
        deny = pattern.startswith("!")
        normalized = ("!" if deny else "") + normalize_git_url(pattern.removeprefix("!"))
        if glob_match(normalized, source, True, "/"):
            matched = True
        elif deny:
            return False
    return matched


def destination_permitted(project: dict[str, Any], server: str, name: str, namespace: str) -> bool:
    """AppProject.isDestinationMatched (server or cluster name, and namespace; ``!`` denies)."""
    matched = False
    for item in project["spec"].get("destinations") or []:
        item_server, item_name = item.get("server", ""), item.get("name", "")
        item_namespace = item.get("namespace", "")
        name_ok = name != "" and glob_match(item_name, name, True)
        server_ok = server != "" and glob_match(item_server, server, True)
        namespace_ok = glob_match(item_namespace, namespace, True)
        denied_cluster = (not name_ok and item_name.startswith("!")) or (
            not server_ok and item_server.startswith("!") and namespace_ok
        )
        denied_namespace = not namespace_ok and item_namespace.startswith("!") and server_ok
        if (server_ok or name_ok) and namespace_ok:
            matched = True
        elif denied_cluster or denied_namespace:
            return False
    return matched


def _in_list(group: str, kind: str, name: str, items: list[dict[str, str]]) -> bool:
    return any(
        filepath_match(item.get("kind", ""), kind)
        and filepath_match(item.get("group", ""), group)
        and (not item.get("name") or filepath_match(item["name"], name))
        for item in items
    )


def group_kind_permitted(
    project: dict[str, Any], group: str, kind: str, name: str, namespaced: bool
) -> bool:
    """AppProject.IsGroupKindNamePermitted. Namespaced: no whitelist at all allows every kind, an
    empty one none. Cluster-scoped: only what the cluster whitelist lists (by name, if given)."""
    spec = project["spec"]
    if namespaced:
        whitelist = spec.get("namespaceResourceWhitelist")
        allowed = whitelist is None or _in_list(group, kind, "", whitelist)
        blacklist = spec.get("namespaceResourceBlacklist") or []
        return allowed and not _in_list(group, kind, "", blacklist)
    allowed = _in_list(group, kind, name, spec.get("clusterResourceWhitelist") or [])
    return allowed and not _in_list(group, kind, name, spec.get("clusterResourceBlacklist") or [])


def sync_refusals(
    project: dict[str, Any], app: dict[str, Any], resources: list[dict[str, Any]]
) -> list[str]:
    """Every reason Argo CD would refuse to sync ``app`` (with these rendered ``resources``) in
    ``project``, worded as Argo CD words it (controller/sync.go validateSyncPermissions)."""
    name, spec = project["metadata"]["name"], app["spec"]
    destination = spec["destination"]
    server, cluster = destination.get("server", ""), destination.get("name", "")
    target_ns = destination.get("namespace", "")
    refusals = []
    if spec.get("project") != name:
        refusals.append(f"application belongs to project {spec.get('project')!r}, not {name!r}")
    sources = spec.get("sources") or [spec["source"]]
    for source in sources:
        if not source_permitted(project, source["repoURL"]):
            refusals.append(
                f"application repo {source['repoURL']} is not permitted in project '{name}'"
            )
    if not destination_permitted(project, server, cluster, target_ns):
        refusals.append(
            f"application destination server '{server or cluster}' and namespace "
            f"'{target_ns}' do not match any of the allowed destinations in project '{name}'"
        )
    to_sync = list(resources)
    if "CreateNamespace=true" in ((spec.get("syncPolicy") or {}).get("syncOptions") or []):
        # Argo CD adds the destination namespace as a Namespace resource of the sync.
        to_sync.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target_ns}})
    for resource in to_sync:
        group = resource["apiVersion"].rpartition("/")[0]
        kind, meta = resource["kind"], resource["metadata"]
        namespaced = (group, kind) not in CLUSTER_SCOPED
        namespace = meta.get("namespace") or target_ns  # Argo CD applies it in the destination
        if not group_kind_permitted(project, group, kind, meta["name"], namespaced):
            refusals.append(f"resource {group}:{kind} is not permitted in project {name}")
        elif namespaced and not destination_permitted(project, server, cluster, namespace):
            refusals.append(f"namespace {namespace} is not permitted in project '{name}'")
    return refusals
