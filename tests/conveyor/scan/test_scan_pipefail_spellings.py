"""CNV_GHA_5 in every spelling (issue 14, review finding C): a pipe inside a quoted command
substitution (`OUT="$(a | tee o)"` takes the pipe's status, `bash -e` goes on), a shell spec
read as words (`env bash {0}`, `zsh {0}`, `ksh {0}` run without pipefail; `-o nopipefail` and
`+o pipefail` are not pipefail), and a program conveyor does not know is reported. Composite
actions get the same rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.scan.actions import scan_file
from conveyor.scan.settings import ScanConfig
from conveyor.scan.shell import fails_on_pipes, has_pipe

WORKFLOW = "on: push\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
ACTION = "name: a\nruns:\n  using: composite\n  steps:\n"

REPORTED = [
    ("bash -e {0}", 'OUT="$(conveyor rollback --env dev | tee out.txt)"'),
    ("bash -e {0}", 'echo "rolled back: `conveyor rollback | tail -1`"'),
    ("sh", 'echo "$(echo "$(conveyor rollback | tee o)")"'),
    ("env bash {0}", "conveyor rollback | tee out.txt"),
    ("/usr/bin/env bash -e {0}", "conveyor rollback | tee out.txt"),
    ("zsh {0}", "conveyor rollback | tee out.txt"),
    ("ksh {0}", "conveyor rollback | tee out.txt"),
    ("bash -e -o nopipefail {0}", "conveyor rollback | tee out.txt"),
    ("bash -eo pipefail +o pipefail {0}", "conveyor rollback | tee out.txt"),
    ("bash --noprofile --norc {0}", "conveyor rollback | tee out.txt"),
    ("bash -e {0} -o pipefail", "conveyor rollback | tee out.txt"),
    ("zsh -o pipefail {0}", "unsetopt pipe_fail\nconveyor rollback | tee out.txt"),
    ("my-runner {0}", "conveyor rollback | tee out.txt"),
    ("cmd", "conveyor rollback | tee out.txt"),
]

PASSES = [
    ("bash", 'OUT="$(conveyor rollback --env dev | tee out.txt)"'),  # GitHub's bash: pipefail
    ("bash -eo pipefail {0}", 'echo "$(conveyor rollback | tee o)"'),
    ("env bash -e -o pipefail {0}", "conveyor rollback | tee out.txt"),
    ("/usr/bin/env -S 'bash -eo pipefail' {0}", "conveyor rollback | tee out.txt"),
    ("bash -o errexit -o pipefail {0}", "conveyor rollback | tee out.txt"),
    ("zsh -o PIPE_FAIL {0}", "conveyor rollback | tee out.txt"),
    ("ksh -o pipefail {0}", "conveyor rollback | tee out.txt"),
    ("zsh {0}", "setopt pipefail\nconveyor rollback | tee out.txt"),
    ("sh", 'echo "$(echo \'a|b\')" "`echo x`" $((1 | 2))'),  # no pipe at all
    ("pwsh", "Get-Item . | Select-Object Name"),  # not a shell pipe
]


def _gha5(tmp_path: Path, shell: str, run: str, composite: bool) -> list[int]:
    body = "".join(f"          {line}\n" for line in run.splitlines())
    if composite:
        text = ACTION + f"    - shell: {shell!r}\n      run: |\n" + body
        name = "action.yml"
    else:
        text = WORKFLOW + f"      - shell: {shell!r}\n        run: |\n" + body
        name = "w.yml"
    (tmp_path / name).write_text(text)
    found = scan_file(tmp_path, Path(name), ScanConfig(), composite)
    return [f.line for f in found if f.policy_id == "CNV_GHA_5"]


@pytest.mark.parametrize("composite", [False, True], ids=["workflow", "composite"])
@pytest.mark.parametrize(("shell", "run"), REPORTED)
def test_a_pipe_without_pipefail_is_reported_in_any_spelling(
    tmp_path: Path, shell: str, run: str, composite: bool
) -> None:
    assert len(_gha5(tmp_path, shell, run, composite)) == 1


@pytest.mark.parametrize("composite", [False, True], ids=["workflow", "composite"])
@pytest.mark.parametrize(("shell", "run"), PASSES)
def test_a_pipe_under_pipefail_or_no_pipe_passes(
    tmp_path: Path, shell: str, run: str, composite: bool
) -> None:
    assert _gha5(tmp_path, shell, run, composite) == []


def test_the_default_shell_sees_a_pipe_in_a_quoted_substitution(tmp_path: Path) -> None:
    # No `shell:` at all: GitHub's `bash -e {0}`, which goes on after `OUT="$(false | tee o)"`.
    (tmp_path / "w.yml").write_text(WORKFLOW + '      - run: OUT="$(conveyor rollback | tee o)"\n')
    found = scan_file(tmp_path, Path("w.yml"), ScanConfig(), False)
    assert [f.line for f in found if f.policy_id == "CNV_GHA_5"] == [7]


def test_the_shell_spec_is_read_as_words() -> None:
    assert fails_on_pipes("env bash {0}") is False
    assert fails_on_pipes("bash -e -o nopipefail {0}") is False
    assert fails_on_pipes("bash --noprofile --norc -eo pipefail {0}") is True
    assert fails_on_pipes("bash -eo 'pipefail {0}") is False  # does not parse: unknown
    assert fails_on_pipes("python {0}") is None
    assert has_pipe('x="$(a | b)"') and not has_pipe('x="$(echo "a|b")"')
