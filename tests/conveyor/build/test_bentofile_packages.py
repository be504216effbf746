"""The service's package list is declared once, in bentofile.yaml: `conveyor doctor` and the build
record read it there (conveyor names no package of the example model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.config import bentofile_packages
from conveyor.errors import ConfigError
from tests.paths import REPO


def _conveyor(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _bentofile(root: Path, python: object) -> Path:
    path = root / "bentofile.yaml"
    path.write_text(json.dumps({"service": "svc:Service", "python": python}), encoding="utf-8")
    return path


def test_the_repository_bentofile_names_the_model_packages():
    names = bentofile_packages(REPO / "bentofile.yaml")
    # What doctor and build.py used to hard-code, and what they never listed (holidays).
    assert {"lightgbm", "polars", "pyarrow", "numpy", "pandas", "holidays"} <= set(names)


def test_requirement_forms_give_their_distribution_names(tmp_path):
    path = _bentofile(
        tmp_path,
        {
            "packages": [
                "polars>=1.20",
                "pydantic[email]>=2,<3",
                "numpy ; python_version >= '3.11'",
                "Zope.Interface_x==1.0",
                "polars<2",  # a second line for one package: listed once
                "plain",
            ]
        },
    )
    assert bentofile_packages(path) == ["polars", "pydantic", "numpy", "Zope.Interface_x", "plain"]


@pytest.mark.parametrize("python", [None, {}, {"packages": None}, {"lock_packages": False}])
def test_a_bentofile_without_packages_declares_none(tmp_path, python):
    assert bentofile_packages(_bentofile(tmp_path, python)) == []


@pytest.mark.parametrize(
    ("python", "message"),
    [
        ({"packages": "polars"}, "python.packages: expected a list of requirements"),
        ({"packages": ["polars", 7]}, "python.packages: not a requirement: 7"),
        (
            {"packages": ["-r requirements.txt"]},
            "python.packages: not a requirement: '-r requirements.txt'",
        ),
        (["polars"], "python: expected a mapping, got a list"),
    ],
)
def test_a_malformed_package_list_is_a_config_error(tmp_path, python, message):
    path = _bentofile(tmp_path, python)
    with pytest.raises(ConfigError) as error:
        bentofile_packages(path)
    assert str(error.value) == f"{path}: {message}"


def test_doctor_lists_the_packages_the_bentofile_declares(tmp_path):
    _bentofile(tmp_path, {"packages": ["pyyaml>=6", "conveyor-absent-package==1.0"]})
    result = _conveyor(tmp_path, "doctor", "--root", str(tmp_path))
    lines = {" ".join(line.split()[1:3]): line for line in result.stdout.splitlines()}
    assert "package pyyaml" in lines, result.stdout
    assert lines["package conveyor-absent-package"].endswith("not installed")
    # A package the service needs and this environment lacks is a problem, not "ok".
    assert lines["package conveyor-absent-package"].startswith("!! ")
    assert result.returncode == 1, result.stdout
    # The model's packages come from the bentofile only: this one names no lightgbm.
    assert "package lightgbm" not in lines
    # ...and the toolkit's own libraries are listed by extra, with their versions.
    serve = lines["extra serve"]
    assert "bentoml 1.4" in serve and "needed by bentofile.yaml" in serve


def test_doctor_without_a_bentofile_lists_no_packages(tmp_path):
    result = _conveyor(tmp_path, "doctor", "--root", str(tmp_path))
    assert [line for line in result.stdout.splitlines() if " package " in line] == []
    assert "bentofile" not in result.stdout
    assert result.returncode == 0, result.stdout


def test_doctor_flags_a_malformed_bentofile(tmp_path):
    path = _bentofile(tmp_path, {"packages": "polars"})
    result = _conveyor(tmp_path, "doctor", "--root", str(tmp_path))
    assert result.returncode == 1, result.stdout
    flagged = [line for line in result.stdout.splitlines() if line.startswith("!! bentofile")]
    assert len(flagged) == 1
    assert flagged[0].endswith(f"{path}: python.packages: expected a list of requirements")
    assert "Traceback" not in result.stderr


def test_build_bento_refuses_a_malformed_package_list_before_anything_runs(tmp_path):
    """One line, exit 2, nothing written: the list is read before the model store or BentoML."""
    bentofile = _bentofile(tmp_path, {"packages": ["polars", {"name": "x"}]})
    tag_file = tmp_path / "bentoml_model.json"
    tag_file.write_text(json.dumps({"tag": "demand_forecaster:0123456789abcdef0123"}))
    out = tmp_path / "out"
    result = _conveyor(
        tmp_path,
        "build",
        "bento",
        "--bentofile",
        str(bentofile),
        "--model-tag-file",
        str(tag_file),
        "--out",
        str(out),
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {bentofile}: python.packages: not a requirement: {{'name': 'x'}}"
    ]
    assert not out.exists()
