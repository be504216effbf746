"""What every test shares: quiet, offline tools, and real git repositories on disk (a bare
remote and a clone). The example model's fixtures live beside the tests that use them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.promotion_repos import clone, make_remote

# Quiet and offline for every tool a test may start.
os.environ.update(DVC_NO_ANALYTICS="1", BENTOML_DO_NOT_TRACK="true", GX_ANALYTICS_ENABLED="False")


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository on disk holding the promotion layout: the `origin` remote."""
    return make_remote(tmp_path)


@pytest.fixture
def work(origin: Path, tmp_path: Path) -> Path:
    """A clone of ``origin`` to promote from."""
    return clone(origin, tmp_path / "work")
