"""The `conveyor` command: one entry point whose subcommands map 1:1 to pipeline steps."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, cast

from conveyor import __version__, extras
from conveyor.cli_monitor import add_monitor_commands
from conveyor.cli_release import add_release_commands
from conveyor.cli_scan import add_scan_command
from conveyor.cli_types import contract_name, finite_number, whole_number
from conveyor.errors import ConfigError, UserError
from conveyor.files import (
    existing_dir,
    optional_dir,
    output_dir,
    output_file,
    require_regular,
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


def _check_data(args: argparse.Namespace) -> int:
    extras.require("check data")
    if len(args.pairs) % 2:
        raise UserError("check data takes CONTRACT DATA pairs: got an odd number of paths")
    from conveyor.checks.contract import load_contract

    # Every usage error (bad contract, missing file) surfaces before GX's slow import.
    jobs = [(load_contract(c), d) for c, d in zip(args.pairs[::2], args.pairs[1::2], strict=True)]
    for _, data in jobs:
        if not (data.is_file() or data.is_dir()):  # a folder: its Parquet files, as one table
            raise UserError(f"{data}: no such data file or folder")
    from conveyor.checks.run import check, check_out_dir, write_outputs

    check_out_dir(args.out, [contract.name for contract, _ in jobs])

    from conveyor.checks.gx_backend import GreatExpectationsBackend
    from conveyor.checks.report import terminal_lines

    backend = GreatExpectationsBackend()
    verdicts = [check(contract, data, backend) for contract, data in jobs]
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


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser("check", help="data contracts (Great Expectations)")
    kinds = check.add_subparsers(dest="check", metavar="KIND", required=True)
    data = kinds.add_parser(
        "data",
        help="validate data sets against contracts; exit 0 pass, 1 violated, 2 usage error",
        description="Run each CONTRACT on its DATA file (Parquet or CSV) in one process.",
    )
    data.add_argument(
        "pairs",
        nargs="+",
        type=Path,
        metavar="CONTRACT DATA",
        help="a contract file and the data it checks; repeat for more",
    )
    data.add_argument(
        "--out",
        type=output_dir,
        default="reports/data",
        help="where verdict JSON, markdown and data docs go (default: reports/data)",
    )
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


def _gate(args: argparse.Namespace) -> int:
    from conveyor import gate, github
    from conveyor.files import atomic_path, require_writable_file, write_json
    from conveyor.report import gate_table

    passed = False
    try:
        gates = gate.load_gates(args.params)
        for name in ("gate.json", "gate.md"):
            require_writable_file(args.out / name)
        result = gate.evaluate(gates, args.baseline_ref, root=args.root)
        write_json(args.out / "gate.json", result.to_json())
        with atomic_path(args.out / "gate.md") as tmp:
            tmp.write_text(gate_table.markdown(result), encoding="utf-8")
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


def _add_gate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gate = commands.add_parser(
        "gate",
        help="check metrics against params.yaml `gates:`; exit 0 pass, 1 fail, 2 usage error",
        description="Evaluate every metric gate against the current metrics files and the same "
        "files at a baseline git ref. Writes gate.json and gate.md.",
    )
    gate.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="file holding the `gates:` section (default: params.yaml)",
    )
    gate.add_argument(
        "--baseline-ref", help="git ref to compare with (default: gates.baseline_ref)"
    )
    gate.add_argument(
        "--out",
        type=output_dir,
        default="reports/gate",
        help="where gate.json and gate.md go (default: reports/gate)",
    )
    gate.add_argument("--root", type=existing_dir, default=Path(), help="repository root")
    gate.add_argument(
        "--exit-zero",
        action="store_true",
        help="write and print the verdict but exit 0 (the DVC stage: experiments still finish)",
    )
    gate.add_argument(
        "--github-output",
        action="store_true",
        help="append passed=true|false to $GITHUB_OUTPUT (a workflow step's output)",
    )
    gate.set_defaults(func=_gate)


def _report(args: argparse.Namespace) -> int:
    extras.require("report")
    from conveyor import gate
    from conveyor import github as conveyor_github
    from conveyor.config import read_text
    from conveyor.files import atomic_path, require_writable_dir, require_writable_file
    from conveyor.report import document, github, plots

    gates = gate.load_gates(args.params)
    require_writable_file(args.out)
    require_writable_dir(args.plots_dir, "--plots-dir")
    if args.data_reports.exists() and not args.data_reports.is_dir():
        raise UserError(f"--data-reports {args.data_reports}: not a folder")
    data_reports = sorted(args.data_reports.glob("*.md")) if args.data_reports.is_dir() else []
    for path in data_reports:
        read_text(path)  # an unreadable verdict is refused before any plot is drawn
    result = gate.evaluate(gates, args.baseline_ref, root=args.root)
    diffs = {
        "Metrics diff": document.dvc_diff("metrics", result.baseline_commit, args.root),
        "Params diff": document.dvc_diff("params", result.baseline_commit, args.root),
    }
    dvc_yaml = args.root / "dvc.yaml"
    specs = plots.plot_specs(dvc_yaml) if dvc_yaml.is_file() else []
    images = plots.render(specs, args.root, args.plots_dir)
    body = document.build(result, data_reports, diffs, images, args.out.parent)
    with atomic_path(args.out) as tmp:
        tmp.write_text(body, encoding="utf-8")
    print(f"report: {args.out} ({len(body):,} characters, {len(images)} plots in {args.plots_dir})")
    if args.job_summary:
        conveyor_github.add_to_summary(body)
    if args.pr_comment == "auto" and not github.commentable_from_env(args.pr):
        conveyor_github.notice(
            "no token or not a pull request: the report goes to the job summary only"
        )
    elif args.pr_comment:
        target = github.target_from_env(args.pr, args.repo)
        action, url = github.upsert_comment(target, body, document.MARKER)
        print(f"report: {action} the pull-request comment {url}")
    return 0


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="one markdown report for the PR: gate, data contracts, diffs, plots",
        description="Write the pull-request report (and, with --pr-comment, post or update the "
        "one sticky comment on the PR). Exits 0 whatever the gate says: `conveyor gate` fails "
        "the job, the report explains it.",
    )
    report.add_argument("--out", type=output_file, required=True, help="markdown file to write")
    report.add_argument("--params", type=Path, default=Path("params.yaml"))
    report.add_argument(
        "--baseline-ref", help="git ref to compare with (default: gates.baseline_ref)"
    )
    report.add_argument(
        "--data-reports",
        type=optional_dir,
        default=Path("reports/data"),
        help="folder of data-contract markdown verdicts (default: reports/data)",
    )
    report.add_argument(
        "--plots-dir",
        type=output_dir,
        default="reports/plots",
        help="where the PNG plots go (default: reports/plots)",
    )
    report.add_argument("--root", type=existing_dir, default=Path(), help="repository root")
    report.add_argument(
        "--pr-comment",
        nargs="?",
        const="always",
        choices=("always", "auto"),
        help="post or update the sticky PR comment (GITHUB_TOKEN, GITHUB_REPOSITORY); `auto`: "
        "only when a token and a pull request are there (a fork's run, a push: summary only)",
    )
    report.add_argument(
        "--job-summary",
        action="store_true",
        help="also append the report to the job summary ($GITHUB_STEP_SUMMARY)",
    )
    report.add_argument(
        "--pr", type=whole_number(1), help="pull request number (default: from the event)"
    )
    report.add_argument("--repo", help="owner/name (default: GITHUB_REPOSITORY)")
    report.set_defaults(func=_report)


def _build_bento(args: argparse.Namespace) -> int:
    extras.require("build bento")
    from conveyor.build import build, model_tag
    from conveyor.config import read_yaml

    # Both inputs are read before `bentoml build` (slow, and its errors name neither file).
    if not read_yaml(args.bentofile).get("service"):
        raise ConfigError(f"{args.bentofile}: service: required key is missing (not a bentofile?)")
    model_tag(args.model_tag_file)  # a BentoML tag, never an option or a blank
    record = build(args.bentofile, args.context, args.model_tag_file, args.out)
    print(
        f"bento {record['bento_tag']} with model {record['model_tag']}; Docker build context "
        f"{record['docker_context']} (Dockerfile checked: non-root user, HEALTHCHECK); "
        f"{args.out / 'build.json'}"
    )
    return 0


def _build_image(args: argparse.Namespace) -> int:
    from conveyor.build import build_image, store_args

    record = build_image(args.context, args.store, args.name, args.base_cache)
    verb = "built" if record["built"] else "up to date"
    print(f"image {record['image']} {verb}, also tagged :latest; run it with")
    store = " ".join(store_args(args.store))
    print(f"  podman {store} --runtime runc --cgroup-manager=cgroupfs run ...")
    return 0


def _add_build(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = commands.add_parser("build", help="package the model for serving")
    kinds = build.add_subparsers(dest="build", metavar="KIND", required=True)
    bento = kinds.add_parser(
        "bento",
        help="build and export the Bento with the pipeline's model; write build.json",
        description="bentoml build + bentoml export, then unpack the Docker build context and "
        "check its Dockerfile (non-root USER, HEALTHCHECK). No Docker engine needed.",
    )
    bento.add_argument("--bentofile", type=Path, default=Path("bentofile.yaml"))
    bento.add_argument(
        "--context",
        type=existing_dir,
        default=Path("src"),
        help="build context holding the service's packages (default: src)",
    )
    bento.add_argument(
        "--model-tag-file",
        type=Path,
        default=Path("models/bentoml_model.json"),
        help="the registered model's tag, as the pipeline wrote it",
    )
    bento.add_argument(
        "--out",
        type=output_dir,
        default="build/bento",
        help="where the .bento archive, its unpacked context and build.json go",
    )
    bento.set_defaults(func=_build_bento)
    image = kinds.add_parser(
        "image",
        help="build the exported Bento context into an image with buildah (no Docker engine)",
        description="buildah bud (vfs storage, chroot isolation, docker format) of the context "
        "`conveyor build bento` exported; the Dockerfile's base image comes from a local "
        "stand-in (deploy/docker/base-image.sh, cached outside the checkout). An image of the "
        "same context digest is reused.",
    )
    image.add_argument("--context", type=Path, default=Path("build/bento/context"))
    image.add_argument(
        "--store",
        type=output_dir,
        default=Path("build/containers"),
        help="buildah/podman image store (graph/ and run/ inside; default: build/containers)",
    )
    image.add_argument("--name", default="localhost/conveyor-forecaster")
    image.add_argument(
        "--base-cache",
        type=output_dir,
        default=None,
        help="where stand-in base images are cached (default: ~/.cache/conveyor)",
    )
    image.set_defaults(func=_build_image)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets ``func`` to its handler."""
    parser = _Parser(
        prog="conveyor",
        description="GitOps CI/CD for ML: the same commands run locally and in GitHub Actions.",
    )
    parser.add_argument("--version", action="version", version=f"conveyor {__version__}")
    # Its parsers are _Parser, an ArgumentParser: the command modules add to it as one.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    doctor = commands.add_parser(
        "doctor", help="check tools and show where the DVC remote and BentoML home are"
    )
    doctor.add_argument("--root", type=existing_dir, default=Path.cwd(), help="repository root")
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
    _add_check(commands)
    _add_gate(commands)
    _add_report(commands)
    _add_build(commands)
    add_scan_command(commands)
    add_monitor_commands(commands)
    add_release_commands(commands)
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


if __name__ == "__main__":
    sys.exit(main())
