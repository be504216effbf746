"""`conveyor scan` finds its pinned checkov or installs it into the per-user cache, so a repository
needs no Makefile of conveyor's. Real uv and PyPI for the install (the registry is the one place
tests may reach); an unreachable index on loopback for the failed install.

conveyor also looks for `.tools/checkov` beside its own environment (conveyor's Makefile puts it
there, and this checkout has one): the tests move `sys.prefix` elsewhere to stand where an
adopter's installed conveyor stands."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.scan import checkov_tool
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

UV = REPO / ".venv" / "bin" / "uv"
WORKFLOW = """\
name: ci
on: push
permissions: {}
defaults: {run: {shell: bash}}
jobs:
  a:
    runs-on: ubuntu-latest
    permissions: {contents: read}
    steps:
      - run: echo hi
"""


def _repo(root: Path) -> Path:
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    return root


@pytest.fixture
def adopter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed conveyor with no .tools/ beside it, and an empty cache of its own."""
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "site" / "venv"))
    monkeypatch.setenv("CONVEYOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CONVEYOR_CHECKOV", raising=False)
    return _repo(tmp_path / "repo")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_cache_folder_is_per_user_and_per_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVEYOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    minor = f"py{sys.version_info.major}.{sys.version_info.minor}"
    expected = Path(f"/somewhere/cache/conveyor/checkov-{checkov_tool.CHECKOV_VERSION}-{minor}")
    assert checkov_tool.cache_dir() == expected


def test_scan_installs_the_pinned_checkov_once_and_scans(
    adopter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = adopter / "out"
    code = main(["scan", "--root", str(adopter), "--out", str(out), "--uv", str(UV)])
    err = capsys.readouterr().err
    venv = checkov_tool.cache_dir()
    assert code == 0, err
    assert f"installing checkov=={checkov_tool.CHECKOV_VERSION} into {venv}" in err
    assert (venv / checkov_tool.COMPLETE).is_file()
    version = subprocess.run(
        [venv / "bin" / "python", "-c", "import checkov.version as v; print(v.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == checkov_tool.CHECKOV_VERSION
    assert json.loads((out / "scan.json").read_text())["passed"] is True
    # The second scan uses the cached install: no second install.
    assert main(["scan", "--root", str(adopter), "--out", str(out)]) == 0
    assert "installing checkov" not in capsys.readouterr().err


def test_a_failed_install_is_a_usage_error_naming_the_fix_and_writes_nothing(
    adopter: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    index = f"http://127.0.0.1:{_closed_port()}/simple/"  # offline: nothing answers there
    for variable in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
        monkeypatch.setenv(variable, index)
    monkeypatch.setenv("UV_OFFLINE", "1")
    out = adopter / "out"
    code = main(["scan", "--root", str(adopter), "--out", str(out), "--uv", str(UV)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"error: could not install checkov=={checkov_tool.CHECKOV_VERSION}")
    assert err[-1].endswith(
        "run once with access to PyPI, or pass --checkov PATH to an installed checkov"
    )
    assert "Traceback" not in "\n".join(err)
    assert not out.exists()
    assert not checkov_tool.cache_dir().exists()  # no half-made venv left to be trusted later


def test_an_explicit_checkov_that_is_not_there_is_a_usage_error(
    adopter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = adopter / "out"
    code = main(["scan", "--root", str(adopter), "--out", str(out), "--checkov", "/no/checkov"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: --checkov /no/checkov: not an executable file"
    assert not out.exists()
    assert not checkov_tool.cache_dir().exists()


def test_an_explicit_checkov_is_the_one_that_runs(
    adopter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkov = REPO / ".tools" / "checkov" / "bin" / "checkov"  # `make checkov`'s
    out = adopter / "out"
    code = main(["scan", "--root", str(adopter), "--out", str(out), "--checkov", str(checkov)])
    assert code == 0, capsys.readouterr().err
    assert not checkov_tool.cache_dir().exists()  # nothing installed


def test_the_makefile_pins_the_same_checkov() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert f"CHECKOV_VERSION := {checkov_tool.CHECKOV_VERSION}\n" in makefile
