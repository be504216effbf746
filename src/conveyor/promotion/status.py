"""`conveyor status`: what runs in each environment, since when, and what is waiting to enter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conveyor import git
from conveyor.errors import UserError
from conveyor.promotion import environments as envs
from conveyor.promotion.environments import branch_of
from conveyor.promotion.policy import policy_at

__all__ = ["collect", "render"]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}" if unit != "d" else f"{seconds / size:.1f}d"
    return f"{seconds:.0f}s"


def collect(
    repo: Path, ref: str, now: datetime | None = None, remote: str = "origin"
) -> list[dict[str, Any]]:
    """One row per environment of the policy, in promotion order, read at ``ref``."""
    revision = git.resolve_commit(ref, repo, what="--ref")
    if revision is None:
        raise UserError(f"{ref!r} is not a git revision here (fetch it, or pass --ref)")
    policy = policy_at(repo, revision)
    now = now or datetime.now(UTC)
    rows = []
    for env in policy.environments:
        deployment = envs.live(repo, revision, env)
        # The branch as the remote has it (what the PR shows), else a local one (--no-push).
        pending_at = git.resolve_commit(f"{remote}/{branch_of(env)}", repo) or git.resolve_commit(
            branch_of(env), repo
        )
        pending = envs.record_at(repo, pending_at, env) if pending_at else None
        row: dict[str, Any] = {"environment": env, "version": None, "digest": None}
        if deployment is not None:
            record = deployment.record
            row |= {
                "version": record.version,
                "digest": record.image.digest,
                "image": record.image.reference,
                "model": record.model_tag,
                "promoted_at": deployment.at.isoformat(),
                "commit": deployment.commit,
                "age_seconds": round((now - deployment.at).total_seconds()),
            }
        live_digest = row["digest"]
        row["pending"] = (
            pending.version if pending and pending.image.digest != live_digest else None
        )
        rows.append(row)
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table for people."""
    header = ("ENVIRONMENT", "VERSION", "DIGEST", "PROMOTED AT", "COMMIT", "AGE", "PENDING")
    table = [header]
    for row in rows:
        if row["version"] is None:
            table.append((row["environment"], "-", "-", "-", "-", "-", row["pending"] or "-"))
            continue
        table.append(
            (
                row["environment"],
                row["version"],
                row["digest"].removeprefix("sha256:")[:12],
                row["promoted_at"][:16].replace("T", " "),
                row["commit"][:10],
                _age(row["age_seconds"]),
                row["pending"] or "-",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )
