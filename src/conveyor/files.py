"""Reading the files a user names, and writing outputs that are never left half-written.

Every input file goes through `read_text` (and `read_json`; YAML: conveyor.config): a missing
file, a folder, a binary or non-UTF-8 file, or the wrong JSON shape is a usage error (exit 2,
one line), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conveyor.errors import UserError

__all__ = [
    "atomic_path",
    "cache_root",
    "existing_dir",
    "kind_of",
    "optional_dir",
    "output_dir",
    "output_file",
    "parents_made",
    "path_or_none",
    "path_or_url",
    "read_json",
    "read_text",
    "require_regular",
    "require_writable_dir",
    "require_writable_file",
    "special_kind",
    "write_json",
]


def cache_root() -> Path:
    """conveyor's per-user cache: $CONVEYOR_CACHE_DIR as it is, else $XDG_CACHE_HOME/conveyor
    (~/.cache/conveyor). Whatever is kept there can be made again."""
    if os.environ.get("CONVEYOR_CACHE_DIR"):
        return Path(os.environ["CONVEYOR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "conveyor"


@contextmanager
def parents_made(target: Path) -> Iterator[None]:
    """Make the missing folders above ``target``; when the block fails, remove those it made
    (if still empty): a failed command leaves no new folder behind."""
    missing = [folder for folder in target.parents if not folder.exists()]  # innermost first
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in missing:
            with contextlib.suppress(OSError):  # not empty (something else wrote there): kept
                folder.rmdir()
        raise


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds
    (else neither it nor a folder made for it is left)."""
    with parents_made(target):
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)


def write_json(target: Path, data: Any) -> None:
    """Write ``data`` as stable, human-diffable JSON (sorted keys, 2-space indent), atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@contextmanager
def _looking_at(path: Path, option: str) -> Iterator[None]:
    """Turn an OSError raised while looking at ``path`` (a name component over 255 bytes, a
    loop of links, an unreadable folder on the way) into a usage error: pathlib's ``exists``
    and ``is_dir`` swallow only "no such file", the rest would be a traceback."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot use this path ({exc.strerror or exc})") from None


def require_writable_dir(path: Path, option: str = "--out") -> None:
    """A usage error (exit 2, one line) unless ``path`` is a folder, or could be created as one,
    that this process may write. Creates nothing: a refused command leaves no trace."""
    with _looking_at(path, option):
        _require_writable_dir(path, option)


def _require_writable_dir(path: Path, option: str) -> None:
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if path.exists() and not path.is_dir():
        problem = "not a folder"
    elif not probe.is_dir():
        problem = f"{probe} is not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"no permission to write in {probe}"
    else:
        return
    raise UserError(f"{option} {path}: cannot write there ({problem})")


def _label(path: Path, what: str) -> str:
    return f"{path} ({what})" if what else str(path)


# What a path that is neither a file nor a folder is, in words (os.stat's st_mode).
_SPECIAL = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder (a FIFO, a
    device, a socket; symbolic links followed), else None. Asked of ``stat``, never by opening:
    opening a FIFO blocks until something writes to it."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None  # missing or unreadable: the reader says so in its own words
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return _SPECIAL.get(stat.S_IFMT(mode), "not a regular file")


def require_regular(path: Path, what: str = "", error: type[UserError] = UserError) -> None:
    """An ``error`` when ``path`` is a FIFO, a device or a socket: refused before it is opened,
    so a command never hangs on it (or reads a device without end)."""
    kind = special_kind(path)
    if kind:
        raise error(f"{_label(path, what)}: {kind}, not a regular file")


def read_text(path: Path, what: str = "", error: type[UserError] = UserError) -> str:
    """The UTF-8 text of the file at ``path``. Missing, a folder, a FIFO or device, unreadable,
    binary (NUL bytes) or not UTF-8: an ``error`` (a UserError) naming the path and ``what`` it
    should have been."""
    label = _label(path, what)
    require_regular(path, what, error)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{label}: file not found") from None
    except IsADirectoryError:
        raise error(f"{label}: is a folder, not a file") from None
    except OSError as exc:
        raise error(f"{label}: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in data:
        raise error(f"{label}: a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{label}: not UTF-8 text (byte {exc.start} cannot be decoded)") from None


def kind_of(value: Any) -> str:
    """What a decoded JSON/YAML value is, in the words of the format (for error messages)."""
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "nothing (null)"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def read_json(
    path: Path,
    what: str = "",
    expect: type | tuple[type, ...] | None = dict,
    error: type[UserError] = UserError,
) -> Any:
    """The JSON document in the file at ``path``, which must be an ``expect`` (a mapping unless
    told otherwise; None: any value). Every problem is an ``error`` naming the path."""
    label = _label(path, what)
    text = read_text(path, what, error)
    if not text.strip():
        raise error(f"{label}: the file is empty, expected JSON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{label}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        # The decoder recurses once per level: a hostile file must be refused, not a traceback.
        raise error(f"{label}: nested too deeply to read as JSON") from None
    if expect is not None and not isinstance(data, expect):
        wanted = "a JSON object" if expect is dict else "another JSON value"
        raise error(f"{label}: expected {wanted}, got {kind_of(data)}")
    return data


def require_writable_file(path: Path, option: str = "--out") -> None:
    """A usage error unless ``path`` is a file this process may write (or create): not a folder,
    in a folder that exists or could be created. Creates nothing."""
    with _looking_at(path, option):
        _require_writable_file(path, option)


def _require_writable_file(path: Path, option: str) -> None:
    if path.is_dir():
        raise UserError(f"{option} {path}: cannot write there (a folder, expected a file)")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option} {path}: cannot write there (no permission)")
    require_writable_dir(path.parent, option=f"{option} {path}: its folder")


def existing_dir(text: str) -> Path:
    """argparse ``type`` of an option naming a folder that must exist: refused while parsing,
    before any work, with one line."""
    path = Path(text)
    try:
        if not path.is_dir():
            raise argparse.ArgumentTypeError(
                f"{text}: {'not a folder' if path.exists() else 'no such folder'}"
            )
    except OSError as exc:  # a name over 255 bytes, a loop of links: exists() raises those
        raise argparse.ArgumentTypeError(f"{text}: cannot use this path ({exc.strerror})") from None
    return path


def _parse_time(check: Callable[[Path, str], None], text: str) -> Path:
    path = Path(text)
    try:
        check(path, "")
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def output_dir(text: str) -> Path:
    """argparse ``type`` of an output folder: checked writable while parsing (a default given as
    a string is checked too), so a bad one is refused before any slow work or any write."""
    return _parse_time(require_writable_dir, text)


def output_file(text: str) -> Path:
    """argparse ``type`` of an output file: not a folder, in a folder that can be written."""
    return _parse_time(require_writable_file, text)


def optional_dir(text: str) -> Path:
    """argparse ``type`` of a folder that may be absent (nothing there), but not a file."""
    path = Path(text)
    try:
        if path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: not a folder")
    except OSError as exc:  # as in existing_dir
        raise argparse.ArgumentTypeError(f"{text}: cannot use this path ({exc.strerror})") from None
    return path


def path_or_none(text: str) -> Path | None:
    """argparse ``type`` of a path a workflow may pass empty (an input left unset): None then."""
    return Path(text) if text else None


# `s3://bucket/key`, `gs://...`, `abfs://...`, `file:///...`: a scheme, then `://`.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://.*", re.S)


def path_or_url(text: str) -> Path | str:
    """argparse ``type`` of a data set that may live in object storage: a URL stays text (its
    filesystem reads it), anything else is a local path (checked like every path argument)."""
    return text if _URL.fullmatch(text) else Path(text)
