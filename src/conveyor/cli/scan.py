"""`conveyor scan`: the security gate (checkov, our policies, secrets; pip-audit with --deps)."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import extras
from conveyor.cli import options
from conveyor.files import require_writable_dir


def _scan(args: argparse.Namespace) -> int:
    if args.deps:
        extras.require("scan --deps")
    from conveyor.scan import audit
    from conveyor.scan.run import scan, terminal_lines, write_outputs

    root = args.root.resolve()
    policy_dir = args.policies if args.policies.is_absolute() else root / args.policies
    out = args.out if args.out.is_absolute() else root / args.out
    # Before a scan of seconds: an unwritable --out is a usage error (exit 2), not findings.
    require_writable_dir(out)
    if args.deps:
        audited, extra, direct = audit.audit_lock(root, args.uv, out)
        for reference in direct:  # no index version to look up: listed, and no failure
            print(f"not audited: {reference}")
        print(f"pip-audit: {audited} locked packages, {len(extra)} known vulnerabilities")
    else:
        extra = audit.parse_report(args.deps_report) if args.deps_report else []
    result = scan(root, args.paths, policy_dir, out, extra)
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
        "checkov's checks and policies/checkov/. Writes scan.sarif, scan.junit.xml, scan.json "
        "and scan.md. Exit 0 clean, 1 findings, 2 usage or config error.",
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
        default=Path("policies/checkov"),
        help="policy folder: config.yaml, baseline.yaml, custom checks",
    )
    deps = scan.add_mutually_exclusive_group()
    deps.add_argument(
        "--deps", action="store_true", help="also run pip-audit on uv.lock (needs the network)"
    )
    deps.add_argument("--deps-report", type=Path, help="add findings of a pip-audit JSON report")
    scan.add_argument("--uv", default="uv", help="uv executable for `uv export` (with --deps)")
    scan.set_defaults(func=_scan)
