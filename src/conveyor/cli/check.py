"""`conveyor check data|profile`: data contracts (Great Expectations)."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import extras
from conveyor.cli import options
from conveyor.cli.types import contract_name, finite_number, whole_number
from conveyor.errors import UserError
from conveyor.files import output_file, path_or_url

__all__ = ["add"]


def _check_data(args: argparse.Namespace) -> int:
    extras.require("check data")
    if len(args.pairs) % 2:
        raise UserError("check data takes CONTRACT DATA pairs: got an odd number of paths")
    from conveyor.checks.contract import load_contract

    # Every usage error (bad contract, missing file) surfaces before GX's slow import.
    pairs = zip(args.pairs[::2], args.pairs[1::2], strict=True)
    jobs = [(load_contract(Path(c)), d) for c, d in pairs]
    for _, data in jobs:
        if isinstance(data, str):
            continue  # a URL: listed by require_readable
        if not (data.is_file() or data.is_dir()):  # a folder: its Parquet files, as one table
            raise UserError(f"{data}: no such data file or folder")
    from conveyor.checks.dataio import require_readable

    # Footers and headers only: the last data set's bad file is refused before GX checks the
    # first (which takes seconds to minutes).
    for _, data in jobs:
        require_readable(data)
    from conveyor.checks.validate import check, check_out_dir, write_outputs
    from conveyor.compute.params import load_compute

    check_out_dir(args.out, [contract.name for contract, _ in jobs])
    # Without params.yaml the engine is local; a --params the user names must exist.
    compute = load_compute(args.params, missing_ok=args.params == options.DEFAULT_PARAMS)
    spark = None
    if compute.engine == "spark":
        from conveyor.compute.session import spark_session

        spark = spark_session(compute.spark, "check data")

    from conveyor.checks.gx_backend import GreatExpectationsBackend
    from conveyor.checks.verdict_text import terminal_lines

    backend = GreatExpectationsBackend()
    if spark is None:
        verdicts = [check(contract, data, backend) for contract, data in jobs]
    else:
        from conveyor.compute.session import spark_failures

        with spark_failures("check data"):
            verdicts = [check(contract, data, backend, spark) for contract, data in jobs]
    write_outputs(verdicts, args.out, backend)
    for verdict in verdicts:
        print("\n".join(terminal_lines(verdict)))
    return 0 if all(v.passed for v in verdicts) else 1


def _check_profile(args: argparse.Namespace) -> int:
    extras.require("check profile")
    from conveyor.checks.dataio import read_frame
    from conveyor.checks.profile import propose, to_yaml
    from conveyor.files import atomic_path, require_writable_file

    require_writable_file(args.out)
    name = args.name or args.out.stem
    try:
        contract_name(name)  # --name was checked while parsing; the default is checked here
    except argparse.ArgumentTypeError as exc:
        raise UserError(f"--out {args.out}: {exc} (its file name; give --name)") from None
    frame = read_frame(args.data, None)
    key = [k for k in args.key.split(",") if k] if args.key else []
    missing = [k for k in key if k not in frame.columns]
    if missing:
        raise UserError(f"--key: no column(s) {', '.join(missing)} in {args.data}")
    contract = propose(frame, name, key, tolerance=args.tolerance, max_age_days=args.max_age_days)
    with atomic_path(args.out) as tmp:
        tmp.write_text(to_yaml(contract), encoding="utf-8")
    print(f"proposed contract {name!r} for {len(frame):,} rows -> {args.out} (review it)")
    return 0


def add(commands: options.Commands) -> None:
    """Register `check data` and `check profile`."""
    kinds = options.group(commands, "check", "data contracts (Great Expectations)")
    data = kinds.add_parser(
        "data",
        help="validate data sets against contracts; exit 0 pass, 1 violated, 2 usage error",
        description="Run each CONTRACT on its DATA in one process: a Parquet or CSV file, a "
        "folder of Parquet files, a Delta table, or the URL of Parquet or a Delta table "
        "(s3://, gs://, abfs://: the fsspec package of its filesystem installed).",
    )
    data.add_argument(
        "pairs",
        nargs="+",
        type=path_or_url,
        metavar="CONTRACT DATA",
        help="a contract file and the data it checks; repeat for more",
    )
    options.out_dir(data, "reports/data", "verdict JSON, markdown and data docs")
    options.params(data, "`compute:` (engine local or spark; none: local)")
    data.set_defaults(func=_check_data)
    profile = kinds.add_parser(
        "profile", help="propose a contract from a trusted data set, for review"
    )
    profile.add_argument("data", type=Path, help="Parquet or CSV file")
    profile.add_argument("--out", type=output_file, required=True, help="contract file to write")
    profile.add_argument(
        "--name", type=contract_name, help="contract name (default: the --out file's stem)"
    )
    profile.add_argument("--key", help="comma-separated unique key columns")
    profile.add_argument(
        "--tolerance",
        type=finite_number(0),
        default=0.25,
        help="relative width of distribution bands (default 0.25)",
    )
    profile.add_argument(
        "--max-age-days",
        type=whole_number(0, "days"),
        default=7,
        help="freshness: latest date at most this old (default 7)",
    )
    profile.set_defaults(func=_check_profile)
