"""`conveyor report`: the pull request's report, from the verdicts the gates wrote."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import extras
from conveyor.cli import options
from conveyor.cli.types import whole_number
from conveyor.files import optional_dir, output_dir, output_file

__all__ = ["add"]


def _report(args: argparse.Namespace) -> int:
    extras.require("report")
    from conveyor import github
    from conveyor.report import comment, pull_request

    inputs = pull_request.read_inputs(args.gate, args.baseline_ref, args.data_reports, args.root)
    body, plotted = pull_request.write(inputs, args.out, args.plots_dir)
    print(f"report: {args.out} ({len(body):,} characters, {plotted} plots in {args.plots_dir})")
    if args.job_summary:
        github.add_to_summary(body)
    if done := comment.publish(body, args.pr_comment, args.pr, args.repo):
        print(f"report: {done}")
    return 0


def add(commands: options.Commands) -> None:
    """Register `report`."""
    report = commands.add_parser(
        "report",
        help="one markdown report for the PR: gate, data contracts, diffs, plots",
        description="Write the pull-request report (and, with --pr-comment, post or update the "
        "one sticky comment on the PR) from the verdict `conveyor gate` wrote: run the gate "
        "first. Exits 0 whatever the gate says: `conveyor gate` fails the job, the report "
        "explains it.",
    )
    report.add_argument("--out", type=output_file, required=True, help="markdown file to write")
    report.add_argument(
        "--gate",
        type=Path,
        default=Path("reports/gate/gate.json"),
        help="the gate verdict `conveyor gate` wrote (default: reports/gate/gate.json)",
    )
    report.add_argument(
        "--baseline-ref",
        help="refuse a gate verdict against another baseline than this git ref (default: "
        "the verdict's own)",
    )
    report.add_argument(
        "--data-reports",
        type=optional_dir,
        default=Path("reports/data"),
        help="folder of data-contract markdown verdicts (default: reports/data)",
    )
    report.add_argument(
        "--plots-dir",
        type=output_dir,
        default="reports/plots",
        help="where the PNG plots go (default: reports/plots)",
    )
    options.root(report)
    report.add_argument(
        "--pr-comment",
        nargs="?",
        const="always",
        choices=("always", "auto"),
        help="post or update the sticky PR comment (GITHUB_TOKEN, GITHUB_REPOSITORY); `auto`: "
        "only when a token and a pull request are there (a fork's run, a push: summary only)",
    )
    options.job_summary(report, "the report")
    report.add_argument(
        "--pr", type=whole_number(1), help="pull request number (default: from the event)"
    )
    report.add_argument("--repo", help="owner/name (default: GITHUB_REPOSITORY)")
    report.set_defaults(func=_report)
