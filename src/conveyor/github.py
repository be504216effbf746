"""The one place conveyor talks to GitHub (through `gh`, or its REST API) and to the Actions runner.

Pull requests and issues are upserted (one per branch, one per label: updated, never piled up),
the bot identity and the push token are set here once for promote and rollback, and a step's
outputs, job summary and annotations are written by these helpers instead of shell in the YAML.
`gh` is called with argument lists (no shell) and reads its token from ``GH_TOKEN``; no token is
ever printed. A pull request's sticky comment goes through the REST API (urllib and the
workflow's token: no gh needed on the runner), found again by a hidden marker and updated in place.
GitHub itself cannot run in the tests: they put a recording `gh` on PATH and point the REST API
at a local HTTP server.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.errors import UserError
from conveyor.files import require_regular, require_writable_file
from conveyor.tools import failure_reason, run

__all__ = [
    "CommentTarget",
    "add_to_summary",
    "annotate_error",
    "can_comment_from_env",
    "check_targets",
    "close_issue",
    "close_pull_request",
    "comment_on_open_pull_request",
    "comment_target_from_env",
    "create_issue",
    "edit_issue",
    "ensure_label",
    "export_environment",
    "gh",
    "notice",
    "open_issues",
    "open_pull_requests",
    "push_environment",
    "require_gh",
    "require_gh_login",
    "set_outputs",
    "token",
    "upsert_comment",
    "upsert_pull_request",
]

# GitHub's runners have no git identity: promotion and rollback commits are the Actions bot's.
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
TOKEN_VARIABLES = ("GH_TOKEN", "GITHUB_TOKEN")
DEFAULT_API = "https://api.github.com"
PAGE_SIZE = 100


def on_actions(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a GitHub Actions (or act) job."""
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def annotate_error(message: str, file: str | None = None) -> None:
    """An ::error:: annotation on Actions (the run's summary lists it); nothing elsewhere."""
    if on_actions():
        where = f" file={file}" if file else ""
        # Newlines would end the workflow command early: GitHub's escape for them is %0A.
        text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::error{where}::{text}", flush=True)


def notice(message: str) -> None:
    """A ::notice:: annotation on Actions; a plain line elsewhere."""
    print(f"::notice::{message}" if on_actions() else message, flush=True)


def set_outputs(values: Mapping[str, str]) -> None:
    """Append key=value lines to the step's $GITHUB_OUTPUT (a no-op outside Actions)."""
    _append("GITHUB_OUTPUT", "".join(f"{key}={_one_line(key, v)}\n" for key, v in values.items()))


def add_to_summary(markdown: str) -> None:
    """Append markdown to the job summary ($GITHUB_STEP_SUMMARY; a no-op outside Actions)."""
    _append("GITHUB_STEP_SUMMARY", markdown if markdown.endswith("\n") else markdown + "\n")


