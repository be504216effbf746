"""CNV_GHA_6: an untrusted value written into `$GITHUB_ENV` or `$GITHUB_PATH` by a `run:` script.

Passing a value through `env:` keeps it out of the script's code (CNV_GHA_4's remedy), but a
script that then writes it into the env file hands it to every later step: a title holding
`x\\nLD_PRELOAD=/tmp/evil.so` (or `BASH_ENV`, `NODE_OPTIONS`) sets a variable of the attacker's
choosing (GitHub Security Lab, "environment variable injection"); a line in `$GITHUB_PATH` puts
a directory first on every later step's PATH.

The rule, precisely. A variable is *tainted* when it is bound by `env:` (of the step, the job or
the workflow) to an expression that carries an untrusted context path (expressions.UNTRUSTED), when
it is `GITHUB_HEAD_REF` (the pull request's branch name), or when the script assigns it a value
that expands a tainted variable or reads `$GITHUB_EVENT_PATH` (the event payload). A *write* is
any command that names `$GITHUB_ENV` or `$GITHUB_PATH`, however it reaches the file (`>>`, `&>>`,
`tee`, `exec >>`, `dd of=`, `cp /dev/stdin`, `$(printenv GITHUB_ENV)`, `${{ github.env }}`, a
variable holding its path or name), taken with the group it
closes (`{ ...; } >> "$GITHUB_ENV"`, a loop, an `if`) and the heredoc bodies it reads; in
PowerShell, a line naming `$env:GITHUB_ENV`. A write that expands a tainted variable is a finding,
except into `$GITHUB_ENV` inside a multi-line block `NAME<<$DELIM` (in one command or over
several writes) whose delimiter variable is assigned a random value in the script
(`$(openssl rand -hex 16)`, `$RANDOM`): a literal delimiter (`<<EOF`) can be closed by the value
itself. Out of scope (docs/security.md): `$GITHUB_OUTPUT` (outputs are untrusted
wherever they reach a script, CNV_GHA_4), values that travel through files first."""

from __future__ import annotations

import re
from collections.abc import Mapping

from conveyor.scan.expressions import (
    DEFAULT,
    WILD,
    ExpressionError,
    Trust,
    expressions_in,
    paths_of,
    untrusted_paths,
)

__all__ = ["tainted_variables", "untrusted_writes"]

