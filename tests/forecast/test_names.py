"""The example's name is the bentofile's ``name``: every other copy of it (params.yaml's
model_store, the params default the service falls back to, the BentoML service) must equal it,
and conveyor names the local image after it rather than after the example."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

from conveyor.build import image_name
from forecast.params import ModelStoreParams
from tests.paths import REPO


def _bentofile_name() -> str:
    name = yaml.safe_load((REPO / "bentofile.yaml").read_text(encoding="utf-8"))["name"]
    assert isinstance(name, str)
    return name


def test_params_and_the_service_carry_the_bentofile_name(tmp_path: Path) -> None:
    name = _bentofile_name()
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert params["model_store"]["model_name"] == name
    assert ModelStoreParams().model_name == name
    # The service as BentoML sees it, in a fresh interpreter (importing it looks for the model).
    probe = "from forecast.service import DemandForecaster; print(DemandForecaster.name)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={
            "BENTOML_DO_NOT_TRACK": "true",
            "PATH": "/usr/bin:/bin",
            "BENTOML_HOME": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == name


def test_the_image_is_named_after_the_bento(tmp_path: Path) -> None:
    (tmp_path / "bento.yaml").write_text("name: churn_model\nversion: abc\n")
    assert image_name(tmp_path) == "localhost/churn_model"


def test_a_bento_name_no_image_can_carry_is_one_line_exit_2(tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "env/docker").mkdir(parents=True)
    (context / "env/docker/Dockerfile").write_text("FROM scratch\n")
    (context / "bento.yaml").write_text("name: a..b\nversion: abc\n")
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "build", "image", "--context", str(context)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert 'name "a..b" is not usable as an image name' in result.stderr


def _strings(tree: ast.Module) -> list[ast.Constant]:
    """String constants of the code, docstrings left out (prose may mention the example)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_conveyor_names_nothing_of_the_example() -> None:
    """No value in conveyor's code names the example (its package, its Bento): a default such as
    an image name comes from the project's own files."""
    words = ("forecast", _bentofile_name())
    # The one module whose job is the example's names: the rules that rename them (for copier's
    # generated projects and `conveyor init`).
    renames = REPO / "src" / "conveyor" / "renames.py"
    found = [
        f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}"
        for path in sorted((REPO / "src" / "conveyor").rglob("*.py"))
        if path != renames
        for node in _strings(ast.parse(path.read_text(encoding="utf-8")))
        if any(word in node.value for word in words)
    ]
    assert not found
