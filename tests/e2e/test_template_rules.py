"""template/generate.py, the task copier runs in a new copy, on its own (no copier, no git): the
renaming rules, the environments, the Python version, and that a second run over a fresh copy of
the template's files (what `copier update` does in the project) gives the same tree."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conveyor.git import work_tree_files
from tests.e2e.template_projects import REPO, files_naming

GENERATE = REPO / "template" / "generate.py"
EXCLUDED = ("tests/", "benchmarks/", "examples/", "template/", "docs/adopting.md", "copier.yml")


def _copy_template(dest: Path) -> None:
    """The files copier would copy (tracked, minus copier.yml's `_exclude`)."""
    for name in work_tree_files(REPO) or []:  # tracked and new files, as a commit would carry
        source = REPO / name
        if name.startswith(EXCLUDED) or not source.is_file() or "{{" in name:
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())


def _generate(dest: Path, **answers: object) -> Path:
    defaults = {
        "_src_path": str(REPO),
        "_commit": "abc1234",
        "project_name": "churn-model",
        "package_name": "churn_model",
        "github_owner": "acme",
        "image_registry": "ghcr.io/acme",
        "environments": ["dev", "staging", "prod"],
        "python_version": "3.11",
        "example": False,
    }
    _copy_template(dest)
    (dest / ".copier-answers.yml").write_text(yaml.safe_dump({**defaults, **answers}))
    done = subprocess.run(
        [sys.executable, str(GENERATE), "--answers", ".copier-answers.yml"],
        cwd=dest,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dest


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("example", [False, True])
def test_a_second_run_over_fresh_template_files_gives_the_same_tree(
    tmp_path: Path, example: bool
) -> None:
    first = _tree(_generate(tmp_path / "once", example=example))
    twice = _generate(tmp_path / "twice", example=example)
    _generate(twice, example=example)  # copier update: the template's files again, then the task
    assert _tree(twice) == first


def test_skeleton_names_nothing_of_the_example(tmp_path: Path) -> None:
    project = _generate(tmp_path / "p")
    assert files_naming(project, "forecast") == []
    assert files_naming(project, "skeleton") == []  # the skeleton's own placeholder name too
    assert not (project / "src/skeleton").exists() and (project / "src/churn_model").is_dir()


def test_one_environment_has_no_next_promotion(tmp_path: Path) -> None:
    project = _generate(tmp_path / "p", environments=["live"])
    assert [p.name for p in (project / "deploy/environments").iterdir()] == ["live"]
    assert not (project / ".github/workflows/promote-next.yml").exists()
    policy = yaml.safe_load((project / "policies/promotion.yaml").read_text())
    assert policy["environments"] == {"live": {}}
    release = (project / ".github/workflows/release.yml").read_text()
    assert "environment: live" in release and "environment: dev" not in release


def test_four_environments_in_their_order(tmp_path: Path) -> None:
    envs = ["dev", "test", "staging-eu", "prod"]
    project = _generate(tmp_path / "p", environments=envs)
    policy = yaml.safe_load((project / "policies/promotion.yaml").read_text())
    assert list(policy["environments"]) == envs
    assert [v.get("requires") for v in policy["environments"].values()] == [None, *envs[:-1]]
    for env in envs:
        app = yaml.safe_load((project / f"deploy/argocd/{env}.yaml").read_text())
        assert app["spec"]["source"]["path"] == f"deploy/environments/{env}"
        overlay = yaml.safe_load(
            (project / f"deploy/environments/{env}/kustomization.yaml").read_text()
        )
        assert overlay["namespace"] == f"churn-model-{env}"
    # A middle environment is made from the template's staging (two replicas), the last from prod.
    test_overlay = (project / "deploy/environments/test/kustomization.yaml").read_text()
    assert "environment: test" in test_overlay and "staging" not in test_overlay
    # One list, the policy's: the promote workflow takes the environment as text.
    assert "options:" not in (project / ".github/workflows/promote.yml").read_text()


def test_python_version_reaches_ci_packages_and_tools_not_the_lock(tmp_path: Path) -> None:
    project = _generate(tmp_path / "p", python_version="3.12")
    pyproject = (project / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.12"' in pyproject and 'target-version = "py312"' in pyproject
    assert (
        'requires-python = ">=3.12"'
        in (project / "packages/churn_model/pyproject.toml").read_text()
    )
    assert 'default: "3.12"' in (project / "pipelines/setup/action.yml").read_text()
    assert 'python_version: "3.12"' in (project / "bentofile.yaml").read_text()
    assert (project / "uv.lock").read_bytes().count(b'requires-python = ">=3.11"') == (
        (REPO / "uv.lock").read_bytes().count(b'requires-python = ">=3.11"')
    )


def test_template_update_workflow_is_valid_pinned_and_least_privilege() -> None:
    """The workflow only generated projects get (conveyor's own lint covers .github/ only)."""
    workflow = REPO / "template/project/.github/workflows/template-update.yml"
    bin_dir = Path(sys.executable).parent
    for command in (
        [str(bin_dir / "actionlint"), str(workflow)],
        [str(bin_dir / "zizmor"), "--offline", str(workflow)],
        [
            str(bin_dir / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
        ],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command[0], done.stdout, done.stderr)
    text = yaml.safe_load(workflow.read_text())
    assert text["permissions"] == {}
    job = text["jobs"]["update"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    checkout = job["steps"][0]
    assert checkout["uses"].split("@")[1].isalnum() and len(checkout["uses"].split("@")[1]) == 40
    assert checkout["with"]["persist-credentials"] is False
    assert job["steps"][-1]["run"].startswith("conveyor template update --pull-request")


def test_make_targets_of_conveyor_alone_are_left_out(tmp_path: Path) -> None:
    makefile = (_generate(tmp_path / "p") / "Makefile").read_text()
    assert "benchmark" not in makefile  # benchmarks/ stays in conveyor
    assert "\npipeline: setup ##" in makefile and "\nclean: ##" in makefile
    pyproject = (tmp_path / "p/pyproject.toml").read_text()
    assert "template/" not in pyproject
    # copier leaves examples/ out: the wheel's force-include of it (`conveyor init`) goes too,
    # or hatch refuses to build the project's package.
    wheel = tomllib.loads(pyproject)["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel == {"packages": ["src/conveyor"]}
    assert "conveyor init" not in pyproject


@pytest.mark.parametrize("example", [False, True])
def test_python_parses_and_every_stage_input_exists(tmp_path: Path, example: bool) -> None:
    """Renaming never breaks code (`forecaster` is a module there, the service's name in deploy/)
    nor a path: each stage's deps are files of the project or outputs of an earlier stage."""
    import ast

    project = _generate(tmp_path / "p", package_name="shop", example=example)
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    produced: set[str] = set()
    for name, stage in stages.items():
        for dep in stage.get("deps", []):
            assert dep in produced or (project / dep).exists(), (name, dep)
        for key in ("outs", "metrics"):
            produced |= {next(iter(o)) if isinstance(o, dict) else o for o in stage.get(key, [])}
    if example:
        assert (project / "src/shop/forecaster.py").is_file()
        assert "from shop.forecaster import" in (project / "src/shop/batch.py").read_text()


def test_the_skeleton_pipeline_is_not_a_pipeline_of_conveyor() -> None:
    """DVC collects every dvc.yaml of a repository: `dvc repro` here must not run the skeleton's
    stages (.dvcignore leaves template/ out), while the skeleton's own stages do exist."""
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "dvc"), "stage", "list", "--all", "--name-only"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    stages = done.stdout.split()
    assert "train" in stages and not [s for s in stages if "template" in s], stages
    assert "train" in yaml.safe_load((REPO / "template/skeleton/dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("example", [False, True])
def test_the_batch_cronjob_comes_with_the_example_only(tmp_path: Path, example: bool) -> None:
    """The CronJob runs the example's `batch` stage under the project's names; the skeleton has
    no such stage, so its project gets no CronJob (and its kustomization lists none)."""
    project = _generate(tmp_path / "p", example=example)
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(project / "deploy" / "environments" / "prod")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    cronjobs = [d for d in docs if d["kind"] == "CronJob"]
    if not example:
        assert cronjobs == []
        assert not (project / "deploy" / "base" / "cronjob.yaml").exists()
        return
    (cronjob,) = cronjobs
    assert cronjob["metadata"]["name"] == "churn-model-batch"  # a valid Kubernetes name
    (job,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert job["command"][:4] == ["python", "-m", "churn_model", "batch"]
    assert job["image"].startswith("ghcr.io/acme/churn-model@sha256:")
