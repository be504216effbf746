"""The checked structure of `make lint`: import-linter's layer contracts and mypy's strict
settings (pyproject.toml) are real: each fails on a copy of the code that breaks it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def _copy(tmp_path: Path) -> Path:
    """The sources and pyproject.toml (the contracts and mypy's settings) in a temporary folder."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # The copy's src/ goes first on the path: the venv's editable install points at the worktree.
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [BIN / "lint-imports", "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _add_import(module: Path, line: str) -> None:
    """Append an import to a module (at its end: after `from __future__`, valid Python)."""
    module.write_text(module.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_contracts_hold_today(tmp_path: Path) -> None:
    result = _lint_imports(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract", "chain"),
    [
        # DESIGN.md rule 2: the toolkit never imports the example model.
        (
            "conveyor/gate.py",
            "import forecast.params",
            "it never imports forecast",
            "conveyor.gate -> forecast.params",
        ),
        # A helper at the bottom reaching up into the command line.
        (
            "conveyor/files.py",
            "import conveyor.cli",
            "conveyor layers",
            "conveyor.files -> conveyor.cli",
        ),
        # Two library modules of one layer are independent of each other.
        (
            "conveyor/scan/run.py",
            "import conveyor.checks.pii",
            "conveyor layers",
            "conveyor.scan.run -> conveyor.checks.pii",
        ),
        # The checks runner drives backends through the interface, never naming one.
        (
            "conveyor/checks/validate.py",
            "import conveyor.checks.gx_backend",
            "conveyor.checks: validate",
            "conveyor.checks.validate -> conveyor.checks.gx_backend",
        ),
        # The promotion policy is pure configuration: it knows nothing of records or promotions.
        (
            "conveyor/promotion/policy.py",
            "import conveyor.promotion.environments",
            "conveyor.promotion: ",
            "conveyor.promotion.policy -> conveyor.promotion.environments",
        ),
        # Reading records never reaches up into the steps that write them.
        (
            "conveyor/promotion/environments.py",
            "import conveyor.promotion.promote",
            "conveyor.promotion: ",
            "conveyor.promotion.environments -> conveyor.promotion.promote",
        ),
        # status and the pull request text are independent of each other.
        (
            "conveyor/promotion/status.py",
            "import conveyor.promotion.pull_request",
            "conveyor.promotion: ",
            "conveyor.promotion.status -> conveyor.promotion.pull_request",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str, chain: str
) -> None:
    root = _copy(tmp_path)
    _add_import(root / "src" / module, line)
    result = _lint_imports(root)
    assert result.returncode == 1, result.stdout + result.stderr
    # A contract's name may wrap over two lines before its verdict (KEPT or BROKEN).
    report = " ".join(result.stdout.split())
    verdict = re.search(re.escape(contract) + r".*?\b(KEPT|BROKEN)\b", report)
    assert verdict is not None, result.stdout
    assert verdict.group(1) == "BROKEN"
    # ...and the report names the import that broke it.
    assert chain in report, result.stdout


def _mypy(root: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "mypy", "--config-file", "pyproject.toml", "--cache-dir", os.devnull, *files],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_mypy_is_strict_about_an_unannotated_function(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    module = root / "src" / "conveyor" / "hashing.py"
    assert _mypy(root, "src/conveyor/hashing.py").returncode == 0
    # --strict (disallow_untyped_defs): a function without annotations is an error.
    _add_import(module, "def untyped(value):\n    return value")
    result = _mypy(root, "src/conveyor/hashing.py")
    assert result.returncode == 1, result.stdout
    assert "hashing.py:" in result.stdout
    assert "[no-untyped-def]" in result.stdout


PACKAGES = (
    "conveyor.checks",
    "conveyor.monitor",
    "conveyor.promotion",
    "conveyor.report",
    "conveyor.scan",
    "conveyor.serve",
    "conveyor.workflows",
)


@pytest.mark.parametrize("package", PACKAGES)
def test_other_packages_import_only_the_declared_public_surface(package: str) -> None:
    """Each name in a package's ``__all__`` is one of its modules, and every module of it that
    another package imports is declared there (read from the import graph, lazy imports too)."""
    import importlib
    import importlib.util

    import grimp

    public = importlib.import_module(package).__all__
    for name in public:
        assert importlib.util.find_spec(f"{package}.{name}") is not None, name
    graph = grimp.build_graph("conveyor", "forecast")
    used = {
        module.removeprefix(f"{package}.").split(".")[0]
        for module in graph.find_descendants(package)
        for importer in graph.find_modules_that_directly_import(module)
        if importer != package and not importer.startswith(f"{package}.")
    }
    assert used, "no other package imports it: the check would prove nothing"
    assert used <= set(public), f"imported from outside, not in __all__: {used - set(public)}"
