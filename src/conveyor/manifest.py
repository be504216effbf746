"""The manifest of a data set kept outside DVC's cache (s3://, gs://, abfs://, or a folder): its
Parquet files with their sizes and checksums, the rows and schema their footers hold, and one
content id. A small, deterministic JSON that a dvc.yaml stage declares as its output in place
of the data, so `dvc repro` re-runs what reads the data when, and only when, the data changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from conveyor.checks.dataio import SchemaConflict, schema_conflict
from conveyor.errors import UserError
from conveyor.hashing import file_md5
from conveyor.stored_data import delta_log_at, filesystem, footer, listed_delta, listed_parquet

__all__ = ["MixedSchemaError", "build_manifest"]

# The checksum an object store lists with each object, the content hash first: GCS's MD5 (and
# CRC32C, all a composite object has), then S3's and Azure's ETag (an MD5 of the bytes, or of
# the parts' MD5s after a multipart upload: either way it changes when the bytes change).
_STORE_CHECKSUMS = ("md5Hash", "crc32c", "ETag", "etag")


class MixedSchemaError(UserError):
    """The files disagree on a column: a failed check (exit 1), as `conveyor check data` fails
    its `table.schema` rule on such a folder. No manifest is written."""

    exit_code = 1

    def __init__(self, location: str, conflict: SchemaConflict) -> None:
        super().__init__(
            f"{location}: table.schema: expected every file with the same columns and types; "
            f"observed {conflict.column}: {conflict.observed}"
        )


def build_manifest(location: Path | str) -> dict[str, Any]:
    """The manifest of the Parquet file, every Parquet file below the folder, or the current
    version of the Delta table at ``location`` (a local path or an fsspec URL), from listings,
    footers and a Delta log only: no data is read. The content id is the sha256 of the sorted
    [path, checksum] pairs as compact JSON."""
    label = str(location)
    fs, root = filesystem(location)
    log = delta_log_at(fs, root, location)
    listed = listed_parquet(fs, root, label) if log is None else listed_delta(fs, root, label, log)
    files = []
    for relative, path, info in listed:
        metadata = footer(fs, path, label if path == root else f"{label}: {relative}")
        checksum = _checksum(fs, path, info)
        files.append((relative, int(info["size"]), checksum, metadata))
    rows = sum(metadata.num_rows for *_, metadata in files)
    if log is None:
        schemas = [(relative, m.schema.to_arrow_schema()) for relative, *_, m in files]
        conflict = schema_conflict(schemas, rows)
        if conflict is not None:
            raise MixedSchemaError(label, conflict)
        schema = schemas[0][1]
    else:
        schema = log.schema  # one schema, the log's: older files may lack a newer column
    # Metadata left out (pandas' index and versions, Spark's row metadata): it names the
    # writer, not the data, and would change the hash with a library upgrade.
    columns = [f"{f.name}: {f.type}{'' if f.nullable else ' not null'}" for f in schema]
    # As JSON: a file name holding a tab or a newline cannot pass for two entries.
    listing = json.dumps(
        [[relative, checksum] for relative, _, checksum, _ in files], separators=(",", ":")
    )
    manifest = {
        "location": label,
        "files": [
            {"path": relative, "size": size, "checksum": checksum, "rows": m.num_rows}
            for relative, size, checksum, m in files
        ],
        "rows": rows,
        "schema": {"columns": columns, "sha256": _sha256("\n".join(columns))},
        "content_id": _sha256(listing),
    }
    if log is not None:
        # The version to read the data back with (`versionAsOf`), as long as the table keeps it.
        manifest["delta"] = {"version": log.version}
    return manifest


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _checksum(fs: Any, path: str, info: dict[str, Any]) -> str:
    """The object store's own checksum of the file; on a local disk the MD5 of its bytes (what
    DVC records: a file rewritten with the same bytes is unchanged, where size and mtime would
    re-run every stage after it); elsewhere, fsspec's key of the listing entry."""
    from fsspec.implementations.local import LocalFileSystem

    for key in _STORE_CHECKSUMS:
        if info.get(key):
            value = str(info[key]).strip('"')  # S3 quotes its ETags
            return f"{key}:{value}"
    if isinstance(fs, LocalFileSystem):
        return f"md5:{file_md5(Path(path))}"
    return f"ukey:{fs.ukey(path)}"
