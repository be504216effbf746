"""Deployment environments as git sees them: the promotion policy, and each environment's live
release, read from (and written to) its kustomize overlay at any git revision.

What is merged on the base branch is what Argo CD syncs, so "live" here means "on the base branch".
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from conveyor.config import (
    Number,
    Strict,
    format_validation_error,
    load_model,
    parse_yaml,
    read_yaml,
)
from conveyor.errors import ConfigError, UserError
from conveyor.gitinfo import show_file
from conveyor.release import ReleaseRecord, decode_record
from conveyor.tools import failure_reason, run

POLICY = Path("policies/promotion.yaml")
ENVIRONMENTS = Path("deploy/environments")
RECORD_FILE = "release.json"
COMPONENT_FILE = "release/kustomization.yaml"


class EnvironmentRule(Strict):
    requires: str | None = None
    soak_hours: Number = Field(default=0, ge=0)


class PromotionPolicy(Strict):
    """``policies/promotion.yaml``: environments in promotion order, and what each requires."""

    base_branch: str = "main"
    image_name: str = Field(min_length=1)
    registries: list[str] = Field(min_length=1)
    environments: dict[str, EnvironmentRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _requirements_exist(self) -> PromotionPolicy:
        names = list(self.environments)
        for name, rule in self.environments.items():
            if rule.requires is None:
                continue
            if rule.requires not in self.environments:
                raise ValueError(f"environment {name!r} requires unknown {rule.requires!r}")
            if names.index(rule.requires) >= names.index(name):
                raise ValueError(f"environment {name!r} must come after {rule.requires!r}")
        return self

    def rule(self, env: str) -> EnvironmentRule:
        """The rule of ``env``; an unknown environment is a usage error listing the known ones."""
        if env not in self.environments:
            known = ", ".join(self.environments)
            raise UserError(f"unknown environment {env!r} (policies/promotion.yaml has: {known})")
        return self.environments[env]


def load_policy(root: Path) -> PromotionPolicy:
    """Read and validate the promotion policy in the checkout at ``root``."""
    return load_model(root / POLICY, PromotionPolicy)


def base_branch(root: Path) -> str:
    """The branch to promote onto, from the checkout's policy (only this key is read locally:
    the rules themselves come from that branch, see policy_at)."""
    branch = read_yaml(root / POLICY).get("base_branch", "main")
    if not isinstance(branch, str) or not branch:
        raise ConfigError(f"{POLICY}: base_branch: must be a branch name (got {branch!r})")
    return branch


def policy_at(repo: Path, revision: str) -> PromotionPolicy:
    """The promotion policy as committed at ``revision``: the reviewed one on the base branch
    rules a promotion, not an edit in the promoter's checkout."""
    origin = Path(f"{revision[:12]}:{POLICY.as_posix()}")
    text = _show(repo, revision, POLICY.as_posix())
    if text is None:
        raise UserError(f"{origin}: the base branch has no promotion policy")
    try:
        return PromotionPolicy.model_validate(parse_yaml(origin, text))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(origin, exc, text)) from None


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; a failure is a UserError carrying git's own last line."""
    result = run(["git", *args], cwd=repo, timeout=120)
    if result.returncode != 0:
        raise UserError(f"git {args[0]} failed: {failure_reason(result)}")
    return result.stdout


def _show(repo: Path, revision: str, path: str) -> str | None:
    """The text of ``path`` at ``revision``; None when it is not a file there. A file that is
    not UTF-8 is a usage error naming it (exit 2), never a traceback."""
    raw = show_file(revision, path, repo)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{revision[:12]}:{path}: not UTF-8 text") from None


def record_path(env: str) -> str:
    return f"{ENVIRONMENTS.as_posix()}/{env}/{RECORD_FILE}"


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
    raw = show_file(revision, record_path(env), repo)
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
    log = git(
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


def write_release(
    worktree: Path, policy: PromotionPolicy, env: str, record: ReleaseRecord
) -> list[str]:
    """Write the environment's release component and record; return the paths written."""
    folder = worktree / ENVIRONMENTS / env
    if not (folder / "kustomization.yaml").is_file():
        raise UserError(f"{ENVIRONMENTS / env}: no kustomize overlay for environment {env!r}")
    component = folder / COMPONENT_FILE
    component.parent.mkdir(parents=True, exist_ok=True)
    component.write_text(component_yaml(policy, record), encoding="utf-8")
    (folder / RECORD_FILE).write_text(
        json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return [f"{ENVIRONMENTS.as_posix()}/{env}/{COMPONENT_FILE}", record_path(env)]
