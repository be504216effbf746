"""scan.junit.xml: one test case per finding, so CI test views list them."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from conveyor.scan.formats.interface import ScanFormat
from conveyor.scan.model import ScanResult

__all__ = ["JunitFormat"]


class JunitFormat(ScanFormat):
    """A failing test case per finding; a single passing case when the scan is clean."""

    def format(self, result: ScanResult) -> str:
        """JUnit XML text."""
        findings = result.sorted_findings()
        suite = ET.Element(
            "testsuite",
            name="conveyor-scan",
            tests=str(max(len(findings), 1)),
            failures=str(len(findings)),
            errors="0",
            skipped="0",
        )
        for f in findings:
            case = ET.SubElement(
                suite, "testcase", classname=f.policy_id, name=f"{f.where()} {f.resource}".strip()
            )
            failure = ET.SubElement(case, "failure", message=f.title, type=f.severity)
            failure.text = f"{f.policy_id} [{f.severity}] {f.where()}: {f.title}\nfix: {f.remedy}"
        if not findings:
            ET.SubElement(suite, "testcase", classname="conveyor-scan", name="no findings")
        suites = ET.Element("testsuites")
        suites.append(suite)
        ET.indent(suites)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
