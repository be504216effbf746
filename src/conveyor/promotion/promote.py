"""`conveyor promote`: write an environment's release on a branch `promote/<env>` built on the
base branch, and push it. The workflow opens (or updates) the pull request from that branch with
`gh`; merging it is what deploys (Argo CD syncs the base branch).

Like Kargo's promotion steps (clone, set the image by digest, commit, open a PR) and
gitops-promoter's one PR per environment, with git alone: no controller to run. Two steps:

- ``plan``: read the base branch and ``promote/<env>`` from the remote and decide: nothing to do
  (already live), already pending, refused by the policy, or the change to write. It writes no
  ref and no file.
- ``apply``: commit the change in a throw-away worktree and push it with a lease.

``promote`` runs both, and runs them again as one unit when another promotion moved the branch
between the plan and the push.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conveyor import git
from conveyor.errors import UserError
from conveyor.promotion import champion, verification
from conveyor.promotion import environments as envs
from conveyor.promotion.environments import branch_of
from conveyor.promotion.policy import PromotionPolicy, base_branch, policy_at
from conveyor.promotion.pull_request import pull_request_body, pull_request_title
from conveyor.promotion.trust import Trust, require_trust
from conveyor.promotion.verification import Verdict
from conveyor.release import (
    Baseline,
    RecordRejectedError,
    ReleaseRecord,
    recorded_baseline,
    verify,
)
from conveyor.tools import failure_reason, not_an_option

__all__ = [
    "ROLLED_BACK_FROM",
    "Change",
    "NoOp",
    "Outcome",
    "Pending",
    "Plan",
    "Refused",
    "apply",
    "carry_out",
    "fetch_base",
    "plan",
    "promote",
    "require_clean",
    "require_plain_values",
]

PUSH_ATTEMPTS = 3
ROLLED_BACK_FROM = "Rolled-Back-From"


class PromotionRefusedError(UserError):
    """The policy forbids this promotion now (order, soak time, registry): exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class Outcome:
    """What a promotion did; ``lines()`` are the key=value lines a workflow step reads."""

    env: str
    branch: str
    changed: bool
    message: str
    title: str = ""
    body: str = ""
    commit: str = ""
    pull_request: bool = False  # the branch proposes a release: its PR should be open
    unchecked: tuple[str, ...] = ()  # trust checks that did not run, said on stderr

    def lines(self) -> list[str]:
        return [
            f"branch={self.branch}",
            f"changed={'true' if self.changed else 'false'}",
            f"pull_request={'true' if self.pull_request else 'false'}",
            f"commit={self.commit}",
            f"title={self.title}",
        ]


@dataclass(frozen=True)
class _Step:
    """What every plan names: the environment, its promotion branch, and the trust checks that
    did not run (said on stderr)."""

    env: str
    branch: str
    unchecked: tuple[str, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True)
class NoOp(_Step):
    """The release is already live in the environment: nothing to write."""

    message: str


@dataclass(frozen=True)
class Pending(_Step):
    """The release already waits on the promotion branch (``commit``): its PR should be open."""

    message: str
    title: str
    body: str
    commit: str


@dataclass(frozen=True)
class Refused(_Step):
    """The policy forbids this promotion now; ``reasons`` say which rule and what to do."""

    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Change(_Step):
    """What a promotion writes: ``files`` (path -> content) committed on ``parent`` with
    ``message``, and ``removed`` deleted, pushed to ``branch`` only while the remote's branch is
    still ``expected`` (None: the remote has no such branch)."""

    parent: str
    files: Mapping[str, str]
    message: str
    title: str
    body: str
    expected: str | None
    removed: tuple[str, ...] = field(default=(), kw_only=True)


Plan = NoOp | Pending | Refused | Change


def require_plain_values(env: str, remote: str) -> None:
    """The user's values that reach git (as a remote, in a branch name or a path) are never
    read as options: checked before anything runs."""
    not_an_option(env, "--env")
    not_an_option(remote, "--remote")


