"""`conveyor retrain`: move the data window forward; publish what the champion gate decided."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from conveyor.cli import options
from conveyor.cli.types import whole_number
from conveyor.errors import UserError

__all__ = ["add"]


def _day(text: str) -> dt.date:
    """An ISO date (argparse type): a bad one is a usage error naming the option."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _window(args: argparse.Namespace) -> int:
    from conveyor import github, retrain

    to = args.to or dt.datetime.now(dt.UTC).date()
    old, moved = retrain.move_window(args.params, args.key, to)
    said = f"{args.key} {old} -> {to}" if moved else f"{args.key} already {to}"
    print(f"retrain: {said} ({args.params}); branch {retrain.branch_for(to)}")
    if args.github_output:
        github.set_outputs({"end_date": to.isoformat(), "branch": retrain.branch_for(to)})
    return 0


def _publish(args: argparse.Namespace) -> int:
    from conveyor import gate, git, github, retrain
    from conveyor.config import read_text
    from conveyor.promotion import policy
    from conveyor.tools import not_an_option

    if not args.branch.startswith(retrain.BRANCH_PREFIX):
        raise UserError(f"--branch {args.branch}: a retraining branch starts with retrain/")
    not_an_option(args.branch, "--branch")
    result = gate.load_result(args.gate)
    read_text(args.report)  # the pull request's body: refused before anything moves
    retrain.require_champion_verdict(result, args.gate)
    base_branch = policy.base_branch(args.root)  # where the champion was read: the PR's base
    base = git.head_commit(args.root)
    if base is None:
        raise UserError(f"{args.root}: not a git repository with a commit (HEAD is the base)")
    now = retrain.window_end(args.window, args.root)
    if now is None:
        file, _, key = args.window.partition(":")
        raise UserError(
            f"--window {args.window}: {file} holds no value at {key!r}: run `dvc repro` first, "
            "or name the key the pipeline writes the data's last day to"
        )
    before = retrain.window_end(args.window, args.root, base)
    outcome = retrain.decide(result, now, before)
    issue = args.issue
    if outcome.kind == retrain.PULL_REQUEST or issue is not None or args.drift_label:
        github.require_gh_login("retrain publish")  # before the push: not half done
    if issue is None and args.drift_label:
        issue = retrain.drift_issue(args.drift_label, args.root)
    if outcome.kind == retrain.PULL_REQUEST:
        os.environ.update(github.push_environment(github.token(), os.environ))
    outcome = retrain.publish(
        outcome, args.report, args.root, args.branch, base_branch, args.remote, issue
    )
    print(
        f"retrain: {outcome.kind}" + (f": {outcome.pull_request}" if outcome.pull_request else "")
    )
    if args.job_summary:
        github.add_to_summary(outcome.summary)
    if args.github_output:
        github.set_outputs({"outcome": outcome.kind, "pull_request": outcome.pull_request})
    return 0


def add(commands: options.Commands) -> None:
    """Register `retrain window` and `retrain publish`."""
    group = options.group(commands, "retrain", "scheduled retraining against the champion")
    window = group.add_parser(
        "window",
        help="move the data window's last day forward in params.yaml",
        description="Set the data window's last day (params.yaml, --key) to --to (default: "
        "today, UTC), comments kept: the commit records which data the challenger saw. A day "
        "before the current one is refused (exit 2).",
    )
    options.params(window, "the data window's key")
    window.add_argument(
        "--key", default="data.end_date", help="dotted key (default: data.end_date)"
    )
    window.add_argument("--to", type=_day, help="YYYY-MM-DD (default: today, UTC)")
    options.github_output(window, "end_date and branch (retrain/<date>)")
    window.set_defaults(func=_window)

    publish = group.add_parser(
        "publish",
        help="open or update the retrain/<date> pull request, or say why there is none",
        description="After `dvc repro`, `conveyor gate --champion ENV` and `conveyor report`: "
        "no new data (the --window value equals HEAD's) or a failed gate opens no pull "
        "request and says so with the figures (job summary, drift issue); a passed gate "
        "commits the changes of tracked files on HEAD, pushes them to --branch with a lease and "
        "opens or updates its one pull request (against policies/promotion.yaml's "
        "base_branch), linked from the drift issue; an earlier day's retrain pull request still "
        "open is closed, linking the new one. Exit 0 for each "
        "outcome; 2 for bad input.",
    )
    # No default: the pipeline's own reports/gate/gate.json is a verdict against HEAD, which
    # publish refuses; the verdict against the champion is wherever `gate --out` wrote it.
    publish.add_argument(
        "--gate",
        type=Path,
        required=True,
        help="the verdict of `conveyor gate --champion ENV --out DIR` (DIR/gate.json)",
    )
    publish.add_argument("--report", type=Path, required=True, help="the pull request's body")
    publish.add_argument(
        "--window",
        default="metrics/metrics.json:holdout.end",
        help="FILE:dotted.key the pipeline writes with the data's last day "
        "(default: metrics/metrics.json:holdout.end)",
    )
    publish.add_argument("--branch", required=True, help="retrain/<date> (`retrain window`)")
    publish.add_argument("--remote", default="origin", help="where the branch goes")
    publish.add_argument(
        "--issue", type=whole_number(1), help="the drift issue to link and tell (its number)"
    )
    publish.add_argument(
        "--drift-label",
        help="without --issue: link and tell the open issue with this label (the monitor's "
        "drift issue), when one is open",
    )
    options.root(publish)
    options.job_summary(publish, "the outcome and its figures")
    options.github_output(publish, "outcome and pull_request")
    publish.set_defaults(func=_publish)
