"""The real DVC pipeline, end to end, in a throw-away copy of this repository (small data).

These tests run `dvc repro`, `dvc exp run` and `dvc push/pull` for real, with the project's
own dvc.yaml, params.yaml and .dvc/config, and a private BentoML home.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml
from markdown_it import MarkdownIt
from polars.testing import assert_frame_equal

from conveyor.hashing import file_md5
from tests.forecasts_contract import sized_forecasts_contract
from tests.model_fixtures import SMALL
from tests.paths import REPO

pytestmark = pytest.mark.pipeline

OUTPUTS = ("data/raw/sales.parquet", "data/features/features.parquet", "models/model.txt")


def _run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def _tracked_files() -> list[str]:
    listing = _run(REPO, "git", "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return [name for name in listing.stdout.split("\0") if name and (REPO / name).is_file()]


def _hashes(workspace: Path) -> dict[str, str]:
    """md5 of the outputs downstream of ingest: the features and the model."""
    return {name: file_md5(workspace / name) for name in OUTPUTS[1:]}


def _repro_with_params(
    workspace: Path, edit: Callable[[dict], object]
) -> subprocess.CompletedProcess[str]:
    """`dvc repro` with params.yaml changed by ``edit``; params.yaml is put back afterwards."""
    params_file = workspace / "params.yaml"
    good = params_file.read_text()
    params = yaml.safe_load(good)
    edit(params)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        return _run(workspace, "dvc", "repro", check=False)
    finally:
        params_file.write_text(good)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Iterator[Path]:
    """A git repository holding this project's files, small params, and one `dvc repro` done."""
    root = tmp_path_factory.mktemp("pipeline") / "repo"
    for name in _tracked_files():
        if (
            name.startswith(("data/", "models/", "metrics/", "plots/", "reports/"))
            or name == "dvc.lock"
        ):
            continue  # start as a fresh clone would, before any pipeline run
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["synthetic"].update(SMALL)
    params["train"]["num_boost_round"] = 40
    # Absolute bounds in params.yaml fit the default data; a small data set keeps the rules'
    # regression limits and gets loose bounds, as a team adopting conveyor would set its own.
    for rule in params["gates"]["rules"]:
        rule.update({k: v for k, v in (("max", 5.0), ("min", -5.0)) if k in rule})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    saved = {name: os.environ.get(name) for name in ("BENTOML_HOME", "PATH")}
    os.environ["BENTOML_HOME"] = str(root.parent / "bentoml")
    # DVC stage commands run the first `python` on PATH: make it this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    # The repository's contracts describe the default data; adopt the small data set the way a
    # team adopts its own: profile it and commit the proposed contracts.
    _run(root, sys.executable, "-m", "forecast", "ingest")
    _run(root, sys.executable, "-m", "forecast", "prepare")
    for name, data in (
        ("raw_sales", "data/raw/sales.parquet"),
        ("features", "data/features/features.parquet"),
    ):
        _run(
            root,
            "conveyor",
            "check",
            "profile",
            data,
            "--out",
            f"policies/data/{name}.yaml",
            "--key",
            "club_id,item_id,date",
        )
    # The batch's contract counts the default data's series x horizon days: the small data's.
    forecasts = sized_forecasts_contract(
        yaml.safe_load((root / "policies/data/forecasts.yaml").read_text()),
        SMALL["n_clubs"],
        SMALL["n_items"],
        params["features"]["horizon_days"],
    )
    (root / "policies/data/forecasts.yaml").write_text(yaml.safe_dump(forecasts, sort_keys=False))
    shutil.rmtree(root / "data")
    _run(root, "git", "init", "-q", "-b", "main")
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-q", "-m", "fresh clone")
    _run(root, "dvc", "repro")
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-q", "-m", "pipeline run")
    yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_repro_produces_every_output(workspace):
    for name in OUTPUTS:
        assert (workspace / name).stat().st_size > 0, name
    metrics = json.loads((workspace / "metrics/metrics.json").read_text())
    slices = json.loads((workspace / "metrics/slices.json").read_text())
    assert metrics["model"]["wape"] < metrics["seasonal_naive"]["wape"]
    assert set(slices) == {"region", "category"}
    status = _run(workspace, "dvc", "status")
    assert "up to date" in status.stdout
    # Metrics are small files in git, readable at any ref without `dvc pull`.
    shown = _run(workspace, "git", "show", "HEAD:metrics/metrics.json")
    assert json.loads(shown.stdout) == metrics
    for plot in ("forecast_vs_actual.csv", "error_by_slice.csv", "feature_importance.csv"):
        assert (workspace / "plots" / plot).is_file()
    # The batch stage forecast every series for the horizon and its contract passed.
    batch = json.loads((workspace / "reports/batch/forecasts.json").read_text())
    assert batch["passed"] is True
    assert batch["rows"] == SMALL["n_clubs"] * SMALL["n_items"] * 28
    assert len(list((workspace / "data/forecasts").glob("forecast_date=*/part-0.parquet"))) == 28


