"""Live verification: does the release live in an environment behave, in that environment's own
traffic? `conveyor verify` asks Prometheus, for the series of that release version only (the
``version`` label), over the time since it went live: 5xx share, refused-request (4xx) share,
p99 latency, and how far its predictions moved from the previous release's (mean and quantiles
of the prediction histogram). The limits are the policy's (``verification:`` in
policies/promotion.yaml). The verdict is JSON (kept beside release.json by the promotion it
allows) and markdown; too little traffic is no verdict (exit 2), never a pass.

A promotion whose rule is ``verified: true`` requires such a passing verdict for the exact
release (version and digest) from the environment it leaves, made after the soak time ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from conveyor import git
from conveyor.config import Strict, format_validation_error
from conveyor.errors import UserError
from conveyor.files import atomic_path, read_json, write_json
from conveyor.prometheus import Prometheus
from conveyor.promotion import environments as envs
from conveyor.promotion.policy import (
    SELECTOR,
    PromotionPolicy,
    Verification,
    VerificationLimits,
    policy_at,
)

__all__ = [
    "Check",
    "Soaking",
    "Verdict",
    "deployments",
    "failed_checks",
    "gate_problems",
    "load_verdict",
    "markdown",
    "policy_at_ref",
    "run",
    "under_soak",
    "verify_environment",
    "write_verdict",
]

VERDICT_FILE = "verification.json"
Outcome = Literal["passed", "failed", "no_data"]


class NoDataError(UserError):
    """Prometheus holds too little of this release to judge it (exit 2, fail closed)."""


class Check(Strict):
    """One check: the PromQL asked, the value it answered (None: no data), and the limit."""

    name: str
    query: str
    value: float | None
    limit: float
    passed: bool
    detail: str = ""


class Verdict(Strict):
    """What `conveyor verify` found for one environment's live release."""

    schema_version: Literal[1] = 1
    environment: str
    version: str
    digest: str
    previous: str | None  # the release it is compared with (None: the environment's first)
    went_live: datetime
    window_start: datetime
    checked_at: datetime
    prometheus: str
    outcome: Outcome
    passed: bool
    checks: list[Check] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Verdict:
        # A file edited by hand must not read as a pass: the flag, the outcome and the checks
        # say the same thing, or the verdict is refused.
        if self.passed != (self.outcome == "passed"):
            raise ValueError(f"passed: {self.passed} but outcome: {self.outcome}")
        failed = [c.name for c in self.checks if not c.passed]
        if self.passed and failed:
            raise ValueError(f"passed: true but the checks {', '.join(failed)} did not pass")
        return self


class _Queries:
    """PromQL for one environment's series: the policy's metric selectors, the environment's
    matchers, and one release version's label."""

    def __init__(self, verification: Verification, limits: VerificationLimits) -> None:
        self.verification = verification
        self.limits = limits

    def series(self, selector: str, suffix: str, version: str, *extra: str) -> str:
        found = SELECTOR.fullmatch(selector)
        assert found is not None  # noqa: S101 - validated with the policy
        escaped = version.replace("\\", "\\\\").replace('"', '\\"')
        matchers = [found[2], self.limits.selector, *extra]
        matchers.append(f'{self.verification.release_label}="{escaped}"')
        inside = ", ".join(m.strip().rstrip(",") for m in matchers if m and m.strip())
        return f"{found[1]}{suffix}{{{inside}}}"

    def increase(self, selector: str, suffix: str, version: str, seconds: int, *extra: str) -> str:
        return f"sum(increase({self.series(selector, suffix, version, *extra)}[{seconds}s]))"

    def requests(self, version: str, seconds: int, codes: str | None = None) -> str:
        extra = (f'http_response_code=~"{codes}"',) if codes else ()
        return self.increase(self.verification.requests, "_total", version, seconds, *extra)

    def share(self, version: str, seconds: int, codes: str) -> str:
        # No series of that code at all is a share of 0, not "no data": `or vector(0)`.
        answered = self.requests(version, seconds, codes)
        return f"({answered} or vector(0)) / {self.requests(version, seconds)}"

    def quantile(self, selector: str, q: float, version: str, seconds: int) -> str:
        series = self.series(selector, "_bucket", version)
        return f"histogram_quantile({q:g}, sum by (le) (increase({series}[{seconds}s])))"

    def mean(self, selector: str, version: str, seconds: int) -> str:
        total = self.increase(selector, "_sum", version, seconds)
        return f"{total} / {self.increase(selector, '_count', version, seconds)}"


