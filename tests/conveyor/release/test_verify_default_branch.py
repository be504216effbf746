"""`release verify` holds a record to the rules of a forward promotion (issue 14, item 1 left
open by the fourth review): without `--branch` it finds the default branch itself (the policy's
`origin/<base_branch>`, else that local branch; never the record's word), requires the commit
and the commit its baseline was read at on that branch's history, and refuses a record that
regresses from the champion live at its tip. Real git, DVC and pipeline; the CLI only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conveyor.release import FIRST_RELEASE, load_record
from tests.conveyor.promotion.test_promote_champion_now import released  # noqa: F401 - a fixture, used by name
from tests.conveyor.release.test_release_baseline import (  # noqa: F401 - a fixture, used by name
    _record,
    _tag_commit,
    repo,
)
from tests.conveyor.release.test_release_champion import _forge
from tests.conveyor.release.test_release_verdicts import (  # noqa: F401 - a fixture, used by name
    IMAGE,
    build_json,
    cli,
    commit,
    evidence,
    run,
    template,
)

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration


def _verify(capsys, record: Path, checkout: Path, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    return cli(capsys, "release", "verify", str(record), "--repo", str(checkout), *extra)


def _refused(code: int, out: str, err: str) -> str:
    assert code == 1, out + err
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_baseline_read_on_a_side_branch_is_refused_without_being_asked(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """The forger reads the champion on a branch where nothing runs (consistent in itself):
    refused by plain `release verify`, not only with `--branch`."""
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("wape: 0.4\n", "wape: 0.41\n"))
    run(repo, sys.executable, "-m", "dvc", "repro", "-q")
    commit(repo, "a model within the regression limit")
    code, out, err, path = _record(capsys, repo, tmp_path / "good", "v1.1.0")
    assert code == 0, out + err
    run(repo, "git", "checkout", "-q", "-b", "side")
    run(repo, "git", "rm", "-q", "deploy/environments/dev/release.json")
    side = commit(repo, "nothing runs here")
    run(repo, "git", "checkout", "-q", "main")
    forged = _forge(path, baseline_source=side, baseline_commit=FIRST_RELEASE)
    err = _refused(*_verify(capsys, forged, repo))
    assert f"baseline source {side[:12]} is not on main's history" in err
    code, out, err = _verify(capsys, path, repo)
    assert code == 0, err  # the genuine record, checked against the local main (no remote)
    assert "on main, held to the release live at its tip" in out


def test_a_baseline_read_at_an_older_tip_is_held_to_the_live_champion(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """A worse model (0.45 against the live 0.4, rule: 0.02) committed on a branch made before
    v1.0.0's promotion merged, recorded with that branch as the "default branch": no champion
    there, so its regression rules were not applied. Merged into main, the commit and the
    baseline commit are both on main's history, and the record is consistent in itself; but it
    regresses from v1.0.0, live in dev at main's tip: refused, naming the champion."""
    v1 = _tag_commit(repo, "v1.0.0")
    run(repo, "git", "checkout", "-q", "-b", "feature", v1)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("wape: 0.4\n", "wape: 0.45\n"))
    run(repo, sys.executable, "-m", "dvc", "repro", "-q")
    worse = commit(repo, "a worse model, branched before v1.0.0's promotion merged")
    where = tmp_path / "older"
    where.mkdir()
    out_path = where / "record.json"
    code, out, err = cli(
        capsys, "release", "record", "--version", "v1.1.0", "--image", IMAGE,
        "--build-json", str(build_json(repo, where)), "--repo", str(repo),
        "--data-dir", str(repo / "reports/data"), "--params", str(params),
        "--out", str(out_path), *evidence(where, repo), "--branch", "feature",
    )  # fmt: skip
    assert code == 0, out + err  # no champion on that branch: "first release"
    assert load_record(out_path).gates["metrics"].inputs["baseline_commit"] == FIRST_RELEASE
    run(repo, "git", "checkout", "-q", "main")
    run(repo, "git", "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    for extra in ((), ("--branch", "main")):
        err = _refused(*_verify(capsys, out_path, repo, *extra))
        assert f"{out_path}: not promotable: v1.1.0 regresses from the champion, " in err
        assert f"previous release v1.0.0 ({v1[:12]}), live in dev" in err
        assert "model.wape" in err
    assert load_record(out_path).git_commit == worse


def test_a_record_made_before_a_better_release_went_live_is_refused(capsys, released):  # noqa: F811
    """v1.2.0 (0.41) passed against v1.0.0 (0.4) on its release day; v1.1.0 (0.3) is live in
    dev now. `release verify` finds origin/main itself and refuses it; v1.3.0 (0.31) is within
    the rule of the live champion and verifies."""
    work = released["work"]
    err = _refused(*_verify(capsys, released["v1.2.0"], work))
    assert "v1.2.0 regresses from the champion, previous release v1.1.0" in err
    assert "live in dev" in err
    code, out, err = _verify(capsys, released["v1.3.0"], work)
    assert code == 0, err
    assert "on origin/main, held to the release live at its tip" in out


def test_no_default_branch_to_be_found_is_a_usage_error(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """Neither origin/main nor main: exit 2, one line naming --branch, before any verdict is
    re-established; --no-commit-check still works (and says NOT tied)."""
    code, out, err, path = _record(capsys, repo, tmp_path / "again", "v1.0.1")
    assert code == 0, out + err
    run(repo, "git", "branch", "-m", "main", "trunk")
    code, out, err = _verify(capsys, path, repo)
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "--branch not given, and neither origin/main nor main is in" in err
    code, out, err = _verify(capsys, tmp_path / "missing.json", repo)
    assert code == 2 and "missing.json" in err  # the record named first is read first
    code, out, err = _verify(capsys, path, repo, "--no-commit-check")
    assert code == 0, err
    assert "NOT tied to a commit" in out
    code, out, err = _verify(capsys, path, repo, "--branch", "trunk")
    assert code == 0, err
    assert "on trunk" in out
