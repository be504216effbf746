"""Fixtures of conveyor's tests: real git repositories on disk (a bare remote and a clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.promotion_repos import clone, make_remote


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository on disk holding the promotion layout: the `origin` remote."""
    return make_remote(tmp_path)


@pytest.fixture
def work(origin: Path, tmp_path: Path) -> Path:
    """A clone of ``origin`` to promote from."""
    return clone(origin, tmp_path / "work")