def test_validation_stages_pass_and_leave_verdicts(workspace):
    for name in ("raw_sales", "features"):
        verdict = json.loads((workspace / f"reports/data/{name}.json").read_text())
        assert verdict["passed"] is True and verdict["rules_failed"] == 0
        assert (workspace / f"reports/data/{name}.md").is_file()
    shown = json.loads(_run(workspace, "dvc", "metrics", "show", "--json").stdout)
    assert any("reports/data/raw_sales.json" in str(entry) for entry in shown.values())


def test_bad_data_stops_the_pipeline_at_the_contract(workspace, tmp_path):
    """Corrupt data: `dvc repro` stops at validate_raw with the failed rule; the model stays."""
    raw = pl.read_parquet(workspace / "data/raw/sales.parquet")
    corrupt = tmp_path / "corrupt.parquet"
    raw.with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(-4)
        .otherwise(pl.col("units_sold"))
        .alias("units_sold")
    ).write_parquet(corrupt)
    before = _hashes(workspace)
    result = _repro_with_params(
        workspace,
        lambda params: params["data"].update(source={"kind": "file", "path": str(corrupt)}),
    )
    assert result.returncode != 0
    assert "FAIL [error] raw_sales: units_sold.range" in result.stdout
    assert "Running stage 'prepare'" not in result.stdout
    verdict = json.loads((workspace / "reports/data/raw_sales.json").read_text())
    assert verdict["passed"] is False and verdict["rules"][0]["id"] == "units_sold.range"
    assert _hashes(workspace) == before
    # `ingest` itself succeeded, so DVC recorded it in dvc.lock: go back to the committed state.
    _run(workspace, "git", "checkout", "--", "reports", "dvc.lock")
    _run(workspace, "dvc", "checkout", "--force")
    assert "up to date" in _run(workspace, "dvc", "status").stdout


