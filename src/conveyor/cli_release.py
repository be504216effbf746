"""Subcommands for releases and environments: release record|verify, promote, rollback, status."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import UserError
from conveyor.files import atomic_path, existing_dir, output_file, path_or_none

if TYPE_CHECKING:
    from conveyor.promotion.promote import Outcome
    from conveyor.promotion.trust import Trust
    from conveyor.release import ReleaseRecord


def _checked(rule: str) -> Callable[[str], str]:
    """argparse ``type`` of an option whose value ``conveyor.release.<rule>`` validates (a
    ValueError saying why not): a bad value is a usage error while parsing, before any work, by
    the record's own rule."""

    def parse(text: str) -> str:
        from conveyor import release  # pydantic loads only for the commands that use it

        try:
            getattr(release, rule)(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
        return text

    return parse


def _optional(parse: Callable[[str], str]) -> Callable[[str], str]:
    """``parse``, except that an empty value stays empty (not given: a workflow passes its
    inputs whether set or not)."""
    return lambda text: parse(text) if text else text


def _release_record(args: argparse.Namespace) -> int:
    from conveyor import release
    from conveyor.files import require_writable_dir
    from conveyor.promotion import champion

    # Every usage error before any work, and nothing written when one is found.
    if args.out.is_dir():
        raise UserError(f"--out {args.out}: is a folder, not a file")
    require_writable_dir(args.out.parent, "--out")
    top = release.repository(args.repo)
    branch = args.branch or champion.default_branch(top)
    gates = {}
    if args.tests_junit:
        gates["tests"] = release.tests_verdict(args.tests_junit)
    if args.scan_json:
        gates["security"] = release.security_verdict(args.scan_json)
    record = release.build_record(
        version=args.version,
        image=args.image,
        build_json=args.build_json,
        repo=args.repo,
        params=args.params,
        data_dir=args.data_dir,
        gates=gates,
        # The champion live at the default branch's tip: the ref must exist (exit 2 when not).
        baseline=lambda top: champion.baseline_at(top, champion.branch_commit(top, branch)),
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

    top = release.repository(args.repo)
    commit = git.resolve_commit(args.commit, top)
    if commit is None:
        raise UserError(f"--commit {args.commit}: no such commit in {top}")
    release.on_branch(top, commit, args.branch)
    print(f"{commit[:12]} is on {args.branch}'s history")
    return 0


def _release_name(args: argparse.Namespace) -> int:
    from conveyor import github
    from conveyor.release_names import release_names

    names = release_names(args.tag, args.registry, args.image_name)
    _print_lines([f"{key}={value}" for key, value in names.items()], args.github_output)
    github.add_to_summary(f"release {names['version']}: {names['image']}")
    return 0


def _commit_problems(record: ReleaseRecord, repo: Path, branch: str | None) -> list[str]:
    """Why the record is not its commit's, nor (``branch``) a commit of that branch's history."""
    from conveyor import release
    from conveyor.promotion import champion

    top = release.repository(repo)
    found = champion.record_problems(record, top, branch)
    if branch is not None:
        try:
            release.on_branch(top, record.git_commit, branch)
        except release.RecordRejectedError as exc:
            found.append(str(exc))
    return found


def _release_verify(args: argparse.Namespace) -> int:
    from conveyor import release, signature

    if not args.source_repository and (args.workflow_repository or args.workflow_ref):
        raise UserError("--workflow-repository/--workflow-ref need --source-repository")
    record = release.load_record(args.record)
    policy = None
    if args.source_repository:
        policy = signature.SignerPolicy(
            source_repository=args.source_repository,
            workflow_repository=args.workflow_repository or args.source_repository,
            version=record.version,
            workflow_ref=args.workflow_ref,
        )
    if args.branch is not None and not args.commit_check:
        raise UserError("--branch needs the commit check: drop --no-commit-check")
    found = release.problems(record)
    if args.commit_check:
        found += _commit_problems(record, args.repo, args.branch)
    signed = False
    if policy is not None:
        command = shlex.join(policy.cosign_args(record.image.reference))
        if signature.cosign_available():
            reason = signature.check(policy, record.image.reference)
            if reason is not None:
                found.append(f"signature does not verify ({reason}): {command}")
            signed = reason is None
        else:
            print(f"signature NOT checked: cosign is not on PATH; run: {command}", file=sys.stderr)
    if found:
        raise release.RecordRejectedError(f"{args.record}: not promotable: " + "; ".join(found))
    tied = f"tied to {record.git_commit[:12]}" if args.commit_check else "NOT tied to a commit"
    print(f"{args.record}: {record.version} {record.image.digest}: every gate passed ({tied})")
    for name, verdict in sorted(record.gates.items()):
        print(f"  {name}: {verdict.summary}")
    if signed and policy is not None:
        print(f"  signature: verified ({policy.identity()[1]})")
    return 0


def _trust(args: argparse.Namespace) -> Trust:
    from conveyor.promotion.trust import Trust
    from conveyor.signature import SignerPolicy

    if not args.source_repository and (args.workflow_repository or args.workflow_ref):
        raise UserError("--workflow-repository/--workflow-ref need --source-repository")
    if args.source_repository:  # a bad value is a usage error before anything runs
        SignerPolicy(
            source_repository=args.source_repository,
            workflow_repository=args.workflow_repository or args.source_repository,
            version="v0.0.0",
            workflow_ref=args.workflow_ref,
        )
    return Trust(
        commit_check=args.commit_check,
        source_repository=args.source_repository,
        workflow_repository=args.workflow_repository,
        workflow_ref=args.workflow_ref,
        require_signature=args.require_signature,
    )


def _print_outcome(outcome: Outcome, args: argparse.Namespace) -> None:
    # stdout carries only key=value lines, so a workflow can read them as step outputs.
    from conveyor import github

    for line in outcome.unchecked:
        print(f"warning: {line}", file=sys.stderr)

    print(outcome.message, file=sys.stderr)
    if args.body_out and outcome.body:
        with atomic_path(args.body_out) as tmp:
            tmp.write_text(outcome.body, encoding="utf-8")
    _print_lines(outcome.lines(), args.github_output)
    # After the push and its outputs: a failed gh call leaves the branch, and a re-run opens it.
    if args.pull_request and outcome.pull_request:
        title = outcome.title or f"Promote to {outcome.env}"
        # gh reads the body from a file: without --body-out, a temporary one, so the checkout
        # is left as it was (no untracked promote-<env>.md).
        with tempfile.TemporaryDirectory(prefix="conveyor-pr-") as folder:
            body_file = args.body_out or Path(folder) / f"promote-{outcome.env}.md"
            if not args.body_out:
                body_file.write_text(outcome.body or "", encoding="utf-8")
            url = github.upsert_pull_request(outcome.branch, args.base, title, body_file, args.repo)
        _print_lines([f"pull_request_url={url}"], args.github_output)
        github.add_to_summary(f"{outcome.title or outcome.env}: {url}")


def _print_lines(lines: list[str], github_output: bool) -> None:
    from conveyor import github

    print("\n".join(lines), flush=True)
    if github_output:
        github.set_outputs(dict(line.split("=", 1) for line in lines))


def _prepare_push(args: argparse.Namespace) -> None:
    """With --pull-request: the base branch, and git's push credential from GH_TOKEN."""
    import os

    from conveyor import github
    from conveyor.promotion import policy
    from conveyor.tools import not_an_option

    if not args.pull_request:
        return
    if not args.push:
        raise UserError("--pull-request needs the branch pushed: drop --no-push")
    github.require_gh("--pull-request")  # before any ref moves: never a pushed branch, no PR
    # The base reaches gh as a value: never an option.
    args.base = not_an_option(args.base or policy.base_branch(args.repo), "--base")
    github.require_gh_login("--pull-request")  # logged out: the same, found before the push
    os.environ.update(github.push_environment(github.token(), os.environ))


def _record_file(args: argparse.Namespace) -> Path:
    """--record, else the record of --version where it runs, else --from-environment's."""
    from conveyor.promotion import environments

    given = [
        option
        for option, value in (
            ("--record", args.record),
            ("--version", args.version),
            ("--from-environment", args.from_environment),
        )
        if value
    ]
    if len(given) > 1:  # one would be ignored silently: a different release than asked for
        raise UserError(f"{' and '.join(given)} are mutually exclusive: give one")
    if args.record is not None:
        record: Path = args.record
        return record
    if args.version:
        return environments.record_file_of(args.repo, args.version)
    if args.from_environment:
        return environments.record_file_in(args.repo, args.from_environment)
    raise UserError("promote needs --record, --version (a release tag) or --from-environment")


def _promote(args: argparse.Namespace) -> int:
    from conveyor.promotion.promote import promote
    from conveyor.release import load_record

    trust = _trust(args)
    record = load_record(_record_file(args))
    _prepare_push(args)
    outcome = promote(args.repo, args.env, record, remote=args.remote, push=args.push, trust=trust)
    _print_outcome(outcome, args)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from conveyor.promotion.rollback import rollback

    trust = _trust(args)
    _prepare_push(args)
    outcome = rollback(
        args.repo, args.env, to=args.to or None, remote=args.remote, push=args.push, trust=trust
    )
    _print_outcome(outcome, args)
    return 0


def _status(args: argparse.Namespace) -> int:
    from conveyor.promotion import status

    rows = status.collect(args.repo, args.ref)
    print(json.dumps(rows, indent=2) if args.json else status.render(rows))
    return 0


def _branch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment (policies/promotion.yaml)")
    parser.add_argument("--remote", default="origin", help="git remote to push to (origin)")
    parser.add_argument(
        "--push",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="push the promote/<env> branch (default); --no-push only commits it locally",
    )
    parser.add_argument(
        "--body-out",
        type=output_file,  # checked while parsing: before any ref moves
        help="write the pull request body (markdown) to this file",
    )
    parser.add_argument(
        "--pull-request",
        action="store_true",
        help="then open (or update) the branch's one pull request with gh (token: GH_TOKEN, also "
        "used to push; on GitHub Actions the commit is the Actions bot's)",
    )
    parser.add_argument(
        "--base", help="branch the pull request targets (default: the policy's base_branch)"
    )
    parser.add_argument(
        "--github-output",
        action="store_true",
        help="also append the key=value lines to $GITHUB_OUTPUT (a workflow step's outputs)",
    )
    parser.add_argument("--repo", type=existing_dir, default=Path.cwd(), help=argparse.SUPPRESS)
    _trust_options(parser)


def _trust_options(parser: argparse.ArgumentParser) -> None:
    """What a promotion checks beyond the record's own fields (conveyor.promotion.trust.Trust)."""
    parser.add_argument(
        "--commit-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-establish the data and metric verdicts from the record's commit in this "
        "checkout, and refuse a commit that is not on the remote's base branch (default); "
        "--no-commit-check skips both and says so",
    )
    parser.add_argument(
        "--source-repository",
        help="OWNER/NAME whose tag push ran the release: the record must be the one its "
        "release signed (cosign verify-attestation); without it the signature is not checked",
    )
    parser.add_argument(
        "--workflow-repository",
        help="OWNER/NAME holding ml-release.yml (default: the source repository)",
    )
    parser.add_argument(
        "--workflow-ref",
        help="the ref the caller's `uses: ...ml-release.yml@REF` pins (exact identity)",
    )
    parser.add_argument(
        "--require-signature",
        action="store_true",
        help="exit 2 when the signature cannot be checked (cosign missing) instead of saying so",
    )


def _add_release_name(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    name = kinds.add_parser(
        "name",
        help="check a release tag is semver; print version= and image= (REGISTRY/NAME)",
        description="The first step of a release: a tag that is not vMAJOR.MINOR.PATCH[-pre] "
        "fails (exit 1) before anything is built; the image name is lower-cased.",
    )
    name.add_argument("--tag", required=True, help="the pushed tag (github.ref_name)")
    name.add_argument("--registry", required=True, help="registry host, e.g. ghcr.io")
    name.add_argument("--image-name", required=True, help="OWNER/NAME in the registry")
    name.add_argument(
        "--github-output", action="store_true", help="also append the lines to $GITHUB_OUTPUT"
    )
    name.set_defaults(func=_release_name)


def add_release_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register release, promote, rollback and status on the top-level parser."""
    release = commands.add_parser("release", help="release records: build and verify")
    kinds = release.add_subparsers(dest="release", metavar="ACTION", required=True)
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
        type=_checked("release_version"),
        help="release version (the git tag)",
    )
    record.add_argument(
        "--image",
        required=True,
        type=_checked("image_digest"),
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
    record.add_argument("--tests-junit", type=Path, help="pytest --junitxml report")
    record.add_argument("--scan-json", type=Path, help="conveyor scan's scan.json")
    record.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="file holding `gates:`"
    )
    record.add_argument(
        "--branch",
        help="the default branch (default: origin/ and the policy's base_branch): the commit "
        "must be on its history, and the regression baseline is the release live at its tip in "
        "the policy's last environment that has one (exit 2 when the ref is missing)",
    )
    record.add_argument("--repo", type=Path, default=Path(), help="the git checkout (default .)")
    record.add_argument(
        "--sbom-digest",
        type=_checked("sha256_digest"),
        help="sha256:... of the SBOM document",
    )
    record.add_argument("--signature", help="where the image's signature lives (cosign)")
    record.add_argument("--out", type=output_file, default="build/release.json")
    record.set_defaults(func=_release_record)

    on_branch = kinds.add_parser(
        "on-branch",
        help="exit 1 unless the commit (HEAD) is in the history of --branch (the default branch)",
    )
    on_branch.add_argument("--branch", required=True, help="e.g. origin/main")
    on_branch.add_argument("--commit", default="HEAD", help="commit or tag to check (HEAD)")
    on_branch.add_argument("--repo", type=Path, default=Path(), help="the git checkout (.)")
    on_branch.set_defaults(func=_release_on_branch)

    verify = kinds.add_parser(
        "verify",
        help="re-check a record: every gate passed, its verdicts are its commit's, digest and "
        "fields consistent, and (with --source-repository) the image signature",
    )
    verify.add_argument("record", type=Path)
    verify.add_argument(
        "--repo",
        type=Path,
        default=Path(),
        help="git checkout holding the record's commit (default .): the metric and data "
        "verdicts are re-established from it",
    )
    verify.add_argument(
        "--commit-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="tie the verdicts to the record's commit (default); --no-commit-check skips it "
        "and says so",
    )
    verify.add_argument(
        "--branch",
        help="refuse a record whose commit, or the default-branch commit its baseline was read "
        "at, is not in this branch's history (e.g. origin/main): a release ships only what "
        "reached the default branch through review",
    )
    verify.add_argument(
        "--source-repository",
        help="OWNER/NAME whose tag push ran the release: check the image signature with cosign",
    )
    verify.add_argument(
        "--workflow-repository",
        help="OWNER/NAME holding ml-release.yml (default: the source repository)",
    )
    verify.add_argument(
        "--workflow-ref",
        help="the ref the caller's `uses: ...ml-release.yml@REF` pins (exact identity)",
    )
    verify.set_defaults(func=_release_verify)

    _add_release_name(kinds)

    promote = commands.add_parser(
        "promote",
        help="write a release into an environment on branch promote/<env> and push it",
        description="Verify the record, enforce policies/promotion.yaml, commit the overlay's "
        "digest and release.json on promote/<env> (built on the base branch), push it. Prints "
        "key=value lines for $GITHUB_OUTPUT. Exit 1 when the policy refuses, or when no "
        "environment runs --version.",
    )
    # Empty values count as not given: a workflow passes its inputs whether set or not.
    promote.add_argument("--record", type=path_or_none, help="release record (JSON)")
    promote.add_argument(
        "--version",
        type=_optional(_checked("release_version")),
        help="without --record: the release's record where an environment runs it",
    )
    promote.add_argument(
        "--from-environment",
        metavar="ENV",
        help="without --record and --version: promote what runs in ENV (its release.json)",
    )
    _branch_options(promote)
    promote.set_defaults(func=_promote)

    rollback = commands.add_parser(
        "rollback", help="prepare promote/<env> restoring the previous (or --to) release"
    )
    rollback.add_argument("--to", help="version to restore (default: the one before the live one)")
    _branch_options(rollback)
    rollback.set_defaults(func=_rollback)

    status = commands.add_parser("status", help="what runs in each environment, and since when")
    status.add_argument(
        "--ref", default="HEAD", help="git revision to read (default HEAD; e.g. origin/main)"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--repo", type=existing_dir, default=Path.cwd(), help=argparse.SUPPRESS)
    status.set_defaults(func=_status)
