"""`conveyor verify`: the live release of an environment against the policy's limits, asked of
Prometheus (conveyor.promotion.verification). Exit 0 passed, 1 failed, 2 no verdict (Prometheus
unreachable, or too little data: never a pass). Which environment a promotion needs verified
(--for-promotion) and which are verified on schedule (--under-soak) are the policy's: workflows
name none."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from conveyor.cli import options
from conveyor.errors import UserError
from conveyor.files import require_writable_dir

if TYPE_CHECKING:
    from conveyor.prometheus import Prometheus

__all__ = ["add"]

if TYPE_CHECKING:
    pass

URL_VARIABLE = "PROMETHEUS_URL"
# The bearer token is read from the environment only: never an argument, never shown.
TOKEN_VARIABLE = "PROMETHEUS_TOKEN"  # noqa: S105 - the variable's name, not a secret


def _prometheus(args: argparse.Namespace) -> Prometheus:
    """The Prometheus to ask: --prometheus-url, else $PROMETHEUS_URL; the token from the
    environment only."""
    from conveyor.prometheus import Prometheus, endpoint

    url = args.prometheus_url or os.environ.get(URL_VARIABLE, "")
    if not url:
        raise UserError(f"verify needs --prometheus-url or {URL_VARIABLE}")
    return Prometheus(endpoint(url), os.environ.get(TOKEN_VARIABLE) or None)


def _verify(args: argparse.Namespace) -> int:
    from conveyor import github
    from conveyor.promotion import verification
    from conveyor.tools import not_an_option

    not_an_option(args.env, "--env")
    if args.pr_comment:
        github.require_gh("--pr-comment")  # before any work: a verdict nobody hears of is lost
    prometheus = _prometheus(args)
    require_writable_dir(args.out)
    verdict, after = verification.verify_environment(prometheus, args.repo, args.ref, args.env)
    json_path, md_path = verification.write_verdict(verdict, args.out)
    if args.job_summary:
        github.add_to_summary(md_path.read_text(encoding="utf-8"))
    failed = verification.failed_checks(verdict)
    said = f" ({'; '.join(failed)})" if failed else ""
    print(f"{verdict.version} in {args.env}: {verdict.outcome}{said}", file=sys.stderr)
    # The environment this one's releases go to next: its promotion PR hears of the verdict.
    commented = ""
    if args.pr_comment and after:
        commented = github.comment_on_open_pull_request(f"promote/{after}", md_path, args.repo)
    options.print_lines(
        [
            f"outcome={verdict.outcome}",
            f"next={after or ''}",
            f"passed={'true' if verdict.passed else 'false'}",
            f"version={verdict.version}",
            f"verdict={json_path}",
            f"markdown={md_path}",
            f"pull_request_url={commented}",
        ],
        args.github_output,
    )
    if verdict.outcome == "failed" and args.exit_zero:
        return 0
    return {"passed": 0, "failed": 1}.get(verdict.outcome, 2)


def _for_promotion(args: argparse.Namespace) -> int:
    """Verify the environment a promotion to --for-promotion leaves, when the policy requires
    it; otherwise say so and succeed (the workflow passes an empty verdict on)."""
    from conveyor.promotion import verification
    from conveyor.tools import not_an_option

    target = not_an_option(args.for_promotion, "--for-promotion")
    _, policy = verification.policy_at_ref(args.repo, args.ref)
    source = policy.verification_source(target)
    if source is None:
        print(
            f"{target} requires no live verification (policies/promotion.yaml): nothing to verify",
            file=sys.stderr,
        )
        options.print_lines(["outcome=not_required", "verdict=", "markdown="], args.github_output)
        return 0
    print(f"{target} takes only what passed live verification in {source}", file=sys.stderr)
    args.env = source
    return _verify(args)


def _under_soak(args: argparse.Namespace) -> int:
    """List the environments whose release waits for its verification (the policy says which),
    as a JSON list: the scheduled verification's matrix."""
    from conveyor.promotion import verification

    given = [
        name
        for name, on in (("--pr-comment", args.pr_comment), ("--exit-zero", args.exit_zero))
        if on
    ]
    if given:
        raise UserError(f"--under-soak only lists environments: drop {' and '.join(given)}")
    revision, policy = verification.policy_at_ref(args.repo, args.ref)
    soaking = verification.under_soak(args.repo, revision, policy)
    for entry in soaking:
        print(entry.describe(), file=sys.stderr)
    if not soaking:
        print("no release awaits live verification (policies/promotion.yaml)", file=sys.stderr)
    names = json.dumps([entry.environment for entry in soaking], separators=(",", ":"))
    options.print_lines([f"environments={names}"], args.github_output)
    return 0


def _command(args: argparse.Namespace) -> int:
    """--under-soak lists, --for-promotion asks the policy which environment, --env verifies."""
    if args.under_soak:
        return _under_soak(args)
    if args.for_promotion is not None:
        return _for_promotion(args)
    return _verify(args)


def add(commands: options.Commands) -> None:
    """Register `verify`."""
    verify = commands.add_parser(
        "verify",
        help="verify an environment's live release against its Prometheus metrics",
        description="Ask Prometheus how the release live in --env (read from git at --ref) "
        "behaves since it went live: 5xx share, refused-request share, p99 latency, prediction "
        "shift against the previous release; limits from policies/promotion.yaml "
        f"(verification:). Writes OUT/ENV.json and OUT/ENV.md. Bearer token: ${TOKEN_VARIABLE}. "
        "Exit 0 passed, 1 failed, 2 no verdict (unreachable, or too little data). "
        "--for-promotion and --under-soak read from the policy which environment to verify.",
    )
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help="environment (policies/promotion.yaml)")
    which.add_argument(
        "--for-promotion",
        metavar="ENV",
        help="verify the environment a promotion to ENV leaves when the policy requires it "
        "(`verified: true`); otherwise say so and exit 0 with an empty verdict=",
    )
    which.add_argument(
        "--under-soak",
        action="store_true",
        help="only list (environments=[JSON]) the environments whose live release an "
        "environment requiring their verification does not run yet",
    )
    verify.add_argument(
        "--prometheus-url", help=f"Prometheus base URL (default ${URL_VARIABLE})", default=""
    )
    verify.add_argument(
        "--ref", default="HEAD", help="git revision whose environments are live (default HEAD)"
    )
    options.out_dir(verify, "reports/verification", "the verdict (ENV.json, ENV.md)")
    options.github_output(verify, "the key=value lines")
    options.job_summary(verify, "the verdict")
    verify.add_argument(
        "--pr-comment",
        action="store_true",
        help="comment the verdict on the open promotion PR of the environment this one feeds "
        "(promote/<next>) with gh, when there is one (token: GH_TOKEN)",
    )
    options.exit_zero(
        verify,
        "exit 0 on a failed verdict (outcome=failed in the outputs: a workflow acts on it); "
        "no verdict is still exit 2",
    )
    options.hidden_checkout(verify)
    verify.set_defaults(func=_command)