def require_usable_values(repo: Path, env: str, remote: str, **named: str | None) -> None:
    """Every value the user gave a promotion or rollback (``named``: option -> value, None when
    not given), checked before any work (a record looked up, a policy read, a ref fetched): none
    is option-shaped, and ``remote`` is one git can reach from ``repo`` (a configured remote, a
    URL, or a repository path)."""
    require_plain_values(env, remote)
    for option, value in named.items():
        if value:
            not_an_option(value, option)
    if not git.is_remote(repo, remote):
        raise UserError(
            f"--remote {remote}: no such remote in {repo} (`git remote -v` lists them), nor a "
            "URL or a repository path"
        )


def require_clean(repo: Path) -> None:
    """Refuse a checkout with uncommitted changes: a promotion starts from a known state."""
    status = git.changed_files(repo)
    if status:
        raise UserError(
            f"the working tree has uncommitted changes ({status[0].strip()}"
            f"{f' and {len(status) - 1} more' if len(status) > 1 else ''}): commit or stash "
            "them first, so the promotion is made from a known state"
        )


def _require_branch_free(repo: Path, branch: str) -> None:
    """--no-push moves the local branch: it must not be the one checked out."""
    listing = git.output(repo, "worktree", "list", "--porcelain").splitlines()
    if f"branch refs/heads/{branch}" in listing:
        raise UserError(f"{branch} is checked out here: switch to another branch first")


def fetch_base(repo: Path, remote: str, branch: str) -> str:
    """The commit of the remote's base branch: what is live, and what a promotion builds on."""
    base = git.fetch_branch(repo, remote, branch)
    if base is None:
        raise UserError(f"remote {remote!r} has no branch {branch!r}")
    return base


def _require_reviewed(repo: Path, record: ReleaseRecord, base: str, where: str) -> None:
    """A release ships only what reached the base branch through review: a commit made on a
    side branch (or absent here) never passed the pull request's gates."""
    if not git.is_ancestor(record.git_commit, base, repo):
        raise RecordRejectedError(
            f"release {record.version}: commit {record.git_commit[:12]} is not on "
            f"{where}'s history: promote only releases of reviewed commits"
        )


def _require_baseline_on(repo: Path, record: ReleaseRecord, base: str, where: str) -> None:
    """The champion was derived again where the record says it was read: that must be the
    base branch, not a side branch where no champion was live."""
    source = (recorded_baseline(record) or Baseline("")).source
    if source is not None and not git.is_ancestor(source, base, repo):
        raise RecordRejectedError(
            f"release {record.version}: its baseline was read at {source}, which "
            f"is not on {where}'s history"
        )


def _order_problems(
    repo: Path,
    base: str,
    policy: PromotionPolicy,
    env: str,
    record: ReleaseRecord,
    now: datetime,
    verdict: Verdict | None,
) -> list[str]:
    """Why the policy refuses ``record`` in ``env`` now: registry, promotion order, soak time,
    live verification in the environment it leaves."""
    rule = policy.rule(env)
    if not policy.allows_image(record.image.reference):
        allowed = ", ".join(policy.registries)
        return [
            f"{record.image.reference}: registry not allowed (policies/promotion.yaml: {allowed})"
        ]
    if rule.requires is None:
        return []
    before = envs.live(repo, base, rule.requires)
    if before is None or before.record.image.digest != record.image.digest:
        there = f"{before.record.version} ({before.record.image.digest[:19]})" if before else "none"
        return [
            f"{env} needs {record.version} ({record.image.digest[:19]}) live in "
            f"{rule.requires} first; {rule.requires} runs {there}"
        ]
    soaked = now - before.at
    needed = timedelta(hours=rule.soak_hours)
    if soaked < needed:
        ready = (before.at + needed).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return [
            f"{record.version} has been live in {rule.requires} for "
            f"{soaked.total_seconds() / 3600:.1f} h of the {rule.soak_hours:g} h soak "
            f"{env} requires; promote after {ready}"
        ]
    if rule.verified:
        limits = policy.limits(rule.requires)
        return verification.gate_problems(verdict, rule.requires, before, rule.soak_hours, limits)
    return []


