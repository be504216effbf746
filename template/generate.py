"""copier's task: give a copy of conveyor the project's names (and, for the skeleton, its model).

copier copies the repository's committed files as they are; this script then runs in the copy
(the working directory) with the answers. It is the whole template machinery: renames are made
here, by rules, so the repository stays a working project with no template markers in its files.
`copier update` runs it on the old and the new template version alike before its three-way merge,
so it must be deterministic and must also work over a copy that was generated before (it is).

Standard library and PyYAML only: it runs with copier's own Python (`_copier_python`).
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import string
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parent
TEMPLATE_ENVS = ("dev", "staging", "prod")
# Where the template's environments are named (elsewhere `dev` is a dependency group, ...).
ENV_FILES = (
    ".github/workflows/",
    "pipelines/promote/",
    "docs/sop/",
    "deploy/",
    "policies/promotion.yaml",
)
# Folders never rewritten: tools' state, caches, git.
SKIP_DIRS = {".git", ".venv", ".tools", "__pycache__", ".pytest_cache", ".ruff_cache"}
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
    "deploy/base/cronjob.yaml",
    "deploy/base/batch-output-pvc.yaml",
    "deploy/base/networkpolicy-batch.yaml",
)


def pascal(name: str) -> str:
    """``churn-model`` -> ``ChurnModel`` (alert and class names)."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


# Where `forecaster` is the service's name (Kubernetes objects, the job label, alert names): in
# the model's code it is a module and variables (forecast/forecaster.py), which keep theirs.
SERVICE_NAME_FILES = ("deploy/", "docs/", ".github/", "policies/", "pipelines/")


def name_rules(answers: dict[str, object], relative: str) -> list[tuple[re.Pattern[str], str]]:
    """The example's names -> the project's, most specific first, for the file ``relative``."""
    project, package = str(answers["project_name"]), str(answers["package_name"])
    owner, registry = str(answers["github_owner"]), str(answers["image_registry"]).rstrip("/")
    rules = [
        (r"your-org/conveyor\.git", f"{owner}/{project}.git"),
        (r"ghcr\.io/your-org/conveyor-forecaster", f"{registry}/{project}"),
        (r"ghcr\.io/your-org/", f"{registry}/"),
        (r"your-org", owner),
        (r"conveyor-forecaster", project),
        # Argo CD: the AppProject's name and the namespaces of the environments
        (r"(?m)^(  name|  project): conveyor$", rf"\1: {project}"),
        (r"conveyor-(dev|staging|prod)\b", rf"{project}-\1"),
        (r"DemandForecaster", f"{pascal(package)}Service"),
        (r"demand_forecaster", f"{package}_model"),
        *(
            [(r"Forecaster", pascal(project)), (r"forecaster", project)]
            if relative.startswith(SERVICE_NAME_FILES)
            else []
        ),
        (
            r"\bforecast_(?=predictions|prediction_units|rows_per_request|validation_failures|"
            r"requests_per_model_call)",
            f"{package}_",
        ),
        (r"\bforecast\b", package),
        # the skeleton's placeholder: package, metric prefix (skeleton_*), class (SkeletonService)
        (r"(?<![A-Za-z0-9])skeleton", package),
        (r"(?<![A-Za-z0-9])Skeleton", pascal(package)),
    ]
    return [(re.compile(pattern), replacement) for pattern, replacement in rules]


# With the skeleton, the words left in prose (docs, comments) that still name the example.
PROSE = [
    (re.compile(r"\bdemand forecasting\b", re.IGNORECASE), "prediction"),
    (re.compile(r"\bforecasting\b"), "prediction"),
    (re.compile(r"\bForecasting\b"), "Prediction"),
    (re.compile(r"\bforecasts\b"), "predictions"),
    (re.compile(r"\bForecasts\b"), "Predictions"),
    (re.compile(r"\bforecast(?:ed)?\b"), "prediction"),
    (re.compile(r"\bForecast\b"), "Prediction"),
    (re.compile(r"forecast", re.IGNORECASE), "prediction"),
]


