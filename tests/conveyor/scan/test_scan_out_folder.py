"""The scan's output folder is no hiding place (review, issue 14): its previous outputs are not
sources, but a file git tracks is one wherever it sits. A key committed under reports/scan (the
folder CI writes to) is found; `--out .github` does not drop the workflows. Real git, checkov."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conveyor.cli import main
from tests.conveyor.scan.test_scan import _key_pair
from tests.promotion_repos import git

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

UNPINNED = """name: ci
on: [push]
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
"""


def _repo(root: Path) -> Path:
    git(root.parent, "init", "-q", str(root))
    key_id, secret = _key_pair()
    leak = root / "reports" / "scan" / "old.env"
    leak.parent.mkdir(parents=True)
    leak.write_text(f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\n")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(UNPINNED)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a key under the scan's out folder")
    return root


@pytest.mark.parametrize(
    ("out", "expected"),
    [("reports/scan", "CKV_SECRET_2"), (".github", "CNV_GHA_1"), (".", "CKV_SECRET_2")],
)
def test_a_tracked_file_in_the_out_folder_is_still_scanned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, expected: str
) -> None:
    root = _repo(tmp_path / "repo")
    code = main(["scan", "--root", str(root), "--out", str(root / out)])
    output = capsys.readouterr().out
    assert code == 1, output
    assert expected in output
    # What the scan wrote there is still no source: a second run finds the same.
    assert main(["scan", "--root", str(root), "--out", str(root / out)]) == 1
    assert expected in capsys.readouterr().out
    assert subprocess.run(
        ["git", "-C", str(root), "ls-files", "--others"], check=True, capture_output=True, text=True
    ).stdout  # outputs exist, untracked
