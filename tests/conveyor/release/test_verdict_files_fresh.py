"""The tests and security verdicts a release record bundles are this run's, on this commit (issue
14, review finding H3): a verdict file git tracks (by any spelling of its path) or one made on
another commit (an earlier run's, or a plain `pytest --junitxml` that names none) is refused;
`release clean` deletes an earlier run's before the tests and scan run; and pytest with
``-p conveyor.junit_commit`` writes a report `release record` takes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.cli import main
from tests.conveyor.release.test_release_verdicts import (  # noqa: F401 - fixtures, used by name
    commit,
    record,
    repo,
    run,
    template,
)
from tests.evidence_files import head, junit_report, scan_report

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration


def _refused(capsys, repo: Path, tmp_path: Path, *evidence: str) -> str:  # noqa: F811 - the fixture
    code, stdout, err, out = record(capsys, repo, tmp_path, *evidence)
    assert code == 1, stdout + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    return err


def test_a_committed_verdict_is_refused_by_every_spelling_of_its_path(
    capsys,
    repo,  # noqa: F811 - the fixture
    tmp_path,
    monkeypatch,
):
    (repo / "release").mkdir()
    junit_report(repo / "release/junit.xml", head(repo))
    scan_report(repo / "release/scan.json", head(repo))
    commit(repo, "verdicts committed")  # what they name is now HEAD~1: refused first as tracked
    (tmp_path / "link.xml").symlink_to(repo / "release/junit.xml")
    (repo / "release/sub").mkdir()
    monkeypatch.chdir(repo)
    for spelling in (
        "release/junit.xml",
        str(repo / "release/junit.xml"),
        "release/sub/../junit.xml",
        "./release//junit.xml",
        str(tmp_path / "link.xml"),
    ):
        err = _refused(capsys, repo, tmp_path, "--tests-junit", spelling)
        assert "release/junit.xml is tracked by git" in err, (spelling, err)
    err = _refused(capsys, repo, tmp_path, "--scan-json", "release/scan.json")
    assert "release/scan.json is tracked by git" in err


def test_a_verdict_staged_or_only_in_head_is_tracked_too(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """Naming HEAD (made on this commit), but added to the index: still not this run's file."""
    junit_report(repo / "junit.xml", head(repo))
    run(repo, "git", "add", "junit.xml")
    err = _refused(capsys, repo, tmp_path, "--tests-junit", str(repo / "junit.xml"))
    assert "junit.xml is tracked by git" in err
    commit(repo, "junit committed")
    run(repo, "git", "rm", "-q", "--cached", "junit.xml")  # out of the index, still in HEAD
    junit_report(repo / "junit.xml", head(repo))
    err = _refused(capsys, repo, tmp_path, "--tests-junit", str(repo / "junit.xml"))
    assert "junit.xml is tracked by git" in err


def test_a_verdict_made_on_another_commit_or_naming_none_is_refused(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    earlier = run(repo, "git", "rev-parse", "HEAD~1").stdout.strip()
    stale = junit_report(tmp_path / "stale.xml", earlier)
    err = _refused(capsys, repo, tmp_path, "--tests-junit", str(stale))
    assert f"made on commit {earlier[:12]}, not on {head(repo)[:12]}" in err
    plain = junit_report(tmp_path / "plain.xml", None)  # pytest without conveyor.junit_commit
    err = _refused(capsys, repo, tmp_path, "--tests-junit", str(plain))
    assert "names no commit it was made on" in err
    for value in (earlier, None, head(repo).upper()):
        scan = scan_report(tmp_path / "scan.json", value)
        err = _refused(capsys, repo, tmp_path, "--scan-json", str(scan))
        assert "--scan-json" in err and ("made on commit" in err or "names no commit" in err)


def test_release_clean_deletes_an_earlier_runs_files_and_refuses_tracked_ones(
    capsys,
    repo,  # noqa: F811 - the fixture
    tmp_path,
):
    junit = junit_report(tmp_path / "junit.xml", "0" * 40)
    target = scan_report(tmp_path / "kept.json", "0" * 40)
    link = tmp_path / "scan.json"
    link.symlink_to(target)
    args = ["release", "clean", "--repo", str(repo)]
    assert main([*args, "--tests-junit", str(junit), "--scan-json", str(link)]) == 0
    assert not junit.exists() and not link.is_symlink()
    assert target.exists()  # a link is deleted, never the file it points at
    assert main([*args, "--tests-junit", str(junit)]) == 0  # nothing left: nothing to do
    capsys.readouterr()
    scan_report(repo / "scan.json", head(repo))
    commit(repo, "a scan verdict committed")
    again = junit_report(tmp_path / "junit.xml", "0" * 40)
    code = main([*args, "--tests-junit", str(again), "--scan-json", str(repo / "scan.json")])
    err = capsys.readouterr().err
    assert code == 2 and "scan.json is tracked by git" in err
    assert again.exists()  # every path is checked before anything is deleted
    assert main(["release", "clean", "--repo", str(repo)]) == 2


def test_pytest_with_the_plugin_writes_a_report_the_record_takes(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    tests = repo / "t"  # untracked: the tree stays clean
    tests.mkdir()
    (tests / "test_one.py").write_text("def test_one():\n    assert True\n")
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "conveyor.junit_commit", f"--junitxml={junit}", "t"],
        cwd=repo, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'name="conveyor.git_commit" value="{head(repo)}"' in junit.read_text()
    code, stdout, err, _ = record(capsys, repo, tmp_path, "--tests-junit", str(junit))
    assert code == 0, stdout + err


@pytest.mark.parametrize("option", ["--tests-junit", "--scan-json"])
def test_a_folder_is_refused_by_clean(capsys, repo, tmp_path, option):  # noqa: F811 - the fixture
    assert main(["release", "clean", "--repo", str(repo), option, str(tmp_path)]) == 2
    assert "a folder" in capsys.readouterr().err
