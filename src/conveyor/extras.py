"""The package's extras (``conveyor[checks]``, ...): which are installed, and the one error a
command gives when its extra is missing.

The extras and their distributions are read from conveyor's own package metadata (what
pyproject.toml's ``[project.optional-dependencies]`` declares), so this module names no library.
Only the distributions' metadata is looked at: nothing heavy is imported to find out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, requires, version

from conveyor.errors import UserError

__all__ = [
    "COMMANDS",
    "EXTRAS",
    "MissingExtraError",
    "command_extra",
    "distributions",
    "install_hint",
    "missing",
    "require",
]

DISTRIBUTION = "conveyor"
# The extras in the order people meet them; `all` is every one of them.
EXTRAS = (
    "checks",
    "report",
    "monitor",
    "serve",
    "scan",
    "pipeline",
    "template",
    "spark",
    "delta",
)
# The commands that need an extra (subcommand, then an option that must be given too): the
# handlers call require() with these keys, and `conveyor doctor` finds them in dvc.yaml.
COMMANDS = {
    "check data": "checks",
    "check profile": "checks",
    "data manifest": "checks",
    "report": "report",
    "monitor drift": "monitor",
    "build bento": "serve",
    "scan --deps": "scan",
    "template update": "template",
    "template new": "template",
}

# "great-expectations<2,>=1.3; extra == 'checks'": the name, its extras, the marker's extra.
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?([^;]*)(?:;(.*))?$")
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")


class MissingExtraError(UserError):
    """A command needs libraries of an extra that is not installed: a usage error (exit 2),
    never a traceback that would read as the command's own verdict (exit 1)."""


def _normalize(name: str) -> str:
    """A distribution name in its canonical form (PEP 503): `Great_Expectations` is
    `great-expectations`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, list[str]]:
    """Each extra -> the distributions conveyor's metadata declares for it. A self-reference
    (``conveyor[checks,report]; extra == 'all'``, as a build backend may leave it) is expanded.
    Empty when conveyor's metadata is absent (run from a source tree that was never installed)."""
    try:
        lines = requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        return {}
    direct: dict[str, list[str]] = {}
    nested: dict[str, list[str]] = {}
    for line in lines:
        match = _REQUIREMENT.match(line)
        marker = _EXTRA_MARKER.search(match[4] or "") if match else None
        if match is None or marker is None:
            continue  # a core dependency
        name, extra = _normalize(match[1]), marker[1]
        if name == DISTRIBUTION:
            nested.setdefault(extra, []).extend(e.strip() for e in (match[2] or "").split(","))
        else:
            direct.setdefault(extra, []).append(name)
    for extra, includes in nested.items():
        for included in includes:
            direct.setdefault(extra, []).extend(direct.get(included, []))
    return {extra: list(dict.fromkeys(names)) for extra, names in direct.items()}


def distributions(extra: str) -> list[str]:
    """The distributions the package metadata declares for ``extra``."""
    return _declared().get(extra, [])


def _installed(name: str) -> bool:
    try:
        version(name)
    except PackageNotFoundError:
        return False
    return True


def missing(extra: str) -> list[str]:
    """The distributions of ``extra`` that are not installed (empty: the extra is complete)."""
    return [name for name in distributions(extra) if not _installed(name)]


def install_hint(extra: str) -> str:
    """The command that installs ``extra``, quoted for a shell (brackets are glob characters)."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(command: str, extra: str | None = None) -> None:
    """Return when the extra ``command`` needs (``extra``, else its entry in COMMANDS) is
    installed; else a MissingExtraError naming it, raised before the command imports anything
    of it."""
    extra = extra or COMMANDS[command]
    if missing(extra):
        raise MissingExtraError(
            f"{DISTRIBUTION} {command} needs {DISTRIBUTION}[{extra}]: {install_hint(extra)}"
        )


def command_extra(words: Sequence[str]) -> tuple[str, str] | None:
    """(command, extra) when the words after ``conveyor`` run a command that needs an extra:
    ``["check", "data", "c.yaml", "d.csv"]`` -> ``("check data", "checks")``."""
    for command, extra in COMMANDS.items():
        names = command.split()
        subcommand = [n for n in names if not n.startswith("-")]
        options = [n for n in names if n.startswith("-")]
        if list(words[: len(subcommand)]) == subcommand and all(o in words for o in options):
            return command, extra
    return None
