"""Subcommands for drift monitoring: monitor drift|issue."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import extras
from conveyor.cli import options
from conveyor.cli.types import whole_number
from conveyor.errors import UserError
from conveyor.files import output_dir, require_writable_dir

__all__ = ["add"]


def _monitor_drift(args: argparse.Namespace) -> int:
    extras.require("monitor drift")
    from conveyor.compute.params import load_compute
    from conveyor.monitor.config import load_monitoring

    # Every usage error (params, paths, schemas, window size) is raised before anything is written,
    # and a bad params file before the plotting and data libraries are even imported.
    params = load_monitoring(args.params)
    compute = load_compute(args.params)  # the engine: local (polars) or spark
    reference = _window(args.reference, params.reference, args.root, "reference")
    current = _window(args.current, params.current, args.root, "current")
    if args.pull:
        extras.require("monitor drift --pull", "pipeline")  # DVC
        from conveyor.dvc_pull import pull_tracked

        for pulled in pull_tracked(args.root, [reference, current]):
            print(f"pulled {pulled} from the DVC remote")
    from conveyor import github
    from conveyor.files import atomic_path, write_json
    from conveyor.monitor import drift, drift_report, plots

    if compute.engine == "spark":
        from conveyor.compute.session import spark_failures, spark_session

        def session() -> object:
            return spark_session(compute.spark, "monitor drift")

        with spark_failures("monitor drift"):
            result = drift.run(reference, current, params, args.root, args.last_days, session)
    else:
        result = drift.run(reference, current, params, args.root, args.last_days)
    require_writable_dir(args.out)  # exit 2, never a crash that reads as 1, "drift"
    images = plots.render(result, args.out)
    with atomic_path(args.out / "drift.md") as tmp:
        tmp.write_text(drift_report.markdown(result, images), encoding="utf-8")
    write_json(args.out / "drift.json", result.to_json() | {"plots": images})
    print(drift_report.terminal(result))
    if args.github_output:
        github.set_outputs({"drift": "true" if result.drifted else "false"})
    if args.job_summary:
        github.add_to_summary((args.out / "drift.md").read_text(encoding="utf-8"))
    return 1 if result.drifted and not args.exit_zero else 0


def _window(given: Path | None, configured: str | None, root: Path, role: str) -> Path:
    """The window the command line names, else the one params.yaml `monitoring:` names."""
    if given is not None:
        return given
    if configured is None:
        raise UserError(f"no {role} window: give --{role} or set monitoring.{role} in params.yaml")
    return root / configured


def _monitor_issue(args: argparse.Namespace) -> int:
    from conveyor.monitor import issue

    require_writable_dir(args.out)  # exit 2, never a crash that reads as 1, "drift"
    if args.apply:
        from conveyor import github

        # Before anything is written or printed: no decision announced that cannot be applied.
        github.require_gh("--apply")
    open_issues = args.open_issue_json
    if args.apply and open_issues is None:
        from conveyor import github
        from conveyor.files import write_json

        issue.read_drift(args.drift)  # a bad drift.json is refused before GitHub is asked
        open_issues = args.out / "open-issues.json"
        write_json(open_issues, github.open_issues(issue.LABEL))
    decision = issue.write(args.drift, open_issues, args.out, args.run_url)
    print(f"action={decision.action}")
    print(f"number={decision.number or ''}")
    if args.apply:
        print(issue.apply(decision, args.out / "issue.md"))
    return 0


def add(commands: options.Commands) -> None:
    """Register `monitor drift` and `monitor issue`."""
    kinds = options.group(commands, "monitor", "drift of production data; the drift issue")
    drift = kinds.add_parser(
        "drift",
        help="compare a current window with the reference; exit 0 no drift, 1 drift, 2 usage",
        description="Per-column drift (PSI, Kolmogorov-Smirnov, Wasserstein), prediction drift "
        "and the live metric (monitoring.performance), with thresholds from params.yaml "
        "`monitoring:`. Writes drift.json, "
        "drift.md and one PNG per column.",
    )
    drift.add_argument(
        "--reference",
        type=Path,
        help="training reference (Parquet/CSV/folder; default: monitoring.reference in params)",
    )
    drift.add_argument(
        "--current",
        type=Path,
        help="current window: a Parquet/CSV file or a folder of Parquet files (inference log; "
        "default: monitoring.current in params)",
    )
    drift.add_argument(
        "--pull",
        action="store_true",
        help="first `dvc pull` the windows DVC tracks (a CI checkout holds only DVC's pointers)",
    )
    options.out_dir(drift, "reports/monitor", "drift.json, drift.md and the plots")
    drift.add_argument(
        "--last-days",
        type=whole_number(1, "days"),
        metavar="N",
        help="with a partitioned inference log: only its newest N days (log_date=YYYY-MM-DD)",
    )
    options.exit_zero(drift, "exit 0 on drift too (a workflow reads `drift`)")
    options.github_output(drift, "drift=true|false")
    options.job_summary(drift, "drift.md")
    options.params(drift, "`monitoring:` and `compute:` (engine local or spark)")
    options.root(drift)
    drift.set_defaults(func=_monitor_drift)
    issue = kinds.add_parser(
        "issue",
        help="decide open|update|close|none for the one `drift` issue; write its body",
        description="Reads drift.json and the currently open `drift` issues (gh issue list "
        "--label drift --state open --json number); writes issue.json and issue.md. With "
        "--apply, opens, updates or closes the issue with gh.",
    )
    issue.add_argument("--drift", type=Path, required=True, help="drift.json of `monitor drift`")
    issue.add_argument(
        "--open-issue-json", type=Path, help="open drift issues as JSON (absent: none open)"
    )
    issue.add_argument("--out", type=output_dir, required=True, help="where issue.json/issue.md go")
    issue.add_argument("--run-url", help="link to the workflow run, put in the issue body")
    issue.add_argument(
        "--apply",
        action="store_true",
        help="then carry the decision out with gh (token: GH_TOKEN); without --open-issue-json "
        "the open `drift` issues are listed with gh first",
    )
    issue.set_defaults(func=_monitor_issue)
