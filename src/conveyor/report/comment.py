"""The report's one sticky pull-request comment: found by its marker and updated in place on
every push, never a new comment per run (the REST calls are conveyor.github's)."""

from __future__ import annotations

from conveyor import github

__all__ = ["COMMENT_LIMIT", "MARKER", "publish"]

MARKER = "<!-- conveyor:report -->"  # finds our comment again, so one PR has one comment
COMMENT_LIMIT = 65_536  # GitHub's maximum comment body, in characters


def publish(body: str, mode: str | None, pull_request: int | None, repo: str | None) -> str:
    """``--pr-comment [always|auto]``: post or update the comment; say what was done. ``auto``
    without a token or a pull request (a fork's run, a push): a notice, and no comment."""
    if not mode:
        return ""
    if mode == "auto" and not github.can_comment_from_env(pull_request):
        github.notice("no token or not a pull request: the report goes to the job summary only")
        return ""
    target = github.comment_target_from_env(pull_request, repo)
    action, url = github.upsert_comment(target, body, MARKER)
    return f"{action} the pull-request comment {url}"
