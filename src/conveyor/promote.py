"""`conveyor promote` and `conveyor rollback`: write an environment's release on a branch
`promote/<env>` built on the base branch, and push it. The workflow opens (or updates) the pull
request from that branch with `gh`; merging it is what deploys (Argo CD syncs the base branch).

Like Kargo's promotion steps (clone, set the image by digest, commit, open a PR) and
gitops-promoter's one PR per environment, with git alone: no controller to run.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conveyor import champion, signature
from conveyor import environments as envs
from conveyor.environments import PromotionPolicy, git
from conveyor.errors import UserError
from conveyor.promotion_body import pull_request_body, pull_request_title
from conveyor.release import (
    Baseline,
    RecordRejectedError,
    ReleaseRecord,
    content_digest,
    recorded_baseline,
    verify,
)
from conveyor.tools import failure_reason, not_an_option, run

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
class Trust:
    """What a promotion checks beyond the record's own fields, which anyone who can edit the
    file can rewrite and re-seal (record_digest is an unkeyed hash).

    ``commit_check``: the data and metric verdicts are re-established from the record's commit
    in the repository. ``source_repository`` (and the workflow's repository and ref): the record
    must be the one ml-release signed there (a cosign attestation on the image), which alone
    vouches for the tests and security verdicts; ``require_signature`` refuses to run without
    cosign rather than skip that check."""

    commit_check: bool = True
    source_repository: str | None = None
    workflow_repository: str | None = None
    workflow_ref: str | None = None
    require_signature: bool = False

    def signer(self, record: ReleaseRecord) -> signature.SignerPolicy | None:
        """Who may have signed ``record``'s release (None: no signer rule given)."""
        if self.source_repository is None:
            return None
        return signature.SignerPolicy(
            source_repository=self.source_repository,
            workflow_repository=self.workflow_repository or self.source_repository,
            version=record.version,
            workflow_ref=self.workflow_ref,
        )


def trust_problems(repo: Path, record: ReleaseRecord, trust: Trust) -> tuple[list[str], list[str]]:
    """(why the record is not the one its release made, what was not checked and why)."""
    found: list[str] = []
    unchecked: list[str] = []
    if trust.commit_check:
        found += champion.record_problems(record, repo)
    else:
        unchecked.append(
            "data and metric verdicts NOT tied to a commit, nor the commit to the base branch "
            "(--no-commit-check)"
        )
    signer = trust.signer(record)
    if signer is None:
        unchecked.append(
            "signature NOT checked (no --source-repository): the tests and security verdicts "
            "are only as trustworthy as this file"
        )
    elif not signature.cosign_available():
        command = shlex.join(signature.attestation_args(signer, record.image.reference))
        unchecked.append(f"signature NOT checked: cosign is not on PATH; run: {command}")
    else:
        reason = signature.record_check(
            signer, record.image.reference, record.model_dump(mode="json"), content_digest
        )
        if reason is not None:
            found.append(f"signature check: {reason}")
    return found, unchecked


def require_trust(repo: Path, record: ReleaseRecord, trust: Trust, origin: str) -> list[str]:
    """Refuse (exit 1, one line naming every mismatch) a record its release did not make; the
    checks that could not run, for the caller to say so."""
    if trust.require_signature and trust.source_repository is None:
        raise UserError("--require-signature needs --source-repository")
    if trust.require_signature and not signature.cosign_available():
        raise UserError("--require-signature: cosign is not on PATH (install it first)")
    found, unchecked = trust_problems(repo, record, trust)
    if found:
        raise RecordRejectedError(f"{origin}: not the record its release made: " + "; ".join(found))
    return unchecked


def branch_of(env: str) -> str:
    return f"promote/{env}"


def _fetch(repo: Path, remote: str, branch: str) -> str | None:
    """The commit of ``branch`` on ``remote`` (fetched), or None when the remote has no such
    branch. Only FETCH_HEAD is written (no ref moves), so a refused promotion leaves every ref of
    the repository as it was."""
    result = run(
        [
            "git",
            "fetch",
            "--quiet",
            "--no-tags",
            "--refmap=",
            "--end-of-options",
            not_an_option(remote, "--remote"),
            f"refs/heads/{branch}",
        ],
        cwd=repo,
    )
    if result.returncode == 0:
        # git resolves FETCH_HEAD itself: in a linked worktree `.git` is a file, not a folder.
        head = run(["git", "rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"], cwd=repo)
        if head.returncode != 0:
            raise UserError(f"cannot read what was fetched of {branch!r}: {failure_reason(head)}")
        return head.stdout.strip()
    listed = run(
        ["git", "ls-remote", "--exit-code", "--end-of-options", remote, f"refs/heads/{branch}"],
        cwd=repo,
    )
    if listed.returncode == 2:  # the remote answered: it has no such branch
        return None
    said = " ".join(result.stderr.split()) or failure_reason(result)  # git's lines, all of them
    raise UserError(f"cannot fetch {branch!r} from remote {remote!r}: {said[-400:]}")


def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    return (
        run(
            ["git", "merge-base", "--is-ancestor", "--end-of-options", older, newer], cwd=repo
        ).returncode
        == 0
    )


def _require_plain_values(env: str, remote: str) -> None:
    """The user's values that reach git (as a remote, in a branch name or a path) are never
    read as options: checked before anything runs."""
    not_an_option(env, "--env")
    not_an_option(remote, "--remote")


def _require_clean(repo: Path) -> None:
    status = git(repo, "status", "--porcelain", "--untracked-files=no").splitlines()
    if status:
        raise UserError(
            f"the working tree has uncommitted changes ({status[0].strip()}"
            f"{f' and {len(status) - 1} more' if len(status) > 1 else ''}): commit or stash "
            "them first, so the promotion is made from a known state"
        )


def _pending(
    repo: Path, env: str, base: str, commit: str | None, current: envs.Deployment | None
) -> ReleaseRecord | None:
    """The release waiting on the promotion branch; None when the branch holds nothing that is
    not live already (GitHub keeps a merged PR's branch by default)."""
    if commit is None or _is_ancestor(repo, commit, base):
        return None
    pending = envs.record_at(repo, commit, env)
    if pending is None or (current and pending.image.digest == current.record.image.digest):
        return None
    return pending


def _require_branch_free(repo: Path, branch: str) -> None:
    """--no-push moves the local branch: it must not be the one checked out."""
    listing = git(repo, "worktree", "list", "--porcelain").splitlines()
    if f"branch refs/heads/{branch}" in listing:
        raise UserError(f"{branch} is checked out here: switch to another branch first")


def _check_order(
    repo: Path, base: str, policy: PromotionPolicy, env: str, record: ReleaseRecord, now: datetime
) -> None:
    rule = policy.rule(env)
    if not any(record.image.reference.startswith(prefix) for prefix in policy.registries):
        allowed = ", ".join(policy.registries)
        raise PromotionRefusedError(
            f"{record.image.reference}: registry not allowed (policies/promotion.yaml: {allowed})"
        )
    if rule.requires is None:
        return
    before = envs.live(repo, base, rule.requires)
    if before is None or before.record.image.digest != record.image.digest:
        there = f"{before.record.version} ({before.record.image.digest[:19]})" if before else "none"
        raise PromotionRefusedError(
            f"{env} needs {record.version} ({record.image.digest[:19]}) live in "
            f"{rule.requires} first; {rule.requires} runs {there}"
        )
    soaked = now - before.at
    needed = timedelta(hours=rule.soak_hours)
    if soaked < needed:
        ready = (before.at + needed).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise PromotionRefusedError(
            f"{record.version} has been live in {rule.requires} for "
            f"{soaked.total_seconds() / 3600:.1f} h of the {rule.soak_hours:g} h soak "
            f"{env} requires; promote after {ready}"
        )


def _commit_release(
    repo: Path, parent: str, policy: PromotionPolicy, env: str, record: ReleaseRecord, msg: str
) -> str:
    """Commit the environment's new release on top of ``parent`` in a throw-away worktree, so the
    user's checkout is never touched; return the commit."""
    folder = Path(tempfile.mkdtemp(prefix="conveyor-promote-"))
    worktree = folder / "tree"
    git(repo, "worktree", "add", "--quiet", "--detach", str(worktree), parent)
    try:
        written = envs.write_release(worktree, policy, env, record)
        git(worktree, "add", "--", *written)
        git(worktree, "commit", "--quiet", "--no-verify", "-m", msg)
        return git(worktree, "rev-parse", "HEAD").strip()
    finally:
        git(repo, "worktree", "remove", "--force", str(worktree))
        shutil.rmtree(folder, ignore_errors=True)


def _push(repo: Path, remote: str, commit: str, branch: str, expected: str | None) -> bool:
    """Push ``commit`` to ``branch`` only if the remote branch is still ``expected`` (None: absent).
    False when someone else moved it first; the caller re-reads and decides."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
    target = f"{commit}:refs/heads/{branch}"
    remote = not_an_option(remote, "--remote")
    result = run(
        ["git", "push", "--porcelain", lease, "--end-of-options", remote, target], cwd=repo
    )
    if result.returncode == 0:
        return True
    # Refused: if the branch is no longer what we read, another promotion won the race (the
    # lease is checked by the client, or by the remote as it updates the ref).
    if _fetch(repo, remote, branch) != expected:
        return False
    reason = next(
        (line.split("\t")[-1] for line in result.stdout.splitlines() if line.startswith("!")),
        failure_reason(result),
    )
    raise UserError(
        f"{remote} refused the push of {branch}: {reason} (if the branch is protected against "
        "force-pushes, let the promoter rewrite promote/* branches, or delete the stale one)"
    )


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
) -> Outcome:
    """Prepare (and push) the promotion branch of ``env`` for ``record``.

    Idempotent: a release already live, or already pending on the branch, changes nothing.
    ``rollback_from`` marks a rollback: the order rules are skipped (the release was live in this
    environment before) and a pending promotion is replaced whatever its age. Nothing is written
    (no ref, no file) unless the promotion goes through. ``trust`` (default: every check)
    refuses a record its release did not make; what it could not check is in ``unchecked``.
    """
    _require_plain_values(env, remote)
    _require_clean(repo)
    base_branch = envs.base_branch(repo)
    verify(record, f"release {record.version}")
    trust = trust or Trust()
    unchecked = require_trust(repo, record, trust, f"release {record.version}")
    now = now or datetime.now(UTC)
    branch = branch_of(env)
    if not push:
        _require_branch_free(repo, branch)
    for _ in range(PUSH_ATTEMPTS):
        base = _fetch(repo, remote, base_branch)
        if base is None:
            raise UserError(f"remote {remote!r} has no branch {base_branch!r}")
        policy = envs.policy_at(repo, base)
        policy.rule(env)
        if trust.commit_check and not _is_ancestor(repo, record.git_commit, base):
            # A release ships only what reached the base branch through review: a commit made
            # on a side branch (or absent here) never passed the pull request's gates.
            raise RecordRejectedError(
                f"release {record.version}: commit {record.git_commit[:12]} is not on "
                f"{remote}/{base_branch}'s history: promote only releases of reviewed commits"
            )
        source = (recorded_baseline(record) or Baseline("")).source
        if trust.commit_check and source is not None and not _is_ancestor(repo, source, base):
            # The champion was derived again where the record says it was read: that must be
            # the base branch, not a side branch where no champion was live.
            raise RecordRejectedError(
                f"release {record.version}: its baseline was read at {source}, which "
                f"is not on {remote}/{base_branch}'s history"
            )
        current = envs.live(repo, base, env)
        if current and current.record.image.digest == record.image.digest:
            message = f"{record.version} is already live in {env}"
            return Outcome(env, branch, False, message, unchecked=tuple(unchecked))
        if rollback_from is None:
            _check_order(repo, base, policy, env, record, now)
        pending_commit = _fetch(repo, remote, branch)
        pending = _pending(repo, env, base, pending_commit, current)
        # A pending branch still based on the current base is updated by a new commit on top (a
        # fast-forward: the PR keeps its history); a stale one is rebuilt on the base.
        extend = pending_commit is not None and _is_ancestor(repo, base, pending_commit)
        previous = current.record if current else None
        rolling_back = rollback_from is not None
        title = pull_request_title(env, record, previous, rollback=rolling_back)
        if extend and pending and pending.image.digest == record.image.digest:
            # Still say what the PR is: a re-run after a failed `gh pr create` must open it.
            body = pull_request_body(
                repo, env, record, previous, superseded=None, rollback=rolling_back
            )
            message = f"{record.version} is already pending on {branch}"
            return Outcome(
                env,
                branch,
                False,
                message,
                title,
                body,
                pending_commit or "",
                True,
                tuple(unchecked),
            )
        if pending and not rolling_back and pending.created_at > record.created_at:
            raise PromotionRefusedError(
                f"{branch} carries {pending.version}, newer than {record.version}: not replacing "
                f"it (merge its pull request, or delete the branch {branch} to drop it)"
            )
        body = pull_request_body(
            repo, env, record, previous, superseded=pending, rollback=rolling_back
        )
        parent = pending_commit if extend and pending_commit else base
        message = f"{title}\n\n{_trailers(record, rollback_from)}"
        commit = _commit_release(repo, parent, policy, env, record, message)
        if push and not _push(repo, remote, commit, branch, pending_commit):
            continue  # another promotion moved the branch: re-read everything and decide again
        if not push:
            git(repo, "branch", "--force", branch, commit)  # to inspect; checked free above
        where = f"pushed to {remote}" if push else "committed locally, not pushed (--no-push)"
        message = f"{title}: {branch} {where}"
        return Outcome(env, branch, True, message, title, body, commit, True, tuple(unchecked))
    raise UserError(f"{branch} kept moving while promoting ({PUSH_ATTEMPTS} attempts); re-run it")


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


def _rolled_back_from(repo: Path, base: str, env: str) -> set[str]:
    """Versions that rollbacks of ``env`` left, from the trailers of its promotion commits."""
    log = git(
        repo,
        "log",
        f"--format=%(trailers:key={ROLLED_BACK_FROM},valueonly)",
        "--end-of-options",
        base,
        "--",
        envs.record_path(env),
    )
    return {line.strip() for line in log.splitlines() if line.strip()}


def rollback(
    repo: Path,
    env: str,
    *,
    to: str | None = None,
    remote: str = "origin",
    push: bool = True,
    trust: Trust | None = None,
) -> Outcome:
    """Prepare the promotion branch that restores the previous (or the named) release of ``env``."""
    _require_plain_values(env, remote)
    if to is not None:
        not_an_option(to, "--to")
    _require_clean(repo)
    base_branch = envs.base_branch(repo)
    base = _fetch(repo, remote, base_branch)
    if base is None:
        raise UserError(f"remote {remote!r} has no branch {base_branch!r}")
    envs.policy_at(repo, base).rule(env)
    deployments = envs.history(repo, base, env)
    if not deployments:
        raise UserError(f"{env} has no release in its history: nothing to roll back to")
    current = deployments[0].record
    earlier = [d.record for d in deployments[1:] if d.record.image.digest != current.image.digest]
    if to is None:
        if not earlier:
            raise UserError(
                f"{env} has had only {current.version}: nothing earlier to roll back to"
            )
        # Rolling back again must not bring back a release that was rolled back from.
        left = _rolled_back_from(repo, base, env)
        candidates = [r for r in earlier if r.version not in left]
        if not candidates:
            raise UserError(
                f"every earlier release of {env} was rolled back from "
                f"({', '.join(sorted(left))}): name one with --to"
            )
        target = candidates[0]
    else:
        named = [r for r in (current, *earlier) if r.version == to]
        if not named:
            seen = ", ".join(dict.fromkeys(r.version for r in (current, *earlier)))
            raise UserError(f"{to!r} was never live in {env} (its history has: {seen})")
        target = named[0]
    try:
        verify(target, f"release {target.version} from {env}'s history")
    except RecordRejectedError as exc:
        raise RecordRejectedError(f"cannot roll back: {exc}") from None
    return promote(repo, env, target, remote=remote, push=push, rollback_from=current, trust=trust)
