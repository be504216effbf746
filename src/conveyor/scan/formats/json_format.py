"""scan.json: the verdict other steps (the release record) read."""

from __future__ import annotations

import json

from conveyor.scan.formats.interface import ScanFormat
from conveyor.scan.model import ScanResult

__all__ = ["JsonFormat"]


class JsonFormat(ScanFormat):
    """Stable, sorted JSON: passed flag, counts, findings, suppressions, scanned files."""

    def format(self, result: ScanResult) -> str:
        """The verdict as JSON."""
        data = {
            "passed": result.clean,
            "counts": {
                "findings": len(result.findings),
                "suppressed": len(result.suppressed),
                "checks_passed": result.checks_passed,
            },
            "findings": [f.to_json() for f in result.sorted_findings()],
            "suppressed": [s.to_json() for s in result.suppressed],
            "files": result.files,
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
