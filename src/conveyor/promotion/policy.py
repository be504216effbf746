"""``policies/promotion.yaml``: the environments in promotion order and what each requires. Pure
configuration: read from the checkout, or as committed at a revision of the base branch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationError, model_validator

from conveyor import git
from conveyor.config import (
    Count,
    Number,
    Strict,
    format_validation_error,
    load_model,
    parse_yaml,
    read_yaml,
)
from conveyor.errors import ConfigError, UserError

__all__ = [
    "POLICY",
    "SELECTOR",
    "PromotionPolicy",
    "Verification",
    "VerificationLimits",
    "base_branch",
    "branch_name",
    "load_policy",
    "policy_at",
]

POLICY = Path("policies/promotion.yaml")


# PromQL label matchers as a policy writes them: `name="value", other=~"regex"` (values quoted).
_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\\n]|\\.)*"\s*'
MATCHERS = re.compile(rf"(?:{_MATCHER}(?:,{_MATCHER})*,?\s*)?")
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?", re.S)


# A branch name git accepts and no tool reads as an option: no leading '-', no ref-syntax
# characters, spaces, '..', '@{', or a '.lock'/'/' ending (git check-ref-format's rules).
BRANCH = re.compile(
    r"(?!-)(?!.*(?:\.\.|@\{|//|/\.|\.lock(?:/|\Z)|[/.]\Z))[^\x00-\x20\x7f~^:?*\[\\]+\Z"
)


def branch_name(value: str) -> str:
    """``value``, if git accepts it as a branch name and would not read it as an option."""
    if not BRANCH.match(value) or value.startswith((".", "/")):
        raise ValueError(f"not a branch name git accepts: {value!r}")
    return value


def _matchers(value: str) -> str:
    if not MATCHERS.fullmatch(value):
        raise ValueError('expected PromQL label matchers, e.g. namespace="conveyor-staging"')
    return value.strip().rstrip(",")


def _selector(value: str) -> str:
    found = SELECTOR.fullmatch(value.strip())
    if not found or not MATCHERS.fullmatch(found[2] or ""):
        raise ValueError('expected a metric and its label matchers, e.g. name{job="my-service"}')
    return value.strip()


Matchers = Annotated[str, AfterValidator(_matchers)]
Selector = Annotated[str, AfterValidator(_selector)]


class EnvironmentRule(Strict):
    requires: str | None = None
    soak_hours: Number = Field(default=0, ge=0)
    # The release must have passed live verification in `requires` (`conveyor verify`).
    verified: bool = False


class VerificationLimits(Strict):
    """What a release must show in one environment's live traffic (``conveyor verify``)."""

    selector: Matchers = ""  # this environment's series among all Prometheus scrapes
    min_requests: Count = Field(default=100, ge=1)  # fewer in the window: no verdict (exit 2)
    window_hours: Number | None = Field(default=None, gt=0)  # default: since it went live
    max_error_ratio: Number = Field(ge=0, le=1)  # 5xx answers / requests
    max_refused_ratio: Number = Field(ge=0, le=1)  # 4xx answers / requests
    max_p99_seconds: Number = Field(gt=0)  # 99th percentile of request latency
    max_prediction_shift: Number = Field(gt=0)  # |this / previous - 1| of mean and quantiles


