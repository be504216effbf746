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
from conveyor.delta_table import LOG_FOLDER, DeltaLog, read_delta_log
from conveyor.errors import DataError, UserError
from conveyor.hashing import file_md5

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
    fs, root = _filesystem(location)
    log = _delta_log(fs, root, location)
    listed = _parquet_files(fs, root, label) if log is None else _delta_files(fs, root, label, log)
    files = []
    for relative, path, info in listed:
        metadata = _footer(fs, path, label if path == root else f"{label}: {relative}")
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


def _delta_log(fs: Any, root: str, location: Path | str) -> DeltaLog | None:
    """The log of the Delta table at ``root``; None when it is not one (no `_delta_log/`)."""
    try:
        if not fs.isdir(f"{root.rstrip('/')}/{LOG_FOLDER}"):
            return None
    except OSError:
        return None  # the listing reports it
    return read_delta_log(root if isinstance(location, Path) else str(location))


def _delta_files(
    fs: Any, root: str, label: str, log: DeltaLog
) -> list[tuple[str, str, dict[str, Any]]]:
    """(path relative to ``root``, full path, listing entry) of each file of the table's
    current version, sorted; the files its overwrites and deletes removed are not data."""
    prefix = root.rstrip("/") + "/"
    try:
        found = fs.find(root, detail=True)
    except OSError as exc:
        raise DataError(f"{label}: cannot list: {str(exc).splitlines()[0]}") from None
    files = []
    for relative in log.files:
        entry = found.get(prefix + relative)
        if entry is None:
            raise DataError(
                f"{label}: the Delta log (version {log.version}) names {relative}, which is not "
                "below the table's folder"
            )
        files.append((relative, prefix + relative, entry))
    if not files:
        raise DataError(f"{label}: a Delta table with no rows (version {log.version})")
    return files


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _filesystem(location: Path | str) -> tuple[Any, str]:
    """The fsspec filesystem holding ``location`` and the path on it; a URL whose filesystem
    package is missing is a usage error naming the package."""
    from fsspec.core import split_protocol, url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(location, Path):
        return LocalFileSystem(), location.absolute().as_posix()
    try:
        fs, root = url_to_fs(location)
    except ImportError:
        from fsspec.registry import known_implementations

        protocol = split_protocol(location)[0] or ""
        package = known_implementations.get(protocol, {}).get("class", "").split(".")[0]
        raise DataError(
            f"{location}: reading {protocol}:// needs the {package or 'fsspec backend'} "
            f"package: pip install {package or 'it'}"
        ) from None
    except ValueError as exc:  # "Protocol not known"
        raise DataError(f"{location}: {str(exc).splitlines()[0]}") from None
    return fs, str(root)


def _parquet_files(fs: Any, root: str, label: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(path relative to ``root``, full path, listing entry) of each Parquet file, sorted: the
    file ``root`` itself, or every ``*.parquet`` below the folder (as `check data` reads it)."""
    try:
        info = fs.info(root)
        if info["type"] != "directory":
            if not root.endswith(".parquet"):
                raise DataError(f"{label}: not a Parquet file (.parquet) nor a folder of them")
            return [(root.rsplit("/", 1)[-1], root, info)]
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        raise DataError(f"{label}: no such file or folder") from None
    except OSError as exc:  # permissions, credentials, the network
        raise DataError(f"{label}: cannot list: {str(exc).splitlines()[0]}") from None
    prefix = root.rstrip("/") + "/"
    # Names starting with `_` or `.` are not data, as Spark and `check data` list a folder (a
    # failed write's `_temporary/`, a Delta table's `_delta_log/`).
    listed = ((path.removeprefix(prefix), path, entry) for path, entry in found.items())
    files = sorted(
        (relative, path, entry)
        for relative, path, entry in listed
        if path.endswith(".parquet")
        and entry["type"] == "file"
        and not any(part[0] in "_." for part in relative.split("/"))
    )
    if not files:
        raise DataError(f"{label}: a folder with no .parquet file below it")
    return files


def _footer(fs: Any, path: str, label: str) -> Any:
    """The Parquet footer of one file (row count, schema); nothing else of it is read."""
    import pyarrow.parquet as pq

    try:
        with fs.open(path, "rb") as handle:
            return pq.read_metadata(handle)
    except (OSError, ValueError) as exc:  # not Parquet (ArrowInvalid is a ValueError), I/O
        raise DataError(f"{label}: cannot read its footer: {str(exc).splitlines()[0]}") from None


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
