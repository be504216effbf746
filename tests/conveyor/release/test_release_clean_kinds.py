"""`release clean` deletes only verdict files (issue 14, review finding D): the path it is given
is an option anyone can mistype, and `--tests-junit .env` deleted any untracked file, calling it
an earlier run's verdict. A file that does not parse as the option's verdict (a JUnit report, a
conveyor scan.json) is exit 2 naming it, and nothing is deleted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conveyor.cli import main
from tests.evidence_files import junit_report, scan_report


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    top = tmp_path / "repo"
    top.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(top)], check=True)
    (top / "README.md").write_text("x\n")
    subprocess.run(["git", "-C", str(top), "add", "README.md"], check=True)
    subprocess.run(["git", "-C", str(top), "commit", "-qm", "one"], check=True)
    return top


NOT_VERDICTS = {
    "env": "SECRET=1\n",
    "key": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
    "json": '{"passed": true}\n',
    "list": "[]\n",
    "xml": "<html><body/></html>\n",
    "empty": "",
    "binary": b"\x00\xff\xfe".decode("latin-1"),
}


@pytest.mark.parametrize("option", ["--tests-junit", "--scan-json"])
@pytest.mark.parametrize("content", list(NOT_VERDICTS), ids=list(NOT_VERDICTS))
def test_a_file_that_is_no_verdict_is_kept_and_refused(
    capsys: pytest.CaptureFixture[str], repo: Path, option: str, content: str
) -> None:
    victim = repo / ".env"
    victim.write_bytes(NOT_VERDICTS[content].encode("latin-1"))
    other = junit_report(repo / "junit.xml", "0" * 40)  # a real one, given alongside
    given = [option, str(victim)]
    if option == "--scan-json":
        given += ["--tests-junit", str(other)]
    code = main(["release", "clean", "--repo", str(repo), *given])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{option} {victim}: not a" in err and "nothing deleted" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "SECRET" not in err and "PRIVATE" not in err  # the file's text is never echoed
    assert victim.exists() and other.exists()  # nothing deleted, the real one neither


def test_the_wrong_kind_of_verdict_is_refused(
    capsys: pytest.CaptureFixture[str], repo: Path
) -> None:
    scan = scan_report(repo / "scan.json", "0" * 40)
    junit = junit_report(repo / "junit.xml", "0" * 40)
    assert main(["release", "clean", "--repo", str(repo), "--tests-junit", str(scan)]) == 2
    assert main(["release", "clean", "--repo", str(repo), "--scan-json", str(junit)]) == 2
    assert scan.exists() and junit.exists()
    capsys.readouterr()
    code = main(
        [
            "release",
            "clean",
            "--repo",
            str(repo),
            "--tests-junit",
            str(junit),
            "--scan-json",
            str(scan),
        ]
    )
    assert code == 0 and not scan.exists() and not junit.exists()


def test_a_link_to_nothing_is_refused(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    link = repo / "scan.json"
    link.symlink_to(repo / "gone.json")
    assert main(["release", "clean", "--repo", str(repo), "--scan-json", str(link)]) == 2
    assert link.is_symlink() and "nothing deleted" in capsys.readouterr().err
