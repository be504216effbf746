"""`atomic_path`: the file appears whole or not at all, and a failed write leaves no folder it
made for the file (a failed command changes nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.files import atomic_path


def test_a_write_that_succeeds_makes_its_folders_and_the_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "out.json"
    with atomic_path(target) as tmp:
        tmp.write_text("{}")
        assert not target.exists()  # not before the block ends
    assert target.read_text() == "{}"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary left


def test_a_write_that_fails_leaves_no_folder_it_made(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "new" / "deeper" / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]
    assert list((tmp_path / "kept").iterdir()) == []  # the folder that was there stays


def test_a_folder_something_else_wrote_into_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "new" / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target):
        (tmp_path / "new" / "other.txt").write_text("not ours")
        raise RuntimeError("the writer failed")
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["other.txt"]
