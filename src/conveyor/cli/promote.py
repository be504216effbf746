"""`conveyor promote|rollback|status`: releases through the environments, by pull request.

The promotion library (conveyor.promotion: environments, policy, promote, rollback, status,
trust) is imported inside the handlers (pydantic's import would cost every other command half a
second), always as a module: `from conveyor.promotion import promote` etc., and its types under
TYPE_CHECKING below.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.cli import options
from conveyor.cli.types import checked, optional
from conveyor.errors import UserError
from conveyor.files import atomic_path, output_file, path_or_none

if TYPE_CHECKING:
    from conveyor.promotion.promote import Outcome
    from conveyor.promotion.trust import Trust

__all__ = ["add"]


def _trust(args: argparse.Namespace) -> Trust:
    from conveyor.promotion import trust
    from conveyor.release import repository

    options.signer_policy(args, "v0.0.0")  # a bad value is a usage error before anything runs
    return trust.Trust(
        commit_check=args.commit_check,
        canonical=options.canonical(args, repository(args.repo)),
        source_repository=args.source_repository,
        workflow_repository=args.workflow_repository,
        workflow_ref=args.workflow_ref,
        require_signature=args.require_signature,
    )


def _print_outcome(outcome: Outcome, args: argparse.Namespace) -> None:
    # stdout carries only key=value lines, so a workflow can read them as step outputs.
    from conveyor import github
    from conveyor.promotion import policy

    for line in outcome.unchecked:
        print(f"warning: {line}", file=sys.stderr)

    print(outcome.message, file=sys.stderr)
    if args.body_out and outcome.body:
        with atomic_path(args.body_out) as tmp:
            tmp.write_text(outcome.body, encoding="utf-8")
    options.print_lines(outcome.lines(), args.github_output)
    # After the push and its outputs: a failed gh call leaves the branch, and a re-run opens it.
    if args.pull_request and outcome.pull_request:
        title = outcome.title or f"Promote to {outcome.env}"
        # gh reads the body from a file: without --body-out, a temporary one, so the checkout
        # is left as it was (no untracked promote-<env>.md).
        with tempfile.TemporaryDirectory(prefix="conveyor-pr-") as folder:
            body_file = args.body_out or Path(folder) / f"promote-{outcome.env}.md"
            if not args.body_out:
                body_file.write_text(outcome.body or "", encoding="utf-8")
            # The branch the plan read (the policy's): the PR never targets another one.
            base = policy.base_branch(args.repo)
            url = github.upsert_pull_request(outcome.branch, base, title, body_file, args.repo)
        options.print_lines([f"pull_request_url={url}"], args.github_output)
        github.add_to_summary(f"{outcome.title or outcome.env}: {url}")


def _prepare_push(args: argparse.Namespace) -> None:
    """With --pull-request: the base branch, and git's push credential from GH_TOKEN."""
    import os

    from conveyor import github
    from conveyor.promotion import policy

    if not args.pull_request:
        return
    if not args.push:
        raise UserError("--pull-request needs the branch pushed: drop --no-push")
    github.require_gh("--pull-request")  # before any ref moves: never a pushed branch, no PR
    policy.base_branch(args.repo)  # the PR's base: a bad one is refused before the push
    github.require_gh_login("--pull-request")  # logged out: the same, found before the push
    os.environ.update(github.push_environment(github.token(), os.environ))


def _known_environment(args: argparse.Namespace) -> None:
    """--env names an environment of the checkout's policy: a typo is a usage error before any
    record is looked up (the workflow's input is free text; the policy is the one list). The
    base branch's policy still rules the promotion: a checkout whose own copy does not load is
    left to it (the plan names that policy's problem)."""
    from conveyor.errors import ConfigError
    from conveyor.promotion import policy
    from conveyor.tools import not_an_option

    not_an_option(args.env, "--env")
    try:
        rules = policy.load_policy(args.repo)
    except ConfigError:
        return
    rules.rule(args.env)


def _record_file(args: argparse.Namespace) -> Path:
    """--record, else the record of --version where it runs, else --from-environment's."""
    from conveyor.promotion import environments

    given = [
        option
        for option, value in (
            ("--record", args.record),
            ("--version", args.version),
            ("--from-environment", args.from_environment),
        )
        if value
    ]
    if len(given) > 1:  # one would be ignored silently: a different release than asked for
        raise UserError(f"{' and '.join(given)} are mutually exclusive: give one")
    if args.record is not None:
        record: Path = args.record
        return record
    if args.version:
        return environments.record_file_of(args.repo, args.version)
    if args.from_environment:
        return environments.record_file_in(args.repo, args.from_environment)
    raise UserError("promote needs --record, --version (a release tag) or --from-environment")


