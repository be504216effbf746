"""A release's image must lie under a registry of policies/promotion.yaml as a whole path: the
spelling without a trailing slash (the one the scan's allowed_registries uses) must not admit a
neighbour whose name merely starts the same (review, issue 14)."""

from __future__ import annotations

import pytest

from conveyor.promotion.policy import PromotionPolicy

DIGEST = "@sha256:" + "ab" * 32


def _policy(*registries: str) -> PromotionPolicy:
    return PromotionPolicy.model_validate(
        {"image_name": "x", "registries": list(registries), "environments": {"dev": {}}}
    )


@pytest.mark.parametrize("registry", ["ghcr.io/acme", "ghcr.io/acme/"])
@pytest.mark.parametrize(
    ("reference", "allowed"),
    [
        ("ghcr.io/acme/forecaster" + DIGEST, True),
        ("ghcr.io/acme/team/forecaster" + DIGEST, True),
        ("ghcr.io/acme-evil/forecaster" + DIGEST, False),
        ("ghcr.io/acmeforecaster" + DIGEST, False),
        ("ghcr.io/acme", False),
        ("evil.io/ghcr.io/acme/forecaster" + DIGEST, False),
    ],
)
def test_a_registry_is_a_whole_path(registry: str, reference: str, allowed: bool) -> None:
    assert _policy(registry).allows_image(reference) is allowed


def test_an_image_name_as_the_prefix_admits_its_digests_and_tags_only() -> None:
    policy = _policy("ghcr.io/acme/forecaster")
    assert policy.allows_image("ghcr.io/acme/forecaster" + DIGEST)
    assert policy.allows_image("ghcr.io/acme/forecaster:v1.0.0")
    assert not policy.allows_image("ghcr.io/acme/forecaster-evil" + DIGEST)