def _requests_selector(selector: str) -> str:
    """A counter's selector without the ``_total`` the queries add (both spellings accepted)."""
    found = SELECTOR.fullmatch(selector)
    assert found is not None  # noqa: S101 - validated with the policy
    name = found[1].removesuffix("_total")
    return name + (f"{{{found[2]}}}" if found[2] is not None else "")


def _seconds(since: datetime, now: datetime, cap_hours: float | None) -> int:
    """The window from ``since`` to ``now`` in whole seconds (at least one), at most the cap."""
    seconds = (now - since).total_seconds()
    if cap_hours is not None:
        seconds = min(seconds, cap_hours * 3600)
    return max(1, int(seconds))


def _check(
    prometheus: Prometheus, now: datetime, name: str, query: str, limit: float, at_least: bool
) -> Check:
    value = prometheus.value(query, now)
    if value is None:
        return Check(
            name=name, query=query, value=None, limit=limit, passed=False, detail="no data"
        )
    passed = value >= limit if at_least else value <= limit
    return Check(name=name, query=query, value=value, limit=limit, passed=passed)


def run(
    prometheus: Prometheus,
    verification: Verification,
    env: str,
    current: envs.Deployment,
    previous: envs.Deployment | None,
    now: datetime | None = None,
) -> Verdict:
    """Ask Prometheus about ``current`` (live in ``env``) and build the verdict."""
    now = now or datetime.now(UTC)
    limits = verification.environments[env]
    queries = _Queries(
        verification.model_copy(update={"requests": _requests_selector(verification.requests)}),
        limits,
    )
    version = current.record.version
    seconds = _seconds(current.at, now, limits.window_hours)

    def ask(name: str, query: str, limit: float, at_least: bool = False) -> Check:
        return _check(prometheus, now, name, query, limit, at_least)

    checks = [
        ask("requests", queries.requests(version, seconds), limits.min_requests, at_least=True),
        ask("error_ratio", queries.share(version, seconds, "5.."), limits.max_error_ratio),
        ask("refused_ratio", queries.share(version, seconds, "4.."), limits.max_refused_ratio),
        ask(
            "latency_p99_seconds",
            queries.quantile(verification.latency, 0.99, version, seconds),
            limits.max_p99_seconds,
        ),
    ]
    checks += _shift_checks(queries, verification, limits, current, previous, now, ask)
    # A check without a number (bar one with nothing to compare) or too few requests: no verdict.
    no_data = any(c.value is None and not c.passed for c in checks) or not checks[0].passed
    passed = not no_data and all(check.passed for check in checks)
    return Verdict(
        environment=env,
        version=version,
        digest=current.record.image.digest,
        previous=previous.record.version if previous else None,
        went_live=current.at,
        window_start=now - timedelta(seconds=seconds),
        checked_at=now,
        prometheus=prometheus.url,
        outcome="no_data" if no_data else "passed" if passed else "failed",
        passed=passed,
        checks=checks,
    )