def _pending(
    repo: Path, env: str, base: str, commit: str | None, current: envs.Deployment | None
) -> ReleaseRecord | None:
    """The release waiting on the promotion branch; None when the branch holds nothing that is
    not live already (GitHub keeps a merged PR's branch by default)."""
    if commit is None or git.is_ancestor(commit, base, repo):
        return None
    pending = envs.record_at(repo, commit, env)
    if pending is None or (current and pending.image.digest == current.record.image.digest):
        return None
    return pending


def _trailers(record: ReleaseRecord, rollback_from: ReleaseRecord | None) -> str:
    """Git trailers that make the promotion searchable (`git log --grep Image-Digest`); a
    rollback names the release it left, so a later rollback does not bring it back."""
    trailers = (
        f"Release: {record.version}\nImage-Digest: {record.image.digest}\n"
        f"Model: {record.model_tag}\nSource-Commit: {record.git_commit}"
    )
    if rollback_from is not None:
        trailers += f"\n{ROLLED_BACK_FROM}: {rollback_from.version}"
    return trailers


def _read_base(
    repo: Path, remote: str, onto: str, env: str, record: ReleaseRecord, trust: Trust
) -> tuple[str, PromotionPolicy]:
    """The remote base branch's commit and the policy committed there (which must know
    ``env``); with the commit check, ``record``'s commit must be in that branch's history."""
    base = fetch_base(repo, remote, onto)
    policy = policy_at(repo, base)
    policy.rule(env)
    if trust.commit_check:
        _require_reviewed(repo, record, base, f"{remote}/{onto}")
        _require_baseline_on(repo, record, base, f"{remote}/{onto}")
    return base, policy


def _read_branch(
    repo: Path, remote: str, env: str, base: str, current: envs.Deployment | None
) -> tuple[str | None, ReleaseRecord | None, bool]:
    """The promotion branch on the remote: its commit (the lease), the release pending on it,
    and whether a new commit goes on top of it. A branch still based on the current base is
    extended (a fast-forward: the PR keeps its history); a stale one is rebuilt on the base."""
    expected = git.fetch_branch(repo, remote, branch_of(env))
    pending = _pending(repo, env, base, expected, current)
    extend = expected is not None and git.is_ancestor(base, expected, repo)
    return expected, pending, extend


