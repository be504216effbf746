"""A release's metric gate compares with the previous release (issue 14, item 2).

`gates.baseline_ref: HEAD` made every `max_regression` rule compare the tagged commit with
itself, so none could fail at release. The baseline is the champion: the release live in the
promotion policy's last environment that has one, at the default branch's tip
(tests/conveyor/release/test_release_champion.py covers how it is found). A tag alone is no
evidence that a release passed. A first release says its regression rules were not applied. Real
git and DVC; the record's inputs carry the baseline and `release verify` derives it again.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conveyor.release import FIRST_RELEASE, ReleaseRecord, load_record, seal
from tests.conveyor.release.test_release_verdicts import (
    IMAGE,
    build_json,
    cli,
    commit,
    evidence,
    run,
    template,  # noqa: F401 - a fixture, used by name
)

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

GATES = """\
gates:
  baseline_ref: HEAD
  rules:
    - metric: metrics/metrics.json:model.wape
      better: lower
      max: 0.5
      max_regression: {atol: 0.02}
"""


def promote_record(repo: Path, record: Path, env: str = "dev") -> str:
    """Commit ``record`` as ``env``'s live release, as a merged promotion leaves it."""
    target = repo / "deploy/environments" / env / "release.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(record, target)
    return commit(repo, f"promote {json.loads(record.read_text())['version']} to {env}")


def released_as(repo: Path, record: Path, version: str, source: str, env: str) -> str:
    """Commit a copy of ``record`` (re-sealed) as release ``version`` of commit ``source``."""
    data = json.loads(record.read_text()) | {"version": version, "git_commit": source}
    copy = record.with_name(f"{version}.json")
    copy.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    return promote_record(repo, copy, env)


@pytest.fixture
def repo(capsys, template: Path, tmp_path: Path) -> Path:  # noqa: F811 - the fixture
    """The pipeline repository (wape 0.4) with a regression rule, released as v1.0.0 (an
    annotated tag, as `git tag -a` makes) and promoted to dev (its record committed)."""
    copy = tmp_path / "repo"
    shutil.copytree(template, copy, symlinks=True)
    params = copy / "params.yaml"
    text = params.read_text()
    params.write_text(text[: text.index("gates:")] + GATES)
    commit(copy, "a regression rule")
    run(copy, "git", "tag", "-a", "-m", "release v1.0.0", "v1.0.0")
    code, out, err, path = _record(capsys, copy, tmp_path / "v1.0.0", "v1.0.0")
    assert code == 0, out + err
    promote_record(copy, path)
    return copy


def _model(repo: Path, wape: float, message: str) -> str:
    """Re-run the pipeline with a model of this wape and commit it; tag it v1.1.0 (the tag the
    release job runs for) plus a tag that is no release."""
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("wape: 0.4\n", f"wape: {wape}\n"))
    run(repo, sys.executable, "-m", "dvc", "repro", "-q")
    head = commit(repo, message)
    run(repo, "git", "tag", "v1.1.0")
    run(repo, "git", "tag", "latest")
    return head


def _record(
    capsys, repo: Path, tmp_path: Path, version: str = "v1.1.0"
) -> tuple[int, str, str, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out" / "record.json"
    code, stdout, err = cli(
        capsys,
        *("release", "record", "--version", version, "--image", IMAGE),
        *("--build-json", str(build_json(repo, tmp_path))),
        *("--repo", str(repo), "--data-dir", str(repo / "reports/data")),
        *("--params", str(repo / "params.yaml"), "--out", str(out)),
        *evidence(tmp_path, repo),
        *("--branch", "main"),  # no remote here: main is the default branch
    )
    return code, stdout, err, out


def _tag_commit(repo: Path, tag: str) -> str:
    return run(repo, "git", "rev-parse", f"{tag}^{{commit}}").stdout.strip()


def test_a_model_that_regressed_past_the_previous_release_is_refused(capsys, repo, tmp_path):
    _model(repo, 0.45, "a worse model, still under max 0.5")
    code, out, err, path = _record(capsys, repo, tmp_path)
    assert code == 1, err
    refusals = [line for line in out.splitlines() if "not promotable" in line]
    assert len(refusals) == 1, out
    v1 = _tag_commit(repo, "v1.0.0")
    assert "gate 'metrics' did not pass: 1 of 1 rules failed against previous release " in out
    assert f"v1.0.0 ({v1[:12]})" in refusals[0]
    assert "0.05 worse than baseline, more than the allowed 0.02" in refusals[0]
    written = load_record(path)
    assert written.gates["metrics"].inputs["baseline_commit"] == v1


def test_a_good_second_release_is_tied_to_the_first_and_verify_derives_it(capsys, repo, tmp_path):
    head = _model(repo, 0.41, "a model within the regression limit")
    code, out, err, path = _record(capsys, repo, tmp_path)
    assert code == 0, out + err
    v1 = _tag_commit(repo, "v1.0.0")
    metrics = load_record(path).gates["metrics"]
    assert metrics.inputs["baseline_commit"] == v1
    assert f"against previous release v1.0.0 ({v1[:12]})" in metrics.summary
    code, out, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 0, err
    assert f"tied to {head[:12]}" in out
    # A record claiming a weaker baseline (none at all), re-sealed, does not match its commit.
    data = json.loads(path.read_text())
    data["gates"]["metrics"]["inputs"]["baseline_commit"] = FIRST_RELEASE
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    code, _, err = cli(capsys, "release", "verify", str(forged), "--repo", str(repo))
    assert code == 1
    assert "gate 'metrics' does not match commit" in err
    assert "its inputs differ (baseline_commit)" in err
