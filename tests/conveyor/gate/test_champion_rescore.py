"""`conveyor gate --champion prod`: the baseline is the model live in prod, fetched at its
release's commit with DVC and scored again on the current holdout, not the metrics committed at
that commit (measured on another data window). Real git, DVC, remote and model: no mocks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.champion_repos import (
    commit_harder_window,
    conveyor,
    edit_params,
    go_live,
    make_project,
    run,
)
from tests.promotion_repos import git

pytestmark = [pytest.mark.integration, pytest.mark.pipeline]

WAPE = "metrics/metrics.json:model.wape"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """The champion trained, pushed and live in prod; its commit's metrics file says what its
    own (older, harder) window gave; then a weak challenger trained in the working tree."""
    root = tmp_path_factory.mktemp("champion")
    work = make_project(root)
    # What the champion's commit records: metrics of its own window. Set here to a harder
    # window's figures (worse than any model on this data, overall and per slice), so a gate
    # reading them passes a weak challenger.
    champion = commit_harder_window(work)
    go_live(work, "prod", "v1.0.0", champion)
    # The champion scored by hand on the current data, for comparison with what the gate did.
    shutil.copy(work / "models/model.txt", root / "champion-model.txt")
    by_hand = root / "by-hand"
    run(
        work,
        "python",
        "-m",
        "forecast",
        "evaluate",
        "--model",
        str(root / "champion-model.txt"),
        "--metrics",
        str(by_hand / "metrics.json"),
        "--slices",
        str(by_hand / "slices.json"),
        "--plots",
        str(by_hand / "plots"),
    )
    # A weak challenger: a few boosting rounds only.
    edit_params(work, {"train.num_boost_round": 8})
    run(work, "dvc", "repro")
    # Nothing of the champion in the local cache: the gate must fetch it from the remote.
    shutil.rmtree(work / ".dvc/cache")
    return {
        "work": work,
        "root": root,
        "champion": champion,
        "by_hand": json.loads((by_hand / "metrics.json").read_text()),
        "by_hand_slices": json.loads((by_hand / "slices.json").read_text()),
    }


def _verdict(out: Path) -> dict:
    return json.loads((out / "gate.json").read_text())


def _check(verdict: dict, metric: str) -> dict:
    return next(c for c in verdict["checks"] if c["metric"] == metric)


def test_committed_metrics_pass_the_weak_challenger_but_the_rescored_champion_fails_it(project):
    work, root = project["work"], project["root"]
    old = conveyor(work, "gate", "--baseline-ref", project["champion"], "--out", str(root / "o"))
    assert old.returncode == 0, old.stdout + old.stderr  # 40 on the old window: "better"
    result = conveyor(work, "gate", "--champion", "prod", "--out", str(root / "g"))
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = _verdict(root / "g")
    wape = _check(verdict, WAPE)
    assert wape["verdict"] == "fail"
    # The baseline is the champion's model scored now, not the 40 its commit recorded.
    assert wape["baseline"] == project["by_hand"]["model"]["wape"] != 40.0
    assert wape["current"] > wape["baseline"]
    assert verdict["baseline_commit"] == project["champion"]
    assert "v1.0.0 live in prod" in verdict["baseline_ref"]
    # Per slice too: each region's baseline is the champion's figure on the current holdout.
    for region, figures in project["by_hand_slices"]["region"].items():
        check = _check(verdict, f"metrics/slices.json:region.{region}.model.wape")
        assert check["baseline"] == figures["model"]["wape"]


def test_gate_json_carries_both_models_side_by_side_and_the_report_shows_them(project):
    work, root = project["work"], project["root"]
    conveyor(work, "gate", "--champion", "prod", "--out", str(root / "s"))
    champion = _verdict(root / "s")["champion"]
    assert champion["env"] == "prod" and champion["version"] == "v1.0.0"
    rows = {row["metric"]: row for row in champion["rows"]}
    current = json.loads((work / "metrics/metrics.json").read_text())
    for name in ("wape", "mae", "rmse", "bias"):  # every model metric beside the gated one
        row = rows[f"metrics/metrics.json:model.{name}"]
        assert row["champion"] == project["by_hand"]["model"][name]
        assert row["challenger"] == current["model"][name]
    assert any(".category." not in m and m.startswith("metrics/slices.json:region.") for m in rows)
    report = root / "report.md"
    done = conveyor(
        work,
        "report",
        "--gate",
        str(root / "s/gate.json"),
        "--out",
        str(report),
        "--plots-dir",
        str(root / "plots"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = report.read_text()
    assert "## Champion vs challenger" in text
    assert "region." in text.split("## Champion vs challenger")[1]
    # Metrics of the champion's commit were measured on another window: not shown as a diff.
    assert "## Metrics diff" not in text
    assert "## Params diff" in text


def test_the_champion_itself_as_challenger_passes_with_no_change(project, tmp_path):
    """A clone of main (the champion's model, pulled from the remote) against itself."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(project["root"] / "origin.git"), str(clone))
    run(clone, "dvc", "pull")
    run(clone, "dvc", "repro", "evaluate")  # the committed metrics are the old window's
    result = conveyor(clone, "gate", "--champion", "prod", "--out", str(tmp_path / "g"))
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = _verdict(tmp_path / "g")
    assert all(c["delta"] in (0, None) for c in verdict["checks"])
    assert _check(verdict, WAPE)["baseline"] == project["by_hand"]["model"]["wape"]


def test_bad_input_is_one_line_and_exit_2(project, tmp_path):
    work = project["work"]
    out = tmp_path / "g"

    def refused(*args: str) -> str:
        result = conveyor(work, "gate", *args, "--out", str(out))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not (out / "gate.json").exists()
        return result.stderr

    assert "no such environment" in refused("--champion", "qa")
    assert "give --champion" in refused("--branch", "origin/main")
    refused("--champion", "prod", "--baseline-ref", "HEAD")
    assert "no such branch" in refused("--champion", "prod", "--branch", "origin/nope")


def test_a_champion_whose_model_is_nowhere_is_exit_2_naming_it(project, tmp_path):
    """A release whose commit names a model DVC has neither in its cache nor in the remote."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(project["root"] / "origin.git"), str(clone))
    lock = clone / "dvc.lock"
    text = lock.read_text()
    marker = "path: models/model.txt\n      hash: md5\n      md5: "
    start = text.index(marker, text.index("  train:")) + len(marker)
    lock.write_text(text[:start] + "0" * 32 + text[start + 32 :])
    git(clone, "commit", "--quiet", "-am", "a model never pushed")
    lost = git(clone, "rev-parse", "HEAD")
    live = go_live(clone, "prod", "v1.1.0", lost, push=False)
    out = tmp_path / "g"
    result = conveyor(clone, "gate", "--champion", "prod", "--branch", live, "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"champion model models/model.txt at {lost[:12]} cannot be fetched" in result.stderr
    # DVC's own reason, not the support banner it prints after it.
    assert "Having any troubles" not in result.stderr and "not a valid value" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (out / "gate.json").exists()


def test_a_champion_whose_commit_is_not_in_the_clone_is_exit_2_saying_to_fetch_it(
    project, tmp_path
):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(project["root"] / "origin.git"), str(clone))
    absent = "ab" * 20
    live = go_live(clone, "prod", "v1.1.0", absent, push=False)
    out = tmp_path / "g"
    result = conveyor(clone, "gate", "--champion", "prod", "--branch", live, "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"its commit {absent[:12]} is not in this clone" in result.stderr
    assert "fetch-depth: 0" in result.stderr and "push it to the DVC remote" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (out / "gate.json").exists()


def test_no_release_live_falls_back_to_the_bounds_and_says_so(project, tmp_path):
    result = conveyor(project["work"], "gate", "--champion", "staging", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no release is live in staging" in result.stdout
    verdict = _verdict(tmp_path)
    assert verdict["baseline_commit"] == "none" and "champion" not in verdict
    assert _check(verdict, WAPE)["verdict"] == "no baseline"