def text_files(root: Path) -> list[Path]:
    """Every text file of the copy (UTF-8 decodable), tools' folders left out."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        if SKIP_DIRS.intersection(path.relative_to(root).parts):
            continue
        try:
            path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        found.append(path)
    return found


def rewrite(path: Path, change: Callable[[str], str]) -> None:
    """Write ``change(text)`` back only when it differs (keeps mtimes of untouched files)."""
    text = path.read_text(encoding="utf-8")
    new = change(text)
    if new != text:
        path.write_text(new, encoding="utf-8")


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


def remove(path: Path) -> None:
    """Remove a file or a folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def use_skeleton(root: Path) -> None:
    """Swap the forecasting example for the skeleton model (template/skeleton)."""
    for relative in EXAMPLE_ONLY:
        remove(root / relative)
    drop_removed_resources(root / "deploy" / "base" / "kustomization.yaml")
    shutil.copytree(TEMPLATE / "skeleton", root, dirs_exist_ok=True, ignore=_ignore_caches)


def drop_removed_resources(kustomization: Path) -> None:
    """Leave out of a kustomization's list the files that are no longer beside it."""
    if not kustomization.is_file():
        return
    kept = []
    for line in kustomization.read_text(encoding="utf-8").splitlines(keepends=True):
        item = re.fullmatch(r"\s*-\s*([\w.-]+\.yaml)\s*(#.*)?", line.rstrip("\n"))
        if item is None or (kustomization.parent / item.group(1)).exists():
            kept.append(line)
    kustomization.write_text("".join(kept), encoding="utf-8")


def _ignore_caches(_folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name in SKIP_DIRS]


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
    """What names conveyor's own folders: `make benchmark`, ruff's view of template/skeleton."""
    makefile = root / "Makefile"
    text = re.sub(r"(?m)^benchmark: .*\n(?:\t.*\n)*\n?", "", makefile.read_text())
    makefile.write_text(text.replace(" benchmark ", " ", 1))
    pyproject = root / "pyproject.toml"
    text = re.sub(r', "template/skeleton/src"\][^\n]*', "]", pyproject.read_text())
    pyproject.write_text(re.sub(r'(?m)^"template/skeleton/tests/\*\*" = .*\n', "", text))


def rename_paths(root: Path, package: str) -> None:
    """Folders named after the example package take the project's package name."""
    for folder in ("src", "packages", "tests"):
        for old in ("forecast", "skeleton"):
            if (root / folder / old).exists():
                move_tree(root / folder / old, root / folder / package)


def env_pattern(names: dict[str, str]) -> Callable[[str], str]:
    """Replace environment names as words (``/dev/null`` and ``production`` untouched)."""
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(names) + r")(?![A-Za-z0-9_])(?!/null)")
    return lambda text: pattern.sub(lambda match: names[match.group(1)], text)


