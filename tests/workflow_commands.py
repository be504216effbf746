"""Count the `run:` steps of the workflows and composite actions that hold more than one command.

The house rule (docs: DESIGN.md, "Workflows only set up, call, and publish") is one command per
`run:`; the logic lives in the CLI, where it is tested. A step that still needs several commands
says why in a first line ``# several commands: <why>``. tests/project/test_workflow_commands.py
holds the count to its ceiling; run this file to see the list:

    .venv/bin/python -m tests.workflow_commands
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
EXCEPTION_MARK = "# several commands:"
# Control operators that join commands into a list or a pipeline.
OPERATORS = {";", "&&", "||", "|", "&", "|&", ";;"}


@dataclass(frozen=True)
class RunStep:
    """One `run:` step: where it is, its script, and how many commands it holds."""

    file: str
    name: str
    script: str

    @property
    def commands(self) -> int:
        return count_commands(self.script)

    @property
    def lines(self) -> int:
        return len(_logical_lines(self.script))

    @property
    def documented(self) -> bool:
        return self.script.lstrip().startswith(EXCEPTION_MARK)


def _logical_lines(script: str) -> list[str]:
    """The script's command lines: comments and blanks dropped, continuations joined."""
    joined = script.replace("\\\n", " ")
    lines = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def count_commands(script: str) -> int:
    """Commands in a bash script: one per logical line, plus one per control operator."""
    total = 0
    for line in _logical_lines(script):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:  # an unbalanced quote: count the line as one command
            tokens = []
        total += 1 + sum(1 for token in tokens if token in OPERATORS)
    return total


def _steps(document: object) -> list[dict]:
    """Every step of a workflow (per job) or of a composite action."""
    if not isinstance(document, dict):
        return []
    steps: list[dict] = []
    for job in (document.get("jobs") or {}).values():
        steps += (job or {}).get("steps") or []
    steps += ((document.get("runs") or {}).get("steps")) or []
    return [step for step in steps if isinstance(step, dict)]


def run_steps(root: Path = REPO) -> list[RunStep]:
    """Every `run:` step of .github/workflows/*.yml and the composite actions under pipelines/."""
    files = sorted(
        [
            *root.glob(".github/workflows/*.yml"),
            *root.glob("pipelines/*/action.yml"),
            *root.glob(".github/actions/*/action.yml"),
        ]
    )
    found = []
    for path in files:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for step in _steps(document):
            if "run" in step:
                name = str(step.get("name") or step.get("id") or step["run"].splitlines()[0])
                found.append(RunStep(str(path.relative_to(root)), name, str(step["run"])))
    return found


def several(root: Path = REPO) -> list[RunStep]:
    """The `run:` steps that hold more than one command."""
    return [step for step in run_steps(root) if step.commands > 1]


def main() -> int:
    steps = run_steps()
    multi = [step for step in steps if step.commands > 1]
    for step in multi:
        mark = "documented" if step.documented else "UNDOCUMENTED"
        print(f"{step.file}: {step.name!r}: {step.commands} commands, {step.lines} lines ({mark})")
    lines = sum(step.lines for step in multi)
    print(f"{len(multi)} of {len(steps)} run: steps hold more than one command ({lines} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