def plan(
    repo: Path,
    env: str,
    record: ReleaseRecord,
    *,
    remote: str = "origin",
    rollback_from: ReleaseRecord | None = None,
    now: datetime | None = None,
    trust: Trust | None = None,
    verdict: Verdict | None = None,
) -> Plan:
    """Decide what promoting ``record`` to ``env`` takes, reading only (the remote is fetched
    into FETCH_HEAD; no ref, no file is written).

    ``rollback_from`` marks a rollback: the order rules are skipped (the release was live in this
    environment before), and so is the champion check (a rollback restores an earlier, possibly
    worse, release on purpose), and a pending promotion is replaced whatever its age. A forward
    promotion is refused when the record's metric gate fails against the champion live at the
    fetched base tip (``champion.live_regression``), if that is not the champion it recorded.
    ``trust`` (default: every check) refuses a record its release did not make; what it could
    not check is in ``unchecked``. ``verdict`` is the source environment's live verification,
    required (passing, for this release) when the rule says ``verified: true``. A bad value or
    record is an error; a policy refusal is a ``Refused`` plan.
    """
    require_plain_values(env, remote)
    require_clean(repo)
    onto = base_branch(repo)
    verify(record, f"release {record.version}")
    trust = trust or Trust()
    unchecked = tuple(require_trust(repo, record, trust, f"release {record.version}"))
    branch = branch_of(env)
    base, policy = _read_base(repo, remote, onto, env, record, trust)
    current = envs.live(repo, base, env)
    if current and current.record.image.digest == record.image.digest:
        return NoOp(env, branch, f"{record.version} is already live in {env}", unchecked=unchecked)
    if rollback_from is None:
        reasons = _order_problems(
            repo, base, policy, env, record, now or datetime.now(UTC), verdict
        )
        if trust.commit_check and not reasons:
            # A rollback restores an earlier release on purpose: only a forward promotion must
            # not regress from what is live now (a better release may have gone live since
            # this record was made).
            regression = champion.live_regression(record, repo, base, trust.canonical)
            reasons = [regression] if regression else []
        if reasons:
            return Refused(env, branch, tuple(reasons), unchecked=unchecked)
    expected, pending, extend = _read_branch(repo, remote, env, base, current)
    previous = current.record if current else None
    rolling_back = rollback_from is not None
    # The verification that let it in travels with it: in the PR body, beside release.json.
    evidence = verdict if not rolling_back and policy.rule(env).verified else None
    checked = verification.markdown(evidence) if evidence else None
    title = pull_request_title(env, record, previous, rollback=rolling_back)
    if extend and expected and pending and pending.image.digest == record.image.digest:
        # Still say what the PR is: a re-run after a failed `gh pr create` must open it.
        body = pull_request_body(
            repo, env, record, previous, superseded=None, rollback=rolling_back, verified=checked
        )
        message = f"{record.version} is already pending on {branch}"
        return Pending(env, branch, message, title, body, expected, unchecked=unchecked)
    if pending and not rolling_back and pending.created_at > record.created_at:
        reason = (
            f"{branch} carries {pending.version}, newer than {record.version}: not replacing "
            f"it (merge its pull request, or delete the branch {branch} to drop it)"
        )
        return Refused(env, branch, (reason,), unchecked=unchecked)
    parent = expected if extend and expected else base
    envs.require_overlay(env, envs.overlay_at(repo, parent, env))
    body = pull_request_body(
        repo, env, record, previous, superseded=pending, rollback=rolling_back, verified=checked
    )
    files = envs.release_files(policy, env, record)
    removed: tuple[str, ...] = ()
    if evidence is not None:
        files[envs.verdict_path(env)] = (
            json.dumps(evidence.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        )
    elif git.show_file(parent, envs.verdict_path(env), repo) is not None:
        # The verdict vouched for the release this one replaces (a rollback): it goes with it.
        removed = (envs.verdict_path(env),)
    message = f"{title}\n\n{_trailers(record, rollback_from)}"
    return Change(
        env,
        branch,
        parent,
        files,
        message,
        title,
        body,
        expected,
        unchecked=unchecked,
        removed=removed,
    )


def _commit(repo: Path, change: Change) -> str:
    """Commit ``change`` on its parent in a throw-away worktree, so the user's checkout is never
    touched; return the commit."""
    folder = Path(tempfile.mkdtemp(prefix="conveyor-promote-"))
    worktree = folder / "tree"
    git.output(repo, "worktree", "add", "--quiet", "--detach", str(worktree), change.parent)
    try:
        written = envs.write_files(worktree, dict(change.files))
        git.output(worktree, "add", "--", *written)
        if change.removed:
            git.output(worktree, "rm", "--quiet", "--", *change.removed)
        git.output(worktree, "commit", "--quiet", "--no-verify", "-m", change.message)
        return git.output(worktree, "rev-parse", "HEAD").strip()
    finally:
        git.output(repo, "worktree", "remove", "--force", str(worktree))
        shutil.rmtree(folder, ignore_errors=True)


def _push(repo: Path, remote: str, commit: str, branch: str, expected: str | None) -> bool:
    """Push ``commit`` to ``branch`` only if the remote branch is still ``expected``. False when
    someone else moved it first (the lease is lost): the caller plans again."""
    result = git.push_with_lease(repo, remote, commit, branch, expected)
    if result.returncode == 0:
        return True
    # Refused: if the branch is no longer what we read, another promotion won the race (the
    # lease is checked by the client, or by the remote as it updates the ref).
    if git.fetch_branch(repo, remote, branch) != expected:
        return False
    reason = next(
        (line.split("\t")[-1] for line in result.stdout.splitlines() if line.startswith("!")),
        failure_reason(result),
    )
    raise UserError(
        f"{remote} refused the push of {branch}: {reason} (if the branch is protected against "
        "force-pushes, let the promoter rewrite promote/* branches, or delete the stale one)"
    )


def apply(
    repo: Path, change: Change, *, remote: str = "origin", push: bool = True
) -> Outcome | None:
    """Write ``change``: commit it, then push it with a lease (``push=False``: point the local
    branch at it instead, to inspect). None when another promotion moved the branch since the
    plan was made: plan again."""
    not_an_option(remote, "--remote")
    if not push:
        _require_branch_free(repo, change.branch)
    commit = _commit(repo, change)
    if push and not _push(repo, remote, commit, change.branch, change.expected):
        return None
    if not push:
        git.output(repo, "branch", "--force", change.branch, commit)  # checked free above
    where = f"pushed to {remote}" if push else "committed locally, not pushed (--no-push)"
    message = f"{change.title}: {change.branch} {where}"
    return Outcome(
        change.env,
        change.branch,
        True,
        message,
        change.title,
        change.body,
        commit,
        True,
        change.unchecked,
    )


def settle(step: NoOp | Pending | Refused) -> Outcome:
    """The outcome of a plan that writes nothing; a refusal is exit 1."""
    if isinstance(step, Refused):
        raise PromotionRefusedError("; ".join(step.reasons))
    if isinstance(step, NoOp):
        return Outcome(step.env, step.branch, False, step.message, unchecked=step.unchecked)
    return Outcome(
        step.env,
        step.branch,
        False,
        step.message,
        step.title,
        step.body,
        step.commit,
        True,
        step.unchecked,
    )


def carry_out(
    repo: Path, env: str, make_plan: Callable[[], Plan], *, remote: str, push: bool
) -> Outcome:
    """Plan and apply as one unit, again from the start when the lease was lost (another
    promotion moved the branch), at most PUSH_ATTEMPTS times."""
    require_plain_values(env, remote)
    branch = branch_of(env)
    if not push:
        _require_branch_free(repo, branch)  # before any work: the branch is written last
    for _ in range(PUSH_ATTEMPTS):
        step = make_plan()
        if not isinstance(step, Change):
            return settle(step)
        outcome = apply(repo, step, remote=remote, push=push)
        if outcome is not None:
            return outcome
    raise UserError(f"{branch} kept moving while promoting ({PUSH_ATTEMPTS} attempts); re-run it")


def promote(
    repo: Path,
    env: str,
    record: ReleaseRecord,
    *,
    remote: str = "origin",
    push: bool = True,
    rollback_from: ReleaseRecord | None = None,
    now: datetime | None = None,
    trust: Trust | None = None,
    verdict: Verdict | None = None,
) -> Outcome:
    """Prepare (and push) the promotion branch of ``env`` for ``record``: ``plan`` then ``apply``.

    Idempotent: a release already live, or already pending on the branch, changes nothing.
    Nothing is written (no ref, no file) unless the promotion goes through.
    """

    def make_plan() -> Plan:
        return plan(
            repo,
            env,
            record,
            remote=remote,
            rollback_from=rollback_from,
            now=now,
            trust=trust,
            verdict=verdict,
        )

    return carry_out(repo, env, make_plan, remote=remote, push=push)
