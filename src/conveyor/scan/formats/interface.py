"""The one interface every output format implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from conveyor.scan.model import ScanResult

__all__ = ["ScanFormat"]


class ScanFormat(ABC):
    """Turns a ScanResult into the text of one output file."""

    @abstractmethod
    def format(self, result: ScanResult) -> str:
        """The file's whole content."""
