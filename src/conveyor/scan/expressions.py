"""GitHub Actions expressions (`${{ ... }}`), parsed rather than matched as text, so that a rule
about *which context values* reach a script holds for every spelling: `github.event.x`,
`github['event']['x']`, `toJSON(github.event)`, `format('{0}', github.event.x)`, `github[x]`,
whitespace, any letter case.

The grammar is GitHub's (docs "Evaluate expressions in workflows and actions"): literals (null,
booleans, numbers, 'strings' with '' as the quote), context names, property dereference `.name`
and `.*`, index `[expr]` and `[*]`, function calls, `!`, comparisons, `&&`, `||` and grouping."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT",
    "WILD",
    "ExpressionError",
    "Trust",
    "expressions_in",
    "is_fixed_event_field",
    "paths_of",
    "untrusted_paths",
]

WILD = "*"  # a path element that may be any name: `.*`, `[*]`, a computed or numeric index
Path = tuple[str, ...]

# A value from one of these paths (or from anything inside or around them) is text that someone
# other than the workflow's author chooses; pasted into a script, it becomes code.
UNTRUSTED: tuple[Path, ...] = (
    ("github", "event"),  # the event payload: titles, bodies, branch names, commit messages...
    ("github", "head_ref"),  # the pull request's branch name
    ("inputs",),  # chosen by whoever calls the action or workflow (it may forward event fields)
    ("env",),  # set one level up, often from the values above
    ("steps", WILD, "outputs"),  # computed at run time, often from the values above
    ("needs", WILD, "outputs"),
    ("jobs", WILD, "outputs"),
)
# Functions whose result is a boolean or a hash: no text of their arguments comes out.
OPAQUE_FUNCTIONS = {
    "contains",
    "startswith",
    "endswith",
    "hashfiles",
    "success",
    "always",
    "failure",
    "cancelled",
}
COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "!"}

TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>[-+]?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<op>&&|\|\||==|!=|<=|>=|[<>!.,()\[\]*])
    )""",
    re.VERBOSE,
)


class ExpressionError(ValueError):
    """Text that is not a valid expression."""


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | name | op | end
    text: str


def tokenize(text: str) -> list[Token]:
    """The tokens of one expression (without the `${{ }}`)."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].strip()[:1]!r}")
        kind = match.lastgroup or "op"
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    tokens.append(Token("end", ""))
    return tokens


@dataclass(frozen=True)
class Flow:
    """What a (sub)expression's value may be made of: the context paths whose text can reach
    it, and whether the value *is* the last of those paths (so that `.x` or `[...]` extends it)."""

    paths: tuple[Path, ...] = ()
    is_path: bool = False


class _Parser:
    """Recursive descent over the tokens; each rule returns the Flow of its value."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self, text: str | None = None) -> Token:
        token = self.tokens[self.pos]
        if text is not None and token.text != text:
            raise ExpressionError(f"expected {text!r}, found {token.text or 'the end'!r}")
        self.pos += 1
        return token

    def parse(self) -> Flow:
        flow = self.or_expr()
        if self.peek().kind != "end":
            raise ExpressionError(f"unexpected {self.peek().text!r}")
        return flow

    def or_expr(self) -> Flow:
        flow = self.and_expr()
        while self.peek().text == "||":
            self.take()
            flow = _join(flow, self.and_expr())  # `a || b` is the value of a or of b
        return flow

    def and_expr(self) -> Flow:
        flow = self.comparison()
        while self.peek().text == "&&":
            self.take()
            flow = _join(flow, self.comparison())
        return flow

    def comparison(self) -> Flow:
        flow = self.unary()
        while self.peek().kind == "op" and self.peek().text in COMPARISONS - {"!"}:
            self.take()
            self.unary()
            flow = Flow()  # a boolean: no text of the operands comes out
        return flow

    def unary(self) -> Flow:
        if self.peek().text == "!":
            self.take()
            self.unary()
            return Flow()
        return self.postfix()

    def postfix(self) -> Flow:
        flow = self.primary()
        while self.peek().text in (".", "["):
            if self.take().text == ".":
                token = self.take()
                if token.kind != "name" and token.text != "*":
                    raise ExpressionError(
                        f"expected a property name after '.', found {token.text!r}"
                    )
                flow = _extend(flow, WILD if token.text == "*" else token.text.lower())
            else:
                if self.peek().text == "*":
                    self.take()
                    key: str = WILD
                else:
                    start = self.pos
                    index = self.or_expr()
                    tokens = self.tokens[start : self.pos]
                    key = _literal_key(tokens)
                    flow = _join(flow, index, keep_path=True)  # a computed index reads its paths
                self.take("]")
                flow = _extend(flow, key)
        return flow

    def primary(self) -> Flow:
        token = self.take()
        if token.kind in ("string", "number"):
            return Flow()
        if token.text == "(":
            flow = self.or_expr()
            self.take(")")
            return flow
        if token.kind == "name":
            name = token.text.lower()
            if self.peek().text == "(":
                return self.call(name)
            if name in ("true", "false", "null"):
                return Flow()
            return Flow(paths=((name,),), is_path=True)
        raise ExpressionError(f"unexpected {token.text or 'end of expression'!r}")

    def call(self, name: str) -> Flow:
        self.take("(")
        flow = Flow()
        if self.peek().text != ")":
            flow = _join(flow, self.or_expr())
            while self.peek().text == ",":
                self.take()
                flow = _join(flow, self.or_expr())
        self.take(")")
        if name in OPAQUE_FUNCTIONS:
            return Flow()
        # format, join, toJSON, fromJSON...: the result is made of the arguments' text.
        return Flow(paths=flow.paths, is_path=False)


