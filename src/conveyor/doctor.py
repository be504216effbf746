"""`conveyor doctor`: is this machine ready to run the pipeline, and where do things live?"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from conveyor import __version__, extras
from conveyor.config import bentofile_packages, read_yaml
from conveyor.errors import ConfigError, UserError
from conveyor.files import special_kind
from conveyor.tools import run

__all__ = [
    "conveyor_commands",
    "needed_extras",
    "render",
    "required_files",
    "requirements",
    "run_checks",
]

REQUIRED_TOOLS = ("git",)
# dvc is required where the repository has a pipeline (dvc.yaml): it comes with conveyor[pipeline].
OPTIONAL_TOOLS = ("dvc", "uv")
BENTOFILE = "bentofile.yaml"
DVC_YAML = "dvc.yaml"
# conveyor's reusable workflows and the extras their jobs' commands need (the data stages'
# `conveyor check data` is found in dvc.yaml itself): ml-ci runs the pipeline, `conveyor report`
# and `conveyor scan --deps`; ml-release `dvc repro` and `conveyor build bento`; ml-monitor
# `dvc pull` and `conveyor monitor drift`.
WORKFLOW_EXTRAS = {
    "ml-ci.yml": ("pipeline", "report", "scan"),
    "ml-release.yml": ("pipeline", "serve"),
    "ml-monitor.yml": ("pipeline", "monitor"),
}
# The words a shell command line is cut at: `a && conveyor report` is two commands.
_SEPARATORS = {"&&", "||", ";", "|", "&", ";;", "(", ")"}


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, what was found, and whether it is a problem."""

    name: str
    detail: str
    ok: bool = True


def search_path() -> str:
    """PATH, preceded by this interpreter's own bin directory (a venv that was not activated)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def tool_version(tool: str) -> str | None:
    """First line of ``tool --version``, or None when the tool is missing or broken."""
    path = shutil.which(tool, path=search_path())
    if path is None:
        return None
    result = run([path, "--version"], timeout=60)
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if result.returncode == 0 and lines else None


def package_version(name: str) -> str | None:
    """Installed version of a Python distribution, without importing it (imports can be slow)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def dvc_remotes(root: Path) -> list[str]:
    """The DVC remotes of the repository at ``root`` as ``name url`` (``(default)`` marked); empty
    outside a DVC repository. Read from ``dvc config --list`` (one ``key=value`` a line, every
    config level merged): ``dvc remote list`` prints a table that wraps a long URL over lines."""
    dvc = shutil.which("dvc", path=search_path())
    if not (root / ".dvc").is_dir() or dvc is None:
        return []
    result = run([dvc, "config", "--list"], cwd=root, timeout=60)
    urls: dict[str, str] = {}
    default = None
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "remote" and parts[2] == "url":
            urls[parts[1]] = _without_credentials(value)
        elif key == "core.remote":
            default = value
    return [f"{name} {url}{' (default)' if name == default else ''}" for name, url in urls.items()]


def _without_credentials(url: str) -> str:
    """The URL without the user name and password a URL may carry before its host (whatever
    precedes '@'): doctor's output is pasted into issues."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def bentoml_home() -> Path:
    """The BentoML home (model store, bentos): $BENTOML_HOME, else BentoML's default."""
    return Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml")).expanduser()


def model_packages(root: Path) -> tuple[list[str], Check | None]:
    """The service's packages from ``root/bentofile.yaml``, and a problem line when that file
    exists but cannot be read (no bentofile: a repository that does not serve, nothing to list)."""
    path = root / BENTOFILE
    if not path.exists():
        return [], None
    try:
        return bentofile_packages(path), None
    except ConfigError as exc:
        return [], Check("bentofile", str(exc), ok=False)


def conveyor_commands(line: str) -> list[list[str]]:
    """The words after each ``conveyor`` (or ``python -m conveyor.cli``) in a shell command
    line, up to the end of that command."""
    # punctuation_chars: `a;b` and `a&&b` are cut at the operator, as a shell does.
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:  # an unbalanced quote: the words as written are good enough here
        words = line.split()
    found = []
    for index, word in enumerate(words):
        module = index > 0 and words[index - 1] == "-m" and word in ("conveyor", "conveyor.cli")
        if word == "conveyor" or word.endswith("/conveyor") or module:
            rest = words[index + 1 :]
            ends = [i for i, w in enumerate(rest) if w in _SEPARATORS]
            found.append(rest[: ends[0]] if ends else rest)
    return found


def _stage_commands(root: Path) -> list[tuple[str, str]]:
    """(stage, command line) of every stage of ``root/dvc.yaml`` (a foreach stage's ``do``)."""
    stages = read_yaml(root / DVC_YAML).get("stages") or {}
    pairs = []
    for name, stage in stages.items() if isinstance(stages, dict) else []:
        body = stage.get("do", stage) if isinstance(stage, dict) else {}
        cmd = body.get("cmd") if isinstance(body, dict) else None
        for line in cmd if isinstance(cmd, list) else [cmd]:
            if isinstance(line, str):
                pairs.append((str(name), line))
    return pairs


