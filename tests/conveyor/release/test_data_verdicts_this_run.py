"""The data verdicts of a release come from this run only (issue 14, review finding F):
`release record` compares each committed contract verdict with the one in the working tree,
which is the committed file itself for a contract stage the release job did not re-run (one
missing from `data-stages`). `release clean --data-dir` deletes the committed verdicts before
the stages run, as ml-release does: a contract not checked again has no verdict and is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from conveyor.release import load_record
from tests.conveyor.release.test_release_verdicts import (  # noqa: F401 - fixtures, used by name
    build_json,
    cli,
    commit,
    record,
    repo,
    run,
    template,
)
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

# A second contract, its verdict committed by its own stage.
VALIDATE_MORE = """\
import json, pathlib
verdict = {"contract": "more", "data": "data/raw.csv", "passed": True}
pathlib.Path("reports/data/more.json").write_text(json.dumps(verdict, indent=2) + "\\n")
"""


@pytest.fixture
def two_contracts(repo: Path) -> Path:  # noqa: F811 - the fixture
    (repo / "validate_more.py").write_text(VALIDATE_MORE)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())
    stages["stages"]["validate_more"] = {
        "cmd": "python validate_more.py",
        "deps": ["data/raw.csv", "validate_more.py"],
        "metrics": [{"reports/data/more.json": {"cache": False}}],
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    run(repo, sys.executable, "-m", "dvc", "repro", "-q")
    commit(repo, "a second data contract")
    return repo


def _release_job(capsys, repo: Path, stages: list[str]) -> tuple[int, str]:  # noqa: F811
    """ml-release's steps: delete the committed verdicts, re-run the listed contract stages."""
    code, out, err = cli(
        capsys, "release", "clean", "--repo", str(repo), "--data-dir", str(repo / "reports/data")
    )
    assert code == 0, err
    assert "deleted" in out and not list((repo / "reports/data").glob("*.json"))
    run(repo, sys.executable, "-m", "dvc", "repro", "-q", "--force", "--single-item", *stages)
    return code, out


def test_a_contract_not_checked_again_is_refused(capsys, two_contracts, tmp_path):
    _release_job(capsys, two_contracts, ["validate_raw"])  # validate_more left out
    code, out, err, path = record(capsys, two_contracts, tmp_path)
    assert code == 1, out + err  # recorded, not promotable
    data = load_record(path).gates["data"]
    assert not data.passed
    assert "more: not re-checked on this commit" in data.summary and "1/2" in data.summary


def test_every_contract_checked_again_passes(capsys, two_contracts, tmp_path):
    _release_job(capsys, two_contracts, ["validate_raw", "validate_more"])
    code, out, err, path = record(capsys, two_contracts, tmp_path)
    assert code == 0, out + err
    assert load_record(path).gates["data"].passed


def test_a_dirty_build_names_the_verdict_not_made_again(capsys, two_contracts, tmp_path):
    _release_job(capsys, two_contracts, ["validate_raw"])
    build = build_json(two_contracts, tmp_path, git_dirty=True)
    code, _, err, _ = record(capsys, two_contracts, tmp_path, build=build)
    assert code == 1
    assert "reports/data/more.json: not made again by this run" in err


@pytest.mark.parametrize(
    "content", ['{"passed": true}', "[]", "not json", '{"contract": "x", "passed": "yes"}']
)
def test_clean_deletes_only_contract_verdicts(capsys, repo, content):  # noqa: F811
    (repo / "reports/data/notes.json").write_text(content)
    code, _, err = cli(
        capsys, "release", "clean", "--repo", str(repo), "--data-dir", str(repo / "reports/data")
    )
    assert code == 2 and "nothing deleted" in err and len(err.strip().splitlines()) == 1
    assert (repo / "reports/data/raw.json").exists() and (repo / "reports/data/notes.json").exists()


def test_ml_release_deletes_the_verdicts_before_the_contract_stages_run():
    steps = yaml.safe_load((REPO / ".github/workflows/ml-release.yml").read_text())
    runs = [s.get("run", "") for job in steps["jobs"].values() for s in job.get("steps", [])]
    clean = next(i for i, r in enumerate(runs) if "release clean --data-dir reports/data" in r)
    stages = next(i for i, r in enumerate(runs) if "$DATA_STAGES" in r)
    assert clean < stages
    # The folder cleaned is the one `release record` reads: its default --data-dir, reports/data.
    record = next(r for r in runs if "conveyor release record" in r)
    assert "--data-dir" not in record
