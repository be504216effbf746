"""`conveyor scan`: the security gate (checkov, our policies, secrets; pip-audit with --deps)."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import extras
from conveyor.cli import options
from conveyor.errors import UserError
from conveyor.files import require_writable_dir

__all__ = ["add"]


def _scan(args: argparse.Namespace) -> int:
    if args.deps:
        extras.require("scan --deps")
    from conveyor.scan import audit, checkov_tool
    from conveyor.scan.run import scan, terminal_lines, write_outputs
    from conveyor.scan.settings import load_baseline, load_config

    root = args.root.resolve()
    policy_dir = _policy_dir(args.policies, root)
    out = args.out if args.out.is_absolute() else root / args.out
    # Before a scan of seconds: an unwritable --out is a usage error (exit 2), not findings.
    require_writable_dir(out)
    # Settings first (a typo is exit 2 in a second), then checkov, found or installed before
    # anything is written: a failed install leaves no partial report.
    load_config(policy_dir)
    load_baseline(policy_dir)
    checkov = checkov_tool.find(root, args.checkov, args.uv)
    if args.deps:
        audited, extra, direct = audit.audit_lock(root, args.uv, out)
        for reference in direct:  # no index version to look up: listed, and no failure
            print(f"not audited: {reference}")
        print(f"pip-audit: {audited} locked packages, {len(extra)} known vulnerabilities")
    else:
        extra = audit.parse_report(args.deps_report) if args.deps_report else []
    result = scan(root, args.paths, policy_dir, out, extra, checkov)
    write_outputs(result, out)
    print("\n".join(terminal_lines(result)))
    return 0 if result.clean else 1


def _policy_dir(given: Path | None, root: Path) -> Path:
    """The repository's policy folder: optional (conveyor's policies ship with the package), but
    a folder named on the command line must be there."""
    from conveyor.scan.settings import POLICY_DIR

    policies = given or POLICY_DIR
    policy_dir = policies if policies.is_absolute() else root / policies
    if given is not None and not policy_dir.is_dir():
        raise UserError(f"--policies {given}: no such folder")
    return policy_dir


def add(commands: options.Commands) -> None:
    """Register `scan`."""
    scan = commands.add_parser(
        "scan",
        help="security scan (checkov + conveyor policies, secrets); exit 0 clean, 1 findings",
        description="Scan GitHub workflows and actions, Kubernetes manifests (rendered kustomize "
        "overlays), Dockerfiles (with the exported Bento's) and every file for secrets, with "
        "checkov's checks and conveyor's policies (shipped with it; the repository's "
        "policies/checkov/ adds to and overrides them). Writes scan.sarif, scan.junit.xml, "
        "scan.json and scan.md. Exit 0 clean, 1 findings, 2 usage or config error.",
    )
    scan.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="files or folders (default: the repo)"
    )
    scan.add_argument(
        "--out", type=Path, default=Path("reports/scan"), help="default: reports/scan"
    )
    options.root(scan)
    scan.add_argument(
        "--policies",
        type=Path,
        default=None,
        help="the repository's policy folder over conveyor's: config.yaml, baseline.yaml, custom "
        "checks (default: policies/checkov, when it exists)",
    )
    scan.add_argument(
        "--checkov",
        type=Path,
        help="checkov executable to run (default: $CONVEYOR_CHECKOV, .tools/checkov, or the "
        "pinned one conveyor installs into ~/.cache/conveyor)",
    )
    deps = scan.add_mutually_exclusive_group()
    deps.add_argument(
        "--deps", action="store_true", help="also run pip-audit on uv.lock (needs the network)"
    )
    deps.add_argument("--deps-report", type=Path, help="add findings of a pip-audit JSON report")
    scan.add_argument(
        "--uv", default="uv", help="uv executable (`uv export` with --deps; installing checkov)"
    )
    scan.set_defaults(func=_scan)