def needed_extras(root: Path) -> tuple[dict[str, list[str]], list[Check]]:
    """Each extra the repository's own files need -> why (the first reason first), and a problem
    line for a dvc.yaml that cannot be read. Read: dvc.yaml (the pipeline; each stage's
    `conveyor ...` commands), bentofile.yaml (a service to build), and the callers of conveyor's
    reusable workflows in .github/workflows/."""
    needs: dict[str, list[str]] = {}
    problems = []
    if (root / DVC_YAML).is_file():
        needs.setdefault("pipeline", []).append(DVC_YAML)
        try:
            for stage, line in _stage_commands(root):
                for words in conveyor_commands(line):
                    found = extras.command_extra(words)
                    if found:
                        reason = f"{DVC_YAML} stage {stage}: conveyor {found[0]}"
                        needs.setdefault(found[1], []).append(reason)
        except ConfigError as exc:
            problems.append(Check(DVC_YAML, str(exc), ok=False))
    if (root / BENTOFILE).is_file():
        needs.setdefault("serve", []).append(BENTOFILE)
    workflows = root / ".github" / "workflows"
    for path in sorted(workflows.glob("*.y*ml")) if workflows.is_dir() else []:
        text = _text(path)
        for workflow, needed in WORKFLOW_EXTRAS.items():
            if re.search(rf"^\s*(?:-\s*)?uses:\s*\S*{re.escape(workflow)}\b", text, flags=re.M):
                for extra in needed:
                    reason = f".github/workflows/{path.name}: calls {workflow}"
                    needs.setdefault(extra, []).append(reason)
    return needs, problems


def extra_checks(root: Path) -> list[Check]:
    """One line per extra: installed or not, and whether this repository's files need it. A
    needed extra that is missing is a problem naming the command that installs it."""
    needs, checks = needed_extras(root)
    for extra in extras.EXTRAS:
        missing = extras.missing(extra)
        reasons = needs.get(extra, [])
        why = f"needed by {reasons[0]}" if reasons else "not needed by this repository's files"
        if len(reasons) > 1:
            why += f" and {len(reasons) - 1} more"
        if not missing:
            versions = ", ".join(
                f"{name} {package_version(name)}" for name in extras.distributions(extra)
            )
            checks.append(Check(f"extra {extra}", f"installed ({versions}); {why}"))
        elif reasons:
            detail = f"MISSING ({', '.join(missing)}): {why}; {extras.install_hint(extra)}"
            checks.append(Check(f"extra {extra}", detail, ok=False))
        else:
            checks.append(Check(f"extra {extra}", f"not installed; {why}"))
    return checks


def run_checks(root: Path) -> list[Check]:
    """Every check, in report order."""
    checks = [
        Check("conveyor", __version__),
        Check("python", f"{platform.python_version()} ({sys.executable})"),
    ]
    # A pipeline makes dvc required: every job runs or pulls it.
    required = REQUIRED_TOOLS + (("dvc",) if (root / DVC_YAML).is_file() else ())
    for tool in dict.fromkeys(REQUIRED_TOOLS + OPTIONAL_TOOLS):
        found = tool_version(tool)
        needed = tool in required
        checks.append(
            Check(
                tool,
                found or ("MISSING" if needed else "not found (optional)"),
                ok=found is not None or not needed,
            )
        )
    checks += extra_checks(root)
    model, problem = model_packages(root)
    if problem:
        checks.append(problem)
    for package in model:  # the service's: `conveyor build bento` and serving need each one
        found = package_version(package)
        detail = found or f"{BENTOFILE} declares it: not installed"
        checks.append(Check(f"package {package}", detail, ok=found is not None))
    remotes = dvc_remotes(root)
    checks.append(Check("dvc remote", "; ".join(remotes) if remotes else "none configured"))
    checks.append(Check("dvc cache", str(root / ".dvc" / "cache")))
    checks.append(Check("bentoml home", str(bentoml_home())))
    return checks


def render(checks: list[Check]) -> str:
    """One aligned line per check; problems are marked so they stand out."""
    width = max(len(c.name) for c in checks)
    return "\n".join(f"{'ok ' if c.ok else '!! '}{c.name:<{width}}  {c.detail}" for c in checks)


def requirements(items: list[str]) -> list[tuple[str, str]]:
    """The (FILE, KEY) pairs of --require (KEY empty when not given). Space-separated items in
    one argument are split (a workflow input). A usage error (exit 2) for an argument with no
    item, and for an item with no file or an empty key (``params.yaml:``): each would check
    nothing while reading as a check that passed."""
    pairs = []
    for argument in items:
        words = argument.split()
        if not words:
            raise UserError(f"--require {argument!r}: no FILE[:KEY] in it")
        for item in words:
            name, colon, key = item.partition(":")
            if not name or (colon and not key):
                raise UserError(
                    f"--require {item}: expected FILE or FILE:KEY (e.g. params.yaml:gates)"
                )
            pairs.append((name, key))
    return pairs


def required_files(root: Path, items: list[str]) -> list[Check]:
    """One check per required item: FILE must be a regular file under ``root``; FILE:key also
    needs a top-level ``key:`` section in it (a cheap line match: the commands that read the file
    validate it). A path that is something else says what it is, never "missing"."""
    checks = []
    for name, key in requirements(items):
        path = root / name
        kind = "a folder" if path.is_dir() else special_kind(path)
        if kind:
            detail, ok = f"is {kind}, not a file: conveyor's workflows need the file", False
        elif not path.is_file():
            detail, ok = "is missing: conveyor's workflows need it (see docs/adopting.md)", False
        elif key and not re.search(rf"^{re.escape(key)}:", _text(path), flags=re.M):
            detail, ok = f"has no top-level '{key}:' section (see docs/adopting.md)", False
        else:
            detail, ok = "present", True
        checks.append(Check(f"file {name}:{key}" if key else f"file {name}", detail, ok))
    return checks


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""  # unreadable: reported as lacking the section
