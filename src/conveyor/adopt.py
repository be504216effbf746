"""`conveyor init`: the files a repository adopting conveyor needs from it, under its own names.

They are this repository's own files, never a second copy: the callers (examples/caller), the
promotion policy and deploy/. The wheel carries them in conveyor/project_files/ (pyproject's
hatch `force-include`); run from a checkout, they are read where they are. Their names are
changed by the rules `copier copy` uses (conveyor.renames), then the callers are pointed at the
adopter's conveyor repository and ref. Nothing is overwritten: every file is written, or none.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from conveyor import renames
from conveyor.errors import UserError

__all__ = ["PACKAGED", "PARTS", "Names", "init", "installed_commit", "render", "sources"]

# Where each part lives in the wheel (conveyor/project_files/...), in a checkout, and in the
# adopter's repository. pyproject.toml's force-include maps the same pairs.
PARTS = (
    ("caller", "examples/caller/.github/workflows", ".github/workflows"),
    ("deploy", "deploy", "deploy"),
    ("promotion.yaml", "policies/promotion.yaml", "policies/promotion.yaml"),
)
PACKAGED = Path(__file__).resolve().parent / "project_files"
CHECKOUT = Path(__file__).resolve().parents[2]  # src/conveyor/adopt.py -> the repository
# What the example callers name: conveyor's repository and the tag they call it at.
CALLER_REPOSITORY = "OWNER/conveyor"
CALLER_REF = "v1"
SHA = re.compile(r"[0-9a-f]{40}")
REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


@dataclass(frozen=True)
class Names:
    """What an adopter names: its service, package, registry, repository, environments, base
    branch, and the conveyor repository and ref its callers use."""

    name: str
    registry: str
    repository: str
    conveyor_repository: str
    conveyor_ref: str
    package: str = ""
    environments: tuple[str, ...] = renames.TEMPLATE_ENVS
    base_branch: str = "main"
    batch: bool = False  # the nightly batch CronJob: only for a model with a `batch` command

    def problems(self) -> list[str]:
        """Each bad value, as ``--option value: why`` (empty: all good)."""
        found = []
        checks = [
            ("--name", "project", self.name),
            ("--package", "package", self.package_name),
            ("--registry", "registry", self.registry),
            *(("--environments", "environment", env) for env in self.environments),
        ]
        for option, kind, value in checks:
            problem = renames.name_problem(kind, value)
            if problem:
                found.append(f"{option} {value!r}: {problem}")
        shapes = [
            ("--repository", self.repository, REPOSITORY, "must be OWNER/NAME on GitHub"),
            (
                "--conveyor-repository",
                self.conveyor_repository,
                REPOSITORY,
                "must be OWNER/NAME on GitHub",
            ),
            ("--conveyor-ref", self.conveyor_ref, REF, "must be a tag, branch or commit SHA"),
        ]
        for option, value, shape, why in shapes:
            if not shape.fullmatch(value) or ".." in value:
                found.append(f"{option} {value!r}: {why}")
        if not self.environments:
            found.append("--environments: name at least one environment")
        elif len(set(self.environments)) != len(self.environments):
            found.append("--environments: must not name an environment twice")
        return found

    @property
    def package_name(self) -> str:
        """The Python package: given, else the name with '-' -> '_' (copier's default)."""
        return self.package or self.name.replace("-", "_")

    def answers(self) -> dict[str, object]:
        """The names as copier's answers, what conveyor.renames.name_rules reads."""
        return {
            "project_name": self.name,
            "package_name": self.package_name,
            "github_owner": self.repository.split("/")[0],
            "image_registry": self.registry,
            "repository": self.repository,
        }


def installed_commit() -> str | None:
    """The commit conveyor was installed from, when it came from git (PEP 610's
    direct_url.json): what the callers should pin."""
    try:
        text = metadata.distribution("conveyor").read_text("direct_url.json")
        commit = json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) and SHA.fullmatch(commit) else None


def sources() -> list[tuple[Path, str]]:
    """Each part's folder or file (the wheel's, else the checkout's) and its place in the
    adopter's repository."""
    found = []
    for packaged, checkout, target in PARTS:
        source = PACKAGED / packaged if PACKAGED.exists() else CHECKOUT / checkout
        if not source.exists():
            raise UserError(
                f"{source}: conveyor's project files are missing from this installation: "
                "reinstall conveyor"
            )
        found.append((source, target))
    return found


