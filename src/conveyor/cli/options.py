"""The options several subcommands share, defined once: the same name always means the same
thing, with the same type, default and help."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from conveyor.errors import UserError
from conveyor.files import existing_dir, output_dir

if TYPE_CHECKING:
    from conveyor.release import Canonical
    from conveyor.signature import SignerPolicy

    # What a command module adds its subcommands to (``commands.add_parser(...)``).
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "DEFAULT_PARAMS",
    "Commands",
    "canonical",
    "canonical_inputs",
    "checkout",
    "commit_check",
    "exit_zero",
    "github_output",
    "group",
    "hidden_checkout",
    "job_summary",
    "out_dir",
    "params",
    "print_lines",
    "root",
    "signer",
    "signer_policy",
]


def group(commands: Commands, name: str, help_text: str, metavar: str = "KIND") -> Commands:
    """A command group (``conveyor NAME KIND ...``): what its subcommands are added to."""
    parser = commands.add_parser(name, help=help_text)
    return parser.add_subparsers(dest=name, metavar=metavar, required=True)


def root(parser: argparse.ArgumentParser, default: Path | None = None) -> None:
    """``--root``: the repository the command reads (default: the working directory)."""
    parser.add_argument(
        "--root", type=existing_dir, default=default or Path(), help="repository root"
    )


DEFAULT_PARAMS = Path("params.yaml")


def params(parser: argparse.ArgumentParser, holding: str = "") -> None:
    """``--params``: the params file (default: params.yaml); ``holding`` names the section read."""
    section = f" holding {holding}" if holding else ""
    parser.add_argument(
        "--params",
        type=Path,
        default=DEFAULT_PARAMS,
        help=f"the params file{section} (default: params.yaml)",
    )


def canonical_inputs(parser: argparse.ArgumentParser) -> None:
    """``--params`` and ``--data-dir``: the gates file and contract-verdict folder a record's
    verdicts must have been made from (``release record``'s defaults), read back by
    :func:`canonical`. Names inside the repository compared with the record's, never opened
    here (the verdicts are re-established from git), so they are text, not checked paths."""
    parser.add_argument(
        "--params",
        default="params.yaml",
        help="the params file whose `gates:` a release's metric verdict must come from "
        "(default params.yaml)",
    )
    parser.add_argument(
        "--data-dir",
        default="reports/data",
        help="folder of the contract verdicts a release's data verdict must come from "
        "(default reports/data)",
    )


def canonical(args: argparse.Namespace, top: Path) -> Canonical:
    """The ``--params`` / ``--data-dir`` of :func:`canonical_inputs`, as repository paths."""
    from conveyor.release import Canonical, in_repository

    return Canonical(
        in_repository(top, args.params, "--params"),
        in_repository(top, args.data_dir, "--data-dir"),
    )


def out_dir(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    """``--out``: the folder ``what`` is written to, checked writable while parsing."""
    parser.add_argument(
        "--out", type=output_dir, default=default, help=f"where {what} go (default: {default})"
    )


def baseline_ref(parser: argparse.ArgumentParser) -> None:
    """``--baseline-ref``: the git ref metrics are compared with."""
    parser.add_argument(
        "--baseline-ref", help="git ref to compare with (default: gates.baseline_ref)"
    )


def exit_zero(parser: argparse.ArgumentParser, why: str) -> None:
    """``--exit-zero``: write and print the verdict, but never fail the step on it."""
    parser.add_argument("--exit-zero", action="store_true", help=why)


def github_output(parser: argparse.ArgumentParser, what: str) -> None:
    """``--github-output``: also append ``what`` to $GITHUB_OUTPUT (a workflow step's outputs)."""
    parser.add_argument(
        "--github-output",
        action="store_true",
        help=f"also append {what} to $GITHUB_OUTPUT (a workflow step's outputs)",
    )


def job_summary(parser: argparse.ArgumentParser, what: str) -> None:
    """``--job-summary``: also append ``what`` to the job summary."""
    parser.add_argument(
        "--job-summary",
        action="store_true",
        help=f"also append {what} to the job summary ($GITHUB_STEP_SUMMARY)",
    )


def checkout(
    parser: argparse.ArgumentParser, help_text: str = "the git checkout (default .)"
) -> None:
    """``--repo``: the git checkout a release command reads (default: the working directory)."""
    parser.add_argument("--repo", type=Path, default=Path(), help=help_text)


def hidden_checkout(parser: argparse.ArgumentParser) -> None:
    """``--repo``, not shown in --help: the checkout promote, rollback and status work in
    (tests point it elsewhere; a person runs the command inside the checkout)."""
    parser.add_argument("--repo", type=existing_dir, default=Path.cwd(), help=argparse.SUPPRESS)


def commit_check(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--commit-check`` / ``--no-commit-check`` (on by default)."""
    parser.add_argument(
        "--commit-check", action=argparse.BooleanOptionalAction, default=True, help=help_text
    )


def signer(parser: argparse.ArgumentParser, source_help: str) -> None:
    """Who must have signed the release: ``--source-repository``, ``--workflow-repository``,
    ``--workflow-ref`` (read back by :func:`signer_policy`)."""
    parser.add_argument("--source-repository", help=source_help)
    parser.add_argument(
        "--workflow-repository",
        help="OWNER/NAME holding ml-release.yml (default: the source repository)",
    )
    parser.add_argument(
        "--workflow-ref",
        help="the ref the caller's `uses: ...ml-release.yml@REF` pins (exact identity)",
    )


def signer_policy(
    args: argparse.Namespace, version: str, commit: str | None = None
) -> SignerPolicy | None:
    """The signer options as a policy for ``version`` (None: no --source-repository, the
    signature is not checked). A bad value is a usage error before any work."""
    if not args.source_repository:
        if args.workflow_repository or args.workflow_ref:
            raise UserError("--workflow-repository/--workflow-ref need --source-repository")
        return None
    from conveyor.signature import SignerPolicy  # pydantic loads only for the commands using it

    return SignerPolicy(
        source_repository=args.source_repository,
        workflow_repository=args.workflow_repository or args.source_repository,
        version=version,
        workflow_ref=args.workflow_ref,
        commit=commit,
    )


def print_lines(lines: list[str], github_output: bool) -> None:
    """Print ``key=value`` lines; with ``--github-output``, also as the step's outputs."""
    from conveyor import github

    print("\n".join(lines), flush=True)
    if github_output:
        github.set_outputs(dict(line.split("=", 1) for line in lines))
