"""The champion: the release a new one must not regress from, read from the default branch.

The champion is the release live in the last environment of the promotion policy's order (prod)
that has one, as committed at the tip of the default branch: what is merged there is what Argo CD
runs. Read there, and not in the released commit's history, because a promotion merged after a
model commit is not in that commit's history, and an old commit re-released under a new tag has
only older promotions behind it: either way there would be "no previous release" and the
regression rules would not apply. Only the policy's environments count (a record committed in any
other folder is no release), and the champion's own record must still hold at its commit: its
seal (an unkeyed hash, anyone can re-seal) proves nothing alone.

The release record names the champion's commit and the base-branch commit it was read from
(``inputs.baseline_commit`` / ``baseline_source`` of its metric verdict), so ``release verify``
and promotion derive the same champion again from that commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conveyor import git
from conveyor.errors import UserError
from conveyor.promotion import environments
from conveyor.promotion import policy as promotion_policy
from conveyor.release import (
    FIRST_RELEASE,
    Baseline,
    Canonical,
    RecordRejectedError,
    ReleaseRecord,
    commit_problems,
    decode_record,
    metrics_verdict_at,
    problems,
    recorded_baseline,
)

__all__ = [
    "baseline_at",
    "branch_commit",
    "default_branch",
    "live_regression",
    "record_problems",
    "verify_branch",
]

REMOTE = "origin"  # the remote ml-release's checkout fetches (actions/checkout names it so)


@dataclass(frozen=True)
class Champion:
    """The release live in ``env`` at base-branch commit ``source``."""

    env: str
    record: ReleaseRecord
    source: str

    @property
    def baseline(self) -> Baseline:
        label = (
            f"previous release {self.record.version} ({self.record.git_commit[:12]}), "
            f"live in {self.env} at {self.source[:12]}"
        )
        return Baseline(self.record.git_commit, self.source, label)


def default_branch(top: Path) -> str:
    """``origin/<base_branch>`` of the checkout's promotion policy (``origin/main`` without one:
    the lookup at that ref then refuses for want of a policy)."""
    policy = top / promotion_policy.POLICY
    return f"{REMOTE}/{promotion_policy.base_branch(top) if policy.is_file() else 'main'}"


def verify_branch(top: Path) -> str:
    """The default branch a record is verified against when no ``--branch`` is given:
    ``origin/<base_branch>`` (the policy's; what ``release record`` reads), else the local
    ``<base_branch>`` of a checkout without that remote-tracking ref. Never the record's word:
    a baseline read on a side branch or an older tip must be caught without being asked. A usage
    error (exit 2) when neither exists."""
    remote = default_branch(top)
    local = remote.removeprefix(f"{REMOTE}/")
    for ref in (remote, local):
        if git.resolve_commit(ref, top) is not None:
            return ref
    raise UserError(
        f"--branch not given, and neither {remote} nor {local} is in {top}: name the default "
        "branch (--branch REF) or fetch it; its live champion is what a record is held to"
    )


def branch_commit(top: Path, branch: str, option: str = "--branch") -> str:
    """The commit ``branch`` names in ``top``; a usage error (exit 2) when it names none: without
    the default branch the champion is unknown, and a missing one must never read as "none"."""
    commit = git.resolve_commit(branch, top)
    if commit is None:
        raise UserError(
            f"{option} {branch}: no such branch or ref in {top}: the regression baseline is read "
            "at the default branch's tip (fetch it: actions/checkout needs fetch-depth: 0)"
        )
    return commit


def _sound(
    record: ReleaseRecord, top: Path, origin: str, canonical: Canonical | None
) -> ReleaseRecord:
    """``record`` when its release stands: sealed, every gate passed, and its own metric and data
    verdicts re-established at its commit against the baseline it recorded (pinned, so the check
    does not recurse through every earlier champion). Refused (exit 1) otherwise: passing over it
    would mean "no baseline" again."""
    found = problems(record) + commit_problems(record, top, recorded_baseline(record), canonical)
    if found:
        raise RecordRejectedError(
            f"{origin}: the champion ({record.version}) does not stand, so no release can be "
            f"compared with it: {'; '.join(found)}"
        )
    return record


# A digest the release component pins, in any YAML spelling (block or flow style, quoted or
# not, JSON); all zeros is the placeholder of an environment that has never had a release
# (deploy/environments/<env>/release/kustomization.yaml as shipped). Any other digest in the
# file counts as deployed: a digest left in a comment refuses (fail closed), never hides one.
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PLACEHOLDER = "sha256:" + "0" * 64


def _deployed(top: Path, source: str, env: str) -> str | None:
    """The digest ``env``'s release component deploys at ``source`` (None: none, or the
    placeholder)."""
    path = f"{environments.ENVIRONMENTS.as_posix()}/{env}/{environments.COMPONENT_FILE}"
    raw = git.show_file(source, path, top)
    text = raw.decode("utf-8", "replace") if raw is not None else ""
    return next((d for d in _DIGEST.findall(text) if d != _PLACEHOLDER), None)


def _require_no_hidden_release(
    top: Path, source: str, policy: promotion_policy.PromotionPolicy
) -> None:
    """Refuse (exit 1) a champion that vanished rather than fall back to "no previous release":
    an environment folder the policy does not name that holds a release (a renamed `prod:` in
    the policy, the folder still synced), or an environment that deploys a digest with no
    release.json beside it (the evidence deleted, the release still running)."""
    root = environments.ENVIRONMENTS.as_posix()
    for folder in git.list_files(source, root, top):
        env = folder.rsplit("/", 1)[-1]
        if env in policy.environments:
            continue
        if git.show_file(source, environments.record_path(env), top) is not None or _deployed(
            top, source, env
        ):
            raise RecordRejectedError(
                f"{folder} at {source[:12]} holds a release, but {promotion_policy.POLICY} names "
                f"no environment {env!r}: name it there (or remove the folder), or the champion "
                "it may run is not compared with"
            )
    for env in policy.environments:
        digest = _deployed(top, source, env)
        if digest and git.show_file(source, environments.record_path(env), top) is None:
            raise RecordRejectedError(
                f"{root}/{env} at {source[:12]} deploys {digest[:19]} but has no "
                f"{environments.RECORD_FILE}: the champion's evidence is gone (restore it, or "
                "promote a release there), so no release can be compared with it"
            )


def champion_at(top: Path, source: str, canonical: Canonical | None = None) -> Champion | None:
    """The champion at base-branch commit ``source``: the record of the last environment of the
    policy (as committed there) that has one. Falls back along the order (prod, then staging,
    then dev) because before anything reached prod, the furthest-promoted release is the best
    the team has vouched for; None when no environment has a release (a first release). A
    release the policy cannot see (``_require_no_hidden_release``) is refused, never "none"."""
    policy = promotion_policy.policy_at(top, source)
    _require_no_hidden_release(top, source, policy)
    for env in reversed(list(policy.environments)):
        path = environments.record_path(env)
        raw = git.show_file(source, path, top)
        if raw is None:
            continue
        origin = f"{path} at {source[:12]}"
        try:
            record = decode_record(raw, origin)
        except UserError as exc:  # no record at all where a release should be: refused
            raise RecordRejectedError(f"the champion does not stand: {exc}") from None
        return Champion(env, _sound(record, top, origin, canonical), source)
    return None


def baseline_at(top: Path, source: str, canonical: Canonical | None = None) -> Baseline:
    """The baseline of a release made while ``source`` was the default branch's tip."""
    champion = champion_at(top, source, canonical)
    if champion is None:
        return Baseline(FIRST_RELEASE, source)
    return champion.baseline


