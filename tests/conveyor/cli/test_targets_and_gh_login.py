"""Two usage errors that were found only after the work (issue 14 hardening):

- a $GITHUB_OUTPUT / $GITHUB_STEP_SUMMARY that is a dangling symbolic link, a link loop or a
  file the kernel will not let us write passed `github.check_targets` (it looked only at the
  path's metadata, and root passes `os.access`); the command then failed after its work. The
  check now opens each target for append (creating nothing) and refuses with one line, exit 2;
- `gh` on PATH but logged out: `promote --pull-request` pushed the branch, then gh failed. Now
  `gh auth status` (which also checks a token in GH_TOKEN / GITHUB_TOKEN with GitHub) is asked
  before any ref moves, a token given or not (a revoked token:
  tests/conveyor/promotion/test_promote_champion_now.py).

Real git (a bare remote on disk), the real `conveyor` command; a recording `gh` stand-in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conveyor.cli.test_usage_before_work import PR_URL, _refused, _run
from tests.conveyor.promotion.test_promote_hostile_values import _live_in_dev, _state
from tests.gh_stub import GhStub
from tests.promotion_repos import IDENTITY

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

NAME = ("release", "name", "--tag", "v1.0.0", "--registry", "ghcr.io", "--image-name", "a/b")
LOGGED_OUT = "You are not logged into any GitHub hosts. To log in, run: gh auth login"


def _read_only_file(tmp_path: Path) -> Path:
    """A regular file this process may not open for writing. As root, mode 0444 does not stop
    it (and `os.access` says yes), so there it is a read-only sysctl: a regular file of mode
    0444 that the kernel refuses to open for writing to every user, root included."""
    if os.geteuid() == 0:
        return Path("/proc/sys/kernel/ngroups_max")
    path = tmp_path / "read-only"
    path.write_text("")
    path.chmod(0o444)
    return path


def _target(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """(the target path, the words its refusal must carry)."""
    if kind == "dangling link":
        link = tmp_path / "dangling"
        link.symlink_to(tmp_path / "no-such-folder" / "output")
        return link, "No such file or directory"
    if kind == "link loop":
        loop = tmp_path / "loop"
        loop.symlink_to(loop)
        return loop, "Too many levels of symbolic links"
    return _read_only_file(tmp_path), "cannot write there"


KINDS = ["dangling link", "link loop", "read-only file"]


@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_target_that_cannot_be_opened_is_refused_before_the_work(tmp_path, kind, variable):
    target, words = _target(tmp_path, kind)
    args = (*NAME, "--github-output") if variable == "GITHUB_OUTPUT" else NAME
    result = _run(tmp_path, *args, GITHUB_ACTIONS="true", **{variable: str(target)})
    _refused(result, f"${variable} {target}: cannot write there", words)
    # Refused before the work: no key=value line was printed, and nothing was created.
    assert "version=" not in result.stdout
    assert not (tmp_path / "no-such-folder").exists()


def test_a_link_to_a_writable_file_is_still_written(tmp_path):
    real = tmp_path / "output"
    real.write_text("")
    link = tmp_path / "link"
    link.symlink_to(real)
    result = _run(tmp_path, *NAME, "--github-output", GITHUB_OUTPUT=str(link))
    assert result.returncode == 0, result.stderr
    assert real.read_text() == "version=v1.0.0\nimage=ghcr.io/a/b\n"


def test_promote_with_a_dangling_github_output_pushes_nothing(tmp_path, origin, work):
    good = _live_in_dev(work, tmp_path)
    target, words = _target(tmp_path, "dangling link")
    before = _state(tmp_path, work, origin)
    result = _run(
        work, "promote", "--env", "staging", "--record", str(good), "--no-commit-check",
        "--github-output", GITHUB_OUTPUT=str(target),
    )  # fmt: skip
    _refused(result, "$GITHUB_OUTPUT", words)
    assert result.stdout == ""
    assert _state(tmp_path, work, origin) == before


# --- gh present, logged out ---------------------------------------------------------------------


def test_a_logged_out_gh_is_refused_before_any_ref_moves(tmp_path, origin, work):
    good = _live_in_dev(work, tmp_path)
    gh = GhStub(tmp_path / "gh", {"auth status": {"exit": 1, "stderr": LOGGED_OUT}})
    before = _state(tmp_path, work, origin)
    result = _run(
        work, "promote", "--env", "staging", "--record", str(good), "--no-commit-check",
        "--pull-request", PATH=gh.env()["PATH"],
    )  # fmt: skip
    _refused(result, "--pull-request: gh is not logged in", "run `gh auth login`, or set GH_TOKEN")
    assert result.stdout == ""
    assert gh.calls() == [["auth", "status"]]
    after = _state(tmp_path, work, origin)
    assert after[1:] == before[1:]  # no promote/staging, here or on origin
    assert _not_gh(after[0]) == _not_gh(before[0])  # no file written but the stub's call log


def _not_gh(files: Any) -> list[tuple[str, int]]:
    """(path, size) of every file but the gh stand-in's own (it logs each call)."""
    return [entry for entry in files if not entry[0].startswith("gh/")]


def test_a_token_in_the_environment_is_what_gh_uses(tmp_path, origin, work):
    """GH_TOKEN set: `auth status` is still asked (gh checks the token with GitHub; the stub
    accepts it), and the promotion goes through to its pull request."""
    good = _live_in_dev(work, tmp_path)
    gh = GhStub(tmp_path / "gh", {"auth status": "", "pr list": "", "pr create": PR_URL})
    secret = "-".join(["not", "a", "real", "token"])  # built here: no secret-shaped literal
    result = _run(
        work, "promote", "--env", "staging", "--record", str(good), "--no-commit-check",
        "--pull-request", PATH=gh.env()["PATH"], GH_TOKEN=secret, **IDENTITY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"pull_request_url={PR_URL}" in result.stdout
    assert [call[:2] for call in gh.calls()] == [
        ["auth", "status"],
        ["pr", "list"],
        ["pr", "create"],
    ]
