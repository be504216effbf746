"""Just enough of a bash reader to tell whether a `run:` script pipes one command into another,
and whether it turns `pipefail` on itself. Without pipefail a pipeline's status is its last
command's: `conveyor rollback | tee out` succeeds when the rollback is refused."""

from __future__ import annotations

import re

HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
# `set -o pipefail`, `set -euo pipefail`, `set -e -o pipefail` (but not `set +o pipefail`).
SETS_PIPEFAIL = re.compile(r"(?m)^\s*set\s+(?:-[A-Za-z]+\s+)*-[A-Za-z]*o\s+pipefail\b")


def has_pipe(script: str) -> bool:
    """Whether the script has a `|` or `|&` between commands: not `||`, not inside quotes, a
    comment, a heredoc body or a `${{ }}` expression, not the `>|` redirection."""
    i, quote, heredocs = 0, "", []
    text = script
    while i < len(text):
        c = text[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1  # the next character is literal
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif text.startswith("${{", i):
            end = text.find("}}", i)
            i = len(text) if end == -1 else end + 1
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;&|("):
            i = _line_end(text, i) - 1  # a comment runs to the end of the line
        elif c == "<" and (match := HEREDOC.match(text, i)):
            heredocs.append(match.group(2))
            i = match.end() - 1
        elif c == "\n" and heredocs:
            i = _skip_heredocs(text, i + 1, heredocs) - 1
            heredocs = []
        elif c == "|":
            if text.startswith("||", i):
                i += 1
            elif i == 0 or text[i - 1] != ">":
                return True
        i += 1
    return False


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end == -1 else end


def _skip_heredocs(text: str, i: int, delimiters: list[str]) -> int:
    """The position after the bodies of the pending heredocs (each ends at its delimiter line)."""
    for delimiter in delimiters:
        while i < len(text):
            end = _line_end(text, i)
            line = text[i:end]
            i = end + 1
            if line.strip() == delimiter:
                break
    return min(i, len(text))


def sets_pipefail(script: str) -> bool:
    """Whether the script runs `set -o pipefail` (or `set -euo pipefail` and the like) itself."""
    return bool(SETS_PIPEFAIL.search(script))


def fails_on_pipes(shell: str | None) -> bool | None:
    """True when GitHub runs a script under ``shell`` with pipefail, False when it does not (the
    default, `sh`, a bash template without it), None for shells that are not POSIX (pwsh,
    python...) where `|` means something else."""
    if shell is None:  # no shell anywhere: `bash -e {0}` on Linux runners, no pipefail
        return False
    words = shell.split()
    program = words[0].rsplit("/", 1)[-1] if words else ""
    if shell.strip() == "bash":  # GitHub: bash --noprofile --norc -eo pipefail {0}
        return True
    if program == "bash":
        return "pipefail" in shell
    if program in ("sh", "dash", "ash"):
        return False
    return None
