"""The tests gate passes only when a test ran (issue 14): a JUnit report where every test was
skipped, or none was collected, used to pass the gate; and suites nested inside a suite (one
per file or class) were not counted at all, so their failures were missed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import release


def _junit(tmp_path: Path, xml: str) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(xml, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("xml", "summary"),
    [
        ('<testsuite tests="12" skipped="12" failures="0" errors="0"/>',
         "12 tests, 0 failed, 0 errors, 12 skipped: no test ran"),
        ('<testsuites><testsuite name="pytest" tests="12" skipped="12"/></testsuites>',
         "12 tests, 0 failed, 0 errors, 12 skipped: no test ran"),
        ('<testsuite tests="0" failures="0" errors="0"/>',
         "0 tests, 0 failed, 0 errors: no test ran"),
        ("<testsuites/>", "0 tests, 0 failed, 0 errors: no test ran"),
        ('<testsuite tests="3"><testsuite tests="2" skipped="2"/><testsuite tests="1" skipped="1"/>'
         "</testsuite>", "3 tests, 0 failed, 0 errors, 3 skipped: no test ran"),
        ('<testsuite tests="3"><testsuite tests="2"/><testsuite tests="1" failures="1"/>'
         "</testsuite>",
         "3 tests, 1 failed, 0 errors"),
        ('<testsuites><testsuite tests="4"><testsuite tests="4" errors="1"/></testsuite>'
         "</testsuites>",
         "4 tests, 0 failed, 1 errors"),
    ],
)  # fmt: skip
def test_no_test_ran_or_a_nested_failure_fails_the_gate(
    tmp_path: Path, xml: str, summary: str
) -> None:
    verdict = release.tests_verdict(_junit(tmp_path, xml))
    assert verdict.passed is False
    assert verdict.summary == summary


@pytest.mark.parametrize(
    ("xml", "summary"),
    [
        ('<testsuite tests="3" failures="0" errors="0"/>', "3 tests, 0 failed, 0 errors"),
        ('<testsuite tests="12" skipped="11"/>', "12 tests, 0 failed, 0 errors, 11 skipped"),
        ('<testsuite tests="5"><testsuite tests="2"/><testsuite tests="3" skipped="1"/>'
         "</testsuite>",
         "5 tests, 0 failed, 0 errors, 1 skipped"),
    ],
)  # fmt: skip
def test_a_run_with_a_test_that_ran_and_none_failed_passes(
    tmp_path: Path, xml: str, summary: str
) -> None:
    verdict = release.tests_verdict(_junit(tmp_path, xml))
    assert verdict.passed is True
    assert verdict.summary == summary
