"""The public surface of conveyor, read from the source (ast): every module declares ``__all__``,
declares only names it has, and no code imports from a conveyor module a name that module does
not declare; the example model uses conveyor's types instead of copies of them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.paths import REPO

CONVEYOR = REPO / "src" / "conveyor"
# Code that imports conveyor as a library: conveyor itself, the example model, the skeleton a
# generated project starts from.
LIBRARY_USERS = (REPO / "src", REPO / "template" / "skeleton" / "src")
# Code that tests or measures it: it may also reach a module's private names (``_name``), which
# says plainly that it reaches inside.
PROBES = (REPO / "tests", REPO / "benchmarks", REPO / "template" / "skeleton" / "tests")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO / "src").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(path): path
    for path in sorted(CONVEYOR.rglob("*.py"))
    if "__pycache__" not in path.parts
}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _top_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """The module's own statements, those under a top-level ``if`` or ``try`` included."""
    for node in tree.body:
        yield node
        if isinstance(node, ast.If | ast.Try):
            yield from (child for child in ast.walk(node) if isinstance(child, ast.stmt))


def _bound(tree: ast.Module) -> set[str]:
    """Names the module binds at its top level: definitions, assignments and imports."""
    names: set[str] = set()
    for node in _top_level(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@cache
def _declared(module: str) -> list[str] | None:
    """The module's ``__all__`` (a literal list or tuple of strings), or None without one."""
    for node in _tree(MODULES[module]).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = ast.literal_eval(node.value) if node.value else None
            assert isinstance(value, list | tuple), f"{module}: __all__ is not a literal list"
            return list(value)
    return None


@cache
def _submodules(package: str) -> set[str]:
    return {m.rpartition(".")[2] for m in MODULES if m.rpartition(".")[0] == package}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_declares_only_names_it_has(module: str) -> None:
    declared = _declared(module)
    assert declared is not None, f"{MODULES[module]}: no __all__"
    assert len(declared) == len(set(declared)), f"{module}: a name twice in __all__"
    tree = _tree(MODULES[module])
    # A package declares the modules other packages use: its submodules count as its names.
    has = _bound(tree) | (_submodules(module) if _is_package(module) else set())
    assert not set(declared) - has, f"{module}: __all__ names what it lacks"
    # A name declared but only imported is a second way to reach another module's name.
    imported = {
        a.asname or a.name
        for node in _top_level(tree)
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    reexported = set(declared) & imported - _submodules(module)
    assert not reexported, f"{module}: __all__ re-exports {sorted(reexported)}"


def _uses_of_conveyor(path: Path) -> Iterator[tuple[str, str, int]]:
    """(module, name, line) of every ``from conveyor... import name`` in the file (lazy ones too)
    and of every ``alias.name`` read through a conveyor module imported as ``alias``. An alias
    the file also binds otherwise (a parser named ``gate``) is ambiguous: its reads are skipped."""
    tree = _tree(path)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in MODULES:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                yield node.module, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            aliases |= {a.asname: a.name for a in node.names if a.asname and a.name in MODULES}
    rebound = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    rebound |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases.keys() - rebound
            and not node.attr.startswith("__")  # a module's own dunders: __file__, __name__
        ):
            module = aliases[node.value.id]
            if f"{module}.{node.attr}" not in MODULES:
                yield module, node.attr, node.lineno


def _refusals(roots: tuple[Path, ...], private_ok: bool) -> list[str]:
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            importer = _module_name(path) if path.is_relative_to(REPO / "src") else ""
            for module, name, line in _uses_of_conveyor(path):
                if name in _submodules(module):
                    # A package's own modules reach each other freely; code outside it only
                    # what it declares. A test may import any module it tests.
                    inside = importer == module or importer.startswith(f"{module}.")
                    if inside or private_ok:
                        continue
                elif private_ok and name.startswith("_"):
                    continue
                if name not in (_declared(module) or []):
                    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
                    found.append(f"{where}:{line}: {name} is not in {module}.__all__")
    return found


def test_the_library_imports_only_declared_names() -> None:
    """conveyor's own modules, the example model and the skeleton import from a conveyor module
    only what its ``__all__`` declares."""
    assert not _refusals(LIBRARY_USERS, private_ok=False)


def test_tests_import_declared_or_private_names() -> None:
    """Tests and benchmarks too: a public name they import is part of the surface (declared);
    reaching inside is spelled ``_name``."""
    assert not _refusals(PROBES, private_ok=True)


def test_the_check_sees_a_name_left_undeclared(tmp_path: Path) -> None:
    """The import check is not vacuous: an import of an undeclared name is reported."""
    (tmp_path / "user.py").write_text("from conveyor.git import _git\nfrom conveyor.git import x\n")
    assert _refusals((tmp_path,), private_ok=True) == [
        f"{tmp_path / 'user.py'}:2: x is not in conveyor.git.__all__"
    ]


def _classes(root: Path) -> dict[str, Path]:
    return {
        node.name: path
        for path in sorted(root.rglob("*.py"))
        for node in _tree(path).body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    }


def test_the_example_defines_none_of_conveyors_classes() -> None:
    """A class of conveyor's redefined in the example (a second ServiceMetrics) drifts from the
    one deploy/monitoring's rules were written against: the example imports conveyor's."""
    ours, example = _classes(CONVEYOR), _classes(REPO / "src" / "forecast")
    twice = {name: str(example[name].relative_to(REPO)) for name in ours.keys() & example.keys()}
    assert not twice
