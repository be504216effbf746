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


# The longest test files (minutes each, `--durations` in CI's log) go first: `make test` hands
# whole files to two processes (--dist loadfile) in collection order, so one of these started
# last would run alone at the end while the other process idles.
LONGEST_FIRST = (
    "tests/e2e/test_workflows_act.py",
    "tests/e2e/test_template.py",
    "tests/spark/test_spark_contracts.py",
    "tests/e2e/test_template_update.py",
    "tests/e2e/test_image.py",
    "tests/e2e/test_pipeline.py",
    "tests/e2e/test_adopter.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the items of LONGEST_FIRST's files first, in that order; the rest keep theirs."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: order within a file, and of the other files, is kept
