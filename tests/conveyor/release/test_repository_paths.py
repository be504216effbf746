"""A file of the repository has one spelling (fifth hostile pass): `--params` and `--data-dir`
are compared as text with what a record names, and read from git trees, where '..' means
nothing. "sub/../params.yaml" is params.yaml; "a/b/../../../x" leaves the repository and is
refused (exit 2) instead of reaching git."""

from __future__ import annotations

import pytest

from conveyor.cli import main
from conveyor.errors import UserError
from conveyor.release import in_repository
from tests.promotion_repos import REPO


@pytest.mark.parametrize(
    ("spelling", "path"),
    [
        ("params.yaml", "params.yaml"),
        ("./params.yaml", "params.yaml"),
        ("sub/../params.yaml", "params.yaml"),
        ("reports//data/", "reports/data"),
        ("reports/./data", "reports/data"),
    ],
)
def test_every_spelling_of_a_file_is_one_path(spelling, path):
    assert in_repository(REPO, spelling, "--params") == path


def test_a_path_that_climbs_out_is_refused_before_any_work(capsys, tmp_path):
    option = "--params"  # (--data-dir must be an existing folder already while parsing)
    out = tmp_path / "record.json"
    code = main(
        [
            *("release", "record", "--version", "v1.0.0", "--branch", "HEAD"),
            *("--image", f"ghcr.io/acme/forecaster@sha256:{'ab' * 32}"),
            *("--repo", str(REPO), "--out", str(out)),
            *("--build-json", str(tmp_path / "missing.json")),
            *(option, "a/b/../../../x"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip() == f"error: {option} a/b/../../../x: not inside the repository {REPO}"
    assert not out.exists()
    with pytest.raises(UserError):
        in_repository(REPO, "..", option)
