"""`conveyor scan PATH` scans every file git lists under PATH (issue 14, review finding E): a
folder walk left out any folder named cache, .tools, node_modules... so a tracked file there
was never checked, without a word, while the full-repository scan (git's list) did check it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.scan.targets import SKIP_DIRS, collect

ACTION = (
    "name: a\nruns:\n  using: composite\n  steps:\n"
    "    - shell: sh\n      run: conveyor rollback | tee out.txt\n"
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Tracked files under every folder name a walk skips, one untracked and ignored file."""
    top = tmp_path / "repo"
    top.mkdir()
    _git(top, "init", "-q", "-b", "main")
    for name in sorted(SKIP_DIRS - {".git"}):
        (top / "src" / name).mkdir(parents=True)
        (top / "src" / name / "keys.py").write_text("k = 1\n")
    (top / "src" / "cache" / "act").mkdir()
    (top / "src" / "cache" / "act" / "action.yml").write_text(ACTION)
    (top / "src" / "plain.py").write_text("x = 1\n")
    _git(top, "add", "-f", "src")
    _git(top, "commit", "-qm", "files under skipped folder names")
    return top


def test_a_tracked_file_is_collected_wherever_it_sits(repo: Path) -> None:
    found = {p.as_posix() for p in collect(repo, [Path("src")])}
    for name in SKIP_DIRS - {".git"}:
        assert f"src/{name}/keys.py" in found, name
    assert "src/cache/act/action.yml" in found and "src/plain.py" in found
    # The same files as the full-repository scan, which reads git's list.
    assert found == {p.as_posix() for p in collect(repo, [])}


def test_an_untracked_file_in_a_skipped_folder_stays_out(repo: Path) -> None:
    (repo / "src" / ".venv" / "lib.py").write_text("y = 2\n")
    (repo / ".gitignore").write_text(".venv/\n")
    found = {p.as_posix() for p in collect(repo, [Path("src")])}
    assert "src/.venv/lib.py" not in found and "src/.venv/keys.py" in found


@pytest.mark.integration
def test_scan_of_a_folder_checks_a_tracked_action_under_cache(
    capsys: pytest.CaptureFixture[str], repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code = main(["scan", "--root", str(repo), "--out", str(out), "src"])
    text = capsys.readouterr().out + (out / "scan.json").read_text()
    assert code == 1 and "CNV_GHA_5" in text and "src/cache/act/action.yml" in text
