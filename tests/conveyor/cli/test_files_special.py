"""Every reader of a user's file refuses a FIFO, a device or a socket from `stat`, before it
opens it: opening a FIFO blocks until something writes to it, so a reader that opens first
hangs. Run in a subprocess with a timeout, so a reader that would hang fails instead."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

# Each reader on the special file given as argv[1]; prints one JSON line: reader -> message.
READERS = """
import json, sys
from pathlib import Path
from conveyor import files, hashing, release
from conveyor.checks.dataio import read_frame
from conveyor.config import read_yaml
from conveyor.errors import UserError
from conveyor.monitor.issue import read_json as issue_json

path = Path(sys.argv[1])
readers = {
    "read_text": lambda: files.read_text(path),
    "read_json": lambda: files.read_json(path),
    "read_yaml": lambda: read_yaml(path),
    "file_md5": lambda: hashing.file_md5(path),
    "read_frame": lambda: read_frame(path, None),
    "load_record": lambda: release.load_record(path),
    "tests_verdict": lambda: release.tests_verdict(path),
    "issue_json": lambda: issue_json(path, "--drift"),
}
said = {}
for name, read in readers.items():
    try:
        read()
        said[name] = "read it"
    except UserError as error:
        said[name] = str(error)
print(json.dumps(said))
"""


def _readers_on(path: Path) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", READERS, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,  # a reader that opened the FIFO would wait here for ever
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_reader_refuses_a_fifo_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "params.yaml"
    os.mkfifo(fifo)
    said = _readers_on(fifo)
    assert len(said) == 8
    for reader, message in said.items():
        assert str(fifo) in message and "a named pipe (FIFO), not a regular file" in message, (
            reader,
            message,
        )


def test_a_device_and_a_socket_are_refused_too(tmp_path: Path) -> None:
    # /dev/zero never ends: read whole, it would exhaust memory rather than block.
    said = _readers_on(Path("/dev/zero"))
    assert all("a character device, not a regular file" in m for m in said.values()), said
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.sock"))
        said = _readers_on(tmp_path / "s.sock")
    assert all("a socket, not a regular file" in m for m in said.values()), said


def test_the_cli_refuses_a_fifo_for_any_path_option_before_its_handler(tmp_path: Path) -> None:
    """The entry point checks every path argument (defaults included) before a handler runs:
    here `gate --params`, which hung reading the FIFO (issue 14, item 12)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "gate", "--params", str(fifo)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {fifo}: a named pipe (FIFO), not a regular file"]
    assert result.stdout == ""


def test_scan_reports_a_fifo_in_a_scanned_folder_as_not_checked(tmp_path: Path) -> None:
    """A folder outside git is walked: a FIFO in it was opened by the scan, which then hung.
    Now it is a finding like any file the scan cannot read."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "policies", root / "policies")
    (root / "conf").mkdir()
    (root / "conf" / "settings.yaml").write_text("a: 1\n", encoding="utf-8")
    os.mkfifo(root / "conf" / "pipe.yaml")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "conveyor"), "scan", "--out", str(tmp_path / "out")],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1, result.stdout
    expected = "CNV_SCAN_1 conf/pipe.yaml:1: File was not checked: a named pipe (FIFO)"
    assert expected in failed[0], failed