def _shift_checks(
    queries: _Queries,
    verification: Verification,
    limits: VerificationLimits,
    current: envs.Deployment,
    previous: envs.Deployment | None,
    now: datetime,
    ask: Callable[[str, str, float], Check],
) -> list[Check]:
    """|this / previous - 1| of the predictions' mean and quantiles; the previous release's
    series are its own (by version), since it went live: its pods are gone now."""
    predictions = verification.predictions
    if previous is None:
        return [
            Check(
                name="prediction_shift",
                query="",
                value=None,
                limit=limits.max_prediction_shift,
                passed=True,
                detail=f"{current.record.version} is the first release here: nothing to compare",
            )
        ]
    version, before = current.record.version, previous.record.version
    seconds = _seconds(current.at, now, limits.window_hours)
    # The previous release's whole time since it went live, never cut to window_hours: its pods
    # are gone once this one replaced it, so a window of the last hours would hold none of its
    # series and the shift checks could never answer (no verdict, for good).
    earlier = _seconds(previous.at, now, None)
    pairs = [
        (
            "mean",
            queries.mean(predictions, version, seconds),
            queries.mean(predictions, before, earlier),
        )
    ]
    for q in verification.quantiles:
        pairs.append(
            (
                f"p{q * 100:g}",
                queries.quantile(predictions, q, version, seconds),
                queries.quantile(predictions, q, before, earlier),
            )
        )
    checks = []
    for label, now_query, before_query in pairs:
        query = f"abs(({now_query}) / ({before_query}) - 1)"
        check = ask(f"prediction_shift_{label}", query, limits.max_prediction_shift)
        checks.append(check.model_copy(update={"detail": check.detail or f"vs {before}"}))
    return checks


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def markdown(verdict: Verdict) -> str:
    """The verdict for people: a PR comment, the job summary, the promotion PR's body."""
    mark = {"passed": "✅ passed", "failed": "❌ failed", "no_data": "⚠️ no verdict (no data)"}
    lines = [
        f"### Live verification of {verdict.version} in {verdict.environment}: "
        f"{mark[verdict.outcome]}",
        "",
        f"Window {verdict.window_start:%Y-%m-%d %H:%M} to {verdict.checked_at:%Y-%m-%d %H:%M} "
        f"UTC (live since {verdict.went_live:%Y-%m-%d %H:%M}), compared with "
        f"{verdict.previous or 'nothing (first release)'}; image `{verdict.digest[:19]}`.",
        "",
        "| check | value | limit | verdict | query |",
        "|---|---|---|---|---|",
    ]
    for check in verdict.checks:
        state = "✅" if check.passed and check.value is not None else "❌"
        if check.value is None and check.passed:
            state = "—"
        relation = "≥" if check.name == "requests" else "≤"
        detail = f" ({check.detail})" if check.detail else ""
        query = check.query.replace("|", "\\|")
        lines.append(
            f"| {check.name}{detail} | {_number(check.value)} | {relation} {check.limit:g} "
            f"| {state} | `{query}` |"
        )
    return "\n".join(lines) + "\n"


def failed_checks(verdict: Verdict) -> list[str]:
    """One line per check that did not pass: name, value and limit."""
    return [
        f"{c.name} = {_number(c.value)} (limit {c.limit:g})" for c in verdict.checks if not c.passed
    ]


def load_verdict(path: Path) -> Verdict:
    """A verdict file written by `conveyor verify`; malformed: a usage error (exit 2)."""
    data = read_json(path, "verification verdict")
    try:
        return Verdict.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(path, exc)) from None


def deployments(
    repo: Path, revision: str, env: str
) -> tuple[envs.Deployment, envs.Deployment | None]:
    """The release live in ``env`` at ``revision`` (since when) and the one before it."""
    current = envs.live(repo, revision, env)
    if current is None:
        raise UserError(f"nothing runs in {env} at {revision[:12]}: nothing to verify")
    for earlier in envs.history(repo, revision, env):
        if earlier.record.image.digest != current.record.image.digest:
            return current, earlier
    return current, None


def policy_at_ref(repo: Path, ref: str) -> tuple[str, PromotionPolicy]:
    """The commit ``ref`` names (--ref), and the promotion policy committed there."""
    revision = git.resolve_commit(ref, repo, what="--ref")
    if revision is None:
        raise UserError(f"{ref!r} is not a git revision here (fetch it, or pass --ref)")
    return revision, policy_at(repo, revision)


def verify_environment(
    prometheus: Prometheus, repo: Path, ref: str, env: str
) -> tuple[Verdict, str | None]:
    """The verdict on the release live in ``env`` as git says at ``ref``, under the policy
    committed there; and the environment its releases go to next (None: the last)."""
    revision, policy = policy_at_ref(repo, ref)
    policy.limits(env)
    assert policy.verification is not None  # noqa: S101 - limits() refused it otherwise
    current, previous = deployments(repo, revision, env)
    verdict = run(prometheus, policy.verification, env, current, previous)
    after = [name for name, rule in policy.environments.items() if rule.requires == env]
    return verdict, after[0] if after else None


def write_verdict(verdict: Verdict, out: Path) -> tuple[Path, Path]:
    """OUT/ENV.json and OUT/ENV.md (each written whole or not at all)."""
    json_path = out / f"{verdict.environment}.json"
    write_json(json_path, verdict.model_dump(mode="json"))
    md_path = out / f"{verdict.environment}.md"
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown(verdict), encoding="utf-8")
    return json_path, md_path


