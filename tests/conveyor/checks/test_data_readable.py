"""`require_readable`: a data set that cannot be read is refused from its footer or first bytes,
so `conveyor check data` refuses a bad last data set before Great Expectations checks the first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conveyor.checks.dataio import CSV_HEAD_BYTES, require_readable
from conveyor.errors import DataError
from tests.conveyor.checks.test_checks import RAW_CONTRACT

GOOD = pl.DataFrame({"club_id": ["c1", "c2"], "units_sold": [3, 4]})


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_good_files_and_folders_pass(tmp_path: Path) -> None:
    GOOD.write_parquet(tmp_path / "a.parquet")
    GOOD.write_csv(tmp_path / "a.csv")
    (tmp_path / "parts" / "day=1").mkdir(parents=True)
    GOOD.write_parquet(tmp_path / "parts" / "day=1" / "part-0.parquet")
    for name in ("a.parquet", "a.csv", "parts"):
        require_readable(tmp_path / name)


def test_a_character_cut_at_the_end_of_the_chunk_read_is_not_an_error(tmp_path: Path) -> None:
    # "é" is two bytes in UTF-8: the chunk read ends between them.
    text = b"name\n" + b"a" * (CSV_HEAD_BYTES - 6) + "é\n".encode()
    require_readable(_write(tmp_path / "long.csv", text))


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("empty.parquet", b"", "cannot read"),
        ("truncated.parquet", b"PAR1" + b"\x01" * 40, "cannot read"),
        ("empty.csv", b"", "an empty file"),
        ("blank.csv", b"\n\n  \n", "an empty file"),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        ("latin1.csv", "club_id,region\nc1,Bogotá\n".encode("latin-1"), "can't decode"),
        ("data.json", b"{}", r"unsupported file type '\.json'"),
    ],
)
def test_unreadable_files_are_one_data_error_naming_them(
    tmp_path: Path, name: str, content: bytes, said: str
) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(DataError, match=said) as raised:
        require_readable(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_folders_without_parquet_or_with_a_broken_part_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.parquet file below it"):
        require_readable(tmp_path / "empty")
    (tmp_path / "parts").mkdir()
    GOOD.write_parquet(tmp_path / "parts" / "0.parquet")
    _write(tmp_path / "parts" / "1.parquet", b"not parquet")
    with pytest.raises(DataError, match="cannot read"):
        require_readable(tmp_path / "parts")


def test_missing_and_fifo_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data file"):
        require_readable(tmp_path / "absent.parquet")
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(DataError, match="not a regular file"):
        require_readable(tmp_path / "pipe.csv")


def test_check_data_refuses_a_bad_last_data_set_before_great_expectations_loads(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.parquet"
    GOOD.write_parquet(good)
    bad = _write(tmp_path / "bad.parquet", b"")
    script = (
        "import sys\nfrom conveyor.cli import main\n"
        f"code = main(['check', 'data', {str(RAW_CONTRACT)!r}, {str(good)!r}, "
        f"{str(RAW_CONTRACT)!r}, {str(bad)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "print(code, 'great_expectations' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert done.stderr.startswith(f"error: {bad}: cannot read: ") and done.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()
