"""The model's trees compiled to machine code (lleaves, through LLVM), for the batch's millions
of rows.

LightGBM walks each tree node by node; lleaves turns the model file into one native function,
about 5x faster here (300 trees of 63 leaves) with the same result up to the order in which the
leaves are summed (within 1e-12 relative; tests/forecast/test_batch.py). Compiling takes
10-30 s (without inlining the trees into one function: with it, minutes, for no faster a
predict here), so the object code is kept in conveyor's cache (conveyor.files.cache_root),
named by the model file's MD5, the CPU it was compiled for and the compiler's versions; a
folder that cannot be written only costs the next run its compile. Without lleaves (an
environment installed without it) or when compiling fails, :func:`compile_model` says why and
callers keep LightGBM's own predict.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conveyor.files import cache_root
from conveyor.hashing import file_md5


@dataclass(frozen=True)
class CompiledTrees:
    """A compiled model: predictions from a float64 matrix in the model's column order."""

    model: Any  # lleaves.Model, compiled
    source: str  # "compiled" or "cached": whether this run paid for the compile

    def predict(self, matrix: np.ndarray, threads: int) -> np.ndarray:
        """The model's output (the objective's transform applied, as LightGBM's predict)."""
        # lleaves reads the rows from one C-ordered block; polars hands over columns.
        return np.asarray(self.model.predict(np.ascontiguousarray(matrix), n_jobs=threads))


def _object_name(model_file: Path) -> str:
    """The cached object's file name: what decides whether it can run this model here."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    versions = [importlib.metadata.version(name) for name in ("lleaves", "llvmlite")]
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot read them: compiled for the CPU name alone, as lleaves
        features = ""
    machine = hashlib.md5(
        "|".join([*versions, llvm.get_host_cpu_name(), features]).encode(),
        usedforsecurity=False,
    ).hexdigest()[:12]
    return f"{file_md5(model_file)}-{machine}.o"


def compile_model(model_file: Path, cache: Path | None = None) -> CompiledTrees | str:
    """``model_file`` compiled (from ``cache``, default cache_root()/lleaves, when it was
    compiled there before), or the reason it cannot be (lleaves missing, a compile error)."""
    try:
        import lleaves
    except ImportError:
        return "lleaves is not installed"
    folder = cache or cache_root() / "lleaves"
    try:
        target = folder / _object_name(model_file)
        model = lleaves.Model(model_file=str(model_file))
        if target.is_file():
            model.compile(cache=str(target), finline=False)
            return CompiledTrees(model, "cached")
        staging = _staging(folder)
        if staging is None:  # nowhere to keep it: this run compiles, and so will the next
            model.compile(finline=False)
            return CompiledTrees(model, "compiled")
        try:
            model.compile(cache=str(staging), finline=False)
            # renamed whole: a run in parallel never loads half an object
            staging.replace(target)
        except OSError:
            pass
        finally:
            staging.unlink(missing_ok=True)
        return CompiledTrees(model, "compiled")
    except Exception as error:  # any compiler failure: LightGBM predicts instead
        return f"lleaves could not compile {model_file.name}: {error}"


def _staging(folder: Path) -> Path | None:
    """A free file name in ``folder`` for lleaves to write the object to, None when the folder
    cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".compiling-", suffix=".o", dir=folder)
    except OSError:
        return None
    os.close(handle)
    staging = Path(name)
    staging.unlink()  # lleaves writes the object only where no file is
    return staging
