"""Just enough of a bash reader to tell whether a `run:` script pipes one command into another,
and whether it turns `pipefail` on itself. Without pipefail a pipeline's status is its last
command's: `conveyor rollback | tee out` succeeds when the rollback is refused."""

from __future__ import annotations

import re
import shlex
from typing import Any

__all__ = ["fails_on_pipes", "has_pipe", "sets_pipefail", "unguarded_pipes"]

HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def _code(script: str) -> str:
    """The script with everything that is not shell syntax blanked out, same length (newlines
    kept): quoted strings, escaped characters, comments, heredoc bodies, `${{ }}` expressions,
    arithmetic `$(( ))`. A command substitution inside double quotes (`"$(a | b)"`, `` "`a |
    b`" ``) is code again: its pipes run, and `OUT="$(a | b)"` takes their status."""
    return _Reader(script).run()


class _Reader:
    """One pass over a script with a stack of frames: "code" (the script), "sub" (`$(` inside
    double quotes; its second item counts the parentheses opened in it), "`" (backticks inside
    double quotes), and the quote characters."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out = list(text)
        self.heredocs: list[str] = []
        self.stack: list[list[Any]] = [["code", 0]]

    def blank(self, start: int, end: int) -> None:
        for j in range(start, min(end, len(self.out))):
            if self.out[j] != "\n":
                self.out[j] = "_"

    def run(self) -> str:
        i = 0
        while i < len(self.text):
            kind = self.stack[-1][0]
            if kind == "'":
                self.blank(i, i + 1)
                if self.text[i] == "'":
                    self.stack.pop()
                i += 1
            else:
                i = self._anywhere(i) or (self._quoted(i) if kind == '"' else self._code(i))
        return "".join(self.out)

    def _anywhere(self, i: int) -> int:
        """Escapes, `${{ }}` and `$(( ))`, the same in code and in double quotes; 0 if none."""
        text = self.text
        if text[i] == "\\":
            self.blank(i, i + 2)  # the next character is literal
            return i + 2
        if text.startswith("${{", i):
            end = text.find("}}", i)
            end = len(text) if end == -1 else end + 2
            self.blank(i, end)
            return end
        if text.startswith("$((", i):
            end = _arithmetic_end(text, i + 1)
            self.blank(i, end)  # `$((a | b))` is a bitwise or
            return end
        return 0

    def _quoted(self, i: int) -> int:
        """Inside double quotes: text, except a command substitution, which is code."""
        if self.text.startswith("$(", i):
            self.stack.append(["sub", 0])
            return i + 2  # `$(` stays: a `set` after it starts a command
        if self.text[i] == "`":
            self.stack.append(["`", 0])
            return i + 1
        self.blank(i, i + 1)
        if self.text[i] == '"':
            self.stack.pop()
        return i + 1

    def _code(self, i: int) -> int:
        text, frame = self.text, self.stack[-1]
        c = text[i]
        if (frame[0] == "`" and c == "`") or (frame[0] == "sub" and c == ")" and frame[1] == 0):
            self.stack.pop()  # back inside the double quotes
        elif c in "'\"":
            self.blank(i, i + 1)
            self.stack.append([c, 0])
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;&|("):
            end = _line_end(text, i)
            self.blank(i, end)  # a comment runs to the end of the line
            return end
        elif c == "<" and (match := HEREDOC.match(text, i)):
            self.heredocs.append(match.group(2))
            return match.end()
        elif c == "\n" and self.heredocs:
            end = _skip_heredocs(text, i + 1, self.heredocs)
            self.blank(i + 1, end)
            self.heredocs = []
            return end
        elif frame[0] == "sub" and c in "()":
            frame[1] += 1 if c == "(" else -1
        return i + 1


def _arithmetic_end(text: str, i: int) -> int:
    """The position after the parenthesis that closes the one at ``i``."""
    depth = 0
    for j in range(i, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return j + 1
    return len(text)


# A `|` or `|&` between commands: not `||`, not the `>|` redirection.
PIPE = re.compile(r"(?<![|>])\|(?!\|)")
# `set`/`shopt` (zsh: `setopt`/`unsetopt`) where a command starts, with its words up to the end
# of the command.
SETTING = re.compile(
    r"(?:^|(?<=[;&|({\n])|(?<=\bthen)|(?<=\bdo)|(?<=\belse))[ \t]*(set|shopt|setopt|unsetopt)\b"
    r"([^;&|)\n]*)"
)


def _option(name: str, on: bool, zsh: bool) -> bool | None:
    """What naming option ``name`` with ``on`` does to pipefail. zsh reads option names without
    case or underscores and `no` in front turns one off; other shells know only `pipefail`.
    Anything else leaves it alone."""
    folded = name.lower().replace("_", "") if zsh else name
    if folded == "pipefail":
        return on
    if name.lower().replace("_", "") == "nopipefail":
        return not on  # zsh turns it off; bash refuses the name: never on either way
    return None


def _pipefail_changes(words: list[str], command: str, zsh: bool = False) -> bool | None:
    """What a `set`, `shopt`, `setopt`/`unsetopt` command, or a shell's own options (`bash -e
    -o pipefail`), do to pipefail: True on, False off, None nothing. Read word by word: `-o
    NAME` / `+o NAME` (also grouped, `-euo pipefail`) set or unset NAME; `--` and the first
    word that is not an option end the options."""
    state = None
    if command in ("setopt", "unsetopt"):
        for word in words:
            change = _option(word, command == "setopt", zsh=True)
            state = change if change is not None else state
        return state
    if command == "shopt":
        flags = "".join(w[1:] for w in words if w.startswith("-"))
        if "o" in flags and "pipefail" in words and ("s" in flags or "u" in flags):
            state = "s" in flags
        return state
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in ("-", "--") or word[:1] not in "-+":
            break
        if word.startswith("--"):  # bash's long options; two of them take a file
            i += word in ("--rcfile", "--init-file")
            continue
        for flag in word[1:]:
            if flag in "oO":  # `-o NAME` (`-O NAME`: a shopt name, never pipefail)
                if flag == "o" and i < len(words):
                    change = _option(words[i], word[0] == "-", zsh)
                    state = change if change is not None else state
                i += 1
    return state


# Commands that run the command after their own words: `timeout 60 bash -c '...'`, `env X=1
# bash -c`, `nice -n 5 sh -c`, `xargs -I{} bash -c`... the shell they start is as new as any.
WRAPPERS = (
    "exec", "env", "timeout", "nice", "nohup", "sudo", "doas", "time", "command", "stdbuf",
    "setsid", "ionice", "xargs", "flock", "chronic", "unbuffer", "taskset", "chrt", "caffeinate",
)  # fmt: skip
_SHELL_WORD = r"(?:[^\s;&|()]*/)?(?:bash|sh|dash|zsh|ksh)\b"
# `bash -c '...'` (or sh, dash, zsh, ksh; options before `-c`; behind any wrappers above) where
# a command starts: its quoted script runs in a new shell that does not inherit pipefail.
INNER_SHELL = re.compile(
    r"(?:^|(?<=[;&|({\n])|(?<=\bthen)|(?<=\bdo)|(?<=\belse))[ \t]*"
    rf"(?:(?:[^\s;&|()]*/)?(?:{'|'.join(WRAPPERS)})(?:[ \t]+(?!{_SHELL_WORD})[^\s;&|()]+)*+[ \t]+)*"
    rf"{_SHELL_WORD}((?:[ \t]+(?:[-+][A-Za-z]+|pipefail))+)[ \t]+"
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
    events: list[tuple[int, bool | str | None]] = [(m.start(), None) for m in PIPE.finditer(code)]
    for match in SETTING.finditer(code):
        setting = _pipefail_changes(match.group(2).split(), match.group(1))
        if setting is not None:
            events.append((match.start(1), setting))
    # `( ... )` and `$( ... )` run in a subshell: a setting made there ends at its `)`.
    events += [(i, c) for i, c in enumerate(code) if c in "()"]
    found: list[int] = []
    outer: list[bool] = []
    for position, change in sorted(events, key=lambda e: e[0]):
        if change == "(":
            outer.append(pipefail)
        elif change == ")":
            pipefail = outer.pop() if outer else pipefail  # a `case` pattern's `)` opens nothing
        elif change is None and not pipefail:
            found.append(position)
        elif isinstance(change, bool):
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


# Shells that read a script as POSIX-like shell syntax, their `|` a pipe.
SHELLS = frozenset({"bash", "sh", "dash", "ash", "zsh", "ksh", "ksh93", "mksh", "yash"})
# Languages where `|` is no shell pipe (or that conveyor does not read as shell).
LANGUAGES = frozenset({"pwsh", "powershell", "python", "python3", "node", "perl", "ruby"})


def _command(words: list[str]) -> list[str]:
    """``words`` without leading `env` wrappers (`env`, `/usr/bin/env -S "bash -e"`, `env
    NAME=value bash`): the program that runs the script and its options."""
    while words and words[0].rsplit("/", 1)[-1] == "env":
        rest = words[1:]
        while rest:
            word = rest[0]
            if word in ("-S", "--split-string") and len(rest) > 1:
                rest = shlex.split(rest[1]) + rest[2:]
            elif word.startswith("-S") and word != "-S":
                rest = shlex.split(word[2:]) + rest[1:]
            elif word in ("-u", "--unset", "-C", "--chdir"):
                rest = rest[2:]
            elif word == "--":
                rest = rest[1:]
                break
            elif word.startswith("-") or "=" in word:
                rest = rest[1:]
            else:
                break
        words = rest
    return words


def fails_on_pipes(shell: str | None) -> bool | None:
    """True when GitHub runs a script under ``shell`` with pipefail; False when it does not or
    may not (the default `bash -e`, `sh`, a template whose options never turn pipefail on or
    turn it off again, a program conveyor does not know, a spec that does not parse); None for
    languages where `|` is no shell pipe (pwsh, python...). The spec is read as words: `env`
    in front is looked through, the options are read in order up to the script (`{0}`)."""
    if shell is None:  # no shell anywhere: `bash -e {0}` on Linux runners, no pipefail
        return False
    if shell.strip() == "bash":  # GitHub: bash --noprofile --norc -eo pipefail {0}
        return True
    try:
        words = _command(shlex.split(shell))
    except ValueError:
        return False  # an unclosed quote: nothing known about it
    program = words[0].rsplit("/", 1)[-1] if words else ""
    if program in LANGUAGES:
        return None
    if program not in SHELLS:
        return False  # not known to fail on pipes: its pipes are reported
    return _pipefail_changes(words[1:], "set", zsh=program == "zsh") is True
