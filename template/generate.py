"""copier's task: give a copy of conveyor the project's names (and, for the skeleton, its model).

copier copies the repository's committed files as they are; this script then runs in the copy
(the working directory) with the answers. It is the whole template machinery: renames are made
here, by rules, so the repository stays a working project with no template markers in its files.
`copier update` runs it on the old and the new template version alike before its three-way merge,
so it must be deterministic and must also work over a copy that was generated before (it is).

Standard library and PyYAML only: it runs with copier's own Python (`_copier_python`), where
conveyor is not installed; the renaming rules, which `conveyor init` uses too, are loaded from
src/conveyor/renames.py by its path.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml

TEMPLATE = Path(__file__).resolve().parent


def _load_renames() -> ModuleType:
    """src/conveyor/renames.py of this template (stdlib only), by path: not the package."""
    spec = importlib.util.spec_from_file_location(
        "conveyor_renames", TEMPLATE.parent / "src" / "conveyor" / "renames.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"{TEMPLATE.parent}/src/conveyor/renames.py: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


renames = _load_renames()
# The example's own files, replaced by the skeleton's (or removed) when the skeleton is chosen.
# Files only, never a folder a run fills: an update runs this task in the project itself.
EXAMPLE_ONLY = (
    "src/forecast",  # copier has just copied it; the project's model is src/<package>
    "dvc.lock",
    "dvc.yaml",
    "params.yaml",
    "bentofile.yaml",
    "packages/forecast/pyproject.toml",
    "policies/data/raw_sales.yaml",
    "policies/data/features.yaml",
    "policies/data/forecasts.yaml",
    "data/.gitignore",
    "data/features/.gitignore",
    "data/raw/.gitignore",
    "models/.gitignore",
    "metrics/metrics.json",
    "metrics/slices.json",
    "plots/error_by_slice.csv",
    "plots/feature_importance.csv",
    "plots/forecast_vs_actual.csv",
    "reports/batch/forecasts.json",
    "reports/batch/forecasts.md",
    "reports/data/features.json",
    "reports/data/features.md",
    "reports/data/raw_sales.json",
    "reports/data/raw_sales.md",
    "reports/gate/gate.json",
    "reports/gate/gate.md",
    # The nightly batch CronJob runs the example's `batch` stage, which the skeleton has not.
    *renames.BATCH_FILES,
)


def move_tree(source: Path, target: Path) -> None:
    """Move ``source`` onto ``target``, file by file: an update copies over an earlier copy."""
    if source.is_dir():
        for item in sorted(source.rglob("*")):
            if item.is_file():
                dest = target / item.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(item, dest)
        shutil.rmtree(source)
    elif source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)


def use_skeleton(root: Path) -> None:
    """Swap the forecasting example for the skeleton model (template/skeleton)."""
    for relative in EXAMPLE_ONLY:
        renames.remove(root / relative)
    renames.drop_removed_resources(root / "deploy" / "base" / "kustomization.yaml")
    shutil.copytree(TEMPLATE / "skeleton", root, dirs_exist_ok=True, ignore=_ignore_caches)


def _ignore_caches(_folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name in renames.SKIP_DIRS]


# With the example kept: its own unit tests (the model's; its service, batch and e2e tests need
# conveyor's test harness and stay in the template), with the shared helpers they import.
EXAMPLE_TESTS = (
    "__init__.py",
    "conftest.py",
    "model_fixtures.py",
    "paths.py",
    "promotion_repos.py",
    "forecast/__init__.py",
    "forecast/conftest.py",
    "forecast/test_features.py",
    "forecast/test_generate.py",
    "forecast/test_ingest.py",
    "forecast/test_params.py",
)


def example_tests(root: Path) -> None:
    """Copy the example model's tests from the template (conveyor's own tests stay there)."""
    source = TEMPLATE.parent / "tests"
    for name in EXAMPLE_TESTS:
        if (source / name).is_file():
            (root / "tests" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, root / "tests" / name)


def drop_conveyor_only(root: Path) -> None:
    """What names conveyor's own folders: `make benchmark`, ruff's view of template/skeleton,
    the wheel's copy of examples/ for `conveyor init` (copier leaves examples/ out, and hatch
    refuses to build a wheel whose force-include names a missing path)."""
    makefile = root / "Makefile"
    text = re.sub(r"(?m)^benchmark: .*\n(?:\t.*\n)*\n?", "", makefile.read_text())
    makefile.write_text(text.replace(" benchmark ", " ", 1))
    pyproject = root / "pyproject.toml"
    text = re.sub(r', "template/skeleton/src"\][^\n]*', "]", pyproject.read_text())
    text = re.sub(r'(?m)^"template/skeleton/tests/\*\*" = .*\n', "", text)
    force_include = (
        r"(?m)^(?:#.*\n)*\[tool\.hatch\.build\.targets\.wheel\.force-include\]\n(?:.+\n)*\n?"
    )
    pyproject.write_text(re.sub(force_include, "", text))


def rename_paths(root: Path, package: str) -> None:
    """Folders named after the example package take the project's package name."""
    for folder in ("src", "packages", "tests"):
        for old in ("forecast", "skeleton"):
            if (root / folder / old).exists():
                move_tree(root / folder / old, root / folder / package)


