"""The tests and security verdicts the release job hands `release record` are taken at their
content, not at their word (issue 14, fifth hostile pass): a scan.json that is no verdict (`{}`,
no `passed`) is a usage error, never a passed gate; one whose `passed` contradicts its findings
fails; a JUnit report's counts may not hide the failures, errors or skips its own test cases
show, and a count is ASCII digits (int() also reads " 3", "1_0" and full-width digits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor import release
from conveyor.cli import main
from tests.promotion_repos import REPO


def _record(capsys, tmp_path: Path, *evidence: str) -> tuple[int, str, str, Path]:
    """`release record` in this checkout with ``evidence``: every case here is refused before
    the verdicts are re-established."""
    out = tmp_path / "out" / "record.json"
    out.parent.mkdir(exist_ok=True)
    code = main(
        [
            *("release", "record", "--version", "v1.0.0"),
            *("--image", f"ghcr.io/acme/forecaster@sha256:{'ab' * 32}"),
            *("--repo", str(REPO), "--branch", "HEAD", "--out", str(out), *evidence),
        ]
    )
    stdout, err = capsys.readouterr()
    return code, stdout, err, out


@pytest.mark.parametrize(
    ("scan", "expected"),
    [
        ({}, "findings: expected a list"),
        ({"findings": []}, "passed: expected true or false"),
        ({"passed": "true", "findings": []}, "passed: expected true or false"),
        ({"passed": 1, "findings": []}, "passed: expected true or false"),
        ({"passed": True}, "findings: expected a list"),
    ],
    ids=["empty object", "no passed", "passed as text", "passed as a number", "no findings"],
)
def test_a_scan_file_that_is_no_verdict_is_a_usage_error(capsys, tmp_path, scan, expected):
    path = tmp_path / "scan.json"
    path.write_text(json.dumps(scan))
    code, stdout, err, out = _record(capsys, tmp_path, "--scan-json", str(path))
    assert code == 2, stdout + err
    assert err.strip() == f"error: {path}: {expected} (security scan verdict)"
    assert not out.exists()


def test_a_scan_that_says_passed_beside_a_finding_fails(tmp_path):
    path = tmp_path / "scan.json"
    finding = {"policy_id": "CKV_SECRET_6", "file": "deploy/key.pem", "line": 1}
    path.write_text(json.dumps({"passed": True, "findings": [finding]}))
    verdict = release.security_verdict(path)
    assert verdict.passed is False
    assert verdict.summary == "1 finding (the file says passed: its findings say otherwise)"
    path.write_text(json.dumps({"passed": True, "findings": []}))
    assert release.security_verdict(path).passed is True


@pytest.mark.parametrize(
    ("xml", "summary"),
    [
        ('<testsuite tests="2" failures="0"><testcase name="a"/>'
         '<testcase name="b"><failure message="boom"/></testcase></testsuite>',
         "2 tests, 1 failed, 0 errors"),
        ('<testsuites><testsuite tests="1" errors="0"><testcase name="a"><error/></testcase>'
         "</testsuite></testsuites>",
         "1 tests, 0 failed, 1 errors"),
        ('<testsuite tests="1" skipped="0"><testcase name="a"><skipped/></testcase></testsuite>',
         "1 tests, 0 failed, 0 errors, 1 skipped: no test ran"),
        ('<testsuite tests="0"><testcase name="a"><failure/></testcase>'
         '<testcase name="b"/></testsuite>',
         "2 tests, 1 failed, 0 errors"),
    ],
    ids=["failure under failures=0", "error under errors=0", "skip under skipped=0",
         "cases under tests=0"],
)  # fmt: skip
def test_counts_never_hide_what_the_test_cases_show(tmp_path, xml, summary):
    junit = tmp_path / "junit.xml"
    junit.write_text(xml)
    verdict = release.tests_verdict(junit)
    assert verdict.passed is False
    assert verdict.summary == summary


def test_a_report_whose_cases_agree_with_its_counts_passes(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite tests="3" failures="0" errors="0" skipped="1">'
        '<testcase name="a"/><testcase name="b"/><testcase name="c"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    verdict = release.tests_verdict(junit)
    assert verdict.passed is True
    assert verdict.summary == "3 tests, 0 failed, 0 errors, 1 skipped"


@pytest.mark.parametrize("value", [" 3", "3 ", "1_0", "\uff13", "+3", "3.0", ""])
def test_a_count_is_ascii_digits(capsys, tmp_path, value):
    junit = tmp_path / "junit.xml"
    junit.write_text(f'<testsuite tests="{value}" failures="0"/>', encoding="utf-8")
    code, stdout, err, out = _record(capsys, tmp_path, "--tests-junit", str(junit))
    assert code == 2, stdout + err
    assert err.strip() == f"error: {junit}: testsuite tests={value!r} is not a count"
    assert not out.exists()
