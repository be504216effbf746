"""A data set at a local path or a URL (s3://, gs://, abfs://, file://: any fsspec filesystem),
and which of its files are data: the one listing that `conveyor data manifest` and, for a URL,
`conveyor check data` read. A Parquet file, the Parquet files below a folder (names starting with
`_` or `.` are not data), or a Delta table's current version."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeAlias

from conveyor.delta_table import (
    LOG_FOLDER,
    DeltaLog,
    DeltaSnapshot,
    delta_snapshot,
    is_delta_table,
    read_delta_log,
)
from conveyor.errors import DataError

__all__ = [
    "Listed",
    "Location",
    "delta_log_at",
    "filesystem",
    "footer",
    "has_delta_log",
    "listed_delta",
    "listed_parquet",
    "parquet_below",
    "parquet_files",
    "require_not_a_log",
]

Location: TypeAlias = Path | str  # a str is a URL (conveyor.files.path_or_url)
# (path relative to the data set's root, full path on its filesystem, the listing's entry)
Listed: TypeAlias = tuple[str, str, dict[str, Any]]


def require_not_a_log(location: Location) -> None:
    """A DataError when ``location`` is a Delta table's log or inside it: its checkpoints are
    Parquet files, but they describe the table, they are not its rows."""
    text = location.as_posix() if isinstance(location, Path) else location
    parts = text.rstrip("/").split("/")
    if LOG_FOLDER in parts:
        table = "/".join(parts[: parts.index(LOG_FOLDER)]) or "."
        raise DataError(
            f"{location}: a Delta table's log, not data: give the table's folder ({table})"
        )


def parquet_files(path: Path) -> list[Path]:
    """The data files of ``path``: the file itself, the files of a Delta table's current version,
    or every .parquet file below the folder in sorted order, as Spark and Hadoop list them: a
    name or folder below it starting with `_` or `.` is not data (`_SUCCESS`,
    `.part-0.parquet.crc`, a failed write's `_temporary/`); a DataError when the folder holds
    none, or the Delta table keeps columns in its folder names (its files do not hold them)."""
    require_not_a_log(path)
    if not path.is_dir():
        return [path]
    if is_delta_table(path):
        return _delta_files(delta_snapshot(path))
    files = parquet_below(path)
    if not files:
        raise DataError(f"{path}: a folder with no .parquet file below it")
    return files


def parquet_below(folder: Path) -> list[Path]:
    """Every .parquet file below ``folder`` that is data, in sorted order (see parquet_files);
    empty when there is none."""
    require_not_a_log(folder)
    return sorted(
        p
        for p in folder.rglob("*.parquet")
        if p.is_file() and not any(part[0] in "_." for part in p.relative_to(folder).parts)
    )


def _delta_files(snapshot: DeltaSnapshot) -> list[Path]:
    if snapshot.partition_columns:
        named = ", ".join(snapshot.partition_columns)
        raise DataError(
            f"{snapshot.root}: a Delta table partitioned by {named}: this command reads the "
            "table's files, which do not hold those columns (conveyor check data reads it whole)"
        )
    if not snapshot.files:
        raise DataError(f"{snapshot.root}: a Delta table with no rows (version {snapshot.version})")
    return snapshot.files


def filesystem(location: Path | str) -> tuple[Any, str]:
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


def listed_parquet(fs: Any, root: str, label: str) -> list[Listed]:
    """(path relative to ``root``, full path, listing entry) of each Parquet file, sorted: the
    file ``root`` itself, or every ``*.parquet`` below the folder (as `check data` reads it)."""
    require_not_a_log(label)
    try:
        info = fs.info(root)
        if info["type"] != "directory":
            if not root.endswith(".parquet"):
                raise DataError(f"{label}: not a Parquet file (.parquet) nor a folder of them")
            return [(root.rsplit("/", 1)[-1], root, info)]
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        raise DataError(f"{label}: no such file or folder") from None
    except DataError:
        raise
    # Permissions, credentials, the network: OSError from most filesystems, the cloud SDK's own
    # errors from others (botocore's NoCredentialsError is none).
    except Exception as exc:
        raise DataError(f"{label}: cannot list: {_first_line(exc)}") from None
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


def has_delta_log(fs: Any, root: str) -> bool:
    """Whether the folder ``root`` holds a Delta table (`_delta_log/`)."""
    try:
        return bool(fs.isdir(f"{root.rstrip('/')}/{LOG_FOLDER}"))
    except Exception:  # credentials, the network: the listing that follows reports it
        return False


def delta_log_at(fs: Any, root: str, location: Location) -> DeltaLog | None:
    """The log of the Delta table at ``root``; None when it is not one (no `_delta_log/`)."""
    if not has_delta_log(fs, root):
        return None
    return read_delta_log(root if isinstance(location, Path) else str(location))


def listed_delta(fs: Any, root: str, label: str, log: DeltaLog) -> list[Listed]:
    """(path relative to ``root``, full path, listing entry) of each file of the table's
    current version, sorted; the files its overwrites and deletes removed are not data."""
    prefix = root.rstrip("/") + "/"
    try:
        found = fs.find(root, detail=True)
    except Exception as exc:  # as in listed_parquet
        raise DataError(f"{label}: cannot list: {_first_line(exc)}") from None
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


def footer(fs: Any, path: str, label: str) -> Any:
    """The Parquet footer of one file (row count, schema); nothing else of it is read."""
    import pyarrow.parquet as pq

    try:
        with fs.open(path, "rb") as handle:
            return pq.read_metadata(handle)
    except Exception as exc:  # not Parquet (ArrowInvalid is a ValueError), I/O, credentials
        raise DataError(f"{label}: cannot read its footer: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