ENV_FILES = ("GITHUB_ENV", "GITHUB_PATH")
# PowerShell: `Add-Content $env:GITHUB_ENV "X=$env:TITLE"`, `... | Out-File ${env:GITHUB_PATH}`.
PWSH_FILE = re.compile(r"\$\{?env:(GITHUB_ENV|GITHUB_PATH)\b", re.IGNORECASE)
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
ASSIGN_START = re.compile(rf"(?:^|(?<=[\s;&|(]))({NAME})(?:\[[^\]]*\])?\+?=")
# `<<EOF`, `<<-'EOF'`; not the here-string `<<<`.
HEREDOC = re.compile(r"(?<!<)<<-?(?!<)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
DELIMITED = re.compile(rf"{NAME}<<\s*[\"']?\$\{{?({NAME})\}}?")
RANDOM = re.compile(r"\$\(|`|\$\{?S?RANDOM\b")
ALWAYS_TAINTED = ("GITHUB_HEAD_REF",)
SEPARATOR = re.compile(r";;?|&&|\|\||(?<![>|&])&(?![>&])")
EVENT_FILE = re.compile(r"\$\{?GITHUB_EVENT_PATH\b")
# Words that open and close a compound command, to find the start of the group a write closes.
OPENERS = re.compile(r"(?:^|(?<=[\s;&|(]))(?:\{|if|case|do)(?=[\s;]|$)|\(")
CLOSERS = re.compile(r"(?:^|(?<=[\s;&|)]))(?:\}|fi|esac|done)(?=[\s;|&>)]|$)|\)")


def _expands(text: str, names: set[str]) -> bool:
    """Whether ``text`` expands one of the variables ``names`` (`$X`, `${X}`, `${X:-..}`...)."""
    return any(re.search(rf"\$(?:{re.escape(n)}\b|\{{[#!]?{re.escape(n)}\b)", text) for n in names)


def _value_end(text: str, i: int) -> int:
    """The end of a shell word starting at ``i``: unquoted whitespace or `;&|` outside `$( )`."""
    quote, depth = "", 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1
        elif quote == '"' and c == '"':
            quote = ""
        elif text.startswith("$(", i):
            depth += 1
            i += 1
        elif c == ")" and depth:
            depth -= 1
        elif not quote and c in "'\"":
            quote = c
        elif not quote and not depth and (c.isspace() or c in ";&|"):
            break
        i += 1
    return i


def _assignments(script: str) -> list[tuple[str, str]]:
    """Each `NAME=value` of the script (also after export/local/declare), with its value text."""
    return [
        (m.group(1), script[m.end() : _value_end(script, m.end())])
        for m in ASSIGN_START.finditer(script)
    ]


def tainted_variables(script: str, env: Mapping[str, object], trust: Trust = DEFAULT) -> set[str]:
    """The variables whose value may hold untrusted text when the script writes them out."""
    tainted = {
        name
        for name, value in env.items()
        if isinstance(value, str) and untrusted_paths(value, trust)
    } | set(ALWAYS_TAINTED)
    assignments = _assignments(script)
    changed = True
    while changed:  # a = $TITLE; b = "x$a" ...: follow the chain to its end
        changed = False
        for name, value in assignments:
            if name not in tainted and (_expands(value, tainted) or EVENT_FILE.search(value)):
                tainted.add(name)
                changed = True
    return tainted


def _mask(text: str) -> str:
    """The text with quoted strings and `${...}` blanked out, same length (their braces,
    separators and words are not syntax)."""

    def blank(match: re.Match[str]) -> str:
        return "_" * len(match.group(0))

    text = re.sub(r"\$\{[^}]*\}", blank, text)
    return re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", blank, text)


def _balance(text: str) -> int:
    """Groups opened minus groups closed in ``text``."""
    bare = _mask(text)
    return len(OPENERS.findall(bare)) - len(CLOSERS.findall(bare))


def _write_text(lines: list[str], index: int, upto: int) -> str:
    """The command that writes at ``lines[index][:upto]``: back to the start of the group it
    closes, plus the heredoc bodies the line reads (unquoted delimiters expand variables)."""
    prefix = lines[index][:upto]
    # The commands before it on its line (`a; b >> f`) are not part of it unless it closes
    # their group (`{ a; b; } >> f`).
    cuts = [m.end() for m in SEPARATOR.finditer(_mask(prefix))]
    segments = [prefix[i:j] for i, j in zip([0, *cuts], [*cuts, len(prefix)], strict=True)]
    command = segments.pop()
    depth = _balance(command)
    while depth < 0 and segments:
        command = segments.pop() + command
        depth = _balance(command)
    start = index
    while depth < 0 and start > 0:
        start -= 1
        depth += _balance(lines[start])
    text = "\n".join([*lines[start:index], command])
    for quote, delimiter in HEREDOC.findall(lines[index]):
        if quote:
            continue  # <<'EOF': the body is literal
        for body in lines[index + 1 :]:
            if body.strip() == delimiter:
                break
            text += "\n" + body
    return text


def _logical_lines(script: str) -> list[str]:
    """The script's lines with backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def _env_file_expression(text: str) -> str | None:
    """The env file a `${{ }}` in ``text`` names (`${{ github.env }}`, `${{ github['path'] }}`),
    GITHUB_ENV for a computed `github[x]`, None when none does."""
    for expression in expressions_in(text):
        try:
            paths = paths_of(expression)
        except ExpressionError:
            continue
        for path in paths:
            if path[:1] == ("github",) and len(path) == 2 and path[1] in ("env", "path", WILD):
                return "GITHUB_PATH" if path[1] == "path" else "GITHUB_ENV"
    return None


def _holders(script: str) -> dict[str, str]:
    """Variable name -> the env file it holds the path of, following assignments (`f=$GITHUB_ENV`,
    `f=$(printenv GITHUB_PATH)`, `n=GITHUB_ENV` for `${!n}`, `g=$f`...)."""
    holders = {name: name for name in ENV_FILES}
    assignments = _assignments(script)
    changed = True
    while changed:
        changed = False
        for name, value in assignments:
            if name in holders:
                continue
            target = _mentioned(value, holders)
            if target:
                holders[name] = target
                changed = True
    return holders


def _mentioned(text: str, holders: dict[str, str]) -> str | None:
    """The env file ``text`` mentions, by name, by a variable holding it or by expression."""
    for match in _mention_pattern(holders).finditer(text):
        return holders[match.group(1) or match.group(2) or match.group(3)]
    return _env_file_expression(text)


def _mention_pattern(holders: dict[str, str]) -> re.Pattern[str]:
    """`$F`, `${F...}`, `${!F}` for a holder F, and the bare words GITHUB_ENV / GITHUB_PATH
    (`printenv GITHUB_ENV`, `os.environ["GITHUB_PATH"]`)."""
    alternatives = "|".join(sorted(map(re.escape, holders)))
    files = "|".join(ENV_FILES)
    return re.compile(rf"\$\{{[#!]?({alternatives})\b[^}}]*\}}|\$({alternatives})\b|\b({files})\b")


def _mentions(line: str, holders: dict[str, str]) -> list[tuple[int, int, str]]:
    """(start, end, env file) of each place in a line that names an env file."""
    found = [
        (m.start(), m.end(), holders[m.group(1) or m.group(2) or m.group(3)])
        for m in _mention_pattern(holders).finditer(line)
    ]
    pos = 0
    while (start := line.find("${{", pos)) != -1:
        end = line.find("}}", start)
        end = len(line) if end == -1 else end + 2
        target = _env_file_expression(line[start:end])
        if target:
            found.append((start, end, target))
        pos = end
    return sorted(found)


EXEC = re.compile(r"\s*exec(?:\s+\d*[<>&|]+)*\s*[\"']?\s*")


def _writes(script: str) -> list[tuple[str, str]]:
    """(env file, the text of the command that names it) for each command that names an env
    file, however (a redirect, `tee`, `dd of=`, `cp /dev/stdin`, `$(printenv GITHUB_ENV)`,
    `${{ github.env }}`): any command that reaches the file may write it, so every one counts."""
    lines = _logical_lines(script)
    holders = _holders(script)
    writes = []
    for index, line in enumerate(lines):
        for start, end, target in _mentions(line, holders):
            text = _write_text(lines, index, start)
            if EXEC.fullmatch(text.split("\n")[-1]) and "\n" not in text:
                # `exec >> "$GITHUB_ENV"`: everything the script prints from here on goes there.
                text = "\n".join(lines[index + 1 :])
            else:
                # The rest of the command: `tee "$GITHUB_ENV" <<< "X=$T"`, `>> f echo "$T"`.
                rest = line[end:]
                cut = SEPARATOR.search(_mask(rest))
                text += " " + rest[: cut.start() if cut else len(rest)]
            writes.append((target, text))
        for match in PWSH_FILE.finditer(line):
            writes.append((match.group(1).upper(), line))
    return writes


def _inside_blocks(writes: list[tuple[str, str]], randoms: set[str]) -> set[int]:
    """The writes that open, fill or close a `NAME<<$d` block with a random delimiter, also when
    spread over several writes (GitHub's own example: `echo "X<<$EOF" >> "$GITHUB_ENV"`, the
    value, `echo "$EOF" >> "$GITHUB_ENV"`)."""
    safe: set[int] = set()
    for start, (target, text) in enumerate(writes):
        opening = [m for m in DELIMITED.finditer(text) if m.group(1) in randoms]
        if target != "GITHUB_ENV" or not opening:
            continue
        delimiter = opening[0].group(1)
        if _expands(text[opening[0].end() :], {delimiter}):
            safe.add(start)  # the block opens and closes in one command
            continue
        for end in range(start + 1, len(writes)):
            if writes[end][0] == "GITHUB_ENV" and _expands(writes[end][1], {delimiter}):
                safe.update(range(start, end + 1))
                break
    return safe


def _is_shell(shell: str | None) -> bool:
    """Whether GitHub runs the script with a POSIX shell (the default on Linux runners)."""
    words = (shell or "bash").split()
    return bool(words) and words[0].rsplit("/", 1)[-1] in ("bash", "sh", "dash", "ash", "zsh")


def _program_writes(script: str, env: Mapping[str, object], trust: Trust = DEFAULT) -> list[str]:
    """A script in another language (`shell: python`, `pwsh`...): no parser here, so any mention
    of an env file together with a tainted variable's name is a finding."""
    files = [f for f in ENV_FILES if re.search(rf"\b{f}\b", script)]
    by_expression = _env_file_expression(script)
    if by_expression and by_expression not in files:
        files.append(by_expression)
    tainted = {n for n, v in env.items() if isinstance(v, str) and untrusted_paths(v, trust)}
    names = sorted(n for n in tainted if re.search(rf"\b{re.escape(n)}\b", script, re.IGNORECASE))
    if re.search(r"\bGITHUB_EVENT_PATH\b", script):
        names.append("GITHUB_EVENT_PATH")
    return [f"{f} <- ${n}" for f in files for n in names]


def untrusted_writes(
    script: str, env: Mapping[str, object], shell: str | None = None, trust: Trust = DEFAULT
) -> list[str]:
    """For each write of a tainted value into an env file: `FILE <- $VAR` (empty when none).
    ``shell`` is the step's effective shell (None: GitHub's default, bash); ``trust`` says which
    contexts are untrusted where the `env:` values are evaluated (the job's matrix...)."""
    if not _is_shell(shell):
        return _program_writes(script, env, trust)
    tainted = tainted_variables(script, env, trust)
    randoms = {name for name, value in _assignments(script) if RANDOM.search(value)}
    writes = _writes(script)
    safe = _inside_blocks(writes, randoms)
    found: list[str] = []
    for index, (target, text) in enumerate(writes):
        names = sorted(n for n in tainted if _expands(text, {n}) or _pwsh_expands(text, n))
        if EVENT_FILE.search(text):
            names.append("GITHUB_EVENT_PATH")
        # Nothing untrusted may go into PATH, block or not: one line is one directory.
        if not names or (target == "GITHUB_ENV" and index in safe):
            continue
        for name in names:
            entry = f"{target} <- ${name}"
            if entry not in found:
                found.append(entry)
    return found


def _pwsh_expands(text: str, name: str) -> bool:
    """Whether PowerShell text reads the environment variable ``name`` (`$env:X`, `${env:X}`)."""
    return bool(re.search(rf"\$\{{?env:{re.escape(name)}\b", text, re.IGNORECASE))
