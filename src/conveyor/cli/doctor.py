"""`conveyor doctor`: tools, paths and the files a project needs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conveyor.cli import options

__all__ = ["add"]


def _doctor(args: argparse.Namespace) -> int:
    from conveyor import doctor
    from conveyor.github import annotate_error, export_environment

    doctor.requirements(args.require)  # a usage error before anything is written
    if args.github_env:
        export_environment(Path(sys.prefix))
    checks = doctor.run_checks(args.root)
    required = doctor.required_files(args.root, args.require)
    print(doctor.render(checks + required))
    for check in required:
        if not check.ok:  # on Actions: an annotation on the file the job needs
            name = check.name.removeprefix("file ").partition(":")[0]
            annotate_error(f"{name} {check.detail}", file=name)
    return 0 if all(check.ok for check in checks + required) else 1


def add(commands: options.Commands) -> None:
    """Register `doctor`."""
    doctor = commands.add_parser(
        "doctor", help="check tools and show where the DVC remote and BentoML home are"
    )
    options.root(doctor, default=Path.cwd())
    doctor.add_argument(
        "--require",
        nargs="+",
        default=[],
        metavar="FILE[:KEY]",
        help="files the project needs (FILE:KEY: with a top-level KEY section, e.g. "
        "params.yaml:gates); a missing one fails with exit 1",
    )
    doctor.add_argument(
        "--github-env",
        action="store_true",
        help="on GitHub Actions: put this environment on the job's PATH, quiet and offline "
        "($GITHUB_PATH, $GITHUB_ENV) for the later steps",
    )
    doctor.set_defaults(func=_doctor)