def baseline_problems(
    record: ReleaseRecord, top: Path, branch: str | None, canonical: Canonical | None = None
) -> tuple[list[str], Baseline | None]:
    """(why ``record``'s baseline is not the champion it names, the baseline derived again).

    The champion is derived again at the base-branch commit the record names; that commit must
    contain the released commit (the release read it then) and, with ``branch``, be on that
    branch's history. A first release whose base-branch commit had a champion fails."""
    recorded = recorded_baseline(record)
    if recorded is None:
        return [], None  # commit_problems names a metric verdict without inputs
    if recorded.source is None:  # a record made before the champion rule (or one cut down)
        return [
            "gate 'metrics' names no baseline_source (the default branch's commit its baseline "
            "was read at; records made before conveyor read the live champion name none), so "
            "its regression baseline cannot be derived again: record the release again "
            "(`conveyor release record` on its tag), or skip the check with --no-commit-check"
        ], None
    source = recorded.source
    if git.resolve_commit(source, top) != source:
        return [f"baseline source {source} is not in the repository {top} (fetch it)"], None
    found = []
    if not git.is_ancestor(record.git_commit, source, top):
        found.append(
            f"baseline source {source[:12]} does not contain commit {record.git_commit[:12]}: "
            "the release reads its baseline at the default branch's tip, after its commit"
        )
    if branch is not None and not git.is_ancestor(source, branch, top):
        found.append(f"baseline source {source[:12]} is not on {branch}'s history")
    try:
        expected = baseline_at(top, source, canonical)
    except UserError as exc:
        return [*found, str(exc)], None
    if recorded.commit != expected.commit:
        first = recorded.commit == FIRST_RELEASE
        named = "no baseline (first release)" if first else f"baseline {recorded.commit[:12]}"
        found.append(
            f"gate 'metrics' names {named}, but at {source[:12]} the baseline is "
            f"{expected.label or 'none (first release)'}"
        )
    return found, expected


def record_problems(
    record: ReleaseRecord,
    top: Path,
    branch: str | None = None,
    canonical: Canonical | None = None,
) -> list[str]:
    """Why the record's metric and data verdicts are not what its commit yields against the
    champion derived again (``baseline_problems``), from the ``canonical`` gates file and data
    folder; empty when they are."""
    wrong = (canonical or Canonical()).problems(record)
    if wrong:  # its own rules chosen: nothing it names is worth deriving again
        return wrong
    found, baseline = baseline_problems(record, top, branch, canonical)
    if baseline is None and found:  # the metric verdict cannot be redone: `found` says why
        return found + commit_problems(record, top, baseline, canonical, ("data",))
    return found + commit_problems(record, top, baseline, canonical)


def live_regression(
    record: ReleaseRecord, top: Path, base: str, canonical: Canonical | None = None
) -> str | None:
    """Why ``record`` regresses from the champion live at base-branch commit ``base`` (its
    commit's metric gate evaluated again against that champion); None when it does not.

    A record is checked against the champion of its release day; a better release may have gone
    live since (released later, promoted first). Re-checked only when that champion differs
    from the one the record names: the same one was checked when the record was verified."""
    canonical = canonical or Canonical()
    live = baseline_at(top, base, canonical)
    recorded = recorded_baseline(record)
    if live.commit in (FIRST_RELEASE, record.git_commit) or (
        recorded is not None and recorded.commit == live.commit
    ):
        return None  # no champion, the record's own commit, or the one already checked
    verdict = metrics_verdict_at(top, record.git_commit, live, canonical.params)
    if verdict.passed:
        return None
    return f"{record.version} regresses from the champion, {live.label}: {verdict.summary}"