def test_model_is_in_the_bentoml_store_with_its_lineage(workspace):
    record = json.loads((workspace / "models/bentoml_model.json").read_text())
    # The DVC output holds only what follows from the stage's inputs; the commit is a label.
    assert set(record) == {"tag", "file", "data_md5", "model_md5"}
    lock = yaml.safe_load((workspace / "dvc.lock").read_text())
    raw_md5 = next(o["md5"] for o in lock["stages"]["ingest"]["outs"])
    assert record["data_md5"] == raw_md5
    name, version = record["tag"].split(":")
    entry = Path(os.environ["BENTOML_HOME"]) / "models" / name / version
    assert (entry / record["file"]).read_bytes() == (workspace / "models/model.txt").read_bytes()
    labels = yaml.safe_load((entry / "model.yaml").read_text())["labels"]
    head = _run(workspace, "git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    assert labels["git_commit"] == head  # committed before `dvc repro` ran
    assert labels["data_md5"] == raw_md5


def test_a_fresh_clone_registering_again_leaves_the_tree_clean(workspace, tmp_path):
    """What the release job does: clone at a later commit, get the outputs, register the model
    into an empty store (`dvc repro --force --single-item register`). The register output, so
    dvc.lock, must not change: it depends on the stage's inputs only, not on the commit."""
    clone = tmp_path / "clone"
    _run(tmp_path, "git", "clone", "-q", str(workspace), str(clone))
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp_path / "fresh-store"),
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@conveyor.invalid",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@conveyor.invalid",
    }

    def run(*args: str) -> str:
        result = subprocess.run(
            args, cwd=clone, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout

    run("git", "commit", "-q", "--allow-empty", "-m", "a later commit: the release tag")
    run("dvc", "config", "--local", "cache.dir", str(workspace / ".dvc" / "cache"))
    run("dvc", "checkout", "--quiet")
    assert "Running stage" not in run("dvc", "repro")
    assert "Running stage 'register'" in run("dvc", "repro", "--force", "--single-item", "register")
    assert run("git", "status", "--porcelain") == ""
    record = json.loads((clone / "models/bentoml_model.json").read_text())
    labels = yaml.safe_load(
        (
            tmp_path / "fresh-store/models" / record["tag"].replace(":", "/") / "model.yaml"
        ).read_text()
    )["labels"]
    assert labels["git_commit"] == run("git", "rev-parse", "HEAD").strip()


def test_second_repro_runs_no_stage(workspace):
    result = _run(workspace, "dvc", "repro")
    assert "Running stage" not in result.stdout
    assert "didn't change, skipping" in result.stdout


@pytest.mark.spark
def test_repro_with_engine_spark_runs_the_same_stages_to_the_same_outputs(workspace, tmp_path):
    # A copy: the forced stages rewrite outputs the other tests read.
    copy = tmp_path / "repo"
    shutil.copytree(workspace, copy, symlinks=True)
    features = "data/features/features.parquet"
    local_features = pl.read_parquet(copy / features)
    verdicts = {name: f"reports/data/{name}.json" for name in ("raw_sales", "features")}
    local_verdicts = {n: json.loads((copy / p).read_text()) for n, p in verdicts.items()}
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["compute"] = {"engine": "spark", "spark": {"master": "local[2]"}}
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # The engine is no stage's parameter: the same results, so switching re-runs nothing.
    assert "Running stage" not in _run(copy, "dvc", "repro").stdout
    stages = ("validate_raw", "prepare", "validate_features")
    done = _run(copy, "dvc", "repro", "--force", "--single-item", *stages)
    for stage in stages:
        assert f"Running stage '{stage}'" in done.stdout, done.stdout
    # Spark ran them: each stage started a JVM (whose notice no setting silences); Spark's
    # staging left nothing beside the features.
    assert (done.stdout + done.stderr).count("Using incubator modules") == 3, done.stderr
    beside = sorted(p.name for p in (copy / "data/features").iterdir())
    assert beside == [".gitignore", "features.parquet"]
    assert_frame_equal(pl.read_parquet(copy / features), local_features)
    for name, path in verdicts.items():
        on_spark, local = json.loads((copy / path).read_text()), local_verdicts[name]
        assert on_spark["passed"] is local["passed"] is True
        assert on_spark["rows"] == local["rows"]
        assert [(r["id"], r["column"], r["passed"]) for r in on_spark["rules"]] == [
            (r["id"], r["column"], r["passed"]) for r in local["rules"]
        ]


def test_summary_prints_metrics(workspace):
    result = _run(workspace, sys.executable, "-m", "forecast", "summary")
    assert "seasonal_naive" in result.stdout
    assert "Model beats seasonal-naive" in result.stdout


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("n_clubs", -2, "data.synthetic.n_clubs: Input should be greater than 0"),
        ("n_dayz", 10, "data.synthetic.n_dayz: unknown key"),
    ],
)
def test_bad_params_stop_the_first_stage_and_keep_the_model(workspace, key, value, expected):
    before = _hashes(workspace)
    metrics_before = (workspace / "metrics/metrics.json").read_bytes()
    result = _repro_with_params(
        workspace, lambda params: params["data"]["synthetic"].update({key: value})
    )
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("error: ingest: ")]
    assert len(ours) == 1 and expected in ours[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "Running stage 'prepare'" not in result.stdout
    assert _hashes(workspace) == before
    assert (workspace / "metrics/metrics.json").read_bytes() == metrics_before
    _run(workspace, "dvc", "checkout", "--force")  # restore the ingest output DVC removed


def test_experiment_with_a_train_param(workspace):
    _run(workspace, "dvc", "exp", "run", "-S", "train.num_boost_round=15", "-n", "fewer-rounds")
    shown = json.loads(_run(workspace, "dvc", "exp", "show", "--json").stdout)
    experiments = [
        exp["name"] for rev in shown for exp in (rev.get("experiments") or []) if exp.get("name")
    ]
    assert "fewer-rounds" in experiments
    # The experiment ran in the workspace; put the committed state back for the other tests.
    _run(workspace, "git", "checkout", "--", ".")
    _run(workspace, "dvc", "checkout", "--force")


def test_default_remote_push_and_pull(workspace):
    _run(workspace, "dvc", "push")
    assert any((workspace / ".dvc-remote").rglob("*")), "nothing was pushed to the default remote"
    model = workspace / "models/model.txt"
    expected = file_md5(model)
    shutil.rmtree(workspace / ".dvc" / "cache")
    model.unlink()
    _run(workspace, "dvc", "pull")
    assert file_md5(model) == expected


def test_gate_stage_passes_without_a_baseline(workspace):
    gate = json.loads((workspace / "reports/gate/gate.json").read_text())
    assert gate["passed"] is True
    # The first run compared with a commit that had no metrics yet: bounds only, said plainly.
    assert gate["checks_without_baseline"] > 0
    assert "no baseline" in (workspace / "reports/gate/gate.md").read_text()


def test_a_worse_model_fails_the_gate_and_the_report_says_why(workspace, tmp_path):
    params_file = workspace / "params.yaml"
    good = params_file.read_text()
    params = yaml.safe_load(good)
    params["train"]["num_boost_round"] = 2
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        repro = _run(workspace, "dvc", "repro")  # the gate stage records, it does not stop
        assert "Running stage 'gate'" in repro.stdout and "Metric gate FAILED" in repro.stdout
        assert json.loads((workspace / "reports/gate/gate.json").read_text())["passed"] is False
        gate = _run(
            workspace,
            "conveyor",
            "gate",
            "--baseline-ref",
            "HEAD",
            "--out",
            str(tmp_path / "gate"),
            check=False,
        )
        assert gate.returncode == 1
        line = next(
            row
            for row in gate.stdout.splitlines()
            if row.startswith("metrics/metrics.json:model.wape")
        )
        baseline = json.loads(_run(workspace, "git", "show", "HEAD:metrics/metrics.json").stdout)
        current = json.loads((workspace / "metrics/metrics.json").read_text())
        assert (
            f"{baseline['model']['wape']:.4g}" in line and f"{current['model']['wape']:.4g}" in line
        )
        assert "vs baseline" in line and "FAIL" in line
        params_diff = _run(workspace, "dvc", "params", "diff").stdout
        assert "train.num_boost_round" in params_diff

        report_file = tmp_path / "report" / "report.md"
        _run(
            workspace,
            "conveyor",
            "report",
            "--baseline-ref",
            "HEAD",
            "--out",
            str(report_file),
            "--plots-dir",
            str(tmp_path / "report" / "plots"),
        )
        report = report_file.read_text()
        assert report.startswith("<!-- conveyor:report -->")
        assert "Metric gate FAILED" in report and "model.wape" in report
        assert "train.num_boost_round" in report  # params diff
        assert "### ✅ `raw_sales`: passed" in report
        links = re.findall(r"\]\((plots/[^)]+\.png)\)", report)
        assert len(links) == 3
        assert all((report_file.parent / link).is_file() for link in links)
        tokens = MarkdownIt("commonmark").enable("table").parse(report)
        assert sum(t.type == "table_open" for t in tokens) >= 3  # gate, metrics and params diffs
        assert len(report) <= 65_536
    finally:
        params_file.write_text(good)
        _run(workspace, "git", "checkout", "--", ".")
        _run(workspace, "dvc", "checkout", "--force")
