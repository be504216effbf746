"""The tests and security verdict files a release record bundles: made by this run, on this commit.

Unlike the metric and data verdicts (re-established from the commit's git objects), the tests and
scan verdicts exist only as files the release job writes, so a file at the path is evidence only
if this run made it on the release's commit. The rule (docs/security.md, "Release evidence"):

- the file is not tracked by git, through any spelling of its path (relative, absolute, '..', a
  symbolic link to a committed file): a committed verdict is a claim anyone who can push may edit;
- it names the commit it was made on, which must be the checkout's HEAD (the commit built):
  scan.json's ``git_commit`` (``conveyor scan`` writes it) and the JUnit testsuite property
  ``conveyor.git_commit`` (pytest writes it with ``-p conveyor.junit_commit``). A file left by a
  run on another commit names that one; a committed file cannot name the commit that holds it
  (that commit's hash covers the file's bytes);
- the release job deletes both before it runs the tests and the scan (``release clean``), so a
  run that writes none has none, rather than an earlier run's.

The data-contract verdicts are committed (DVC metrics in reports/data), and the record compares
them with the ones the release job's contract stages write again into the same folder. Those
would be the committed files for a contract stage the job did not re-run, so ``release clean
--data-dir`` deletes them first: a contract not checked in this run has no verdict there, and
the record refuses it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from conveyor import git
from conveyor.errors import UserError
from conveyor.files import read_json, require_regular
from conveyor.release import (
    COMMIT,
    GateVerdict,
    RecordRejectedError,
    in_repository,
    junit_property,
    security_verdict,
    tests_verdict,
)

__all__ = [
    "COMMIT_PROPERTY",
    "SCAN_COMMIT",
    "clean",
    "data_verdict_files",
    "tracked_spelling",
    "verdicts",
]

COMMIT_PROPERTY = "conveyor.git_commit"  # the JUnit testsuite property naming the commit
SCAN_COMMIT = "git_commit"  # scan.json's key


def tracked_spelling(top: Path, path: Path) -> str | None:
    """The repository-relative path under which git tracks the file at ``path`` (as given, or
    where its symbolic links lead), or None when it tracks neither."""
    # '..' folded, links kept (a committed link counts): what resolve() would not give.
    given = Path(os.path.abspath(path))  # noqa: PTH100
    for where in dict.fromkeys((given, path.resolve())):
        if where.is_relative_to(top) and where != top:
            rel = where.relative_to(top).as_posix()
            if git.is_tracked(top, rel):
                return rel
    return None


def _named_commit(option: str, path: Path, named: list[str], head: str) -> None:
    """Refuse (exit 1) a verdict file that does not name ``head`` as the commit it was made on."""
    if not named:
        raise RecordRejectedError(
            f"{option} {path}: names no commit it was made on, so it may be an earlier run's "
            "(see docs/security.md, 'Release evidence')"
        )
    other = sorted({value for value in named if value != head})
    if other:
        raise RecordRejectedError(
            f"{option} {path}: made on commit {other[0][:12]}, not on {head[:12]} (the commit "
            "being released): an earlier run's verdict"
        )


def _fresh(top: Path, option: str, path: Path) -> None:
    rel = tracked_spelling(top, path)
    if rel is not None:
        raise RecordRejectedError(
            f"{option} {path}: {rel} is tracked by git: a committed verdict is not this run's "
            "(write the report to an untracked path)"
        )


def verdicts(top: Path, tests_junit: Path | None, scan_json: Path | None) -> dict[str, GateVerdict]:
    """The tests and security verdicts from the files given, each refused (exit 1) unless this
    run made it on the checkout's HEAD; a file that is no verdict at all is exit 2."""
    head = git.head_commit(top)
    if head is None or not COMMIT.match(head):
        raise UserError(f"--repo {top}: no commit checked out")
    found = {}
    if tests_junit is not None:
        found["tests"] = tests_verdict(tests_junit)
        _fresh(top, "--tests-junit", tests_junit)
        named = junit_property(tests_junit, COMMIT_PROPERTY)
        _named_commit("--tests-junit", tests_junit, named, head)
    if scan_json is not None:
        found["security"] = security_verdict(scan_json)
        _fresh(top, "--scan-json", scan_json)
        value = read_json(scan_json, "security scan verdict").get(SCAN_COMMIT)
        _named_commit("--scan-json", scan_json, [value] if isinstance(value, str) else [], head)
    return found


# What `release clean` may delete under each option: a file that parses as that verdict.
KINDS: dict[str, tuple[str, Callable[[Path], GateVerdict]]] = {
    "--tests-junit": ("a JUnit report", tests_verdict),
    "--scan-json": ("a conveyor scan.json", security_verdict),
}


def clean(top: Path, paths: dict[str, Path]) -> list[Path]:
    """Delete the verdict files at ``paths`` (option -> path) an earlier run left, before this run
    writes them again; the ones deleted. A path git tracks, a folder, or a file that is not the
    option's kind of verdict (`--tests-junit .env`) is a usage error (exit 2), checked for every
    path before anything is deleted."""
    for option, path in paths.items():
        rel = tracked_spelling(top, path)
        if rel is not None:
            raise UserError(
                f"{option} {path}: {rel} is tracked by git, and `release record` refuses a "
                "committed verdict: untrack it (git rm --cached) or write the report elsewhere"
            )
        if path.is_dir() and not path.is_symlink():
            raise UserError(f"{option} {path}: is a folder, not a verdict file")
        require_regular(path, option)  # a FIFO or a device is no earlier run's report
        if path.is_symlink() or path.exists():
            _is_verdict(option, path)
    deleted = []
    for path in paths.values():
        if path.is_symlink() or path.exists():
            path.unlink()  # a link itself, never the file it points at
            deleted.append(path)
    return deleted


def _is_verdict(option: str, path: Path) -> None:
    """Refuse (exit 2) to delete ``path`` unless it parses as the verdict ``option`` names: the
    option is a path anyone can mistype, and any untracked file (`.env`, a key) would go."""
    kind, parse = KINDS[option]
    try:
        parse(path)
    except UserError as error:
        raise UserError(
            f"{option} {path}: not {kind}, nothing deleted ({error})".replace("\n", " ")
        ) from None
    except OSError as error:  # a link to nothing, or a file that cannot be read
        raise UserError(
            f"{option} {path}: not {kind}, nothing deleted ({error.strerror})"
        ) from None


def data_verdict_files(top: Path, folder: Path) -> list[Path]:
    """The data-contract verdicts (``*.json`` directly in ``folder``) the release job deletes
    before its contract stages write them again. Each must be a verdict (a JSON object naming
    its `contract`, with `passed` true or false): anything else is a usage error (exit 2)
    naming it. No folder: none."""
    where = top / in_repository(top, folder, "--data-dir")
    if where.is_symlink() or (where.exists() and not where.is_dir()):
        raise UserError(f"--data-dir {folder}: not a folder")
    if not where.exists():
        return []
    found = sorted(where.glob("*.json"))
    for path in found:
        require_regular(path, "--data-dir")
        try:
            verdict = read_json(path, "data-contract verdict")
        except UserError as error:
            raise UserError(f"--data-dir {folder}: {error}; nothing deleted") from None
        if not (
            isinstance(verdict.get("contract"), str) and isinstance(verdict.get("passed"), bool)
        ):
            raise UserError(
                f"--data-dir {folder}: {path.name} is not a data-contract verdict (no `contract` "
                "name and `passed` true/false); nothing deleted"
            )
    return found
