"""A new project from conveyor with copier (README, "Start a project"): each answer set makes a
project that runs its own `make pipeline` and `make test` under its own names; bad answers make
nothing. The projects are real: generated from a throw-away copy of this checkout, built with uv,
run with DVC, Great Expectations and BentoML like conveyor's own pipeline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.template_projects import (
    BIN,
    commit_all,
    copier_copy,
    env,
    files_naming,
    make,
    template_copy,
)

# Generation's speed (the issue's target: 15 s) is printed here, measured in README's "Start a
# project" (3.3-4.1 s on a quiet machine), never asserted: timings belong to benchmarks.


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_copy(tmp_path_factory.mktemp("conveyor-template"))


def _generate(template: Path, dest: Path, **answers: str) -> Path:
    result, seconds, cpu = copier_copy(template, dest, **answers)
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"copier copy {answers}: {seconds:.1f} s wall, {cpu:.1f} s CPU")
    commit_all(dest, "new project from conveyor")
    return dest


def _run(project: Path, target: str) -> str:
    result, seconds = make(project, target)
    print(f"make {target} in {project.name}: {seconds:.0f} s")
    assert result.returncode == 0, (result.stdout[-4000:], result.stderr[-4000:])
    return result.stdout


@pytest.mark.pipeline
def test_skeleton_project_runs_its_pipeline_and_tests_under_its_names(
    template: Path, tmp_path: Path
) -> None:
    project = _generate(
        template,
        tmp_path / "churn",
        project_name="churn-model",
        github_owner="acme",
        image_registry="registry.example.com:5000/ml",
        example="false",
    )
    # Not one file still names the example (path or text), conveyor's toolkit included.
    assert files_naming(project, "forecast") == []
    # Its lock is resolved for its own packages: none of the example's, and current for uv.
    assert "lightgbm" not in (project / "uv.lock").read_text()
    check = subprocess.run(
        [str(BIN / "uv"), "lock", "--check", "--offline"],
        cwd=project, env=env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    # Its names everywhere: package, stages, deploy/, Argo CD, alert rules, dashboard, policy.
    assert (project / "src/churn_model/__main__.py").is_file()
    assert (project / "packages/churn_model/pyproject.toml").is_file()
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert list(stages) == [
        "ingest",
        "validate_raw",
        "prepare",
        "validate_features",
        "train",
        "evaluate",
        "register",
        "gate",
    ]
    assert stages["train"]["cmd"].startswith("python -m churn_model train")
    deployment = yaml.safe_load((project / "deploy/base/deployment.yaml").read_text())
    assert deployment["metadata"]["name"] == "churn-model"
    app = yaml.safe_load((project / "deploy/argocd/prod.yaml").read_text())
    assert app["metadata"]["name"] == "churn-model-prod"
    assert app["spec"]["destination"]["namespace"] == "churn-model-prod"
    assert app["spec"]["source"]["repoURL"] == "https://github.com/acme/churn-model.git"
    rules = (project / "deploy/monitoring/prometheus-rule.yaml").read_text()
    # conveyor's service metrics (conveyor.serve.metrics), selected by the project's job.
    assert "conveyor_prediction_value_sum" in rules and 'job="churn-model"' in rules
    assert 'endpoint="/churn_model"' in rules
    dashboard = (project / "deploy/monitoring/grafana-dashboard.json").read_text()
    assert "conveyor_rows_per_request" in dashboard and 'job=\\"churn-model\\"' in dashboard
    policy = yaml.safe_load((project / "policies/promotion.yaml").read_text())
    assert policy["registries"] == ["registry.example.com:5000/ml/"]
    assert policy["image_name"] == "churn-model"
    assert list(policy["environments"]) == ["dev", "staging", "prod"]
    assert (project / ".github/workflows/template-update.yml").is_file()
    assert "# churn-model" in (project / "README.md").read_text()

    _run(project, "pipeline")
    verdict = json.loads((project / "reports/gate/gate.json").read_text())
    assert verdict["passed"] is True
    tag = json.loads((project / "models/bentoml_model.json").read_text())["tag"]
    assert tag.startswith("churn_model_model:")
    assert "passed" in _run(project, "test")  # the whole suite, as the README promises
    # Its drift check reads its own params (monitoring.reference is its training data): that
    # data against itself is no drift, with no window named on the command line.
    drift = subprocess.run(
        [str(project / ".venv/bin/conveyor"), "monitor", "drift", "--current",
         "data/features/features.parquet", "--out", "reports/monitor"],
        cwd=project, env=env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "No drift" in drift.stdout


@pytest.mark.pipeline
def test_example_project_keeps_the_model_under_its_names_and_environments(
    template: Path, tmp_path: Path
) -> None:
    project = _generate(
        template,
        tmp_path / "shop",
        project_name="shop-demand",
        package_name="shop",
        github_owner="acme",
        environments="[qa, prod]",
        example="true",
    )
    assert (project / "src/shop/forecaster.py").is_file()  # the example's modules, renamed
    assert not (project / "src/forecast").exists()
    assert "python -m shop ingest" in (project / "dvc.yaml").read_text()
    # Its environments, in its order: folders, Argo CD apps, AppProject, policy, workflows.
    assert sorted(p.name for p in (project / "deploy/environments").iterdir()) == ["prod", "qa"]
    assert sorted(p.name for p in (project / "deploy/argocd").iterdir()) == [
        "prod.yaml",
        "project.yaml",
        "qa.yaml",
    ]
    qa = yaml.safe_load((project / "deploy/environments/qa/kustomization.yaml").read_text())
    assert qa["namespace"] == "shop-demand-qa"
    appproject = yaml.safe_load((project / "deploy/argocd/project.yaml").read_text())
    assert [d["namespace"] for d in appproject["spec"]["destinations"]] == [
        "shop-demand-qa",
        "shop-demand-prod",
    ]
    policy = yaml.safe_load((project / "policies/promotion.yaml").read_text())
    assert policy["environments"] == {
        "qa": {},
        "prod": {"requires": "qa", "soak_hours": 24},
    }
    # The environments are listed once, in the policy: the promote workflow takes a name.
    assert "options:" not in (project / ".github/workflows/promote.yml").read_text()
    # The `dev` dependency group is not an environment: it keeps its name.
    assert 'default-groups = ["model", "extras", "dev"]' in (project / "pyproject.toml").read_text()
    # The manifests name the project only (deploy/docker's temporary folder may say conveyor).
    for leftover in ("forecaster", "conveyor-", "your-org"):
        for folder in ("base", "environments", "argocd", "monitoring"):
            assert files_naming(project / "deploy" / folder, leftover) == [], leftover

    _run(project, "pipeline")
    assert json.loads((project / "reports/gate/gate.json").read_text())["passed"] is True
    # Its fast tests: the rest of its suite is the example's own tests, which run here too (and
    # the skeleton project runs its whole `make test` above); 100 s of CI saved.
    assert "passed" in _run(project, "test-fast")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("package_name=class", "'class' is a Python keyword"),
        ("package_name=9lives", "must be a Python identifier"),
        ("package_name=conveyor", "'conveyor' is reserved"),
        ("package_name=os", "'os' is reserved"),
        ("image_registry=https://ghcr.io/acme", "must be a registry host"),
        ("image_registry=ghcr.io/Acme Corp", "must be a registry host"),
        ("environments=[dev, prod, dev]", "must not name an environment twice"),
        ("environments=dev", "must be a non-empty YAML list"),
        ("project_name=Churn_Model", "must be 1-40 lowercase letters"),
    ],
)
def test_bad_answers_generate_nothing(
    template: Path, tmp_path: Path, answer: str, message: str
) -> None:
    # `conveyor template new` answers without prompts: one line naming the question, exit 2,
    # no traceback (copier's own CLI prints one), nothing written.
    key, _, value = answer.partition("=")
    answers = {"project_name": "churn-model", "github_owner": "acme", key: value}
    data = [arg for k, v in answers.items() for arg in ("--data", f"{k}={v}")]
    result = subprocess.run(
        [str(BIN / "conveyor"), "template", "new", str(tmp_path / "project"),
         "--template", str(template), *data],
        capture_output=True, text=True, env=env(), check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: copier copy {template}: Validation error for question '{key}'")
    assert message in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", "package_name"), "expected KEY=VALUE"),
        (("--data", "=x"), "expected KEY=VALUE"),
        (("--template=--upload-pack=x",), "must not start with '-'"),
    ],
)
def test_malformed_template_new_arguments_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    command = [str(BIN / "conveyor"), "template", "new", str(tmp_path / "p")]
    if not any(a.startswith("--template") for a in args):
        command += ["--template", str(tmp_path)]
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env(), check=False
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "p").exists()


def test_template_new_refuses_a_folder_that_holds_files(template: Path, tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.txt").write_text("keep\n")
    result = subprocess.run(
        [str(BIN / "conveyor"), "template", "new", str(tmp_path / "p"), "--template",
         str(template), "--data", "project_name=x", "--data", "github_owner=acme"],
        capture_output=True, text=True, env=env(), check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'p'}: exists and is not an empty folder"
    assert [f.name for f in (tmp_path / "p").iterdir()] == ["mine.txt"]