def _lay_out(stage: Path) -> None:
    """conveyor's files as they are, in the places the adopter's repository has them."""
    for source, target in sources():
        if source.is_file():
            (stage / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, stage / target)
            continue
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_file() and not renames.SKIP_DIRS.intersection(relative.parts):
                (stage / target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, stage / target / relative)


def _callers(text: str, names: Names) -> str:
    """A caller pointed at the adopter's conveyor and base branch (a tag instead of a commit SHA
    is reported by `conveyor scan`, CNV_GHA_1: the example's exception lives in conveyor's own
    baseline, not in the file)."""
    text = text.replace(f"{CALLER_REPOSITORY}/", f"{names.conveyor_repository}/")
    text = text.replace(f"@{CALLER_REF}\n", f"@{names.conveyor_ref}\n")
    # The inputs, in a block (`key: value` alone on its line) or a flow mapping (`{key: value, `)
    end = r"(?=\s*(?:[,}\n]|$))"
    text = re.sub(
        rf"(toolkit-repository: ){re.escape(CALLER_REPOSITORY)}{end}",
        lambda m: m[1] + names.conveyor_repository,
        text,
    )
    text = re.sub(
        rf"(toolkit-ref: ){re.escape(CALLER_REF)}{end}", lambda m: m[1] + names.conveyor_ref, text
    )
    text = text.replace("branches: [main]", f"branches: [{names.base_branch}]")
    return text


def _base_branch(stage: Path, branch: str) -> None:
    """The branch the policy names and Argo CD syncs from."""
    policy = stage / "policies/promotion.yaml"
    renames.rewrite(
        policy, lambda text: re.sub(r"(?m)^base_branch: main\b", f"base_branch: {branch}", text)
    )
    for app in (stage / "deploy/argocd").glob("*.yaml"):
        renames.rewrite(
            app, lambda text: text.replace("targetRevision: main\n", f"targetRevision: {branch}\n")
        )


def render(stage: Path, names: Names) -> None:
    """Write the adopter's files into the empty folder ``stage``."""
    _lay_out(stage)
    if not names.batch:  # a CronJob running a command the model lacks would fail every night
        for relative in renames.BATCH_FILES:
            renames.remove(stage / relative)
        renames.drop_removed_resources(stage / "deploy" / "base" / "kustomization.yaml")
    answers = names.answers()
    for path in renames.text_files(stage):
        relative = path.relative_to(stage).as_posix()
        if relative.startswith(".github/"):
            renames.rewrite(path, functools.partial(_callers, names=names))
            continue
        rules = renames.name_rules(answers, relative)
        renames.rewrite(path, functools.partial(renames.apply, rules))
        # The adopter's model is not a forecast: the example's words in deploy/'s prose go too.
        renames.rewrite(path, functools.partial(renames.apply, renames.PROSE))
    renames.set_environments(stage, list(names.environments), names.name)
    _base_branch(stage, names.base_branch)


def _taken(root: Path, name: str) -> bool:
    """Whether writing ``name`` under ``root`` would replace something: the file itself, or a
    file (or link) where one of its folders goes."""
    target = root / name
    if target.exists() or target.is_symlink():
        return True
    parents = [parent for parent in target.parents if root in parent.parents]
    return any(p.is_symlink() or (p.exists() and not p.is_dir()) for p in parents)


def init(root: Path, names: Names) -> list[str]:
    """Write the adopter's files into ``root``; the files written. A usage error, with nothing
    written, for a bad name or when any of the files is there already."""
    problems = names.problems()
    if problems:
        raise UserError(problems[0])
    with tempfile.TemporaryDirectory(prefix="conveyor-init-") as folder:
        stage = Path(folder)
        render(stage, names)
        files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        there = [name for name in files if _taken(root, name)]
        if there:
            raise UserError(
                f"{root}: {len(there)} file(s) already there, nothing written "
                f"(conveyor init never overwrites): {', '.join(there)}"
            )
        for name in files:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(stage / name, root / name)
    return files
