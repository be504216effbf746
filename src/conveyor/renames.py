"""The example's names -> an adopter's: one set of rules for `copier copy` and `conveyor init`.

conveyor's own files (deploy/, policies/promotion.yaml, the callers) name the example service
(`conveyor-forecaster`, `forecast_*` metrics, the `your-org` owner, the dev/staging/prod
environments). A project made by copier (template/generate.py) and a repository that runs
`conveyor init` get the same files under their own names through these rules.

Standard library only: template/generate.py runs under copier's Python, where conveyor is not
installed, and loads this file by its path.
"""

from __future__ import annotations

import keyword
import re
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "BATCH_FILES",
    "ENV_FILES",
    "PROSE",
    "RESERVED_PACKAGES",
    "RESERVED_PROJECTS",
    "SERVICE_NAME_FILES",
    "SHAPES",
    "SKIP_DIRS",
    "TEMPLATE_ENVS",
    "apply",
    "drop_removed_resources",
    "env_pattern",
    "name_problem",
    "name_rules",
    "pascal",
    "remove",
    "rewrite",
    "set_environments",
    "text_files",
]

# The nightly batch CronJob and what only it needs: it runs the example's `batch` command, which
# a model without one (the skeleton, an adopter's) has not.
BATCH_FILES = (
    "deploy/base/cronjob.yaml",
    "deploy/base/batch-output-pvc.yaml",
    "deploy/base/networkpolicy-batch.yaml",
)

# The names' rules, as copier.yml's validators state them (a test holds the two together).
PROJECT = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
PACKAGE = r"^[a-z_][a-z0-9_]*$"
OWNER = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$"
REGISTRY = (
    r"^(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)(:[0-9]{1,5})?"
    r"(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)
ENVIRONMENT = r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$"
# The template's own names, which a project must not take (copier.yml lists the same).
RESERVED_PROJECTS = ("conveyor", "forecast", "forecaster")
RESERVED_PACKAGES = (
    "conveyor", "forecast", "skeleton", "tests", "test", "src", "data", "models", "metrics",
    "plots", "reports", "policies", "deploy", "bentoml", "dvc", "numpy", "pandas", "polars",
    "pyarrow", "pydantic", "yaml", "os", "sys", "json", "io", "typing", "copy", "string",
    "random", "math", "time", "abc", "ast", "site", "types", "logging", "email", "http", "queue",
    "select", "signal", "socket", "ssl", "csv", "enum", "inspect", "platform", "secrets",
    "statistics", "tokenize", "uuid", "warnings", "calendar", "collections",
)  # fmt: skip


# kind -> (its pattern, what it must be): copier.yml's messages.
SHAPES = {
    "project": (
        PROJECT,
        "must be 1-40 lowercase letters, digits or '-', starting with a letter, "
        "not ending with '-'",
    ),
    "package": (
        PACKAGE,
        "must be a Python identifier in lowercase (letters, digits, '_'), "
        "not starting with a digit",
    ),
    "owner": (
        OWNER,
        "must be a GitHub user or organisation name (1-39 letters, digits, single '-')",
    ),
    "registry": (
        REGISTRY,
        "must be a registry host with an optional port and path, lowercase, no scheme "
        "(e.g. ghcr.io/my-org)",
    ),
    "environment": (
        ENVIRONMENT,
        "is not an environment name (1-20 lowercase letters, digits or '-')",
    ),
}


def name_problem(kind: str, value: str) -> str | None:
    """Why ``value`` cannot be a ``kind`` name (a key of SHAPES); None when it can."""
    pattern, shape = SHAPES[kind]
    if not re.search(pattern, value) or (kind == "owner" and "--" in value):
        return f"'{value}' {shape}" if kind == "environment" else shape
    if kind == "project" and value in RESERVED_PROJECTS:
        return f"'{value}' is the template's own name: choose your project's"
    if kind == "package" and (keyword.iskeyword(value) or keyword.issoftkeyword(value)):
        return f"'{value}' is a Python keyword"
    if kind == "package" and value in RESERVED_PACKAGES:
        return (
            f"'{value}' is reserved (the template's, a dependency's or the standard library's name)"
        )
    return None


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
    repository = str(answers.get("repository") or f"{owner}/{project}")  # what Argo CD syncs
    rules = [
        (r"your-org/conveyor\.git", f"{repository}.git"),
        (r"ghcr\.io/your-org/conveyor-forecaster", f"{registry}/{project}"),
        (r"ghcr\.io/your-org/", f"{registry}/"),
        (r"your-org", owner),
        (r"conveyor-forecaster", project),
        # Argo CD: the AppProject's name and the namespaces of the environments
        (r"(?m)^(  name|  project): conveyor$", rf"\1: {project}"),
        (r"conveyor-(dev|staging|prod)\b", rf"{project}-\1"),
        (r"DemandForecaster", f"{pascal(package)}Service"),
        (r"demand_forecaster", f"{package}_model"),
        # deploy/'s titles ("conveyor demand forecaster"): the service, by its name
        *([(r"demand forecaster", project)] if relative.startswith("deploy/") else []),
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


def remove(path: Path) -> None:
    """Remove a file or a folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


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
        name = path.relative_to(root).as_posix()
        if not name.startswith(ENV_FILES):
            continue  # e.g. the `dev` dependency group of pyproject.toml and uv.lock
        own = name.startswith(("deploy/environments/", "deploy/argocd/"))
        if own and not name.endswith("project.yaml"):
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


def apply(rules: list[tuple[re.Pattern[str], str]], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


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
