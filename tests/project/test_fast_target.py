"""`make test-fast` leaves out the slow tests by their markers alone (registered in pyproject.toml,
each one left out), never by node ids that go stale when a test is renamed or moved; `make test`
runs everything."""

from __future__ import annotations

import ast
import re
import shlex
import tomllib

from tests.paths import REPO


def _recipe(target: str) -> list[str]:
    """The words of a Makefile target's recipe (continuation lines joined)."""
    text = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(rf"(?m)^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text)
    assert found, f"no {target} target"
    return shlex.split(found[1].replace("$(PYTEST_ARGS)", ""))


def _markers() -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    lines = pyproject["tool"]["pytest"]["ini_options"]["markers"]
    return {line.split(":")[0].strip() for line in lines}


def test_test_fast_selects_by_markers_only_and_leaves_out_every_slow_one() -> None:
    words = _recipe("test-fast")
    assert not [w for w in words if w.startswith("--deselect")], words
    expression = words[words.index("-m") + 1]
    left_out = set(re.findall(r"\bnot (\w+)", expression))
    assert left_out == _markers(), expression


def test_test_runs_everything() -> None:
    words = _recipe("test")
    assert not {"-m", "-k", "--deselect", "--ignore"} & set(words), words


def _marked(node: ast.FunctionDef, marker: str) -> bool:
    return any(
        marker in {n.attr for n in ast.walk(decorator) if isinstance(n, ast.Attribute)}
        for decorator in node.decorator_list
    )


def test_every_test_that_runs_act_outside_e2e_is_marked_act() -> None:
    """Outside tests/e2e (which test-fast leaves out whole), a test that starts act (the ``ACT``
    binary) carries the ``act`` marker."""
    unmarked = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if path.is_relative_to(REPO / "tests" / "e2e"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            runs_act = any(isinstance(n, ast.Name) and n.id == "ACT" for n in ast.walk(node))
            if runs_act and not _marked(node, "act"):
                unmarked.append(f"{path.relative_to(REPO)}::{node.name}")
    assert not unmarked
