"""``policies/promotion.yaml``: the environments in promotion order and what each requires. Pure
configuration: read from the checkout, or as committed at a revision of the base branch."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from conveyor import git
from conveyor.config import (
    Number,
    Strict,
    format_validation_error,
    load_model,
    parse_yaml,
    read_yaml,
)
from conveyor.errors import ConfigError, UserError

POLICY = Path("policies/promotion.yaml")


class EnvironmentRule(Strict):
    requires: str | None = None
    soak_hours: Number = Field(default=0, ge=0)


class PromotionPolicy(Strict):
    """``policies/promotion.yaml``: environments in promotion order, and what each requires."""

    base_branch: str = "main"
    image_name: str = Field(min_length=1)
    registries: list[str] = Field(min_length=1)
    environments: dict[str, EnvironmentRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _requirements_exist(self) -> PromotionPolicy:
        names = list(self.environments)
        for name, rule in self.environments.items():
            if rule.requires is None:
                continue
            if rule.requires not in self.environments:
                raise ValueError(f"environment {name!r} requires unknown {rule.requires!r}")
            if names.index(rule.requires) >= names.index(name):
                raise ValueError(f"environment {name!r} must come after {rule.requires!r}")
        return self

    def rule(self, env: str) -> EnvironmentRule:
        """The rule of ``env``; an unknown environment is a usage error listing the known ones."""
        if env not in self.environments:
            known = ", ".join(self.environments)
            raise UserError(f"unknown environment {env!r} (policies/promotion.yaml has: {known})")
        return self.environments[env]


def load_policy(root: Path) -> PromotionPolicy:
    """Read and validate the promotion policy in the checkout at ``root``."""
    return load_model(root / POLICY, PromotionPolicy)


def base_branch(root: Path) -> str:
    """The branch to promote onto, from the checkout's policy (only this key is read locally:
    the rules themselves come from that branch, see policy_at)."""
    branch = read_yaml(root / POLICY).get("base_branch", "main")
    if not isinstance(branch, str) or not branch:
        raise ConfigError(f"{POLICY}: base_branch: must be a branch name (got {branch!r})")
    return branch


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