class Verification(Strict):
    """``verification:``: where the service's metrics are, and each environment's limits."""

    release_label: str = Field(default="version", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    requests: Selector = "bentoml_service_request_total"  # counter by http_response_code
    latency: Selector = "bentoml_service_request_duration_seconds"  # histogram (seconds)
    predictions: Selector  # histogram of the values the model predicts
    quantiles: list[Annotated[Number, Field(gt=0, lt=1)]] = Field(default=[0.5, 0.9])
    environments: dict[str, VerificationLimits] = Field(min_length=1)


class PromotionPolicy(Strict):
    """``policies/promotion.yaml``: environments in promotion order, and what each requires."""

    # The one place the base branch is named: promotion, release, retraining and template
    # updates read it; the workflows' `branches:` filters are held to it by a test.
    base_branch: Annotated[str, AfterValidator(branch_name)] = "main"
    image_name: str = Field(min_length=1)
    registries: list[str] = Field(min_length=1)
    environments: dict[str, EnvironmentRule] = Field(min_length=1)
    verification: Verification | None = None

    @model_validator(mode="after")
    def _requirements_exist(self) -> PromotionPolicy:
        names = list(self.environments)
        limits = self.verification.environments if self.verification else {}
        for name in limits:
            if name not in self.environments:
                raise ValueError(f"verification: unknown environment {name!r}")
        for name, rule in self.environments.items():
            if rule.verified and (rule.requires is None or rule.requires not in limits):
                raise ValueError(
                    f"environment {name!r} is `verified:` but verification: has no limits for "
                    f"the environment it requires ({rule.requires})"
                )
            if rule.requires is None:
                continue
            if rule.requires not in self.environments:
                raise ValueError(f"environment {name!r} requires unknown {rule.requires!r}")
            if names.index(rule.requires) >= names.index(name):
                raise ValueError(f"environment {name!r} must come after {rule.requires!r}")
        return self

    def allows_image(self, reference: str) -> bool:
        """True when ``reference`` lies under one of ``registries``: the prefix is a whole path
        (``ghcr.io/acme`` and ``ghcr.io/acme/`` admit ``ghcr.io/acme/x@...``, never
        ``ghcr.io/acme-evil/x``), or a whole image name followed by its tag or digest."""
        for registry in self.registries:
            rest = reference.removeprefix(registry.rstrip("/"))
            if rest != reference and rest[:1] in ("/", "@", ":"):
                return True
        return False

    def rule(self, env: str) -> EnvironmentRule:
        """The rule of ``env``; an unknown environment is a usage error listing the known ones."""
        if env not in self.environments:
            known = ", ".join(self.environments)
            raise UserError(f"unknown environment {env!r} (policies/promotion.yaml has: {known})")
        return self.environments[env]

    def verification_source(self, env: str) -> str | None:
        """The environment whose live verification a release must pass to enter ``env`` (the
        one it requires, when ``verified: true``); None when ``env`` requires none."""
        rule = self.rule(env)
        return rule.requires if rule.verified else None

    def limits(self, env: str) -> VerificationLimits:
        """``env``'s verification limits; none is a usage error naming the ones that have."""
        self.rule(env)
        if self.verification is None or env not in self.verification.environments:
            have = ", ".join(self.verification.environments) if self.verification else "none"
            raise UserError(
                f"policies/promotion.yaml: verification: has no limits for {env!r} (has: {have})"
            )
        return self.verification.environments[env]


def load_policy(root: Path) -> PromotionPolicy:
    """Read and validate the promotion policy in the checkout at ``root``."""
    return load_model(root / POLICY, PromotionPolicy)


def base_branch(root: Path) -> str:
    """The branch to promote onto, from the checkout's policy (only this key is read locally:
    the rules themselves come from that branch, see policy_at)."""
    branch = read_yaml(root / POLICY).get("base_branch", "main")
    try:
        if not isinstance(branch, str):
            raise ValueError(f"not a branch name: {branch!r}")
        return branch_name(branch)
    except ValueError as exc:
        raise ConfigError(f"{POLICY}: base_branch: {exc}") from None


def policy_at(repo: Path, revision: str) -> PromotionPolicy:
    """The promotion policy as committed at ``revision``: the reviewed one on the base branch
    rules a promotion, not an edit in the promoter's checkout."""
    origin = Path(f"{revision[:12]}:{POLICY.as_posix()}")
    text = git.show_text(revision, POLICY.as_posix(), repo)
    if text is None:
        raise UserError(f"{origin}: the base branch has no promotion policy")
    try:
        return PromotionPolicy.model_validate(parse_yaml(origin, text))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(origin, exc, text)) from None
