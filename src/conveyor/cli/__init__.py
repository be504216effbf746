"""The `conveyor` command: one entry point whose subcommands map 1:1 to pipeline steps.

One module per command group; each has ``add(commands)``, which registers its subcommands with a
handler of a few lines (parse, call the library, print, return the exit code). The options
several groups share are in ``options``, the argparse types in ``types``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, cast

from conveyor import __version__
from conveyor.cli import (
    build,
    check,
    data,
    doctor,
    gate,
    init,
    monitor,
    promote,
    release,
    report,
    retrain,
    scan,
    template,
    verify,
    workflows,
)
from conveyor.errors import UserError
from conveyor.files import require_regular

if TYPE_CHECKING:
    from conveyor.cli.options import Commands

__all__ = ["build_parser", "main"]

# In the order `conveyor --help` lists them: the pipeline's steps, then releases and promotion.
GROUPS = (
    init,
    doctor,
    check,
    data,
    gate,
    report,
    build,
    scan,
    monitor,
    retrain,
    release,
    promote,
    verify,
    template,
    workflows,
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors read like every other conveyor error: one line, exit 2.
    Sub-parsers are made of the same class (argparse uses the parent's type)."""

    def error(self, message: str) -> NoReturn:
        # "argument --out: X: cannot write there" -> "--out X: cannot write there", the form
        # the commands' own errors take.
        match = re.fullmatch(r"argument ([^:]+): (.*)", message, flags=re.S)
        text = f"{match[1]} {match[2]}" if match else f"{self.prog}: {message} (see --help)"
        self.exit(2, f"error: {' '.join(text.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets ``func`` to its handler."""
    parser = _Parser(
        prog="conveyor",
        description="GitOps CI/CD for ML: the same commands run locally and in GitHub Actions.",
    )
    parser.add_argument("--version", action="version", version=f"conveyor {__version__}")
    # Its parsers are _Parser, an ArgumentParser: the command modules add to it as one.
    commands = cast("Commands", parser.add_subparsers(dest="command", metavar="COMMAND"))
    for group in GROUPS:
        group.add(commands)
    return parser


def _refuse_special_files(args: argparse.Namespace) -> None:
    """Every path argument (defaults included) that names a FIFO, a device or a socket is a
    usage error before any handler runs: opening a FIFO would block the command for ever."""
    for value in vars(args).values():
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, Path):
                require_regular(path)


# The options that make a command write a runner file, and the files each writes. The job
# summary is checked whenever the runner sets it: several commands add to it unasked.
_GITHUB_TARGETS = {
    "github_output": ("GITHUB_OUTPUT",),
    "github_env": ("GITHUB_ENV", "GITHUB_PATH"),
}


def _check_github_targets(args: argparse.Namespace) -> None:
    """Every runner file this command will write is checked before any work (exit 2)."""
    from conveyor.github import check_targets

    wanted = ["GITHUB_STEP_SUMMARY"]
    for option, variables in _GITHUB_TARGETS.items():
        if getattr(args, option, False):
            wanted += variables
    check_targets(wanted)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; user errors print one line (``error: ...``) and exit with their code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        return exit_.code if isinstance(exit_.code, int) else 2
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        _refuse_special_files(args)
        _check_github_targets(args)
        code: int = args.func(args)
        return code
    except UserError as error:
        from conveyor.github import annotate_error

        print(f"error: {error}", file=sys.stderr)
        annotate_error(str(error))  # on Actions, the run's summary shows why it failed
        return error.exit_code
