"""A release's regression baseline is the live champion, read at the default branch's tip
(issue 14, item 1 of the release baseline): the release live in the promotion policy's last
environment that has one (prod, else staging, else dev), whose own record must still hold.

Each bypass of the old rule ("the highest promoted record in the released commit's history") is
reproduced here and refused: (a) a promotion merged after the model commit, (b) an old commit
re-released under a new tag or a pre-release, (c) a record hand-committed in a folder the policy
does not name, or a hand-edited, re-sealed one where the policy looks. `release verify` derives
the champion again from the base-branch commit the record names. Real git and DVC, the CLI only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.release import FIRST_RELEASE, ReleaseRecord, load_record, seal
from tests.conveyor.promotion.test_promote_trust import (  # noqa: F401 - a fixture, used by name
    _refs,
    _release,
    project,
)
from tests.conveyor.release.test_release_baseline import (  # noqa: F401 - a fixture, used by name
    _model,
    _record,
    _tag_commit,
    promote_record,
    released_as,
    repo,
)
from tests.conveyor.release.test_release_verdicts import (  # noqa: F401 - a fixture, used by name
    build_json,
    cli,
    commit,
    evidence,
    run,
    template,
)

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

IMAGE = f"ghcr.io/acme/forecaster@sha256:{'ab' * 32}"


def _head(checkout: Path) -> str:
    return run(checkout, "git", "rev-parse", "HEAD").stdout.strip()


def _saved(checkout: Path, where: Path) -> Path:
    """A copy of the v1.0.0 record the fixture promoted to dev."""
    saved = where / "v1.0.0.json"
    shutil.copyfile(checkout / "deploy/environments/dev/release.json", saved)
    return saved


def _forge(path: Path, **inputs: str | None) -> Path:
    """The record with its metric verdict's inputs changed (None: dropped), sealed again."""
    data = json.loads(path.read_text())
    metrics = data["gates"]["metrics"]["inputs"]
    for key, value in inputs.items():
        if value is None:
            metrics.pop(key)
        else:
            metrics[key] = value
    forged = path.with_name("forged.json")
    forged.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    return forged


# --- (a) a promotion merged after the model commit ----------------------------------------------