def _promote(args: argparse.Namespace) -> int:
    from conveyor.promotion import promote
    from conveyor.release import load_record

    trust = _trust(args)
    _known_environment(args)
    record = load_record(_record_file(args))
    verdict = None
    if args.verification is not None:
        from conveyor.promotion import verification

        verdict = verification.load_verdict(args.verification)
    _prepare_push(args)
    outcome = promote.promote(
        args.repo,
        args.env,
        record,
        remote=args.remote,
        push=args.push,
        trust=trust,
        verdict=verdict,
    )
    _print_outcome(outcome, args)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from conveyor.promotion import rollback

    trust = _trust(args)
    _known_environment(args)
    _prepare_push(args)
    outcome = rollback.rollback(
        args.repo, args.env, to=args.to or None, remote=args.remote, push=args.push, trust=trust
    )
    _print_outcome(outcome, args)
    return 0


def _status(args: argparse.Namespace) -> int:
    from conveyor.promotion import status

    rows = status.collect(args.repo, args.ref)
    print(json.dumps(rows, indent=2) if args.json else status.render(rows))
    return 0


def _branch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment (policies/promotion.yaml)")
    parser.add_argument("--remote", default="origin", help="git remote to push to (origin)")
    parser.add_argument(
        "--push",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="push the promote/<env> branch (default); --no-push only commits it locally",
    )
    parser.add_argument(
        "--body-out",
        type=output_file,  # checked while parsing: before any ref moves
        help="write the pull request body (markdown) to this file",
    )
    parser.add_argument(
        "--pull-request",
        action="store_true",
        help="then open (or update) the branch's one pull request with gh (token: GH_TOKEN, also "
        "used to push; on GitHub Actions the commit is the Actions bot's)",
    )
    options.github_output(parser, "the key=value lines")
    options.hidden_checkout(parser)
    _trust_options(parser)


def _trust_options(parser: argparse.ArgumentParser) -> None:
    """What a promotion checks beyond the record's own fields (conveyor.promote.Trust)."""
    options.commit_check(
        parser,
        "re-establish the data and metric verdicts from the record's commit in this checkout, "
        "and refuse a commit that is not on the remote's base branch (default); "
        "--no-commit-check skips both and says so",
    )
    options.canonical_inputs(parser)
    options.signer(
        parser,
        "OWNER/NAME whose tag push ran the release: the record must be the one its release "
        "signed (cosign verify-attestation); without it the signature is not checked",
    )
    parser.add_argument(
        "--require-signature",
        action="store_true",
        help="exit 2 when the signature cannot be checked (cosign missing) instead of saying so",
    )


def add(commands: options.Commands) -> None:
    """Register `promote`, `rollback` and `status`."""
    promote = commands.add_parser(
        "promote",
        help="write a release into an environment on branch promote/<env> and push it",
        description="Verify the record, enforce policies/promotion.yaml, commit the overlay's "
        "digest and release.json on promote/<env> (built on the base branch), push it. Prints "
        "key=value lines for $GITHUB_OUTPUT. Exit 1 when the policy refuses, or when no "
        "environment runs --version.",
    )
    # Empty values count as not given: a workflow passes its inputs whether set or not.
    promote.add_argument("--record", type=path_or_none, help="release record (JSON)")
    promote.add_argument(
        "--version",
        type=optional(checked("release_version")),
        help="without --record: the release's record where an environment runs it",
    )
    promote.add_argument(
        "--from-environment",
        metavar="ENV",
        help="without --record and --version: promote what runs in ENV (its release.json)",
    )
    promote.add_argument(
        "--verification",
        type=path_or_none,
        metavar="FILE",
        help="the verdict of `conveyor verify --env SOURCE` (SOURCE.json): required when the "
        "policy says `verified: true`; kept beside release.json and shown in the PR",
    )
    _branch_options(promote)
    promote.set_defaults(func=_promote)

    rollback = commands.add_parser(
        "rollback", help="prepare promote/<env> restoring the previous (or --to) release"
    )
    rollback.add_argument("--to", help="version to restore (default: the one before the live one)")
    _branch_options(rollback)
    rollback.set_defaults(func=_rollback)

    status = commands.add_parser("status", help="what runs in each environment, and since when")
    status.add_argument(
        "--ref", default="HEAD", help="git revision to read (default HEAD; e.g. origin/main)"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    options.hidden_checkout(status)
    status.set_defaults(func=_status)
