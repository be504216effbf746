"""The promotion package's own layers (pyproject.toml): rollback -> promote -> status, trust and
the pull request text -> environments -> policy; and git runs in one module only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_structure import _add_import, _copy, _lint_imports


@pytest.mark.parametrize(
    ("module", "line", "chain"),
    [
        # The policy is pure configuration: it knows nothing of records or promotions.
        (
            "conveyor/promotion/policy.py",
            "import conveyor.promotion.environments",
            "conveyor.promotion.policy -> conveyor.promotion.environments",
        ),
        # Reading records never reaches up into the steps that write them.
        (
            "conveyor/promotion/environments.py",
            "import conveyor.promotion.promote",
            "conveyor.promotion.environments -> conveyor.promotion.promote",
        ),
        # status and the pull request text are independent of each other.
        (
            "conveyor/promotion/status.py",
            "import conveyor.promotion.pull_request",
            "conveyor.promotion.status -> conveyor.promotion.pull_request",
        ),
    ],
)
def test_an_upward_import_breaks_the_promotion_layers(
    tmp_path: Path, module: str, line: str, chain: str
) -> None:
    root = _copy(tmp_path)
    _add_import(root / "src" / module, line)
    result = _lint_imports(root)
    assert result.returncode == 1, result.stdout + result.stderr
    report = " ".join(result.stdout.split())
    verdict = re.search(r"conveyor\.promotion: .*?\b(KEPT|BROKEN)\b", report)
    assert verdict is not None, result.stdout
    assert verdict.group(1) == "BROKEN"
    assert chain in report, result.stdout


def test_git_runs_in_one_module() -> None:
    """Every `git` command line of the toolkit is built in conveyor/git.py (doctor's list of
    required tools names git, and runs only `git --version`)."""
    sources = sorted((REPO / "src" / "conveyor").rglob("*.py"))
    assert len(sources) > 50  # the tree was found: an empty glob would prove nothing
    naming = {
        path.relative_to(REPO / "src").as_posix()
        for path in sources
        if re.search(r"""["']git["']\s*,""", path.read_text(encoding="utf-8"))
    }
    assert naming == {"conveyor/git.py", "conveyor/doctor.py"}
