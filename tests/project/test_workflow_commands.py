"""Workflows only call commands: the `run:` steps with more than one command stay at most three,
each saying why in its first line (the logic lives in the CLI, where it is tested).

Measured with tests/workflow_commands.py (`python -m tests.workflow_commands`): 23 of 36 `run:`
steps held more than one command (153 lines) before issue 15; 3 of 31 (17 lines) after."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflow_commands import EXCEPTION_MARK, count_commands, run_steps, several

CEILING = 3


def test_at_most_three_run_steps_hold_more_than_one_command() -> None:
    multi = several()
    listing = "\n".join(f"{s.file}: {s.name} ({s.commands} commands)" for s in multi)
    assert len(multi) <= CEILING, f"move the logic into conveyor:\n{listing}"
    assert len(run_steps()) > 20  # the counter still finds the steps it counts


def test_every_exception_says_why() -> None:
    undocumented = [f"{s.file}: {s.name}" for s in several() if not s.documented]
    assert not undocumented, f"first line '{EXCEPTION_MARK} <why>' missing in {undocumented}"


@pytest.mark.parametrize(
    ("script", "commands"),
    [
        ('conveyor gate --out "$OUT"', 1),
        ("conveyor promote --env dev \\\n  --record r.json", 1),  # a continued line
        ("# why\nconveyor report --out r.md", 1),  # comments are not commands
        ('cmd | tee -a "$GITHUB_OUTPUT"', 2),
        ("a && b || c", 3),
        ('echo "a; b | c && d"', 1),  # operators inside quotes are text
        ("if [[ -f x ]]; then cat x; fi", 3),
        ("dvc pull\ndvc repro", 2),
    ],
)
def test_the_counter_counts_commands(script: str, commands: int) -> None:
    assert count_commands(script) == commands


def test_the_counter_reads_workflows_and_composite_actions(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "w.yml").write_text(
        "jobs:\n  j:\n    steps:\n      - run: a\n      - name: two\n        run: |\n"
        "          a\n          b\n"
    )
    (tmp_path / "pipelines" / "x").mkdir(parents=True)
    (tmp_path / "pipelines" / "x" / "action.yml").write_text(
        "runs:\n  using: composite\n  steps:\n    - uses: ./y\n    - run: c | d\n"
    )
    steps = run_steps(tmp_path)
    assert [(s.file, s.commands) for s in steps] == [
        (".github/workflows/w.yml", 1),
        (".github/workflows/w.yml", 2),
        ("pipelines/x/action.yml", 2),
    ]
    assert [s.name for s in several(tmp_path)] == ["two", "c | d"]
