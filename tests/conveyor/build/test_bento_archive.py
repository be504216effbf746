"""The Bento archive is unpacked only when every member is a plain file or folder inside it: on
Python 3.11.0-3.11.3, which has no tarfile extraction filters (Debian bookworm's 3.11.2, where an
adopter's venv may come from), conveyor checks the members itself instead of failing."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from conveyor.build import unsafe_members


def _archive(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w") as tar:
        for member in members:
            data = b"x" if member.isfile() else None
            member.size = len(data) if data else 0
            tar.addfile(member, io.BytesIO(data) if data else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_plain_files_and_folders_are_safe(tmp_path: Path) -> None:
    members = [_member("env", tarfile.DIRTYPE), _member("env/docker/Dockerfile"), _member("a/b")]
    with tarfile.open(_archive(tmp_path / "ok.bento", members)) as tar:
        assert unsafe_members(tar) == []


def test_links_and_paths_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    members = [
        _member("bento.yaml"),
        _member("../escape"),
        _member("/etc/cron.d/job"),
        _member("src/link", tarfile.SYMTYPE, "/etc/passwd"),
        _member("src/hard", tarfile.LNKTYPE, "bento.yaml"),
        _member("dev/null", tarfile.CHRTYPE),
    ]
    with tarfile.open(_archive(tmp_path / "bad.bento", members)) as tar:
        assert unsafe_members(tar) == [
            "../escape",
            "/etc/cron.d/job",
            "src/link",
            "src/hard",
            "dev/null",
        ]