def _literal_key(tokens: list[Token]) -> str:
    """The property an index names when it is one string literal; anything else may be any."""
    if len(tokens) == 1 and tokens[0].kind == "string":
        return tokens[0].text[1:-1].replace("''", "'").lower()
    return WILD


def _extend(flow: Flow, key: str) -> Flow:
    """`.key` or `[key]` applied to a value: a path grows; other values keep their sources."""
    if not flow.is_path:
        return flow
    *others, last = flow.paths
    return Flow(paths=(*others, (*last, key)), is_path=True)


def _join(a: Flow, b: Flow, keep_path: bool = False) -> Flow:
    """A value made of both operands (the path being indexed stays last when keep_path)."""
    if keep_path and a.is_path:
        *others, last = a.paths
        return Flow(paths=(*others, *b.paths, last), is_path=True)
    return Flow(paths=a.paths + b.paths, is_path=False)


def paths_of(expression: str) -> tuple[Path, ...]:
    """The context paths whose text may end up in the expression's value (lower case)."""
    return _Parser(tokenize(expression)).parse().paths


def expressions_in(text: str) -> list[str]:
    """Each `${{ ... }}` of a string, without the braces; a `}}` inside a quoted string does not
    close it. An unterminated one runs to the end of the text."""
    found, pos = [], 0
    while (start := text.find("${{", pos)) != -1:
        i, quoted = start + 3, False
        while i < len(text):
            if text[i] == "'":
                quoted = not quoted  # '' (an escaped quote) flips twice: still right
            elif not quoted and text.startswith("}}", i):
                break
            i += 1
        found.append(text[start + 3 : i])
        pos = i + 2
    return found


def _overlaps(path: Path, untrusted: Path) -> bool:
    """Whether the value at ``path`` holds or lies within the ``untrusted`` one."""
    return all(a == b or WILD in (a, b) for a, b in zip(path, untrusted, strict=False))


# Event fields that GitHub fills with a number, a boolean, a SHA or a timestamp, never with text
# someone chose: `github.event.pull_request.number`. A field counts only on a path made of the
# webhook objects below (a `[*]` where the object is a list), so `github.event.client_payload.id`,
# `github.event.inputs.number` or `github.event[x].id` stay untrusted.
EVENT_OBJECTS = {
    "issue", "pull_request", "comment", "review", "sender", "user", "repository", "repo",
    "head", "base", "owner", "organization", "release", "discussion", "milestone",
    "workflow_run", "workflow_job", "check_run", "check_suite", "deployment",
    "deployment_status", "installation", "head_commit", "merge_group",
}  # fmt: skip
EVENT_LISTS = {"commits", "pull_requests", "labels", "assignees", "requested_reviewers"}
FIXED_FIELDS = {
    "id", "number", "sha", "head_sha", "before", "after", "run_id", "run_number",
    "run_attempt", "created_at", "updated_at", "closed_at", "merged_at", "forced", "draft",
    "merged", "locked", "fork", "private", "additions", "deletions", "changed_files",
    "review_comments",
}  # fmt: skip
# Fields that are counts on a pull request or an issue but lists or text elsewhere
# (`github.event.commits` is the push's commits, with their messages).
FIXED_ON = {("pull_request", "commits"), ("pull_request", "comments"), ("issue", "comments")}


def is_fixed_event_field(path: Path) -> bool:
    """Whether ``path`` is an event field that holds no chosen text (a number, a SHA...)."""
    if path[:2] != ("github", "event") or len(path) < 3:
        return False
    *objects, field = path[2:]
    parent = "" if not objects else objects[-1]
    if field not in FIXED_FIELDS and (parent, field) not in FIXED_ON:
        return False
    for i, name in enumerate(objects):
        if name == WILD:
            # Only an index into a list of webhook objects may be any.
            if i == 0 or objects[i - 1] not in EVENT_LISTS:
                return False
        elif name not in EVENT_OBJECTS | EVENT_LISTS:
            return False
    return True


@dataclass(frozen=True)
class Trust:
    """Which context paths carry untrusted text where an expression is evaluated: UNTRUSTED,
    plus what the job adds (`matrix.x` built from the event), minus concrete paths known to be
    clean (`env.PY` bound to a literal)."""

    untrusted: tuple[Path, ...] = UNTRUSTED
    trusted: tuple[Path, ...] = ()

    def is_untrusted(self, path: Path) -> bool:
        """Whether the value at ``path`` may hold untrusted text."""
        if not any(_overlaps(path, u) for u in self.untrusted) or is_fixed_event_field(path):
            return False
        return not any(
            len(path) >= len(t) and all(a == b != WILD for a, b in zip(path, t, strict=False))
            for t in self.trusted
        )

    def adding(self, *untrusted: Path) -> Trust:
        """This trust with more untrusted paths."""
        return Trust(self.untrusted + untrusted, self.trusted)


DEFAULT = Trust()


def untrusted_paths(text: str, trust: Trust = DEFAULT) -> list[str]:
    """The untrusted context paths (dotted, `*` for any) that reach the value of any `${{ }}` in
    ``text``; an expression that does not parse is reported as such (it cannot be vouched for)."""
    found: list[str] = []
    for expression in expressions_in(text):
        try:
            paths = paths_of(expression)
        except ExpressionError as exc:
            found.append(f"unparsable expression ({exc})")
            continue
        for path in paths:
            if trust.is_untrusted(path):
                dotted = ".".join(path)
                if dotted not in found:
                    found.append(dotted)
    return found
