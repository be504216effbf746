"""Output formats of a scan: one module per format, each a ScanFormat (see interface.py)."""

from conveyor.scan.formats.interface import ScanFormat
from conveyor.scan.formats.json_format import JsonFormat
from conveyor.scan.formats.junit import JunitFormat
from conveyor.scan.formats.markdown import MarkdownFormat
from conveyor.scan.formats.sarif import SarifFormat

FORMATS: dict[str, ScanFormat] = {
    "scan.sarif": SarifFormat(),
    "scan.junit.xml": JunitFormat(),
    "scan.json": JsonFormat(),
    "scan.md": MarkdownFormat(),
}

# ScanFormat is imported from where it is defined: formats/interface.py.
__all__ = ["FORMATS"]
