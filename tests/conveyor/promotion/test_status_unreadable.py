"""`conveyor status` is a report: an environment whose release record cannot be read (a folder,
a symbolic link, a submodule-like entry, bytes that are no JSON, JSON that is no record) is shown
as unreadable with the reason, never as "-" (nothing live), and the report exits non-zero by the
one rule for records (exit 2: no record at all; exit 1: a record that breaks the schema). Review
finding L8: a folder was read as no record at all, and status showed "-" with exit 0."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conveyor.cli import main
from tests.promotion_repos import clone, make_remote, merge, record, write_record

RECORD = "deploy/environments/dev/release.json"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A clone whose dev runs v1.0.0 (a merged promotion)."""
    work = clone(make_remote(tmp_path), tmp_path / "work")
    path = write_record(tmp_path / "v1.json", record("v1.0.0"))
    args = ["promote", "--env", "dev", "--record", str(path), "--repo", str(work)]
    assert main([*args, "--no-commit-check"]) == 0
    merge(work, "dev")
    return work


def _git(work: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)


def _replace(work: Path, make) -> None:
    path = work / RECORD
    path.unlink()
    make(path)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "dev's record replaced")
    _git(work, "push", "-q", "origin", "HEAD:main")


def _folder(path: Path) -> None:
    path.mkdir()
    (path / "release.json").write_text(json.dumps(record("v9.0.0")))


def _link(path: Path) -> None:
    (path.parent / "elsewhere.json").write_text(json.dumps(record("v9.0.0")))
    path.symlink_to("elsewhere.json")


CASES = {
    "folder": (_folder, 2, "a folder, not a file (release record)"),
    "symbolic link": (_link, 2, "a symbolic link, not a file (release record)"),
    "not JSON": (lambda p: p.write_text("{"), 2, "not JSON (line 1"),
    "a list": (lambda p: p.write_text("[]"), 2, "expected a JSON object, got a list"),
    "not a record": (lambda p: p.write_text('{"version": "v3"}'), 1, "Field required"),
}


@pytest.mark.parametrize("case", CASES)
def test_an_unreadable_record_is_reported_as_such(capsys, work, case):
    make, code, reason = CASES[case]
    _replace(work, make)
    capsys.readouterr()
    args = ["status", "--ref", "origin/main", "--repo", str(work)]
    assert main(args) == code
    out, err = capsys.readouterr()
    table = {line.split()[0]: line.split() for line in out.splitlines()[1:4]}
    assert table["dev"][1] == "unreadable", out
    assert table["staging"][1] == "-"  # the others are still reported
    assert f"dev: unreadable: origin/main:{RECORD}" not in out  # the revision is resolved
    notes = [line for line in out.splitlines() if line.startswith("dev: unreadable: ")]
    assert len(notes) == 1 and reason in notes[0], out
    assert err.count("\n") == 1 and err.startswith("error: ") and reason in err
    assert "Traceback" not in err
    assert main([*args, "--json"]) == code
    rows = json.loads(capsys.readouterr().out)
    assert reason in rows[0]["unreadable"] and rows[0]["version"] is None


def test_a_readable_record_again_reports_normally(capsys, work):
    _replace(work, _folder)
    shutil.rmtree(work / RECORD)
    (work / RECORD).write_text(json.dumps(record("v1.0.0"), indent=2))
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "restored")
    _git(work, "push", "-q", "origin", "HEAD:main")
    capsys.readouterr()
    assert main(["status", "--ref", "origin/main", "--repo", str(work)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split()[:2] == ["dev", "v1.0.0"]
    # The folder in dev's history never deployed anything: passed over, and said.
    assert err.startswith("warning: ") and "a folder, not a file" in err and err.count("\n") == 1
