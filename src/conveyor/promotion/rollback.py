"""`conveyor rollback`: a promotion of an earlier release of the environment, chosen from its
history on the base branch; planned and applied as `promote` is, without the order rules."""

from __future__ import annotations

from pathlib import Path

from conveyor import git
from conveyor.errors import UserError
from conveyor.promotion import environments as envs
from conveyor.promotion.policy import base_branch, policy_at
from conveyor.promotion.promote import (
    ROLLED_BACK_FROM,
    Outcome,
    Plan,
    carry_out,
    fetch_base,
    plan,
    require_clean,
    require_plain_values,
)
from conveyor.promotion.trust import Trust
from conveyor.release import RecordRejectedError, ReleaseRecord, verify
from conveyor.tools import not_an_option

__all__ = ["plan_rollback", "rollback"]


def _rolled_back_from(repo: Path, base: str, env: str) -> set[str]:
    """Versions that rollbacks of ``env`` left, from the trailers of its promotion commits."""
    log = git.output(
        repo,
        "log",
        f"--format=%(trailers:key={ROLLED_BACK_FROM},valueonly)",
        "--end-of-options",
        base,
        "--",
        envs.record_path(env),
    )
    return {line.strip() for line in log.splitlines() if line.strip()}


def _target(repo: Path, base: str, env: str, to: str | None) -> tuple[ReleaseRecord, ReleaseRecord]:
    """(the release to restore, the one live now): ``to``, else the latest earlier release that
    no rollback left."""
    deployments = envs.history(repo, base, env)
    if not deployments:
        raise UserError(f"{env} has no release in its history: nothing to roll back to")
    current = deployments[0].record
    earlier = [d.record for d in deployments[1:] if d.record.image.digest != current.image.digest]
    if to is not None:
        named = [r for r in (current, *earlier) if r.version == to]
        if not named:
            seen = ", ".join(dict.fromkeys(r.version for r in (current, *earlier)))
            raise UserError(f"{to!r} was never live in {env} (its history has: {seen})")
        return named[0], current
    if not earlier:
        raise UserError(f"{env} has had only {current.version}: nothing earlier to roll back to")
    # Rolling back again must not bring back a release that was rolled back from.
    left = _rolled_back_from(repo, base, env)
    candidates = [r for r in earlier if r.version not in left]
    if not candidates:
        raise UserError(
            f"every earlier release of {env} was rolled back from "
            f"({', '.join(sorted(left))}): name one with --to"
        )
    return candidates[0], current


def plan_rollback(
    repo: Path,
    env: str,
    *,
    to: str | None = None,
    remote: str = "origin",
    trust: Trust | None = None,
) -> Plan:
    """Choose the release to restore (the previous one, or ``to``) and plan its promotion,
    reading only."""
    require_plain_values(env, remote)
    if to is not None:
        not_an_option(to, "--to")
    require_clean(repo)
    base = fetch_base(repo, remote, base_branch(repo))
    policy_at(repo, base).rule(env)
    target, current = _target(repo, base, env, to)
    try:
        verify(target, f"release {target.version} from {env}'s history")
    except RecordRejectedError as exc:
        raise RecordRejectedError(f"cannot roll back: {exc}") from None
    return plan(repo, env, target, remote=remote, rollback_from=current, trust=trust)


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

    def make_plan() -> Plan:
        return plan_rollback(repo, env, to=to, remote=remote, trust=trust)

    return carry_out(repo, env, make_plan, remote=remote, push=push)
