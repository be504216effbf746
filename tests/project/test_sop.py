"""The standard operating procedures stay true: every `conveyor` and `make` command they give is
one the tools accept (commands for GitHub, kubectl and git are outside this machine's reach)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conveyor.cli import build_parser
from tests.paths import REPO

SOPS = sorted((REPO / "docs" / "sop").glob("*.md"))
FENCE = re.compile(r"```bash\n(.*?)```", re.S)


def commands(path: Path) -> list[str]:
    """Shell commands in the file's bash blocks: continuations joined, comments dropped."""
    found = []
    for block in FENCE.findall(path.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            # A digest placeholder becomes a well-formed digest (options are checked while parsing).
            command = re.sub(r"sha256:<[^>]*>", "sha256:" + "0" * 64, line.split(" #", 1)[0])
            command = re.sub(r"<[^>]*>", "x", command).strip()
            if command and not command.startswith("#"):
                found.append(command)
    return found


def test_the_release_procedures_exist():
    names = {path.stem for path in SOPS}
    assert {"release", "promotion", "rollback", "failed-deploy"} <= names


@pytest.mark.parametrize("path", SOPS, ids=lambda p: p.name)
def test_every_conveyor_command_parses(path):
    parser = build_parser()
    conveyor = [c for c in commands(path) if c.startswith("conveyor ")]
    for command in conveyor:
        try:
            args = parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            pytest.fail(f"{path.name}: `{command}` is not a valid conveyor command")
        assert hasattr(args, "func"), command


@pytest.mark.parametrize("path", SOPS, ids=lambda p: p.name)
def test_every_make_target_exists(path):
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for command in commands(path):
        if command.startswith("make "):
            assert shlex.split(command)[1] in targets, f"{path.name}: `{command}`"
