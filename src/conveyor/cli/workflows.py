"""`conveyor workflows run EVENT`: the repository's callers under act, before they are pushed."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor.cli import options
from conveyor.files import existing_dir, read_json, require_writable_dir

__all__ = ["add"]


def _run(args: argparse.Namespace) -> int:
    from conveyor.workflows import act

    root = args.root.resolve()
    artifacts = args.artifacts if args.artifacts.is_absolute() else root / args.artifacts
    require_writable_dir(artifacts, "--artifacts")
    # Read before anything runs: a bad payload is a usage error, never act's own failure.
    payload = read_json(args.event_file, "--event-file") if args.event_file else None
    code = act.run(
        root,
        args.event,
        workflow=args.workflow,
        payload=payload,
        conveyor=args.conveyor,
        act=args.act,
        artifacts=artifacts,
        cache_dir=args.cache_dir,
        base=args.base,
        base_branch=_base_branch(root),
        json_log=args.json,
        uv=args.uv,
    )
    verdict = "passed" if code == 0 else f"FAILED (act exit {code})"
    print(f"workflows run {args.event}: {verdict}; artifacts in {artifacts}")
    return 0 if code == 0 else 1


def _base_branch(root: Path) -> str:
    """The policy's base branch; main for a repository that promotes nothing (no policy)."""
    from conveyor.promotion import policy

    return policy.base_branch(root) if (root / policy.POLICY).is_file() else "main"


def add(commands: options.Commands) -> None:
    """Register `workflows run`."""
    kinds = options.group(commands, "workflows", "run the repository's workflows locally (act)")
    run = kinds.add_parser(
        "run",
        help="run the callers of EVENT under act; exit 0 every job passed, 1 a job failed",
        description="Run the repository's workflows that trigger on EVENT with act on this "
        "machine (steps on the host, no Docker, no GitHub): conveyor's stand-ins replace the "
        "third-party actions, and reusable workflows OWNER/NAME/.github/workflows/F.yml@REF "
        "come from --conveyor (a conveyor checkout). Exit 0 every job passed, 1 a job failed, "
        "2 usage error (unknown event, no caller, act missing).",
    )
    run.add_argument("event", metavar="EVENT", help="e.g. pull_request, push, workflow_dispatch")
    options.root(run)
    run.add_argument("--workflow", help="only this caller (file name under .github/workflows)")
    run.add_argument("--event-file", type=Path, help="the event's JSON payload (act -e)")
    run.add_argument(
        "--base",
        default="HEAD",
        help="pull_request without --event-file: the base commit the gate compares with",
    )
    run.add_argument(
        "--conveyor",
        type=existing_dir,
        help="conveyor checkout for reusable workflows and composite actions (default: the "
        "repository itself when it holds pipelines/)",
    )
    run.add_argument("--act", type=Path, help="act executable (default: act on PATH)")
    run.add_argument(
        "--artifacts",
        type=Path,
        default=Path("reports/act"),
        help="where the upload-artifact and code-scanning stand-ins copy to (default: reports/act)",
    )
    run.add_argument("--cache-dir", type=existing_dir, help="what the cache stand-in restores")
    run.add_argument("--uv", help="the uv the setup-uv stand-in provides (default: uv on PATH)")
    run.add_argument("--json", action="store_true", help="act's log as JSON lines")
    run.set_defaults(func=_run)