@dataclass(frozen=True)
class Soaking:
    """A release live in ``environment`` that ``target`` (``verified: true``) has yet to take:
    it is proving itself there, so it is verified on schedule."""

    environment: str
    target: str
    live: envs.Deployment
    soak_hours: float

    def describe(self) -> str:
        """One line for people: what runs where, and what it waits for."""
        record = self.live.record
        ends = self.live.at + timedelta(hours=self.soak_hours)
        return (
            f"{self.environment}: {record.version} ({record.image.digest[:19]}) live since "
            f"{self.live.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC awaits {self.target} (soak ends "
            f"{ends.astimezone(UTC):%Y-%m-%d %H:%M} UTC; a passing verdict required)"
        )


def under_soak(repo: Path, revision: str, policy: PromotionPolicy) -> list[Soaking]:
    """The environments whose live release (at ``revision``) an environment that requires their
    verification does not run yet, in the policy's order. Which environments those are is the
    policy's (``verified: true``): no workflow names them."""
    found: dict[str, Soaking] = {}
    for target, rule in policy.environments.items():
        source = policy.verification_source(target)
        if source is None or source in found:
            continue
        current = envs.live(repo, revision, source)
        if current is None:
            continue  # nothing to verify yet
        there = envs.record_at(repo, revision, target)
        if there is not None and there.image.digest == current.record.image.digest:
            continue  # it moved on already: nothing waits for its verdict
        found[source] = Soaking(source, target, current, float(rule.soak_hours))
    return list(found.values())


def _limit_problems(verdict: Verdict, limits: VerificationLimits) -> list[str]:
    """The checks the policy's limits require, each held to that limit: a verdict made under
    looser limits (or edited) is not the policy's verdict."""
    expected = {
        "requests": limits.min_requests,
        "error_ratio": limits.max_error_ratio,
        "refused_ratio": limits.max_refused_ratio,
        "latency_p99_seconds": limits.max_p99_seconds,
    }
    found = {c.name: c for c in verdict.checks}
    problems = [
        f"{name}: limit {found[name].limit:g}, the policy's is {limit:g}"
        if name in found
        else f"no {name} check"
        for name, limit in expected.items()
        if name not in found or found[name].limit != limit
    ]
    shifts = [c for c in verdict.checks if c.name.startswith("prediction_shift")]
    if not shifts:
        problems.append("no prediction_shift check")
    problems += [
        f"{c.name}: limit {c.limit:g}, the policy's is {limits.max_prediction_shift:g}"
        for c in shifts
        if c.limit != limits.max_prediction_shift
    ]
    return problems


def gate_problems(
    verdict: Verdict | None,
    source: str,
    live: envs.Deployment,
    soak_hours: float,
    limits: VerificationLimits | None = None,
) -> list[str]:
    """Why ``verdict`` does not let the release live in ``source`` (``live``) move on: it must
    be a passing verification of that exact release there, made after its soak time, under
    ``limits`` (the policy's for ``source``, when given)."""
    record = live.record
    where = f"{record.version} ({record.image.digest[:19]}) in {source}"
    if verdict is None:
        return [
            f"no live verification of {where}: run `conveyor verify --env {source}` and pass "
            "its verdict with --verification"
        ]
    if (verdict.environment, verdict.version, verdict.digest) != (
        source,
        record.version,
        record.image.digest,
    ):
        return [
            f"the verification given is of {verdict.version} ({verdict.digest[:19]}) in "
            f"{verdict.environment}, not of {where}"
        ]
    if not verdict.passed:
        failed = "; ".join(failed_checks(verdict)) or verdict.outcome
        return [f"live verification of {where} did not pass: {failed}"]
    wrong = _limit_problems(verdict, limits) if limits is not None else []
    if wrong:
        return [
            f"the verification of {where} was not made under the policy's limits for "
            f"{source} ({'; '.join(wrong)}): verify again"
        ]
    ready = live.at + timedelta(hours=soak_hours)
    if verdict.checked_at < ready or verdict.went_live != live.at:
        return [
            f"the verification of {where} was made at {verdict.checked_at:%Y-%m-%d %H:%M} UTC, "
            f"before its soak ended ({ready.astimezone(UTC):%Y-%m-%d %H:%M} UTC) or for another "
            "deployment of it: verify again"
        ]
    return []
