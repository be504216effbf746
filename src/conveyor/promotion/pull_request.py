"""The promotion pull request's title and body (`promote --body-out`): what ships, what it
replaces, and the evidence."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conveyor import git
from conveyor.release import ReleaseRecord
from conveyor.report.escape import code

__all__ = ["pull_request_body", "pull_request_title"]

MAX_COMMITS = 20


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def pull_request_title(
    env: str, record: ReleaseRecord, previous: ReleaseRecord | None, *, rollback: bool
) -> str:
    """One line: what enters ``env``, and what it replaces."""
    verb = "Roll back" if rollback else "Promote"
    was = f" (was {previous.version})" if previous else " (first release)"
    return f"{verb} {env} to {record.version} @ {_short(record.image.digest)}{was}"


_PLAIN = re.compile(r"[a-z][a-z0-9_-]*")  # a gate's name as the release writes it: shown as is


def _cell(value: object) -> str:
    return code(value, cell=True)


def _commit_link(sha: str) -> str:
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and repository:
        return f"[`{sha[:10]}`]({server}/{repository}/commit/{sha})"
    return f"`{sha[:10]}`"


def _run_link() -> str | None:
    """The GitHub Actions run that prepared the PR, when there is one."""
    names = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    server, repository, run_id = (os.environ.get(name) for name in names)
    if server and repository and run_id:
        return f"[{run_id}]({server}/{repository}/actions/runs/{run_id})"
    return None


def _changes(repo: Path, previous: ReleaseRecord, record: ReleaseRecord) -> list[str]:
    rows = []
    for label, old, new in (
        # Record fields are text a release run wrote: code spans that nothing in them can close,
        # pipes escaped (a table cell).
        ("image digest", _cell(_short(previous.image.digest)), _cell(_short(record.image.digest))),
        ("model", _cell(previous.model_tag), _cell(record.model_tag)),
        ("data (md5)", _cell(previous.data_md5), _cell(record.data_md5)),
        ("params (md5)", _cell(previous.params_md5), _cell(record.params_md5)),
        ("source commit", _commit_link(previous.git_commit), _commit_link(record.git_commit)),
    ):
        rows.append(f"| {label} | {old} | {new}{'' if old != new else ' (unchanged)'} |")
    lines = ["| | live now | this PR |", "|---|---|---|", *rows]
    # The commits between the two releases, when this clone has both (a shallow one may not).
    log = git.run(
        repo,
        "log",
        "--oneline",
        f"--max-count={MAX_COMMITS + 1}",
        "--end-of-options",
        f"{previous.git_commit}..{record.git_commit}",
    )
    if log.returncode == 0 and log.stdout.strip():
        commits = log.stdout.strip().splitlines()
        lines += ["", f"Commits since {previous.version}:", ""]
        lines += [f"- {code(line)}" for line in commits[:MAX_COMMITS]]  # a subject is anyone's text
        if len(commits) > MAX_COMMITS:
            lines.append(f"- ... and more (`git log {previous.git_commit[:10]}..`)")
    elif log.returncode == 0 and previous.git_commit != record.git_commit:
        lines += ["", f"No commits from {previous.version} to {record.version}: this goes back."]
    return lines


def pull_request_body(
    repo: Path,
    env: str,
    record: ReleaseRecord,
    previous: ReleaseRecord | None,
    *,
    superseded: ReleaseRecord | None,
    rollback: bool,
    verified: str | None = None,
) -> str:
    """Markdown for the pull request: release facts, changes from live, every gate's verdict."""
    action = "rolls back" if rollback else "promotes"
    lines = [
        f"This pull request {action} **{env}** to **{record.version}**. Merging it deploys: "
        "Argo CD syncs the base branch.",
        "",
        "| release | |",
        "|---|---|",
        f"| version | {record.version} |",
        f"| image | {_cell(record.image.reference)} |",
        f"| model | {_cell(record.model_tag)} |",
        f"| bento | {_cell(record.bento_tag)} |",
        f"| source commit | {_commit_link(record.git_commit)} |",
        f"| built at | {record.created_at.isoformat()} |",
        f"| SBOM digest | {_cell(record.sbom_digest or 'none')} |",
        f"| signature | {_cell(record.signature or 'none')} |",
        "",
        "## Gates",
        "",
        "| gate | verdict | detail |",
        "|---|---|---|",
    ]
    for name, verdict in sorted(record.gates.items()):
        mark = "✅ passed" if verdict.passed else "❌ failed"
        label = name if _PLAIN.fullmatch(name) else _cell(name)
        lines.append(f"| {label} | {mark} | {_cell(verdict.summary)} |")
    if verified is not None:
        # The source environment's live verification: what the policy required to move on.
        lines += ["", "## Live verification", "", verified.rstrip("\n")]
    lines += ["", f"## What changes in {env}", ""]
    if previous is None:
        lines.append(f"{env} has no release yet: this is its first.")
    else:
        lines += _changes(repo, previous, record)
    if superseded is not None and superseded.image.digest != record.image.digest:
        lines += [
            "",
            f"This replaces the pending promotion of {superseded.version} "
            f"(`{_short(superseded.image.digest)}`) that this branch carried.",
        ]
    run = _run_link()
    if run:
        lines += ["", f"Prepared by workflow run {run}."]
    beside = f", `deploy/environments/{env}/verification.json` the live verification"
    lines += [
        "",
        f"Evidence: `deploy/environments/{env}/release.json` in this PR is the release record "
        f"(`conveyor release verify` re-checks it){beside if verified else ''}. Prepared by "
        f"`conveyor {'rollback' if rollback else 'promote'} --env {env}`.",
    ]
    return "\n".join(lines) + "\n"
