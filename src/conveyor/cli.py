"""The `conveyor` command: one entry point whose subcommands map 1:1 to pipeline steps."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conveyor import __version__
from conveyor.errors import UserError


def _doctor(args: argparse.Namespace) -> int:
    from conveyor import doctor

    checks = doctor.run_checks(args.root)
    print(doctor.render(checks))
    return 0 if all(check.ok for check in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets ``func`` to its handler."""
    parser = argparse.ArgumentParser(
        prog="conveyor",
        description="GitOps CI/CD for ML: the same commands run locally and in GitHub Actions.",
    )
    parser.add_argument("--version", action="version", version=f"conveyor {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor = commands.add_parser(
        "doctor", help="check tools and show where the DVC remote and BentoML home are"
    )
    doctor.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    doctor.set_defaults(func=_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; user errors print one line (``error: ...``) and exit with their code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
