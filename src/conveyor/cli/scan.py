"""`conveyor scan`: the security gate (checkov, our policies, secrets; pip-audit with --deps)."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import extras
from conveyor.cli import options
from conveyor.errors import UserError
from conveyor.files import require_writable_dir


def _scan(args: argparse.Namespace) -> int:
    if args.deps:
        extras.require("scan --deps")
    from conveyor.scan import audit, checkov_tool
    from conveyor.scan.run import scan, terminal_lines, write_outputs
    from conveyor.scan.settings import POLICY_DIR

    root = args.root.resolve()
    policies = args.policies or POLICY_DIR
    policy_dir = policies if policies.is_absolute() else root / policies
    # The repository's own folder is optional (conveyor's policies ship with the package); a
    # folder named on the command line must be there.
    if args.policies is not None and not policy_dir.is_dir():
        raise UserError(f"--policies {args.policies}: no such folder")
    out = args.out if args.out.is_absolute() else root / args.out
    # Before a scan of seconds: an unwritable --out is a usage error (exit 2), not findings.
    require_writable_dir(out)
    # Found or installed before anything is written: a failed install leaves no partial report.
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
