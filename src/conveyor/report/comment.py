"""The report's one sticky pull-request comment, through GitHub's REST API (urllib, the
workflow's token): found by a hidden marker and updated in place on every push, never a new
comment per run. (Pull requests and issues go through `gh`, in conveyor.github.)

The real call runs on GitHub's runners with the workflow's token; tests point ``api_url`` at a
local HTTP server and check every request up to that boundary.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor import github
from conveyor.errors import UserError

DEFAULT_API = "https://api.github.com"
PAGE_SIZE = 100
MARKER = "<!-- conveyor:report -->"  # finds our comment again, so one PR has one comment
COMMENT_LIMIT = 65_536  # GitHub's maximum comment body, in characters


@dataclass(frozen=True)
class Target:
    """Where the comment goes, and the token that may write it (never printed)."""

    api_url: str
    repository: str
    pull_request: int
    token: str


def target_from_env(pull_request: int | None, repository: str | None) -> Target:
    """Fill what was not given from the Actions environment; name whatever is missing."""
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    repository = repository or os.environ.get("GITHUB_REPOSITORY")
    if pull_request is None and os.environ.get("GITHUB_EVENT_PATH"):
        event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        pull_request = (event.get("pull_request") or {}).get("number")
    missing = [
        name
        for name, value in (
            ("GITHUB_TOKEN", token),
            ("GITHUB_REPOSITORY or --repo", repository),
            ("a pull request number (--pr, or a pull_request event)", pull_request),
        )
        if not value
    ]
    if missing or pull_request is None:  # None is in `missing` already: said for mypy
        raise UserError(f"--pr-comment needs {', '.join(missing)}")
    api = os.environ.get("GITHUB_API_URL", DEFAULT_API).rstrip("/")
    return Target(api, str(repository), int(pull_request), str(token))


def commentable_from_env(pull_request: int | None) -> bool:
    """True when the environment has a token and a pull request to comment on (`auto` mode)."""
    if not (os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")):
        return False
    if pull_request is not None:
        return True
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if not event_path or os.environ.get("GITHUB_EVENT_NAME", "pull_request") != "pull_request":
        return False
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(event, dict) and bool((event.get("pull_request") or {}).get("number"))


def publish(body: str, mode: str | None, pull_request: int | None, repo: str | None) -> str:
    """``--pr-comment [always|auto]``: post or update the comment; say what was done. ``auto``
    without a token or a pull request (a fork's run, a push): a notice, and no comment."""
    if not mode:
        return ""
    if mode == "auto" and not commentable_from_env(pull_request):
        github.notice("no token or not a pull request: the report goes to the job summary only")
        return ""
    action, url = upsert_comment(target_from_env(pull_request, repo), body, MARKER)
    return f"{action} the pull-request comment {url}"


def upsert_comment(target: Target, body: str, marker: str) -> tuple[str, str]:
    """Update the comment holding ``marker``, or create it; return (action, comment URL)."""
    base = f"{target.api_url}/repos/{target.repository}/issues"
    existing = _find(target, f"{base}/{target.pull_request}/comments", marker)
    if existing is None:
        created = _request(target, "POST", f"{base}/{target.pull_request}/comments", {"body": body})
        return "created", created.get("html_url", "")
    updated = _request(target, "PATCH", f"{base}/comments/{existing}", {"body": body})
    return "updated", updated.get("html_url", "")


def _find(target: Target, url: str, marker: str) -> int | None:
    page = 1
    while True:
        comments = _request(target, "GET", f"{url}?per_page={PAGE_SIZE}&page={page}")
        for comment in comments:
            if marker in (comment.get("body") or ""):
                return int(comment["id"])
        if len(comments) < PAGE_SIZE:
            return None
        page += 1


def _request(target: Target, method: str, url: str, payload: dict[str, Any] | None = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - https API URL
    request.add_header("Authorization", f"Bearer {target.token}")
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("X-GitHub-Api-Version", "2022-11-28")
    request.add_header("User-Agent", "conveyor")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        # The URL and status only: the token is in a header and never reaches the message.
        raise UserError(f"GitHub API {method} {url} answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise UserError(f"GitHub API {method} {url} unreachable: {exc.reason}") from None