def _one_line(key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise UserError(f"step output {key}: a value of one line expected, got {value!r:.60}")
    return value


# The files a step writes for the runner: outputs, job summary, environment and PATH.
TARGET_VARIABLES = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")


def check_targets(variables: Sequence[str]) -> None:
    """A usage error (exit 2, one line) unless each of ``variables`` that is set names a
    regular file this process may write, or one it may create in an existing folder. Run
    right after parsing: a bad target refused after the work (a pushed branch, a written
    gate.json) leaves the work half done, and a FIFO there would block the command for ever.
    Creates nothing."""
    for variable in variables:
        target = os.environ.get(variable)
        if not target:
            continue
        path, option = Path(target), f"${variable}"
        require_regular(path, option)
        require_writable_file(path, option)
        # The runner makes the folder; append creates the file only, so a missing folder is
        # refused here rather than after the work.
        if not path.parent.is_dir():
            raise UserError(f"{option} {path}: cannot write there (no folder {path.parent})")
        _open_for_append(path, option)


def _open_for_append(path: Path, option: str) -> None:
    """Open an existing target (or a symbolic link) for append as the write will, then close
    it: a dangling link, a link loop or a file the kernel will not let us write passes every
    look at its metadata (root passes `os.access`) and fails only when written. Without
    O_CREAT nothing is created; a FIFO never gets here (require_regular)."""
    if not os.path.lexists(path):
        return  # the write creates it: its folder was checked
    try:
        handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write there ({exc.strerror})") from None
    os.close(handle)


def _append(variable: str, text: str) -> None:
    target = os.environ.get(variable)
    if not target:
        return
    check_targets([variable])  # never open a FIFO: it would block
    try:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UserError(f"${variable} {target}: cannot write ({exc.strerror})") from None


# Quiet and offline for every later step of the job: no telemetry, no interpreter downloads.
QUIET_ENVIRONMENT = {
    "DVC_NO_ANALYTICS": "1",
    "BENTOML_DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "False",
    "UV_PYTHON_DOWNLOADS": "never",
}


def export_environment(prefix: Path) -> None:
    """Put the virtual environment at ``prefix`` on the job's PATH ($GITHUB_PATH) with
    VIRTUAL_ENV and the quiet settings ($GITHUB_ENV): what later steps of the job inherit. The
    values are this environment's own path and fixed text, nothing a pull request controls."""
    _append("GITHUB_PATH", f"{prefix / 'bin'}\n")
    values = {"VIRTUAL_ENV": str(prefix), **QUIET_ENVIRONMENT}
    _append("GITHUB_ENV", "".join(f"{key}={_one_line(key, v)}\n" for key, v in values.items()))


def token(environ: Mapping[str, str] | None = None) -> str | None:
    """The GitHub token from the environment (GH_TOKEN, else GITHUB_TOKEN), or None."""
    environ = environ if environ is not None else os.environ
    return next((environ[name] for name in TOKEN_VARIABLES if environ.get(name)), None)


def push_environment(secret: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """Environment for git that pushes to github.com with ``secret`` (when given) and, on
    Actions, commits as the Actions bot unless an identity is set (runners have none). The token
    travels in the process environment only (never in a git config file, never on a command
    line) as an extra header; it is masked in the log first, as GitHub masks only the raw secret,
    not its base64 form."""
    env = dict(environ)
    if secret:
        basic = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
        if on_actions(environ):
            print(f"::add-mask::{basic}", flush=True)
        index = int(env.get("GIT_CONFIG_COUNT") or 0)  # keep whatever config the caller passed
        env["GIT_CONFIG_COUNT"] = str(index + 1)
        env[f"GIT_CONFIG_KEY_{index}"] = "http.https://github.com/.extraheader"
        env[f"GIT_CONFIG_VALUE_{index}"] = f"AUTHORIZATION: basic {basic}"
    if on_actions(environ):  # a person's own promotion keeps their identity
        for role in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{role}_NAME", BOT_NAME)
            env.setdefault(f"GIT_{role}_EMAIL", BOT_EMAIL)
    return env


def require_gh(purpose: str) -> str:
    """The path of `gh`, or a usage error naming what needed it: checked before any work that
    would be left half done (a pushed branch, a written issue body) when gh is missing."""
    program = shutil.which("gh")
    if program is None:
        raise UserError(f"{purpose}: the GitHub CLI (gh) is not on PATH")
    return program


def require_gh_login(purpose: str, environ: Mapping[str, str] | None = None) -> None:
    """A usage error unless `gh` is on PATH and `gh auth status` accepts its credentials: the
    token in the environment (GH_TOKEN, GITHUB_TOKEN), else its stored login. Always asked, a
    token too (gh checks it with GitHub): a revoked or mistyped token is only found by using
    it. Checked before any ref moves: otherwise the branch was pushed, then gh failed."""
    program = require_gh(purpose)
    environ = environ if environ is not None else os.environ
    result = run([program, "auth", "status"], timeout=60)
    if result.returncode == 0:
        return
    # Name the variable, never its value (the reason is gh's own line, which masks tokens).
    variable = next((name for name in TOKEN_VARIABLES if environ.get(name)), None)
    if variable is not None:
        raise UserError(
            f"{purpose}: gh rejects the token in {variable} ({failure_reason(result)}): "
            "set a valid token (repo and pull-request write access)"
        )
    raise UserError(
        f"{purpose}: gh is not logged in ({failure_reason(result)}): run `gh auth login`, "
        "or set GH_TOKEN"
    )


def gh(args: Sequence[str], cwd: Path | None = None) -> str:
    """Run `gh ARGS` and return its stdout; a failure is one line naming the gh subcommand."""
    program = require_gh(f"gh {' '.join(args[:2])}")
    result = run([program, *args], cwd=cwd, timeout=120)
    if result.returncode != 0:
        raise UserError(f"gh {' '.join(args[:2])} failed: {failure_reason(result)}")
    return result.stdout.strip()


def upsert_pull_request(head: str, base: str, title: str, body_file: Path, cwd: Path) -> str:
    """Update the open pull request from ``head`` into ``base``, or open it; return its URL.
    ``base`` is always given: the one PR of a promotion branch targets the policy's branch."""
    listing = ["pr", "list", "--head", head, "--base", base, "--state", "open"]
    found = gh([*listing, "--json", "url", "--jq", ".[0].url"], cwd)
    details = ["--title", title, "--body-file", str(body_file)]
    if found:
        gh(["pr", "edit", found, *details], cwd)
        return found
    created = gh(["pr", "create", "--head", head, "--base", base, *details], cwd)
    # gh prints the new PR's URL last (after any warning lines).
    return created.splitlines()[-1] if created else ""


def open_pull_requests(base: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    """The open pull requests into ``base`` (number, headRefName, url), at most 100."""
    listing = ["pr", "list", "--state", "open", "--base", base, "--limit", "100"]
    return _json_list(gh([*listing, "--json", "number,headRefName,url"], cwd), "gh pr list")


def close_pull_request(number: int, comment: str, cwd: Path | None = None) -> None:
    """Close pull request ``number`` with ``comment`` (its branch is kept: the record stays)."""
    gh(["pr", "close", str(number), "--comment", comment], cwd)


def comment_on_open_pull_request(head: str, body_file: Path, cwd: Path) -> str:
    """Comment ``body_file`` on the open pull request from branch ``head``; its URL, or "" when
    no pull request from it is open (nothing to tell)."""
    listing = ["pr", "list", "--head", head, "--state", "open", "--json", "url", "--jq"]
    found = gh([*listing, ".[0].url"], cwd)
    if found:
        gh(["pr", "comment", found, "--body-file", str(body_file)], cwd)
    return found


def open_issues(label: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    """The open issues carrying ``label`` (number and state), at most 100."""
    listing = ["issue", "list", "--label", label, "--state", "open", "--limit", "100"]
    return _json_list(gh([*listing, "--json", "number,state"], cwd), "gh issue list")


def _json_list(text: str, what: str) -> list[dict[str, Any]]:
    """``text`` (gh's --json answer) as a list of objects, or a usage error naming ``what``."""
    try:
        found = json.loads(text or "[]")
    except json.JSONDecodeError:
        raise UserError(f"{what}: not JSON ({text[:60]!r})") from None
    if not isinstance(found, list):
        raise UserError(f"{what}: expected a list, got {type(found).__name__}")
    if not all(isinstance(item, dict) for item in found):
        raise UserError(f"{what}: expected a list of objects ({text[:60]!r})")
    return found


def ensure_label(label: str, color: str, description: str, cwd: Path | None = None) -> None:
    """Create ``label`` or leave it as it is (`--force` makes an existing label a no-op)."""
    gh(["label", "create", label, "--color", color, "--force", "--description", description], cwd)


def create_issue(label: str, title: str, body_file: Path, cwd: Path | None = None) -> str:
    """Open an issue; return what gh prints (its URL)."""
    return gh(
        ["issue", "create", "--label", label, "--title", title, "--body-file", str(body_file)], cwd
    )


def edit_issue(number: int, title: str, body_file: Path, cwd: Path | None = None) -> None:
    """Replace an issue's title and body."""
    gh(["issue", "edit", str(number), "--title", title, "--body-file", str(body_file)], cwd)


def close_issue(number: int, comment_file: Path | None = None, comment: str = "") -> None:
    """Comment on an issue (from a file, or a line of text), then close it."""
    if comment_file is not None:
        gh(["issue", "comment", str(number), "--body-file", str(comment_file)])
        gh(["issue", "close", str(number)])
    else:
        gh(["issue", "close", str(number), "--comment", comment])


# Pull-request comments through the REST API.


@dataclass(frozen=True)
class CommentTarget:
    """Where the comment goes, and the token that may write it (never printed)."""

    api_url: str
    repository: str
    pull_request: int
    token: str


def comment_target_from_env(pull_request: int | None, repository: str | None) -> CommentTarget:
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
        raise UserError(f"a pull-request comment needs {', '.join(missing)}")
    api = os.environ.get("GITHUB_API_URL", DEFAULT_API).rstrip("/")
    return CommentTarget(api, str(repository), int(pull_request), str(token))


def can_comment_from_env(pull_request: int | None) -> bool:
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


def upsert_comment(target: CommentTarget, body: str, marker: str) -> tuple[str, str]:
    """Update the comment holding ``marker``, or create it; return (action, comment URL)."""
    base = f"{target.api_url}/repos/{target.repository}/issues"
    existing = _find(target, f"{base}/{target.pull_request}/comments", marker)
    if existing is None:
        created = _request(target, "POST", f"{base}/{target.pull_request}/comments", {"body": body})
        return "created", created.get("html_url", "")
    updated = _request(target, "PATCH", f"{base}/comments/{existing}", {"body": body})
    return "updated", updated.get("html_url", "")


def _find(target: CommentTarget, url: str, marker: str) -> int | None:
    page = 1
    while True:
        comments = _request(target, "GET", f"{url}?per_page={PAGE_SIZE}&page={page}")
        for comment in comments:
            if marker in (comment.get("body") or ""):
                return int(comment["id"])
        if len(comments) < PAGE_SIZE:
            return None
        page += 1


def _request(
    target: CommentTarget, method: str, url: str, payload: dict[str, Any] | None = None
) -> Any:
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