def set_environments(root: Path, envs: list[str], project: str) -> None:
    """Give the project its environments, in promotion order, from the template's three."""
    if tuple(envs) == TEMPLATE_ENVS:
        return
    last = len(envs) - 1
    sources = [
        "dev" if index == 0 else "prod" if index == last else "staging"
        for index in range(len(envs))
    ]
    # Read each environment's folder and Argo CD application as the template has them.
    env_dir, apps = root / "deploy/environments", root / "deploy/argocd"
    kept: dict[str, dict[Path, str]] = {}
    for template_env in TEMPLATE_ENVS:
        folder, app = env_dir / template_env, apps / f"{template_env}.yaml"
        files = {
            Path(template_env, p.relative_to(folder)): p.read_text()
            for p in folder.rglob("*")
            if p.is_file()
        }
        files[Path(f"{template_env}.yaml")] = app.read_text()
        kept[template_env] = files
        shutil.rmtree(folder)
        app.unlink()
    for env, source in zip(envs, sources, strict=True):
        change = env_pattern({source: env})
        for relative, text in kept[source].items():
            # the environment's folder, or its Argo CD application
            if len(relative.parts) == 1:
                target = apps / f"{env}.yaml"
            else:
                target = env_dir / env / Path(*relative.parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(change(text))
    # Lists of the environments, then every other mention of one.
    lists = {
        "\0arrows\0": " -> ".join(envs),
        "\0prose\0": ", ".join(envs[:-1]) + f" or {envs[-1]}" if len(envs) > 1 else envs[0],
        "\0yaml\0": "[" + ", ".join(envs) + "]",
    }
    second = envs[1] if len(envs) > 1 else envs[0]
    others = env_pattern({"dev": envs[0], "staging": second, "prod": envs[-1]})
    for path in text_files(root):
        relative = path.relative_to(root).as_posix()
        if not relative.startswith(ENV_FILES):
            continue  # e.g. the `dev` dependency group of pyproject.toml and uv.lock
        own = relative.startswith(("deploy/environments/", "deploy/argocd/"))
        if own and not relative.endswith("project.yaml"):
            continue  # written above, each with its own name
        rewrite(path, lambda text: _lists(others(_lists(text, LIST_MARKS)), lists))
    _argocd_project(root / "deploy/argocd/project.yaml", envs, project)
    _promotion_policy(root / "policies/promotion.yaml", envs)
    if len(envs) == 1:
        remove(root / ".github/workflows/promote-next.yml")


# The template's lists of its environments, each replaced whole by the project's list (through a
# mark, so that the word-by-word renaming never touches the new names).
LIST_MARKS = {
    "dev -> staging -> prod": "\0arrows\0",
    "dev, staging or prod": "\0prose\0",
    "[dev, staging, prod]": "\0yaml\0",
}


def _lists(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def _argocd_project(path: Path, envs: list[str], project: str) -> None:
    """The AppProject's destinations and namespaces: one per environment."""
    server = "    - server: https://kubernetes.default.svc\n"
    destinations = "".join(f"{server}      namespace: {project}-{env}\n" for env in envs)
    namespaces = "".join(
        f'    - group: ""\n      kind: Namespace\n      name: {project}-{env}\n' for env in envs
    )
    text = path.read_text()
    text = re.sub(r"(?:    - server: .*\n      namespace: .*\n)+", destinations, text)
    namespace = r'(?:    - group: ""\n      kind: Namespace\n      name: .*\n)+'
    text = re.sub(namespace, namespaces, text)
    path.write_text(text)


def _promotion_policy(path: Path, envs: list[str]) -> None:
    """policies/promotion.yaml: each environment requires the one before; the last soaks a day."""
    lines = ["environments:"]
    for index, env in enumerate(envs):
        if index == 0:
            lines.append(f"  {env}: {{}}")
            continue
        before = envs[index - 1]
        lines += [f"  {env}:", f"    requires: {before} # the same digest must be live there"]
        if index == len(envs) - 1:
            lines.append(f"    soak_hours: 24 # ... and have been live in {before} a day")
    text = path.read_text()
    head = text[: text.index("\nenvironments:") + 1]
    path.write_text(head + "\n".join(lines) + "\n")


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
    for path in text_files(root):
        if path.name == "uv.lock":
            continue  # the lock resolves for >=3.11, so for the chosen version too
        rewrite(path, lambda text: _apply(rules, text))


def _apply(rules: list[tuple[re.Pattern[str], str]], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


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
    for path in text_files(root):
        if path.name == ".copier-answers.yml":
            continue
        rules = name_rules(answers, path.relative_to(root).as_posix())
        rewrite(path, functools.partial(_apply, rules))
        if not answers["example"]:
            rewrite(path, lambda text: _apply(PROSE, text))
    set_environments(root, list(answers["environments"]), str(answers["project_name"]))
    set_python(root, str(answers["python_version"]))
    # What every generated project has and conveyor itself has not: the template-update workflow.
    workflows = root / ".github/workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        TEMPLATE / "project/.github/workflows/template-update.yml",
        workflows / "template-update.yml",
    )
    write_readme(root, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
