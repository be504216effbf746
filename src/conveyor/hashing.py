"""Content hashes that match DVC's, so a label or record can be checked against dvc.lock."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conveyor.files import require_regular

__all__ = ["file_md5"]

CHUNK = 1 << 20


def file_md5(path: Path) -> str:
    """MD5 of the file's bytes, as DVC 3 records it for a file output."""
    require_regular(path)  # a FIFO would block the read for ever
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
