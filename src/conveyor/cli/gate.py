"""`conveyor gate`: the metric gates of params.yaml `gates:`."""

from __future__ import annotations

import argparse

from conveyor.cli import options


def _gate(args: argparse.Namespace) -> int:
    from conveyor import gate, github
    from conveyor.report import gate_table

    passed = False
    try:
        gates = gate.load_gates(args.params)
        gate_table.require_writable(args.out)  # before the metrics are read at the baseline
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


def add(commands: options.Commands) -> None:
    """Register `gate`."""
    gate = commands.add_parser(
        "gate",
        help="check metrics against params.yaml `gates:`; exit 0 pass, 1 fail, 2 usage error",
        description="Evaluate every metric gate against the current metrics files and the same "
        "files at a baseline git ref. Writes gate.json and gate.md.",
    )
    options.params(gate, "the `gates:` section")
    options.baseline_ref(gate)
    options.out_dir(gate, "reports/gate", "gate.json and gate.md")
    options.root(gate)
    options.exit_zero(
        gate, "write and print the verdict but exit 0 (the DVC stage: experiments still finish)"
    )
    options.github_output(gate, "passed=true|false")
    gate.set_defaults(func=_gate)
