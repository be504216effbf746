"""A record made before records named their baseline's source (`inputs.baseline_source`) cannot
have its regression baseline derived again: promote, rollback's check and `release verify` refuse
it with one line that names the fix, not two half-reasons (issue 14, fourth review). Real git,
DVC and pipeline; the CLI only."""

from __future__ import annotations

import json
from pathlib import Path

from conveyor.cli import main
from conveyor.release import ReleaseRecord, seal
from tests.conveyor.promotion.test_promote_trust import (  # noqa: F401 - fixtures, used by name
    _refs,
    _release,
    project,
    template,
)

FIX = (
    "records made before conveyor read the live champion name none), so its regression "
    "baseline cannot be derived again: record the release again (`conveyor release record` on "
    "its tag), or skip the check with --no-commit-check"
)


def _legacy(path: Path) -> Path:
    """The record as conveyor wrote it before the champion rule: no baseline_source."""
    data = json.loads(path.read_text())
    del data["gates"]["metrics"]["inputs"]["baseline_source"]
    legacy = path.with_name("legacy.json")
    legacy.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    return legacy


def _conveyor(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_record_from_before_the_champion_rule_is_refused_naming_the_fix(
    capsys,
    project,  # noqa: F811 - the fixture
    tmp_path,
):
    work, origin = project
    legacy = _legacy(_release(work, tmp_path / "release"))
    before = _refs(origin, work)
    code, out, err = _conveyor(
        capsys, "promote", "--env", "dev", "--record", str(legacy), "--repo", str(work)
    )
    assert code == 1, out + err
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "release v1.0.0: not the record its release made: gate 'metrics' names no " in err
    assert FIX in err
    assert "cannot be re-established" not in err  # one reason, not the same one twice
    assert _refs(origin, work) == before
    code, out, err = _conveyor(capsys, "release", "verify", str(legacy), "--repo", str(work))
    assert code == 1, out + err
    assert len(err.strip().splitlines()) == 1 and FIX in err
    # The fix it names works: skipping the commit check promotes (and says so).
    code, out, err = _conveyor(
        capsys,
        *("promote", "--env", "dev", "--record", str(legacy), "--repo", str(work)),
        "--no-commit-check",
    )
    assert code == 0, err
    assert "changed=true" in out
    assert "NOT tied to a commit" in err
