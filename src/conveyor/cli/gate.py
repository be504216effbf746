"""`conveyor gate`: the metric gates of params.yaml `gates:`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from conveyor.cli import options

if TYPE_CHECKING:  # imported when run: `conveyor --help` stays fast
    from conveyor.gate import GateResult, Gates

__all__ = ["add"]


def _gate(args: argparse.Namespace) -> int:
    from conveyor import gate, github
    from conveyor.errors import UserError
    from conveyor.report import gate_table

    if args.branch and not args.champion:
        raise UserError("--branch names where the champion is read: give --champion ENV too")
    passed = False
    try:
        gates = gate.load_gates(args.params)
        gate_table.require_writable(args.out)  # before the metrics are read at the baseline
        result = _champion_gate(args, gates) if args.champion else None
        if result is None:
            result = gate.evaluate(gates, args.baseline_ref, root=args.root)
        gate_table.write(result, args.out)
        print(gate_table.text(result))
        passed = result.passed
    finally:
        # The step's `passed` output is "false" whenever the gate did not pass, ran or not.
        if args.github_output:
            github.set_outputs({"passed": "true" if passed else "false"})
    if not passed and not args.exit_zero:  # the DVC stage's verdict is not the job's failure
        github.annotate_error(
            f"metric gate failed: see the table above and {args.out / 'gate.md'}",
            file=str(args.params),
        )
    return 0 if passed or args.exit_zero else 1


def _champion_gate(args: argparse.Namespace, gates: Gates) -> GateResult:
    """The gate against the champion live in ``--champion`` scored again on the current data;
    with no release live there yet, the rules' bounds alone (every regression "no baseline")."""
    from conveyor import gate, git
    from conveyor.errors import UserError
    from conveyor.promotion import champion, rescore

    top = git.toplevel(args.root)
    if top is None:
        raise UserError(f"--champion: {args.root} is not in a git repository")
    branch = args.branch or champion.default_branch(top)
    source = champion.branch_commit(top, branch)
    result = rescore.gate_against_champion(gates, top, args.champion, source, args.root)
    if result is None:
        print(
            f"gate: no release is live in {args.champion} at {branch} ({source[:12]}): "
            "no champion to compare with, the rules' bounds alone apply"
        )
        return gate.evaluate_at_none(gates, f"no champion in {args.champion}", args.root)
    return result


def add(commands: options.Commands) -> None:
    """Register `gate`."""
    gate = commands.add_parser(
        "gate",
        help="check metrics against params.yaml `gates:`; exit 0 pass, 1 fail, 2 usage error",
        description="Evaluate every metric gate against the current metrics files and the same "
        "files at a baseline git ref. Writes gate.json and gate.md.",
    )
    options.params(gate, "the `gates:` section")
    baseline = gate.add_mutually_exclusive_group()
    baseline.add_argument(
        "--baseline-ref", help="git ref to compare with (default: gates.baseline_ref)"
    )
    baseline.add_argument(
        "--champion",
        metavar="ENV",
        help="compare with the model live in ENV (its release.json at the default branch's "
        "tip), scored again on the current data by params.yaml gates.champion.score",
    )
    gate.add_argument(
        "--branch",
        help="with --champion: the ref whose deploy/ says what is live "
        "(default: origin/<base_branch of policies/promotion.yaml>)",
    )
    options.out_dir(gate, "reports/gate", "gate.json and gate.md")
    options.root(gate)
    options.exit_zero(
        gate, "write and print the verdict but exit 0 (the DVC stage: experiments still finish)"
    )
    options.github_output(gate, "passed=true|false")
    gate.set_defaults(func=_gate)
