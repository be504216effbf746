"""Real repositories for champion and retraining tests: a git project with this repository's
ingest → prepare → train → evaluate stages on small data, a DVC remote on disk, a bare `origin`,
and a release live in prod whose commit is a trained model (as promotion leaves it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.forecasts_contract import sized_forecasts_contract
from tests.promotion_repos import IDENTITY, REPO, git, record

BIN = Path(sys.executable).parent
STAGES = ("ingest", "prepare", "train", "evaluate")  # the model's own stages: what a retrain runs
# Small data (3 clubs x 12 items) that ends on 2024-04-24 (480 days from 2023-01-01); the first
# window stops four weeks earlier, so moving `data.end_date` forward brings four weeks of new data.
SHAPE = {"n_clubs": 3, "n_items": 12, "n_days": 480, "seed": 7}
FIRST_END = "2024-03-27"


def env(**extra: str) -> dict[str, str]:
    """A quiet, offline environment whose `python` and `conveyor` are this interpreter's."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "GIT_")) and key not in ("GH_TOKEN", "RUNNER_TEMP")
    }
    return {
        **base,
        **IDENTITY,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        **extra,
    }


def run(cwd: Path, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    """Run a command in ``cwd``; with ``check``, fail the test with its output when it fails."""
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, check=False, env=env(**extra), timeout=900
    )
    if check:
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def conveyor(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """`conveyor ARGS` in ``cwd``, failed or not."""
    return run(cwd, str(BIN / "conveyor"), *args, check=False, **extra)


def edit_params(project: Path, change: dict[str, Any]) -> None:
    """Set dotted keys of params.yaml (``{"train.num_boost_round": 5}``)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(root: Path) -> Path:
    """A clone of a fresh bare ``root/origin.git`` holding the small project, its first
    pipeline run committed and pushed (git and DVC); returns the clone."""
    origin = root / "origin.git"
    git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    project = root / "project"
    git(root, "clone", "--quiet", str(origin), str(project))
    for name in ("params.yaml", "policies/promotion.yaml"):
        if (REPO / name).exists():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, project / name)
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    stages = {name: pipeline["stages"][name] for name in STAGES}
    # No contract stages (their verdicts are no inputs here) and no source tree: the model's
    # code is the installed package.
    for stage in stages.values():
        stage["deps"] = [d for d in stage["deps"] if not str(d).startswith(("reports/", "src/"))]
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["synthetic"].update(SHAPE)
    params["data"]["end_date"] = FIRST_END
    params["train"].update(num_boost_round=40, num_threads=1)
    loosen_bounds(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / ".gitignore").write_text("/reports/\n/plots/*.png\n")
    run(project, "dvc", "init", "--quiet")
    run(project, "dvc", "config", "core.analytics", "false")
    run(project, "dvc", "config", "core.check_update", "false")
    # The project's remote, on disk, in its committed config (a clone's `dvc get` reads it).
    remote = root / "dvc-remote"
    run(project, "dvc", "remote", "add", "--force", "--default", "local", str(remote))
    run(project, "dvc", "repro")
    run(project, "dvc", "push")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "first pipeline run")
    git(project, "push", "--quiet", "origin", "main")
    return project


def loosen_bounds(params: dict[str, Any]) -> None:
    """The gate rules' absolute bounds are the default data's: small data gets its own (the
    comparisons with a baseline stay as they are)."""
    for rule in params["gates"]["rules"]:
        rule.update({k: v for k, v in (("max", 50.0), ("min", -50.0)) if k in rule})


# Small data for a whole pipeline run (3 clubs x 12 items, the same three years): every stage
# in seconds; the contracts' row counts follow it.
SMALL = {"n_clubs": 3, "n_items": 12}


def small_project(work: Path, end_date: str = "latest", older_window: bool = False) -> None:
    """``work`` (this repository's pipeline, or a project generated from it) on small data:
    params (the gate's absolute bounds the small data's, 20 rounds), and the contracts' row
    counts to match. The contracts pin their reference date to the built-in data's last day and
    want data at most 7 days older: an ``older_window`` (up to four weeks) gets 35 (a live
    source would say `reference_date: today`)."""
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["data"]["synthetic"].update(SMALL)
    params["data"]["end_date"] = end_date
    params["train"].update(num_boost_round=20, num_threads=1)
    loosen_bounds(params)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    horizon = params["features"]["horizon_days"]
    for contract in (work / "policies/data").glob("*.yaml"):
        spec = yaml.safe_load(contract.read_text())
        if contract.stem == "forecasts":
            sized_forecasts_contract(spec, SMALL["n_clubs"], SMALL["n_items"], horizon)
        elif "rows" in spec:
            spec["rows"] = {"min": 1, "max": 10_000_000}
        pinned = str(spec.get("freshness", {}).get("reference_date", "today")) != "today"
        if older_window and pinned:
            spec["freshness"]["max_age_days"] = 35
        contract.write_text(yaml.safe_dump(spec, sort_keys=False))


def go_live(project: Path, env_name: str, version: str, commit: str, push: bool = True) -> str:
    """Commit a sealed release record of ``commit`` as live in ``env_name`` (pushed to main
    with ``push``), as a merged promotion leaves it; return the new commit."""
    path = project / "deploy/environments" / env_name / "release.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record(version, commit=commit), indent=2))
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", f"promote {version} to {env_name}")
    if push:
        git(project, "push", "--quiet", "origin", "main")
    return git(project, "rev-parse", "HEAD")


def harder_window(document: dict) -> dict:
    """Every model WAPE 40 and every skill -40: a window where the champion did badly."""
    for key, value in document.items():
        if isinstance(value, dict):
            if key in ("model", "skill") and "wape" in value:
                value["wape"] = 40.0 if key == "model" else -40.0
            else:
                harder_window(value)
    return document


def commit_harder_window(work: Path) -> str:
    """Commit (and push) metrics of a harder window than this data's in ``work``: what a
    champion's commit records of its own window, which any model here beats. Returns the
    commit."""
    for name in ("metrics/metrics.json", "metrics/slices.json"):
        (work / name).write_text(json.dumps(harder_window(json.loads((work / name).read_text()))))
    git(work, "commit", "--quiet", "-am", "the champion's metrics on its own window")
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD")
