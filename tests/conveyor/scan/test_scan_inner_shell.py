"""CNV_GHA_5 reads the script given to `bash -c '...'` / `sh -c '...'` (issue 14): that
script runs in a new shell, which does not inherit the step's pipefail, so `bash -c 'conveyor
rollback | tee out'` passes when the rollback is refused, even under `shell: bash`."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.scan.actions import scan_file
from conveyor.scan.settings import ScanConfig

# `shell: bash` everywhere: GitHub runs the step itself with pipefail.
BASE = (
    "on: push\npermissions: {}\ndefaults:\n  run:\n    shell: bash\njobs:\n  j:\n"
    "    runs-on: ubuntu-latest\n    steps:\n"
)


def _pipefail_findings(tmp_path: Path, run: str) -> list[str]:
    body = "".join(f"          {line}\n" for line in run.splitlines())
    (tmp_path / "w.yml").write_text(BASE + "      - run: |\n" + body)
    found = scan_file(tmp_path, Path("w.yml"), ScanConfig(), False)
    return [f.title for f in found if f.policy_id == "CNV_GHA_5"]


@pytest.mark.parametrize(
    ("run", "line"),
    [
        ("bash -c 'conveyor rollback | tee o'", 1),
        ("sh -c 'conveyor rollback | tee o'", 1),
        ('echo start\nbash -c "conveyor rollback | tee o"', 2),
        ("/bin/bash -e -c 'conveyor rollback |& tee o'", 1),
        ("set -o pipefail\nbash -c 'conveyor rollback | tee o'", 2),
        ("bash -c 'set -o pipefail; true | cat; set +o pipefail; conveyor rollback | tee o'", 1),
        ("true && bash -ec 'conveyor rollback | tee o'", 1),
        ("echo a\necho b\nsh -c '\n  conveyor rollback\n  conveyor gate | tee o\n'", 5),
        # Behind a command that runs the next one: the shell it starts is as new as any.
        ("timeout 60 bash -c 'conveyor rollback | tee o'", 1),
        ("env bash -c 'conveyor rollback | tee o'", 1),
        ("env A=1 B=2 bash -c 'conveyor rollback | tee o'", 1),
        ("nice -n 5 sh -c 'conveyor rollback | tee o'", 1),
        ("/usr/bin/timeout 5 /bin/bash -e -c 'conveyor rollback | tee o'", 1),
        ("sudo -u ci nohup bash -c 'conveyor rollback | tee o'", 1),
        ("echo x | xargs -I{} bash -c 'conveyor rollback {} | tee o'", 1),
    ],
)
def test_a_pipe_in_an_inner_shell_without_pipefail_is_reported(
    tmp_path: Path, run: str, line: int
) -> None:
    titles = _pipefail_findings(tmp_path, run)
    assert len(titles) == 1, titles
    assert f"script line {line})" in titles[0]


@pytest.mark.parametrize(
    "run",
    [
        "conveyor rollback | tee o",
        "bash -o pipefail -c 'conveyor rollback | tee o'",
        "bash -eo pipefail -c 'conveyor rollback | tee o'",
        "bash -c 'set -euo pipefail; conveyor rollback | tee o'",
        "bash -c 'conveyor rollback || exit 1'",
        "echo \"bash -c 'conveyor rollback | tee o'\"",
        'bash -c "$SCRIPT"',
        "bash script.sh",
        "timeout 60 bash -o pipefail -c 'conveyor rollback | tee o'",
        "echo timeout 60 bash -c 'conveyor rollback | tee o'",
    ],
)
def test_an_inner_shell_with_pipefail_or_no_pipe_is_not_reported(tmp_path: Path, run: str) -> None:
    assert _pipefail_findings(tmp_path, run) == []


# No `defaults:`: GitHub's `bash -e {0}`, no pipefail until the script sets it.
BARE = "on: push\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"


@pytest.mark.parametrize(
    ("run", "reported"),
    [
        ("( set -o pipefail )\nconveyor rollback | tee o", True),
        ("(set -o pipefail; true)\nconveyor rollback | tee o", True),
        ("x=$(set -o pipefail; echo a)\nconveyor rollback | tee o", True),
        ("(set -o pipefail; conveyor rollback | tee o)", False),
        ("set -o pipefail\n(conveyor rollback | tee o)", False),
        ("set -o pipefail\n( set +o pipefail )\nconveyor rollback | tee o", False),
    ],
)
def test_a_setting_made_in_a_subshell_ends_with_it(
    tmp_path: Path, run: str, reported: bool
) -> None:
    body = "".join(f"          {line}\n" for line in run.splitlines())
    (tmp_path / "w.yml").write_text(BARE + "      - run: |\n" + body)
    found = scan_file(tmp_path, Path("w.yml"), ScanConfig(), False)
    assert any(f.policy_id == "CNV_GHA_5" for f in found) is reported, found
