"""Just enough of a bash reader to tell whether a `run:` script pipes one command into another,
and whether it turns `pipefail` on itself. Without pipefail a pipeline's status is its last
command's: `conveyor rollback | tee out` succeeds when the rollback is refused."""

from __future__ import annotations

import re

__all__ = ["fails_on_pipes", "has_pipe", "sets_pipefail", "unguarded_pipes"]

HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def _code(script: str) -> str:
    """The script with everything that is not shell syntax blanked out, same length (newlines
    kept): quoted strings, escaped characters, comments, heredoc bodies, `${{ }}` expressions."""
    out = list(script)
    i, quote, heredocs = 0, "", []
    text = script

    def blank(start: int, end: int) -> None:
        for j in range(start, min(end, len(out))):
            if out[j] != "\n":
                out[j] = "_"

    while i < len(text):
        c = text[i]
        if quote == "'":
            blank(i, i + 1)
            quote = "" if c == "'" else quote
        elif c == "\\":
            blank(i, i + 2)
            i += 1  # the next character is literal
        elif quote == '"':
            blank(i, i + 1)
            quote = "" if c == '"' else quote
        elif text.startswith("${{", i):
            end = text.find("}}", i)
            end = len(text) if end == -1 else end + 2
            blank(i, end)
            i = end - 1
        elif c in "'\"":
            blank(i, i + 1)
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;&|("):
            end = _line_end(text, i)
            blank(i, end)  # a comment runs to the end of the line
            i = end - 1
        elif c == "<" and (match := HEREDOC.match(text, i)):
            heredocs.append(match.group(2))
            i = match.end() - 1
        elif c == "\n" and heredocs:
            end = _skip_heredocs(text, i + 1, heredocs)
            blank(i + 1, end)
            i = end - 1
            heredocs = []
        i += 1
    return "".join(out)


# A `|` or `|&` between commands: not `||`, not the `>|` redirection.
PIPE = re.compile(r"(?<![|>])\|(?!\|)")
# `set`/`shopt` where a command starts, with its words up to the end of the command.
SETTING = re.compile(
    r"(?:^|(?<=[;&|({\n])|(?<=\bthen)|(?<=\bdo)|(?<=\belse))[ \t]*(set|shopt)\b([^;&|)\n]*)"
)


def _pipefail_changes(words: list[str], command: str) -> bool | None:
    """What a `set` or `shopt` command does to pipefail: True on, False off, None nothing."""
    state = None
    if command == "shopt":
        flags = "".join(w[1:] for w in words if w.startswith("-"))
        if "o" in flags and "pipefail" in words and ("s" in flags or "u" in flags):
            state = "s" in flags
        return state
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word[:1] in "-+" and word != "--":
            # `-euo pipefail`: each `o` takes the next word as an option name.
            for _ in range(word.count("o")):
                if i < len(words) and words[i] == "pipefail":
                    state = word[0] == "-"
                i += 1
    return state


# `bash -c '...'` (or sh, dash, zsh, ksh; options before `-c`) where a command starts: its
# quoted script runs in a new shell that does not inherit `set -o pipefail`.
INNER_SHELL = re.compile(
    r"(?:^|(?<=[;&|({\n])|(?<=\bthen)|(?<=\bdo)|(?<=\belse))[ \t]*(?:exec[ \t]+)?"
    r"(?:[^\s;&|()]*/)?(?:bash|sh|dash|zsh|ksh)((?:[ \t]+(?:[-+][A-Za-z]+|pipefail))+)[ \t]+"
)
QUOTED = re.compile(r"'([^']*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)


def _inner_scripts(script: str, code: str) -> list[tuple[int, str, bool]]:
    """Each quoted script run by `bash -c` (and the like): its offset in ``script``, its text
    and whether its shell starts with pipefail (`bash -o pipefail -c`)."""
    found = []
    for match in INNER_SHELL.finditer(code):
        words = match.group(1).split()
        if not any(w.startswith("-") and "c" in w for w in words):
            continue
        quoted = QUOTED.match(script, match.end())
        if quoted is None:
            continue  # a variable or unquoted word: nothing to read
        body = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
        found.append((quoted.start() + 1, body, _pipefail_changes(words, "set") is True))
    return found


def unguarded_pipes(script: str, pipefail: bool) -> list[int]:
    """The offsets of the pipes that run without pipefail, reading the script in order from
    ``pipefail`` (the shell's own setting): `set -o pipefail` turns it on for what follows,
    `set +o pipefail` (or `shopt -u -o pipefail`) off. A script in quotes given to `bash -c`
    (or `sh -c`) runs in a new shell, without pipefail unless its own options set it: its
    pipes are read there."""
    code = _code(script)
    inner = [
        start + offset
        for start, body, own in _inner_scripts(script, code)
        for offset in unguarded_pipes(body, own)
    ]
    events: list[tuple[int, bool | None]] = [(m.start(), None) for m in PIPE.finditer(code)]
    for match in SETTING.finditer(code):
        change = _pipefail_changes(match.group(2).split(), match.group(1))
        if change is not None:
            events.append((match.start(1), change))
    found = []
    for position, change in sorted(events, key=lambda e: e[0]):
        if change is None and not pipefail:
            found.append(position)
        elif change is not None:
            pipefail = change
    return sorted(found + inner)


def has_pipe(script: str) -> bool:
    """Whether the script has a `|` or `|&` between commands: not `||`, not inside quotes, a
    comment, a heredoc body or a `${{ }}` expression, not the `>|` redirection."""
    return bool(PIPE.search(_code(script)))


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
    """Whether the script runs `set -o pipefail` (or `set -euo pipefail` and the like) itself
    before its first pipe and never turns it off again."""
    code = _code(script)
    turns_on = any(
        _pipefail_changes(m.group(2).split(), m.group(1)) for m in SETTING.finditer(code)
    )
    return turns_on and not unguarded_pipes(script, pipefail=False)


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
