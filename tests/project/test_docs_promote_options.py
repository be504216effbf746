"""The documents name only options promote and rollback have (issue 14, review finding G): the
base branch is no option (`promote --base` is gone; it is the promotion policy's `base_branch`),
and the pull request the SOPs open by hand goes to that branch, not to a literal `main`."""

from __future__ import annotations

import argparse
import re
import shlex

from conveyor.cli import build_parser
from tests.paths import REPO

DOCS = [*sorted((REPO / "docs").rglob("*.md")), REPO / "README.md"]
FENCE = re.compile(r"```[a-z]*\n.*?```", re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
# Options of other programs that documents name beside promote and rollback, with why.
FOREIGN = {"--end-of-options": "git's: what conveyor puts before a value it hands to git"}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """The options of a command and of its subcommands."""
    found = set()
    for action in parser._actions:
        found |= set(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found


def _commands() -> dict[str, set[str]]:
    """Each top-level conveyor subcommand's options."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: _options(sub) for name, sub in subparsers.choices.items()}


def _chunks(text: str) -> list[str]:
    """Paragraphs, list items and table rows, code blocks left out."""
    return re.split(r"\n\s*\n|\n(?=\s*(?:[-*]|\d+\.) |\|)", FENCE.sub("", text))


def test_prose_about_promote_or_rollback_names_only_their_options() -> None:
    commands = _commands()
    wrong, checked = [], 0
    for doc in DOCS:
        for chunk in _chunks(doc.read_text(encoding="utf-8")):
            spans = SPAN.findall(chunk)
            named = {
                words[1] if words[0] == "conveyor" and len(words) > 1 else words[0]
                for words in (span.split() for span in spans)
            } & set(commands)
            # About promote or rollback alone: other commands' options may sit beside theirs.
            if not named or not named <= {"promote", "rollback"}:
                continue
            known = set(FOREIGN).union(*(commands[name] for name in named))
            options = {
                word.split("=")[0]
                for span in spans
                for word in span.split()
                if word.startswith("--") and not span.startswith(("git ", "gh ", "kubectl "))
            }
            checked += bool(options)
            wrong += [f"{doc.relative_to(REPO)}: {o}" for o in sorted(options - known)]
    assert not wrong, wrong
    assert checked >= 3  # the check reads something: the documents do name their options


def test_sop_pull_requests_go_to_the_policys_base_branch() -> None:
    found = 0
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            if "gh pr create" not in line:
                continue
            words = shlex.split(line.split("gh pr create", 1)[1].split("||")[0])
            if "--base" in words:
                found += 1
                value = line.split("--base", 1)[1].split()[0]
                assert value.strip("\"'").startswith("$"), f"{doc.relative_to(REPO)}: {line}"
    assert found >= 3  # promotion, rollback, failed deploy