def set_python(root: Path, version: str) -> None:
    """The project's Python: CI's default, the image, the packages' floor, ruff and mypy."""
    if version == "3.11":
        return
    short = version.replace(".", "")
    rules = [
        (re.compile(r'((?:default|python_version|python-version):\s*)"3\.11"'), rf'\1"{version}"'),
        (re.compile(r'(python_version = )"3\.11"'), rf'\1"{version}"'),
        (re.compile(r'(requires-python = )">=3\.11"'), rf'\1">={version}"'),
        (re.compile(r'(target-version = )"py311"'), rf'\1"py{short}"'),
    ]
    for path in renames.text_files(root):
        if path.name == "uv.lock":
            continue  # the lock resolves for >=3.11, so for the chosen version too
        renames.rewrite(path, lambda text: renames.apply(rules, text))


def _uv() -> str | None:
    """uv: the one installed beside this Python (conveyor[template] brings it), else on PATH."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def relock(root: Path) -> None:
    """The project's uv.lock resolved for its own packages. The copy is conveyor's lock, which
    carries the example's dependencies (lightgbm, holidays, duckdb) a skeleton project does not
    have: `uv lock --check` would fail and `make setup` would install them. uv keeps every
    version the lock already pins, so it needs nothing the copied lock does not name: it tries
    uv's cache first (--offline: ~1 s against ~8 s of asking the index about every package),
    then the package index. Without either, or without uv, the copied lock stays and a warning
    says what to run."""
    uv = _uv()
    reason = "uv not found"
    if uv is not None:
        for offline in (["--offline"], []):
            done = subprocess.run(
                [uv, "lock", "--quiet", "--no-progress", *offline],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            if done.returncode == 0:
                return
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    print(
        f"warning: uv.lock not refreshed ({reason}): run `uv lock` in the project", file=sys.stderr
    )


def write_readme(root: Path, answers: dict[str, object]) -> None:
    """The project's README (template/README.md), in place of conveyor's."""
    envs = list(answers["environments"])  # type: ignore[call-overload]
    values = {
        "project": answers["project_name"],
        "package": answers["package_name"],
        "owner": answers["github_owner"],
        "registry": str(answers["image_registry"]).rstrip("/"),
        "environments": " → ".join(envs),
        "python": answers["python_version"],
        "template": answers.get("_src_path", "conveyor"),
        "model": "the demand-forecasting example, renamed"
        if answers["example"]
        else "a small tabular regression model, to replace with yours",
    }
    text = string.Template((TEMPLATE / "project/README.md").read_text()).substitute(values)
    (root / "README.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the copy in the working directory for the answers file's names."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", required=True, help="copier's answers file (YAML)")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    root: Path = args.root
    answers = yaml.safe_load((root / args.answers).read_text())
    package = str(answers["package_name"])
    if answers["example"]:
        example_tests(root)
    else:
        use_skeleton(root)
    rename_paths(root, package)
    drop_conveyor_only(root)
    for path in renames.text_files(root):
        if path.name == ".copier-answers.yml":
            continue
        rules = renames.name_rules(answers, path.relative_to(root).as_posix())
        renames.rewrite(path, functools.partial(renames.apply, rules))
        if not answers["example"]:
            renames.rewrite(path, lambda text: renames.apply(renames.PROSE, text))
    renames.set_environments(root, list(answers["environments"]), str(answers["project_name"]))
    set_python(root, str(answers["python_version"]))
    # What every generated project has and conveyor itself has not: the template-update workflow.
    workflows = root / ".github/workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        TEMPLATE / "project/.github/workflows/template-update.yml",
        workflows / "template-update.yml",
    )
    write_readme(root, answers)
    relock(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
