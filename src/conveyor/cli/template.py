"""`conveyor template update`: take the template's later changes as one branch and pull request."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from conveyor.cli import options

__all__ = ["add"]


def _update(args: argparse.Namespace) -> int:
    from conveyor import github, template
    from conveyor.promotion import policy
    from conveyor.tools import not_an_option

    branch = not_an_option(args.branch, "--branch")
    top = template.check_ready(args.root)  # usage errors before any branch is made
    if args.pull_request:
        base = policy.base_branch(top)  # the project's one base branch (its promotion policy)
        github.require_gh_login("--pull-request")  # before the push, never after it
        os.environ.update(github.push_environment(github.token(), os.environ))
    outcome = template.update(top, branch, args.vcs_ref)
    print(outcome.summary(), file=sys.stderr)
    options.print_lines(
        [
            f"template_commit={outcome.template_commit}",
            f"changed={'true' if outcome.commit else 'false'}",
            f"conflicts={len(outcome.conflicts)}",
        ],
        args.github_output,
    )
    if outcome.commit is None or not args.pull_request:
        return 0
    title, url = template.propose(top, outcome, args.remote, base)
    options.print_lines([f"pull_request_url={url}"], args.github_output)
    github.add_to_summary(f"{title}: {url}")
    return 0


def _answer(text: str) -> tuple[str, str]:
    """KEY=VALUE (argparse type): one answer to a question of copier.yml."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (a question of copier.yml): {text!r}")
    return key, value


def _new(args: argparse.Namespace) -> int:
    from conveyor import template
    from conveyor.tools import not_an_option

    not_an_option(args.template, "--template")
    if args.vcs_ref:
        not_an_option(args.vcs_ref, "--vcs-ref")
    template.new(args.template, args.destination, dict(args.data), args.vcs_ref)
    print(f"template new: {args.destination} made from {args.template}", file=sys.stderr)
    return 0


def add(commands: options.Commands) -> None:
    """Register `template new` and `template update`."""
    group = options.group(commands, "template", "projects made from conveyor with copier")
    new = group.add_parser(
        "new",
        help="make a project from conveyor with the answers given (copier copy, no questions)",
        description="Without prompts, for scripts and CI: each --data KEY=VALUE answers a "
        "question of copier.yml, the rest take their defaults. An invalid answer exits 2 naming "
        "the question and the reason, and nothing is written. For the questions one by one, "
        "run `copier copy --trust TEMPLATE DEST` (README, Start a project).",
    )
    new.add_argument("destination", type=Path, help="the new project's folder (absent or empty)")
    new.add_argument(
        "--template", required=True, help="conveyor's git URL or folder (gh:OWNER/conveyor)"
    )
    new.add_argument(
        "--data", type=_answer, action="append", default=[], metavar="KEY=VALUE", help="an answer"
    )
    new.add_argument("--vcs-ref", help="template git ref (default: its latest tag, else HEAD)")
    new.set_defaults(func=_new)
    update = group.add_parser(
        "update",
        help="run `copier update` on a clean tree, commit it on --branch; with --pull-request "
        "push it and open (or update) its one pull request",
    )
    options.root(update, default=Path.cwd())
    update.add_argument(
        "--vcs-ref",
        default=None,
        help="template git ref to update to (default: its latest tag, "
        "else its default branch's HEAD)",
    )
    update.add_argument("--branch", default="template-update", help="branch of the update")
    update.add_argument(
        "--pull-request", action="store_true", help="push --branch and open or update its PR (gh)"
    )
    update.add_argument("--remote", default="origin", help="git remote to push --branch to")
    options.github_output(update, "template_commit, changed, conflicts, pull_request_url")
    update.set_defaults(func=_update)
