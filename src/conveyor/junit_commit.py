"""A pytest plugin (``pytest -p conveyor.junit_commit --junitxml=...``): the JUnit report names the
commit the tests ran on, as the testsuite property ``conveyor.git_commit``, so `release record`
can tell this run's report from an earlier run's or a committed one (``conveyor.evidence``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conveyor import git
from conveyor.evidence import COMMIT_PROPERTY

__all__: list[str] = []  # a pytest plugin: its hook is found by pytest, not imported


@pytest.fixture(autouse=True, scope="session")
def _conveyor_git_commit(
    request: pytest.FixtureRequest, record_testsuite_property: Callable[[str, object], None]
) -> None:
    # Read once the session runs: the checkout's HEAD when the tests ran ("none" outside git,
    # which `release record` refuses). Without --junitxml the property goes nowhere.
    head = git.head_commit(request.config.rootpath)
    record_testsuite_property(COMMIT_PROPERTY, head or "none")
