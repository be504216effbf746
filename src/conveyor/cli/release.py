"""`conveyor release record|on-branch|verify|name`: the release record and its checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conveyor.cli import options
from conveyor.cli.types import checked
from conveyor.errors import UserError
from conveyor.files import existing_dir, output_file

__all__ = ["add"]


def _release_record(args: argparse.Namespace) -> int:
    from conveyor import evidence, release
    from conveyor.files import require_writable_dir
    from conveyor.promotion import champion

    # Every usage error before any work, and nothing written when one is found.
    if args.out.is_dir():
        raise UserError(f"--out {args.out}: is a folder, not a file")
    require_writable_dir(args.out.parent, "--out")
    top = release.repository(args.repo)
    branch = champion.default_branch(top) if args.branch is None else args.branch
    canonical = release.Canonical(
        release.in_repository(top, args.params, "--params"),
        release.in_repository(top, args.data_dir, "--data-dir"),
    )
    gates = evidence.verdicts(top, args.tests_junit, args.scan_json)  # this run's, this commit's
    record = release.build_record(
        version=args.version,
        image=args.image,
        build_json=args.build_json,
        repo=args.repo,
        params=args.params,
        data_dir=args.data_dir,
        gates=gates,
        # The champion live at the default branch's tip: the ref must exist (exit 2 when not).
        baseline=lambda top: champion.baseline_at(
            top, champion.branch_commit(top, branch), canonical
        ),
        branch=branch,
        sbom_digest=args.sbom_digest,
        signature=args.signature,
    )
    release.write_record(record, args.out)
    found = release.problems(record)
    print(f"release record {record.version} ({record.git_commit[:12]}) -> {args.out}")
    for problem in found:
        print(f"  not promotable: {problem}")
    return 1 if found else 0


def _release_on_branch(args: argparse.Namespace) -> int:
    from conveyor import git, release
    from conveyor.promotion import champion

    top = release.repository(args.repo)
    commit = git.resolve_commit(args.commit, top)
    if commit is None:
        raise UserError(f"--commit {args.commit}: no such commit in {top}")
    branch = champion.default_branch(top) if args.branch is None else args.branch
    champion.require_policy_base(top, branch)
    release.on_branch(top, commit, branch)
    print(f"{commit[:12]} is on {branch}'s history")
    return 0


def _release_clean(args: argparse.Namespace) -> int:
    from conveyor import evidence, release

    given = {"--tests-junit": args.tests_junit, "--scan-json": args.scan_json}
    paths = {option: path for option, path in given.items() if path is not None}
    if not paths and args.data_dir is None:
        raise UserError("release clean: give --tests-junit, --scan-json and/or --data-dir")
    top = release.repository(args.repo)
    # Every path checked before anything is deleted (evidence.clean checks its own first).
    data = [] if args.data_dir is None else evidence.data_verdict_files(top, args.data_dir)
    for path in evidence.clean(top, paths):
        print(f"deleted {path}: an earlier run's verdict")
    for path in data:
        path.unlink()
        print(f"deleted {path}: a committed contract verdict, made again by this run's stages")
    return 0


def _release_name(args: argparse.Namespace) -> int:
    from conveyor import github
    from conveyor.release_names import release_names

    names = release_names(args.tag, args.registry, args.image_name)
    options.print_lines([f"{key}={value}" for key, value in names.items()], args.github_output)
    github.add_to_summary(f"release {names['version']}: {names['image']}")
    return 0


def _release_verify(args: argparse.Namespace) -> int:
    from conveyor import release
    from conveyor.promotion import champion, trust

    options.signer_policy(args, "v0.0.0")  # its usage errors before the record is read
    if args.branch is not None and not args.commit_check:
        raise UserError("--branch needs the commit check: drop --no-commit-check")
    record = release.load_record(args.record)
    policy = options.signer_policy(args, record.version, record.git_commit)
    found = release.problems(record)
    branch = None
    if args.commit_check:
        top = release.repository(args.repo)
        branch = champion.verify_branch(top) if args.branch is None else args.branch
        found += trust.branch_problems(record, top, branch, options.canonical(args, top))
    signed = False
    if policy is not None:
        problems, unchecked = trust.signature_problems(record, policy)
        if unchecked:
            print(unchecked, file=sys.stderr)
        found += problems
        signed = not found and unchecked is None
    if found:
        raise release.RecordRejectedError(f"{args.record}: not promotable: " + "; ".join(found))
    tied = (
        f"tied to {record.git_commit[:12]} on {branch}, held to the release live at its tip"
        if branch is not None
        else "NOT tied to a commit"
    )
    print(f"{args.record}: {record.version} {record.image.digest}: every gate passed ({tied})")
    for name, verdict in sorted(record.gates.items()):
        print(f"  {name}: {verdict.summary}")
    if signed and policy is not None:
        print(f"  signature: verified ({policy.identity()[1]})")
        print("  record: the one its release attested on the image (same signer rule)")
    return 0


def _add_release_name(kinds: options.Commands) -> None:
    name = kinds.add_parser(
        "name",
        help="check a release tag is semver; print version= and image= (REGISTRY/NAME)",
        description="The first step of a release: a tag that is not vMAJOR.MINOR.PATCH[-pre] "
        "fails (exit 1) before anything is built; the image name is lower-cased.",
    )
    name.add_argument("--tag", required=True, help="the pushed tag (github.ref_name)")
    name.add_argument("--registry", required=True, help="registry host, e.g. ghcr.io")
    name.add_argument("--image-name", required=True, help="OWNER/NAME in the registry")
    options.github_output(name, "the lines")
    name.set_defaults(func=_release_name)


def add(commands: options.Commands) -> None:
    """Register `release record`, `on-branch`, `verify` and `name`."""
    kinds = options.group(commands, "release", "release records: build and verify", "ACTION")
    record = kinds.add_parser(
        "record",
        help="join build.json, the image digest and every gate verdict into release.json; "
        "exit 1 when a gate failed",
        description="Re-establish the metric gate and the data-contract verdicts on the commit "
        "build.json was built from (the checkout's HEAD), add the tests and scan verdicts, and "
        "write the release record. Exit 1 when a gate failed or the commit is refused.",
    )
    record.add_argument(
        "--version",
        required=True,
        type=checked("release_version"),
        help="release version (the git tag)",
    )
    record.add_argument(
        "--image",
        required=True,
        type=checked("image_digest"),
        help="REGISTRY/NAME@sha256:DIGEST as pushed",
    )
    record.add_argument("--build-json", type=Path, default=Path("build/bento/build.json"))
    record.add_argument(
        "--data-dir",
        type=existing_dir,
        default=Path("reports/data"),
        help="folder of the contract verdicts: committed ones are checked against dvc.lock, the "
        "working tree's must be the contracts re-run on this commit (default reports/data)",
    )
    record.add_argument(
        "--tests-junit",
        type=Path,
        help="pytest --junitxml report, made by this run with -p conveyor.junit_commit "
        "(untracked, naming this commit)",
    )
    record.add_argument(
        "--scan-json", type=Path, help="conveyor scan's scan.json (untracked, naming this commit)"
    )
    options.params(record, "`gates:`")
    record.add_argument(
        "--branch",
        help="the default branch (default: origin/ and the policy's base_branch): the commit "
        "must be on its history, and the regression baseline is the release live at its tip in "
        "the policy's last environment that has one (exit 2 when the ref is missing)",
    )
    options.checkout(record)
    record.add_argument(
        "--sbom-digest",
        type=checked("sha256_digest"),
        help="sha256:... of the SBOM document",
    )
    record.add_argument("--signature", help="where the image's signature lives (cosign)")
    record.add_argument("--out", type=output_file, default="build/release.json")
    record.set_defaults(func=_release_record)

    clean = kinds.add_parser(
        "clean",
        help="delete the tests and scan verdict files an earlier run left, before this run "
        "writes them (exit 2 for one git tracks, or a file that is no such verdict)",
        description="A release run calls this before its tests and scan: `release record` then "
        "finds this run's verdicts or none, never an earlier run's.",
    )
    clean.add_argument("--tests-junit", type=output_file, help="the pytest --junitxml report")
    clean.add_argument("--scan-json", type=output_file, help="conveyor scan's scan.json")
    clean.add_argument(
        "--data-dir",
        type=existing_dir,
        help="the data-contract verdicts folder (reports/data): its *.json verdicts are deleted "
        "so that `release record` compares the committed ones with this run's only",
    )
    options.checkout(clean)
    clean.set_defaults(func=_release_clean)

    on_branch = kinds.add_parser(
        "on-branch",
        help="exit 1 unless the commit (HEAD) is in the history of --branch (the default branch)",
    )
    on_branch.add_argument(
        "--branch", help="the default branch (default: origin/ and the policy's base_branch)"
    )
    on_branch.add_argument("--commit", default="HEAD", help="commit or tag to check (HEAD)")
    options.checkout(on_branch)
    on_branch.set_defaults(func=_release_on_branch)

    verify = kinds.add_parser(
        "verify",
        help="re-check a record: every gate passed, its verdicts are its commit's, digest and "
        "fields consistent, and (with --source-repository) the image signature and the record "
        "attested on the image",
    )
    verify.add_argument("record", type=Path)
    options.checkout(
        verify,
        "git checkout holding the record's commit (default .): the metric and data verdicts "
        "are re-established from it",
    )
    options.commit_check(
        verify,
        "tie the verdicts to the record's commit (default); --no-commit-check skips it and says so",
    )
    options.canonical_inputs(verify)
    verify.add_argument(
        "--branch",
        help="the default branch (default: origin/ and the policy's base_branch, else that "
        "local branch; exit 2 when neither exists): refuse a record whose commit, or the commit "
        "its baseline was read at, is not in its history, or that regresses from the champion "
        "live at its tip (the rules of a forward promotion)",
    )
    options.signer(
        verify,
        "OWNER/NAME whose tag push ran the release: check with cosign the image signature and "
        "that this record is the one the release attested on the image",
    )
    verify.set_defaults(func=_release_verify)

    _add_release_name(kinds)
