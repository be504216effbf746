"""`conveyor retrain window`: the data window's last day moves forward in params.yaml, in
place (comments and layout kept), and never back."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from forecast.params import load_params
from tests.promotion_repos import REPO

CONVEYOR = str(Path(sys.executable).parent / "conveyor")


def _window(params: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [CONVEYOR, "retrain", "window", "--params", str(params), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_window_moves_forward_and_only_that_line_changes(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    before = params.read_text()
    result = _window(params, "--to", "2026-12-02")
    assert result.returncode == 0, result.stderr
    assert "data.end_date latest -> 2026-12-02" in result.stdout
    assert "retrain/2026-12-02" in result.stdout
    after = params.read_text()
    changed = [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
        if old != new
    ]
    # Quoted: DVC refuses a YAML date in params.
    assert len(changed) == 1 and 'end_date: "2026-12-02"' in changed[0][1]
    assert "# last day of sales read" in changed[0][1]  # its comment kept
    # The model package reads it as the window's last day.
    assert str(load_params(params).data.end_date) == "2026-12-02"
    again = _window(params, "--to", "2026-12-02")
    assert again.returncode == 0 and "already 2026-12-02" in again.stdout
    assert params.read_text() == after


def test_the_step_outputs_name_the_day_and_its_branch(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    output = tmp_path / "output"
    output.touch()
    env = {"PATH": str(Path(sys.executable).parent), "GITHUB_OUTPUT": str(output)}
    command = [CONVEYOR, "retrain", "window", "--params", str(params), "--to", "2027-01-04"]
    result = subprocess.run(
        [*command, "--github-output"], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text() == "end_date=2027-01-04\nbranch=retrain/2027-01-04\n"


def test_bad_input_is_one_line_exit_2_and_the_file_is_untouched(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    assert _window(params, "--to", "2026-12-02").returncode == 0
    good = params.read_text()
    for args, said in (
        (("--to", "2026-11-30"), "never moves back"),
        (("--to", "tomorrow"), "not a date"),
        (("--key", "data.no_such_key", "--to", "2026-12-03"), "data.no_such_key: no such value"),
        (("--key", "data.source", "--to", "2026-12-03"), "data.source: no such value"),
    ):
        result = _window(params, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
        assert params.read_text() == good
    assert yaml.safe_load(good)["data"]["end_date"] == "2026-12-02"
