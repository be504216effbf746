"""The tests gate reads a JUnit report made by a job a pull request can change: a DOCTYPE in it is
refused before any entity is expanded (issue 14, the fourth review's open item). Every spelling of
the class is a DTD: internal entities that rewrite a count, an attribute default that supplies
one, nested "laughs", a quadratic blow-up, an external entity, an external DTD or parameter
entity. Each is exit 2 naming the file, one line, no record written; the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.cli import main
from tests.promotion_repos import REPO

_LAUGHS = "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
CASES = {
    "internal entity": '<!DOCTYPE testsuite [<!ENTITY n "0">]>'
    '<testsuite tests="3" failures="&n;" errors="&n;"/>',
    "attribute default": '<!DOCTYPE testsuite [<!ATTLIST testsuite failures CDATA "0">]>'
    '<testsuite tests="3"/>',
    "billion laughs": f'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">{_LAUGHS}]>'
    '<testsuite tests="1">&i;</testsuite>',
    "quadratic blow-up": f'<!DOCTYPE l [<!ENTITY a "{"x" * 100_000}">]>'
    f'<testsuite tests="1">{"&a;" * 2000}</testsuite>',
    "external entity": '<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
    '<testsuite tests="1">&x;</testsuite>',
    "external DTD": '<!DOCTYPE t SYSTEM "http://127.0.0.1:9/x.dtd"><testsuite tests="1"/>',
    "parameter entity": '<!DOCTYPE t [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>'
    '<testsuite tests="1"/>',
    "after the declaration": '<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by pytest -->\n'
    '<!DOCTYPE testsuites PUBLIC "-//x//DTD x//EN" "x.dtd"><testsuites/>',
}


@pytest.mark.parametrize("xml", CASES.values(), ids=CASES.keys())
def test_a_junit_report_with_a_doctype_is_refused(capsys, tmp_path: Path, xml: str) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(xml, encoding="utf-8")
    out = tmp_path / "out" / "record.json"
    out.parent.mkdir()
    code = main(
        [
            *("release", "record", "--version", "v1.0.0"),
            *("--image", f"ghcr.io/acme/forecaster@sha256:{'ab' * 32}"),
            *("--repo", str(REPO), "--branch", "HEAD"),
            *("--tests-junit", str(junit), "--out", str(out)),
        ]
    )
    stdout, err = capsys.readouterr()
    assert code == 2, stdout + err
    assert err.strip() == (
        f"error: {junit}: declares a DOCTYPE; a JUnit report needs none (entities are refused)"
    )
    assert stdout == ""
    assert not out.exists()


def test_a_report_without_a_doctype_still_reads(capsys, tmp_path: Path) -> None:
    """What pytest writes (a declaration, no DTD) is read as before, predefined entities too."""
    from conveyor import release

    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="a &amp; b" '
        'tests="2" failures="0" errors="0" skipped="0"/></testsuites>',
        encoding="utf-8",
    )
    verdict = release.tests_verdict(junit)
    assert verdict.passed is True
    assert verdict.summary == "2 tests, 0 failed, 0 errors"
