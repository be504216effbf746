"""A recording stand-in for the GitHub CLI: GitHub itself cannot run here, so tests put this `gh`
first on PATH. It appends each call's argv (and whether GH_TOKEN reached it) to ``calls.jsonl``
and answers from ``answers.json`` ({"pr list": "URL or empty", "issue list": [...], ...}: the
first three words of the call when answered, else its first two; a value {"exit": N,
"stderr": "..."} fails the call)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

SCRIPT = """#!{python}
import json, os, sys
from pathlib import Path
here = Path({folder!r})
argv = sys.argv[1:]
with (here / "calls.jsonl").open("a") as log:
    body = None
    if "--body-file" in argv:
        body = Path(argv[argv.index("--body-file") + 1]).read_text()
    entry = {{"argv": argv, "token": bool(os.environ.get("GH_TOKEN")), "body": body}}
    log.write(json.dumps(entry) + "\\n")
answers = json.loads((here / "answers.json").read_text())
answer = answers.get(" ".join(argv[:3]), answers.get(" ".join(argv[:2]), ""))
if isinstance(answer, dict) and "exit" in answer:
    sys.stderr.write(answer.get("stderr", "") + "\\n")
    sys.exit(answer["exit"])
if not isinstance(answer, str):
    answer = json.dumps(answer)
if answer:
    print(answer)
"""


class GhStub:
    """A folder holding the stub `gh`; ``path`` goes first on PATH."""

    def __init__(self, folder: Path, answers: dict | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder
        program = folder / "gh"
        program.write_text(SCRIPT.format(python=sys.executable, folder=str(folder)))
        program.chmod(program.stat().st_mode | stat.S_IEXEC)
        self.answer(answers or {})

    def answer(self, answers: dict) -> None:
        (self.path / "answers.json").write_text(json.dumps(answers))

    def calls(self) -> list[list[str]]:
        log = self.path / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line)["argv"] for line in log.read_text().splitlines()]

    def bodies(self) -> list[str | None]:
        """The text of each call's --body-file when gh read it (the file may be gone since)."""
        log = self.path / "calls.jsonl"
        return [json.loads(line)["body"] for line in log.read_text().splitlines()]

    def tokens(self) -> list[bool]:
        log = self.path / "calls.jsonl"
        return [json.loads(line)["token"] for line in log.read_text().splitlines()]

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ with this gh first on PATH (and the conveyor venv's bin after it)."""
        bin_dir = str(Path(sys.executable).parent)
        path = os.pathsep.join([str(self.path), bin_dir, os.environ.get("PATH", "")])
        # The CI that runs these tests is itself GitHub Actions: its GITHUB_* and tokens stay out.
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GITHUB_", "GIT_")) and key not in ("GH_TOKEN", "RUNNER_TEMP")
        }
        return {**base, "PATH": path, **extra}
