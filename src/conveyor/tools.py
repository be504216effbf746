"""Running the command-line tools conveyor drives (git, dvc, bentoml), one way for all of them."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from conveyor.errors import UserError

__all__ = ["failure_reason", "not_an_option", "python_tool", "run"]


def python_tool(module: str) -> list[str]:
    """The command of a tool installed beside conveyor (dvc, bentoml): found whether or not the
    virtual environment is activated, which a bare name on PATH is not."""
    return [sys.executable, "-m", module]


def run(
    args: Sequence[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (fed ``input_text`` on stdin when given) and capture its text output. A
    missing program or a timeout comes back as a failed result (exit 127 or 124, reason in
    stderr), so callers handle one kind of failure."""
    try:
        return subprocess.run(
            list(args),
            cwd=cwd,
            env=env,
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except OSError as error:
        return subprocess.CompletedProcess(list(args), 127, "", str(error))
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(args), 124, "", f"timed out after {timeout:g} s")


# Lines a tool prints around its error that say nothing about it: DVC's support banner, and the
# numbered lines of a file it quotes ("  82 │ - path: ...").
_SIGN_OFFS = ("Having any troubles?",)
_QUOTED = re.compile(r"^\s*\d+\s+│")


def failure_reason(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of stderr (or stdout), banners and quoted file lines left out: usually the
    one that says why (uv and git put the cause last)."""
    for stream in (result.stderr, result.stdout):
        lines = [line.strip() for line in stream.splitlines() if not _QUOTED.match(line)]
        lines = [line for line in lines if line and not line.startswith(_SIGN_OFFS)]
        if lines:
            return lines[-1]
    return f"exit code {result.returncode}, no output"


def not_an_option(value: str, what: str) -> str:
    """``value`` unchanged, or a usage error when it starts with '-': git (and most tools) would
    read it as an option, and some options run commands (``--upload-pack=CMD``). Every value a
    user gives that reaches git goes through here, and after ``--end-of-options`` as well."""
    if value.startswith("-"):
        raise UserError(
            f"{what} {value!r}: must not start with '-' (it would be read as an option)"
        )
    return value
