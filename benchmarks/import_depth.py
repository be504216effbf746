"""Import depth of the conveyor package: the longest chain of imports between its modules (a
module that imports nothing of conveyor's has depth 1), and that chain. Run from the repository
root: `python benchmarks/import_depth.py` (grimp comes with import-linter, in the dev group)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import grimp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
GRAPH = grimp.build_graph("conveyor")
# The root package's __init__ holds only __version__: an edge to it is no layer.
MODULES = frozenset(GRAPH.modules) - {"conveyor"}


def imports_of(module: str) -> list[str]:
    """The conveyor modules ``module`` imports (lazy imports inside functions included)."""
    return sorted(MODULES & GRAPH.find_modules_directly_imported_by(module))


@functools.cache
def depth(module: str) -> int:
    """1 + the depth of the deepest module it imports (the graph has no cycles)."""
    return 1 + max((depth(imported) for imported in imports_of(module)), default=0)


def chain(module: str) -> list[str]:
    """The longest import chain from ``module`` down."""
    below = imports_of(module)
    return [module, *chain(max(below, key=depth))] if below else [module]


if __name__ == "__main__":
    top = max(sorted(MODULES), key=depth)
    deepest = depth(top)
    print(f"import depth {deepest} modules ({deepest - 1} imports): {' -> '.join(chain(top))}")
