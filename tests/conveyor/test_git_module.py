"""git runs in one module only (the promotion package's layers are held with the others in
tests/project/test_structure.py)."""

from __future__ import annotations

import re

from tests.paths import REPO


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
