"""Real git repositories for promotion tests: a bare remote on disk holding the project's deploy/
and policies/promotion.yaml, and clones of it that promote, merge and race."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conveyor.release import ReleaseRecord, seal
from tests.paths import REPO

IDENTITY = {
    "GIT_AUTHOR_NAME": "promoter",
    "GIT_AUTHOR_EMAIL": "promoter@conveyor.invalid",
    "GIT_COMMITTER_NAME": "promoter",
    "GIT_COMMITTER_EMAIL": "promoter@conveyor.invalid",
}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git; fail the test with git's message when it fails."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **IDENTITY, **(env or {})},
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def make_remote(root: Path) -> Path:
    """A bare `origin` whose main holds the project's environments and promotion policy."""
    origin = root / "origin.git"
    git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    seed = root / "seed"
    git(root, "init", "--quiet", "--initial-branch=main", str(seed))
    shutil.copytree(REPO / "deploy", seed / "deploy")
    (seed / "policies").mkdir()
    shutil.copy(REPO / "policies" / "promotion.yaml", seed / "policies" / "promotion.yaml")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "environments")
    git(seed, "remote", "add", "origin", str(origin))
    git(seed, "push", "--quiet", "origin", "main")
    return origin


def clone(origin: Path, where: Path) -> Path:
    git(origin.parent, "clone", "--quiet", str(origin), str(where))
    return where


def merge(work: Path, env: str, *, days_ago: float = 0) -> str:
    """Merge promote/<env> into main as a reviewed pull request would (a merge commit), dated
    ``days_ago`` in the past; return the merge commit."""
    stamp = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    dated = {"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    git(work, "fetch", "--quiet", "origin")
    git(work, "checkout", "--quiet", "-B", "main", "origin/main")
    git(
        work,
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        f"Merge promote/{env}",
        f"origin/promote/{env}",
        env=dated,
    )
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD")


def digest_of(label: str) -> str:
    """A well-formed image digest derived from ``label`` (what a registry would return)."""
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def record(
    version: str,
    *,
    created_days_ago: float = 3,
    passed: bool = True,
    registry: str = "ghcr.io/your-org/conveyor-forecaster",
    commit: str = "1" * 40,
) -> dict:
    """A release record as `conveyor release record` writes it."""
    gate = {"passed": True, "summary": "ok", "source": None}
    gates = {name: dict(gate) for name in ("tests", "data", "metrics", "security")}
    if not passed:
        gates["metrics"] = {"passed": False, "summary": "1 of 14 rules failed", "source": None}
    digest = digest_of(version)
    data = {
        "schema_version": 1,
        "version": version,
        "created_at": (datetime.now(UTC) - timedelta(days=created_days_ago)).isoformat(),
        "git_commit": commit,
        "model_tag": f"demand_forecaster:{version.replace('.', '')}",
        "data_md5": "d" * 32,
        "params_md5": "p" * 32,
        "bento_tag": f"demand_forecaster_service:{version.replace('.', '')}",
        "image": {"reference": f"{registry}@{digest}", "digest": digest},
        "sbom_digest": digest_of(f"sbom-{version}"),
        "signature": f"{registry}:{digest.replace(':', '-')}.sig",
        "gates": gates,
    }
    return seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")


def write_record(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def evidence_args(build_json: Path, junit: Path) -> list[str]:
    """`release record` options for a build, a JUnit report, and this repository's checkout,
    whose committed data and metric verdicts the record re-establishes (what a release job has
    at hand)."""
    return [
        *("--build-json", str(build_json)),
        *("--repo", str(REPO)),
        *("--data-dir", str(REPO / "reports/data")),
        *("--params", str(REPO / "params.yaml")),
        *("--tests-junit", str(junit)),
        # A checkout need not have origin/main: its own HEAD stands for the default branch
        # (the baseline is read there: nothing is promoted in the repository itself).
        *("--branch", "HEAD"),
    ]


def passing_verdict(work: Path, env: str, checked_at: datetime | None = None) -> Path:
    """A passing live verification of the release live in ``env`` on origin/main, as `conveyor
    verify` writes it (checked at ``checked_at``, default now), for tests of the other promotion
    rules; tests/conveyor/verify makes real ones against a real Prometheus."""
    from conveyor.promotion import environments
    from conveyor.promotion.policy import load_policy
    from conveyor.promotion.verification import Check, Verdict

    git(work, "fetch", "--quiet", "origin")
    live = environments.live(work, git(work, "rev-parse", "origin/main"), env)
    assert live is not None, f"nothing runs in {env}"
    checked_at = checked_at or datetime.now(UTC)
    # Every check the policy's limits for ``env`` require, each at that limit (promote refuses
    # a verdict made under other limits).
    limits = load_policy(REPO).limits(env)
    checks = [
        Check(name="requests", query="q", value=1000, limit=limits.min_requests, passed=True),
        Check(name="error_ratio", query="q", value=0, limit=limits.max_error_ratio, passed=True),
        Check(
            name="refused_ratio", query="q", value=0, limit=limits.max_refused_ratio, passed=True
        ),
        Check(
            name="latency_p99_seconds", query="q", value=0.1, limit=limits.max_p99_seconds,
            passed=True,
        ),
        Check(
            name="prediction_shift", query="", value=None, limit=limits.max_prediction_shift,
            passed=True, detail="the first release here: nothing to compare",
        ),
    ]  # fmt: skip
    verdict = Verdict(
        environment=env,
        version=live.record.version,
        digest=live.record.image.digest,
        previous=None,
        went_live=live.at,
        window_start=live.at,
        checked_at=checked_at,
        prometheus="http://127.0.0.1:9090",
        outcome="passed",
        passed=True,
        checks=checks,
    )
    path = work.parent / f"verified-{env}-{live.record.version}.json"
    path.write_text(verdict.model_dump_json(), encoding="utf-8")
    return path


def live_history(capsys: Any, work: Path, *steps: tuple[str, str, float]) -> None:
    """Promote (`conveyor promote`, records of no real commit) and merge each (version, env,
    hours ago) in turn: git's record of what went live where, and when."""
    from conveyor.cli import main

    for version, env, hours_ago in steps:
        path = write_record(work.parent / f"{version}-{env}.json", record(version))
        args = ["promote", "--env", env, "--record", str(path), "--repo", str(work)]
        assert main([*args, "--no-commit-check"]) == 0, capsys.readouterr().err
        merge(work, env, days_ago=hours_ago / 24)
    capsys.readouterr()
