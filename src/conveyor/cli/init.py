"""`conveyor init`: write the callers, the promotion policy and deploy/ into an adopting
repository, under its names (conveyor/adopt.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conveyor.cli import options
from conveyor.errors import UserError

__all__ = ["add"]


def _branch(text: str) -> str:
    from conveyor.promotion import policy  # pydantic loads only for the commands that use it

    try:
        return policy.branch_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _init(args: argparse.Namespace) -> int:
    from conveyor import adopt

    ref = args.conveyor_ref or adopt.installed_commit()
    if ref is None:
        raise UserError(
            "--conveyor-ref: required (conveyor was not installed from git): "
            "the tag's commit SHA your callers call conveyor at"
        )
    names = adopt.Names(
        name=args.name,
        registry=args.registry.rstrip("/"),
        repository=args.repository,
        conveyor_repository=args.conveyor_repository,
        conveyor_ref=ref,
        package=args.package,
        environments=tuple(env.strip() for env in args.environments.split(",") if env.strip()),
        base_branch=args.base_branch,
        batch=args.batch,
    )
    written = adopt.init(args.root, names)
    print(f"wrote {len(written)} files; review them, then commit:", file=sys.stderr)
    print("\n".join(written))
    return 0


def add(commands: options.Commands) -> None:
    """Register `init`."""
    init = commands.add_parser(
        "init",
        help="write the workflow callers, policies/promotion.yaml and deploy/ into this "
        "repository under its names (never overwrites a file)",
    )
    options.root(init, default=Path())
    init.add_argument(
        "--name",
        required=True,
        help="the service's name: image, Kubernetes objects, Argo CD apps (e.g. churn)",
    )
    init.add_argument(
        "--registry", required=True, help="registry and path the image is pushed to (ghcr.io/acme)"
    )
    init.add_argument(
        "--repository",
        required=True,
        help="this repository on GitHub, OWNER/NAME (Argo CD syncs deploy/ from it)",
    )
    init.add_argument(
        "--conveyor-repository",
        required=True,
        help="the conveyor repository the callers use, OWNER/NAME",
    )
    init.add_argument(
        "--conveyor-ref",
        default="",
        help="the ref the callers use it at: pin a tag's commit SHA (default: the commit this "
        "conveyor was installed from, when it came from git)",
    )
    init.add_argument(
        "--package",
        default="",
        help="the model's Python package, the prefix of its metrics (default: --name, '-' -> '_')",
    )
    init.add_argument(
        "--environments",
        default="dev,staging,prod",
        help="environments in promotion order, comma-separated (default dev,staging,prod)",
    )
    init.add_argument(
        "--base-branch",
        type=_branch,
        default="main",
        help="the branch pull requests target and Argo CD syncs from (default main)",
    )
    init.add_argument(
        "--batch",
        action="store_true",
        help="also the nightly batch CronJob, which runs `python -m PACKAGE batch --out DIR` "
        "in the service's image (your model needs that command; see README, Retraining)",
    )
    init.set_defaults(func=_init)
