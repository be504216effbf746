"""retrain.yml → ml-retrain.yml, run for real with act (issue #18): prod runs a model trained on
an older window with fewer rounds; the retraining moves the window to the data's last day, runs
`dvc repro`, re-scores the champion on the same fresh holdout, pushes what the challenger trained
and opens its one pull request. GitHub is the recording `gh` stand-in (tests/gh_stub.py): what
would reach it is asserted. The command-by-command flow, a worse challenger and a re-run are in
tests/conveyor/retrain/test_retrain_publish.py; this file proves the workflow's wiring."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.champion_repos import edit_params, go_live
from tests.e2e.test_workflows_act import Sandbox, _origin_and_work, sandbox  # noqa: F401
from tests.gh_stub import GhStub
from tests.promotion_repos import git

pytestmark = pytest.mark.pipeline

PR_URL = "https://github.com/acme/conveyor/pull/9"


def _trained(work: Path, env: dict[str, str], message: str) -> str:
    """`dvc repro` and `dvc push --run-cache` in ``work``, committed and pushed; the commit."""
    for command in (["dvc", "repro"], ["dvc", "push", "--run-cache"]):
        done = subprocess.run(
            command, cwd=work, capture_output=True, text=True, check=False, env=env
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", message)
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD")


def test_a_better_challenger_pushes_its_branch_and_opens_one_pull_request(
    sandbox: Sandbox,  # noqa: F811
    tmp_path: Path,
) -> None:
    origin, work, env = _origin_and_work(sandbox, tmp_path)
    env = {**env, "BENTOML_HOME": str(sandbox.root / "bentoml"), "DVC_NO_ANALYTICS": "1"}
    last_day = pl.read_parquet(sandbox.repo / "data/raw/sales.parquet")["date"].max()
    assert isinstance(last_day, dt.date)
    older = (last_day - dt.timedelta(days=28)).isoformat()
    # The champion: four weeks older data, 20 rounds; it goes live in prod. The contracts pin
    # their reference date to the built-in data's last day and want data at most 7 days older:
    # the older window needs 35 (a live source would say `reference_date: today`).
    pinned = f"reference_date: '{last_day.isoformat()}'"
    contracts = [c for c in (work / "policies/data").glob("*.yaml") if pinned in c.read_text()]
    assert contracts
    for contract in contracts:
        text = contract.read_text()
        assert "max_age_days: 7\n" in text
        contract.write_text(text.replace("max_age_days: 7\n", "max_age_days: 35\n"))
    edit_params(work, {"data.end_date": older, "train.num_boost_round": 20})
    champion = _trained(work, env, "the champion: an older window, 20 rounds")
    go_live(work, "prod", "v1.0.0", champion)
    # Main trains 60 rounds since; the retraining brings the four newest weeks.
    edit_params(work, {"train.num_boost_round": 60})
    _trained(work, env, "train 60 rounds")

    stub = GhStub(tmp_path / "gh", {"pr list": "", "pr create": PR_URL})
    box = Sandbox(sandbox.root)
    box.repo, box.base = work, champion
    payload = {"inputs": {"to": last_day.isoformat()}}
    run = box.run_workflow(
        "retrain",
        "workflow_dispatch",
        "retrain.yml",
        payload,
        "--remote-name",
        "github",
        gh=(stub.path / "gh").read_text(),
    )
    assert run.jobs.get("retrain") == "success", run.failed_because()
    assert "Running stage 'train'" in run.log  # the new window was trained, not pulled
    # The branch: main plus the retraining (the window in params, the new lock), on origin.
    branch = f"retrain/{last_day.isoformat()}"
    head = git(origin, "rev-parse", branch)
    assert git(origin, "rev-parse", f"{head}^") == git(origin, "rev-parse", "main")
    assert f'end_date: "{last_day.isoformat()}"' in git(origin, "show", f"{head}:params.yaml")
    changed = git(origin, "diff", "--name-only", f"{head}^", head).split()
    assert {"params.yaml", "dvc.lock", "metrics/metrics.json"} <= set(changed)
    # One pull request, from that branch to main, carrying the champion-vs-challenger report.
    calls, bodies = stub.calls(), stub.bodies()
    creates = [i for i, c in enumerate(calls) if c[:2] == ["pr", "create"]]
    assert len(creates) == 1, calls
    create = calls[creates[0]]
    assert create[create.index("--head") + 1] == branch
    assert create[create.index("--base") + 1] == "main"
    assert "## Champion vs challenger" in (bodies[creates[0]] or "")
    assert "v1.0.0" in (bodies[creates[0]] or "")  # the champion named by its release
    # What the challenger trained is in the DVC remote: its PR's CI and its release pull it.
    lock = yaml.safe_load(git(origin, "show", f"{head}:dvc.lock"))
    (model,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.txt"]
    stored = sandbox.root / "dvc-remote" / "files" / "md5" / model["md5"][:2] / model["md5"][2:]
    assert stored.is_file(), stored
    # The gate re-scored the champion on the challenger's holdout, and passed it.
    (gate_file,) = (box.artifacts / "retrain").rglob("gate.json")
    gate = json.loads(gate_file.read_text())
    assert gate["passed"] is True and gate["champion"]["version"] == "v1.0.0"
