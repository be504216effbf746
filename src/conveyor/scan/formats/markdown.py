"""scan.md: the summary a person reads in the job summary or the PR."""

from __future__ import annotations

from conveyor.scan.formats.interface import ScanFormat
from conveyor.scan.model import ScanResult

__all__ = ["MarkdownFormat"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class MarkdownFormat(ScanFormat):
    """Verdict line, a table of findings (worst first), then the reasoned suppressions."""

    def format(self, result: ScanResult) -> str:
        """Markdown text."""
        scanned = len(result.files.get("secrets", []))  # every file is read for secrets
        if result.clean:
            lines = [f"### Security scan: passed ({scanned} files, no findings)", ""]
        else:
            lines = [
                f"### Security scan: FAILED ({len(result.findings)} finding(s) in {scanned} files)",
                "",
                "| severity | policy | where | what to change |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| {f.severity} | `{f.policy_id}` {_cell(f.title)} | `{f.where()}` "
                f"| {_cell(f.remedy)} |"
                for f in result.sorted_findings()
            ]
            lines.append("")
        if result.suppressed:
            lines += ["**Suppressed, with reasons:**", ""]
            lines += [
                f"- `{s.policy_id}` `{s.file}:{s.line}` ({s.how}): {_cell(s.reason)}"
                for s in result.suppressed
            ]
            lines.append("")
        return "\n".join(lines)
