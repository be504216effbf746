"""Metric gates: rules from params.yaml (`gates:`) checked against the current metrics and a
baseline read from git. Absolute bounds always apply; regressions are measured against the
baseline when there is one, and are reported as "no baseline" (not failed) when there is none.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from conveyor import git
from conveyor.config import Number, Strict, format_validation_error, load_model
from conveyor.errors import ConfigError, UserError
from conveyor.files import read_json
from conveyor.metric_files import Flat, is_number, parse, read_current

__all__ = [
    "FAIL",
    "NO_BASELINE",
    "PASS",
    "VERDICT_FILE",
    "ChampionInfo",
    "ChampionScoring",
    "Check",
    "GateResult",
    "Gates",
    "evaluate",
    "evaluate_against",
    "evaluate_at",
    "evaluate_at_none",
    "load_gates",
    "load_result",
    "resolve_ref",
    "side_by_side",
]

PASS, FAIL, NO_BASELINE = "pass", "fail", "no baseline"
VERDICT_FILE = "gate.json"  # what `conveyor gate` writes in its --out folder


class Tolerance(Strict):
    """How much worse than the baseline is allowed: ``atol + rtol * |baseline|`` (numpy.isclose)."""

    atol: Number = Field(0.0, ge=0)
    rtol: Number = Field(0.0, ge=0)

    def limit(self, baseline: float) -> float:
        """The largest allowed regression from ``baseline``."""
        return self.atol + self.rtol * abs(baseline)


class GateRule(Strict):
    """One rule on one metric, or on every metric a ``*`` pattern matches (e.g. each slice)."""

    metric: str = Field(pattern=r"^[^:]+:[^:]+$", description="FILE:dotted.key, * for one level")
    better: Literal["lower", "higher"] | None = None
    min: Number | None = None
    max: Number | None = None
    max_regression: Tolerance | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GateRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.max_regression is not None and self.better is None:
            raise ValueError("max_regression needs `better: lower` or `better: higher`")
        if self.min is None and self.max is None and self.max_regression is None:
            raise ValueError("a rule needs min, max or max_regression")
        return self

    @property
    def file(self) -> Path:
        """The metrics file the rule reads."""
        return Path(self.metric.split(":", 1)[0])

    @property
    def key(self) -> str:
        """The dotted key (pattern) inside the file."""
        return self.metric.split(":", 1)[1]


class ChampionScoring(Strict):
    """How the model live in an environment is scored again on today's holdout (`conveyor gate
    --champion ENV`): where the model is in the repository (a DVC output, fetched at the
    champion's commit) and the model package's own command that scores a given model file.
    ``{model}`` is the fetched model file, ``{out}`` a folder where the command writes each
    rule's metrics file at its usual path (``{out}/metrics/metrics.json``)."""

    model: str = Field(min_length=1, description="the model's path, a DVC output")
    score: str = Field(min_length=1, description="command with {model} and {out}")

    @model_validator(mode="after")
    def _placeholders(self) -> ChampionScoring:
        missing = [name for name in ("{model}", "{out}") if name not in self.score]
        if missing:
            raise ValueError(f"score must name {' and '.join(missing)}")
        return self


class Gates(Strict):
    """The `gates:` section of params.yaml."""

    baseline_ref: str = "HEAD"
    champion: ChampionScoring | None = None
    rules: list[GateRule] = Field(min_length=1)


@dataclass(frozen=True)
class Check:
    """One evaluated metric: a row of the gate table."""

    metric: str
    baseline: float | None
    current: float | None
    limit: str
    verdict: str
    reason: str

    @property
    def delta(self) -> float | None:
        """current - baseline, when both are numbers."""
        if is_number(self.baseline) and is_number(self.current):
            return self.current - self.baseline
        return None


@dataclass(frozen=True)
class SideBySide:
    """One metric of the champion and the challenger, scored on the same holdout."""

    metric: str
    champion: float | None
    challenger: float | None


@dataclass(frozen=True)
class ChampionInfo:
    """The champion a gate compared with: the release live in ``env``, its model scored again."""

    env: str
    version: str
    commit: str
    source: str
    rows: list[SideBySide]


@dataclass(frozen=True)
class GateResult:
    """Every check of every rule, and what the baseline was."""

    baseline_ref: str
    baseline_commit: str
    checks: list[Check]
    champion: ChampionInfo | None = None

    @property
    def passed(self) -> bool:
        """True when no check failed ("no baseline" is not a failure)."""
        return all(check.verdict != FAIL for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The failed checks."""
        return [check for check in self.checks if check.verdict == FAIL]

    def to_json(self) -> dict[str, object]:
        """The machine verdict written to gate.json."""
        data: dict[str, object] = {
            "passed": self.passed,
            "baseline_ref": self.baseline_ref,
            "baseline_commit": self.baseline_commit,
            "checks_total": len(self.checks),
            "checks_failed": len(self.failures),
            "checks_without_baseline": sum(c.verdict == NO_BASELINE for c in self.checks),
            "checks": [asdict(check) | {"delta": check.delta} for check in self.checks],
        }
        if self.champion is not None:  # absent otherwise: verdicts of a git baseline unchanged
            data["champion"] = asdict(self.champion)
        return data


class _CheckRecord(Strict):
    """One check as gate.json holds it."""

    metric: str
    baseline: float | None
    current: float | None
    delta: float | None
    limit: str
    verdict: Literal["pass", "fail", "no baseline"]
    reason: str


class _SideBySideRecord(Strict):
    metric: str
    champion: float | None
    challenger: float | None


class _ChampionRecord(Strict):
    env: str
    version: str
    commit: str
    source: str
    rows: list[_SideBySideRecord]


class _ResultRecord(Strict):
    """gate.json: :meth:`GateResult.to_json`, read back."""

    passed: bool
    baseline_ref: str
    baseline_commit: str
    checks_total: int
    checks_failed: int
    checks_without_baseline: int
    checks: list[_CheckRecord]
    champion: _ChampionRecord | None = None


def load_result(path: Path) -> GateResult:
    """The verdict ``conveyor gate`` wrote to ``path``. Missing, of another shape, or with a
    summary its checks contradict (``passed``, the counts): a usage error naming the file."""
    if not path.exists() and not path.is_symlink():
        raise UserError(f"{path}: no gate verdict: run `conveyor gate` first (it writes it)")
    data = read_json(path, "gate verdict")
    try:
        record = _ResultRecord.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"gate verdict {format_validation_error(path, exc)}") from None
    checks = [Check(**c.model_dump(exclude={"delta"})) for c in record.checks]
    champion = None
    if record.champion is not None:
        rows = [SideBySide(**row.model_dump()) for row in record.champion.rows]
        champion = ChampionInfo(**record.champion.model_dump(exclude={"rows"}), rows=rows)
    result = GateResult(record.baseline_ref, record.baseline_commit, checks, champion)
    summary = result.to_json()
    for key in ("passed", "checks_total", "checks_failed", "checks_without_baseline"):
        if summary[key] != data[key]:
            raise UserError(
                f"{path}: {key} is {data[key]!r} but its checks say {summary[key]!r} "
                "(not written by `conveyor gate`: run it again)"
            )
    return result


def load_gates(params: Path) -> Gates:
    """The `gates:` section of ``params``, validated."""
    return load_model(params, Gates, section="gates")


def resolve_ref(ref: str, cwd: Path | None = None) -> str:
    """The commit a baseline ref names; a ref that does not exist is a ConfigError."""
    commit = git.resolve_commit(ref, cwd, what="baseline ref")
    if commit is None:
        raise ConfigError(f"baseline ref {ref!r} does not exist in this repository")
    return commit


def read_at(commit: str, path: Path, cwd: Path | None = None) -> Flat | None:
    """Metrics of ``path`` as committed at ``commit``, or None when it did not exist there."""
    text = git.show_text(commit, path.as_posix(), cwd)
    return None if text is None else parse(text, f"{path} at {commit[:12]}")


def evaluate(gates: Gates, baseline_ref: str | None = None, root: Path = Path()) -> GateResult:
    """Evaluate every rule against the working tree's metrics and those at the baseline ref."""
    ref = baseline_ref or gates.baseline_ref
    # A repository before its first commit has no HEAD to compare with: that is the "no
    # baseline" of a new repository, not a mistyped ref (any other missing ref stays an error).
    unborn = ref == "HEAD" and git.toplevel(root) is not None and git.head_commit(root) is None
    commit = None if unborn else resolve_ref(ref, cwd=root)
    return _evaluate(gates, ref, commit, current_metrics(gates, root), root)


def evaluate_at(
    gates: Gates, commit: str, baseline_commit: str | None, root: Path = Path()
) -> GateResult:
    """Evaluate every rule against the metrics committed at ``commit`` (the working tree is not
    read), with ``baseline_commit`` as the baseline: what a release re-checks on its tag. None:
    no baseline (a first release), so every regression rule is "no baseline"."""
    current = {f: read_at(commit, f, cwd=root) for f in {rule.file for rule in gates.rules}}
    return _evaluate(gates, baseline_commit or "none", baseline_commit, current, root)


def evaluate_at_none(gates: Gates, label: str, root: Path = Path()) -> GateResult:
    """Evaluate every rule against the working tree's metrics with no baseline at all: the
    bounds apply, every regression rule is "no baseline" (no champion live yet)."""
    return _evaluate(gates, label, None, current_metrics(gates, root), root)


def current_metrics(gates: Gates, root: Path = Path()) -> dict[Path, Flat | None]:
    """The working tree's metrics files the rules read (None: a file that does not exist)."""
    return {f: read_current(root / f) for f in {rule.file for rule in gates.rules}}


def evaluate_against(
    gates: Gates,
    baseline: dict[Path, Flat | None],
    champion: ChampionInfo,
    root: Path = Path(),
) -> GateResult:
    """Evaluate every rule against the working tree's metrics and ``baseline``: the champion's
    metrics files as its model scored them again on the working tree's data (not as committed
    at its commit: metrics of another data window are not comparable)."""
    current = current_metrics(gates, root)
    label = f"champion {champion.version} live in {champion.env}, scored on the current data"
    checks = []
    for rule in gates.rules:
        checks.extend(_rule_checks(rule, current[rule.file], baseline.get(rule.file)))
    rows = side_by_side(gates, current, baseline)
    return GateResult(label, champion.commit, checks, replace(champion, rows=rows))


def side_by_side(
    gates: Gates, current: dict[Path, Flat | None], baseline: dict[Path, Flat | None]
) -> list[SideBySide]:
    """Every metric beside the gated ones (a rule on ``model.wape`` shows ``model.*``, one on
    ``region.*.model.wape`` every slice's ``model.*``), for the champion and the challenger."""
    rows: dict[str, SideBySide] = {}
    for rule in gates.rules:
        pattern = rule.key.rsplit(".", 1)[0] + ".*" if "." in rule.key else "*"
        now, before = current.get(rule.file) or {}, baseline.get(rule.file) or {}
        for key in sorted({*now, *before}):
            # fnmatch's `*` crosses dots: keep the rule's depth, so `model.*` is not `model.a.b`.
            if fnmatch.fnmatchcase(key, pattern) and key.count(".") == pattern.count("."):
                name = f"{rule.file.as_posix()}:{key}"
                rows.setdefault(name, SideBySide(name, before.get(key), now.get(key)))
    return list(rows.values())


def _evaluate(
    gates: Gates, ref: str, commit: str | None, current: dict[Path, Flat | None], root: Path
) -> GateResult:
    baseline = {f: read_at(commit, f, cwd=root) if commit else None for f in current}
    checks = []
    for rule in gates.rules:
        checks.extend(_rule_checks(rule, current[rule.file], baseline[rule.file]))
    return GateResult(ref, commit or "none", checks)


def _rule_checks(rule: GateRule, current: Flat | None, baseline: Flat | None) -> list[Check]:
    keys = sorted(
        {k for k in (current or {}) if fnmatch.fnmatchcase(k, rule.key)}
        | {k for k in (baseline or {}) if fnmatch.fnmatchcase(k, rule.key)}
    )
    if not keys:
        if current is None:
            return [
                Check(
                    rule.metric,
                    None,
                    None,
                    _limit_text(rule, None),
                    FAIL,
                    f"metrics file {rule.file} does not exist",
                )
            ]
        raise ConfigError(
            f"gates: rule {rule.metric!r} names a metric that exists in neither the current "
            f"{rule.file} nor the baseline"
        )
    return [
        _check(
            rule,
            key,
            (current or {}).get(key),
            (baseline or {}).get(key),
            present_now=key in (current or {}),
        )
        for key in keys
    ]


def _check(
    rule: GateRule, key: str, now: float | None, before: float | None, present_now: bool
) -> Check:
    limit = _limit_text(rule, before if is_number(before) else None)
    verdict, reason = _judge(rule, now, before, present_now)
    return Check(f"{rule.file}:{key}", before, now, limit, verdict, reason)


def _judge(  # noqa: PLR0911 - one early return per outcome reads as the decision table it is
    rule: GateRule, now: float | None, before: float | None, present_now: bool
) -> tuple[str, str]:
    if not present_now:
        return FAIL, "missing now, present at baseline (a slice or metric vanished)"
    if not is_number(now):
        return FAIL, f"current value is {now} (not a finite number)"
    if rule.min is not None and now < rule.min:
        return FAIL, f"below the minimum {rule.min:g}"
    if rule.max is not None and now > rule.max:
        return FAIL, f"above the maximum {rule.max:g}"
    if rule.max_regression is None:
        return PASS, "within bounds"
    if not is_number(before):
        return NO_BASELINE, "no baseline value: regression not checked, bounds hold"
    worse_by = (now - before) if rule.better == "lower" else (before - now)
    allowed = rule.max_regression.limit(before)
    if worse_by > allowed:
        return FAIL, f"{worse_by:.4g} worse than baseline, more than the allowed {allowed:.4g}"
    return PASS, "within bounds and regression limit"


def _limit_text(rule: GateRule, baseline: float | None) -> str:
    parts = []
    if rule.min is not None:
        parts.append(f">= {rule.min:g}")
    if rule.max is not None:
        parts.append(f"<= {rule.max:g}")
    if rule.max_regression is not None:
        tol = rule.max_regression
        sign = "+" if rule.better == "lower" else "-"
        if baseline is not None:
            parts.append(f"{sign}{tol.limit(baseline):.4g} vs baseline")
        else:
            parts.append(f"{sign}({tol.atol:g} + {tol.rtol:g}*|baseline|)")
    return ", ".join(parts)
