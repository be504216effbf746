"""Deployment environments as git records them: each environment's live release, read from (and
written to) its kustomize overlay at any git revision, and the branch that proposes its next one.

What is merged on the base branch is what Argo CD syncs, so "live" here means "on the base branch".
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from conveyor import git
from conveyor.errors import UserError
from conveyor.promotion.policy import PromotionPolicy, load_policy
from conveyor.release import ReleaseRecord, decode_record

__all__ = [
    "COMPONENT_FILE",
    "ENVIRONMENTS",
    "RECORD_FILE",
    "Deployment",
    "branch_of",
    "history",
    "live",
    "overlay_at",
    "record_at",
    "record_file_in",
    "record_file_of",
    "record_path",
    "release_files",
    "require_overlay",
    "verdict_path",
    "write_files",
    "write_release",
]

ENVIRONMENTS = Path("deploy/environments")
RECORD_FILE = "release.json"
VERDICT_FILE = "verification.json"  # the live verification that let the release in
COMPONENT_FILE = "release/kustomization.yaml"
OVERLAY_FILE = "kustomization.yaml"


def branch_of(env: str) -> str:
    """The branch whose one pull request proposes ``env``'s next release."""
    return f"promote/{env}"


def record_path(env: str) -> str:
    """Where ``env``'s live release record is committed."""
    return f"{ENVIRONMENTS.as_posix()}/{env}/{RECORD_FILE}"


def verdict_path(env: str) -> str:
    """Where the verification that allowed ``env``'s release is committed, beside its record."""
    return f"{ENVIRONMENTS.as_posix()}/{env}/{VERDICT_FILE}"


def record_file_in(root: Path, env: str) -> Path:
    """The release record live in ``env`` in the checkout at ``root``; exit 1 when none is."""
    load_policy(root).rule(env)  # an environment of the policy, never a path of its own
    path = root / record_path(env)
    if not path.is_file():
        raise RecordNotFoundError(f"{record_path(env)}: nothing runs in {env} yet")
    return path


def record_file_of(root: Path, version: str) -> Path:
    """The record of release ``version`` as an environment of the checkout runs it (the release
    is promoted from where it already runs); exit 1 when no environment runs it."""
    for path in sorted((root / ENVIRONMENTS).glob(f"*/{RECORD_FILE}")):
        try:
            found = json.loads(path.read_text(encoding="utf-8")).get("version")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue  # not a record: the promotion itself reads and refuses what is chosen
        if found == version:
            return path
    raise RecordNotFoundError(
        f"no environment runs release {version!r}: promote it to the first environment from "
        "its release run"
    )


class RecordNotFoundError(UserError):
    """The release asked for runs nowhere (yet): a failed check, exit 1."""

    exit_code = 1


def record_at(repo: Path, revision: str, env: str) -> ReleaseRecord | None:
    """The release record of ``env`` at ``revision``; None when the environment has none yet."""
    raw = git.show_file(revision, record_path(env), repo)
    if raw is None:
        return None
    return decode_record(raw, f"{revision}:{record_path(env)}")


@dataclass(frozen=True)
class Deployment:
    """A release as it went live in an environment: the base-branch commit that made it live."""

    record: ReleaseRecord
    commit: str
    at: datetime


def history(repo: Path, revision: str, env: str) -> list[Deployment]:
    """Releases of ``env`` on ``revision``'s first-parent line, newest first.

    First-parent history is the base branch's own: a merged promotion counts from its merge
    commit (when it went live), not from when its branch was written.
    """
    log = git.output(
        repo,
        "log",
        "--first-parent",
        "--format=%H %cI",
        "--end-of-options",
        revision,
        "--",
        record_path(env),
    ).split()
    deployments = []
    for index, (commit, stamp) in enumerate(zip(log[::2], log[1::2], strict=True)):
        try:
            record = record_at(repo, commit, env)
        except UserError as exc:
            if index == 0:
                raise  # what runs now must be known: the caller says why it is not
            # An earlier file that is no valid record never deployed anything (promotion
            # refuses one): an operator rolling back in an incident needs the releases that
            # did, so it is passed over, and said.
            print(f"warning: {exc} (passed over in {env}'s history)", file=sys.stderr)
            continue
        if record is not None:  # a commit that deleted the record is not a release
            deployments.append(Deployment(record, commit, datetime.fromisoformat(stamp)))
    return deployments


def live(repo: Path, revision: str, env: str) -> Deployment | None:
    """The release live in ``env`` at ``revision``, dated from when its digest went live (a record
    re-written for the same digest does not restart the clock)."""
    if record_at(repo, revision, env) is None:
        return None
    deployments = history(repo, revision, env)
    current = since = deployments[0]
    for earlier in deployments[1:]:
        if earlier.record.image.digest != current.record.image.digest:
            break
        since = earlier
    return Deployment(current.record, since.commit, since.at)


def component_yaml(policy: PromotionPolicy, record: ReleaseRecord) -> str:
    """The kustomize Component that pins ``env``'s image by digest and labels its version."""
    name = record.image.reference.rpartition("@")[0]
    component = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "images": [{"name": policy.image_name, "newName": name, "digest": record.image.digest}],
        "labels": [
            {
                "pairs": {"version": record.version},
                "includeSelectors": False,  # selectors are immutable
                "includeTemplates": True,
            }
        ],
    }
    header = (
        "# Written by `conveyor promote` / `conveyor rollback`: the release live in this\n"
        "# environment once merged. Do not edit by hand; release.json beside it is its evidence.\n"
    )
    return header + yaml.safe_dump(component, sort_keys=False)


def release_files(policy: PromotionPolicy, env: str, record: ReleaseRecord) -> dict[str, str]:
    """What a promotion of ``record`` to ``env`` writes: path in the repository -> content."""
    return {
        f"{ENVIRONMENTS.as_posix()}/{env}/{COMPONENT_FILE}": component_yaml(policy, record),
        record_path(env): json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True)
        + "\n",
    }


def require_overlay(env: str, present: bool) -> None:
    """Refuse an environment that has no kustomize overlay to write the release into."""
    if not present:
        raise UserError(f"{ENVIRONMENTS / env}: no kustomize overlay for environment {env!r}")


def overlay_at(repo: Path, revision: str, env: str) -> bool:
    """True when ``env`` has a kustomize overlay at ``revision``."""
    path = f"{ENVIRONMENTS.as_posix()}/{env}/{OVERLAY_FILE}"
    return git.show_file(revision, path, repo) is not None


def write_files(worktree: Path, files: dict[str, str]) -> list[str]:
    """Write ``files`` (path -> content) under ``worktree``; return the paths written."""
    for path, content in files.items():
        target = worktree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return list(files)


def write_release(
    worktree: Path, policy: PromotionPolicy, env: str, record: ReleaseRecord
) -> list[str]:
    """Write the environment's release component and record; return the paths written."""
    require_overlay(env, (worktree / ENVIRONMENTS / env / OVERLAY_FILE).is_file())
    return write_files(worktree, release_files(policy, env, record))