def test_a_promotion_merged_after_the_model_commit_is_still_the_baseline(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """The worse model was committed on a branch made before v1.0.0's promotion merged: that
    promotion is not in its history, yet it is what runs, so it is the baseline."""
    v1 = _tag_commit(repo, "v1.0.0")
    run(repo, "git", "checkout", "-q", "-b", "feature", v1)
    worse = _model(repo, 0.45, "a worse model, branched before v1.0.0's promotion merged")
    run(repo, "git", "checkout", "-q", "main")
    run(repo, "git", "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    tip = _head(repo)
    run(repo, "git", "checkout", "-q", "v1.1.0")  # the release job checks out the tag
    code, out, err, path = _record(capsys, repo, tmp_path / "a", "v1.1.0")
    assert code == 1, out + err
    assert f"against previous release v1.0.0 ({v1[:12]}), live in dev at {tip[:12]}" in out
    assert "0.05 worse than baseline, more than the allowed 0.02" in out
    inputs = load_record(path).gates["metrics"].inputs
    assert inputs["baseline_commit"] == v1
    assert inputs["baseline_source"] == tip
    assert load_record(path).git_commit == worse


# --- (b) an old commit re-released ---------------------------------------------------------------


def test_an_old_commit_re_released_under_a_new_tag_is_compared_with_the_champion(
    capsys,
    repo,  # noqa: F811 - the fixture
    tmp_path,
):
    """v1.1.0 (wape 0.3) runs in prod; v1.0.0's commit (wape 0.4) tagged again as v1.2.0, or as
    a pre-release, is 0.1 worse than what runs: refused. The champion is prod's, not dev's."""
    v1 = _tag_commit(repo, "v1.0.0")
    better = _model(repo, 0.3, "a better model")
    code, out, err, path = _record(capsys, repo, tmp_path / "v1.1.0", "v1.1.0")
    assert code == 0, out + err
    promote_record(repo, path, "prod")  # dev still runs v1.0.0
    tip = _head(repo)
    run(repo, "git", "checkout", "-q", v1)
    for version in ("v1.2.0", "v1.2.0-rc.1"):
        run(repo, "git", "tag", version)
        code, out, err, path = _record(capsys, repo, tmp_path / version, version)
        assert code == 1, out + err
        assert f"against previous release v1.1.0 ({better[:12]}), live in prod at {tip[:12]}" in out
        assert "0.1 worse than baseline" in out
        assert load_record(path).gates["metrics"].inputs["baseline_commit"] == better


# --- (c) records the policy does not vouch for ---------------------------------------------------


def test_a_record_in_a_folder_the_policy_does_not_name_is_no_baseline(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """A re-sealed record committed in deploy/environments/qa (no environment of the policy)
    names the worse model as a high release: it is never the baseline. The release is refused
    loudly (a release may run there that nothing compares with), naming the folder and the
    policy, and no record is written."""
    worse = _model(repo, 0.45, "a worse model")
    tip = released_as(repo, _saved(repo, tmp_path), "v9.0.0", worse, "qa")
    code, out, err, path = _record(capsys, repo, tmp_path / "c", "v1.1.1")
    assert code == 1, out + err
    assert err.strip() == (
        f"error: deploy/environments/qa at {tip[:12]} holds a release, but "
        "policies/promotion.yaml names no environment 'qa': name it there (or remove the "
        "folder), or the champion it may run is not compared with"
    )
    assert not path.exists()


def test_a_hand_edited_champion_is_refused_not_skipped(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """v1.0.0's record re-sealed as v1.0.1 of the worse model's commit, committed in prod: its
    verdicts are not that commit's. Refused with one line naming the file and the commit; never
    passed over (that would leave no baseline)."""
    worse = _model(repo, 0.45, "a worse model")
    tip = released_as(repo, _saved(repo, tmp_path), "v1.0.1", worse, "prod")
    code, out, err, path = _record(capsys, repo, tmp_path / "c", "v1.1.1")
    assert code == 1, out + err
    assert err.startswith(
        f"error: deploy/environments/prod/release.json at {tip[:12]}: the champion (v1.0.1) "
        "does not stand"
    )
    assert f"gate 'metrics' does not match commit {worse[:12]}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not path.exists()
    # Bytes that are no record at all where the champion should be: refused the same way.
    (repo / "deploy/environments/prod/release.json").write_text("{not json")
    tip = commit(repo, "a broken record in prod")
    code, out, err, path = _record(capsys, repo, tmp_path / "broken", "v1.1.1")
    assert code == 1, out + err
    assert (
        f"the champion does not stand: deploy/environments/prod/release.json at {tip[:12]}" in err
    )
    assert not path.exists()


# --- the default branch must be there ------------------------------------------------------------


def test_without_the_default_branch_the_record_is_a_usage_error(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    """No --branch and no origin/main (a shallow checkout): never "no baseline", exit 2."""
    out = tmp_path / "out" / "record.json"
    code, stdout, err = cli(
        capsys,
        *("release", "record", "--version", "v1.1.0", "--image", IMAGE),
        *("--build-json", str(build_json(repo, tmp_path)), "--repo", str(repo)),
        *("--data-dir", str(repo / "reports/data"), "--params", str(repo / "params.yaml")),
        *("--out", str(out)),
        *evidence(tmp_path, repo),
    )
    assert code == 2, stdout + err
    assert "--branch origin/main: no such branch or ref" in err
    assert "fetch-depth: 0" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


# --- release verify derives the champion again -------------------------------------------------


def test_verify_refuses_a_record_whose_baseline_was_swapped_or_dropped(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    v1 = _tag_commit(repo, "v1.0.0")
    head = _model(repo, 0.41, "a model within the regression limit")
    code, out, err, path = _record(capsys, repo, tmp_path / "good", "v1.1.0")
    assert code == 0, out + err
    source = load_record(path).gates["metrics"].inputs["baseline_source"]
    assert source == head
    code, out, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 0, err
    code, out, err = cli(
        capsys, "release", "verify", str(path), "--repo", str(repo), "--branch", "main"
    )
    assert code == 0, err

    def refused(forged: Path, *extra: str) -> str:
        code, _, err = cli(capsys, "release", "verify", str(forged), "--repo", str(repo), *extra)
        assert code == 1, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        return err

    # "First release" while the branch commit had a champion.
    err = refused(_forge(path, baseline_commit=FIRST_RELEASE))
    assert (
        f"gate 'metrics' names no baseline (first release), but at {source[:12]} the baseline "
        f"is previous release v1.0.0 ({v1[:12]})" in err
    )
    # Another commit as the baseline (the model itself: no regression possible).
    err = refused(_forge(path, baseline_commit=head))
    assert f"names baseline {head[:12]}, but at {source[:12]}" in err
    # The source dropped: the baseline cannot be derived again.
    err = refused(_forge(path, baseline_source=None))
    assert "names no baseline_source" in err
    # An earlier tip of main, before v1.0.0 was promoted: it does not contain the release.
    err = refused(_forge(path, baseline_source=v1, baseline_commit=FIRST_RELEASE))
    assert f"baseline source {v1[:12]} does not contain commit {head[:12]}" in err
    # A side branch on which nothing runs: consistent in itself, but not the default branch.
    run(repo, "git", "checkout", "-q", "-b", "side")
    run(repo, "git", "rm", "-q", "deploy/environments/dev/release.json")
    side = commit(repo, "nothing runs here")
    run(repo, "git", "checkout", "-q", "main")
    err = refused(
        _forge(path, baseline_source=side, baseline_commit=FIRST_RELEASE), "--branch", "main"
    )
    assert f"baseline source {side[:12]} is not on main's history" in err


# --- promotion derives the champion again, where the base branch says ----------------------------


def test_promote_refuses_a_baseline_read_off_the_base_branch(capsys, project, tmp_path):  # noqa: F811 - the fixture
    """A record whose baseline was read on a side branch where nothing runs (consistent in
    itself) is refused by promote: the champion is the base branch's. Nothing moves."""
    work, origin = project
    genuine = _release(work, tmp_path / "release")
    run(work, "git", "checkout", "-q", "-b", "side")
    side = commit(work, "a branch where no release runs")
    run(work, "git", "checkout", "-q", "main")
    forged = _forge(genuine, baseline_source=side)
    before = _refs(origin, work)
    capsys.readouterr()  # only what promote says
    code = main(["promote", "--env", "dev", "--record", str(forged), "--repo", str(work)])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert f"its baseline was read at {side}, which is not on origin/main's history" in err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert _refs(origin, work) == before
    # The genuine record, read on main, promotes.
    code = main(["promote", "--env", "dev", "--record", str(genuine), "--repo", str(work)])
    assert code == 0, capsys.readouterr().err
