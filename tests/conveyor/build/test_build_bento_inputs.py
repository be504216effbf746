"""`conveyor build bento` checks its model before BentoML builds anything: a tag that is not a
BentoML tag, or that names a model absent from the model store, is one line and exit 2 with
nothing written; a Bento that came out without the model is an error, not an artefact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.paths import REPO


def _build_bento(
    tag_file: Path, out: Path, home: Path, *extra: str, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """The real command, as `make image` runs it, against the store ``home``."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "conveyor.cli", "build", "bento"),
            *("--model-tag-file", str(tag_file), "--out", str(out), *extra),
        ],
        cwd=cwd,
        env={**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _stored_files(home: Path) -> list[Path]:
    """Every file in a BentoML home (BentoML itself creates the empty folders)."""
    return sorted(path for path in home.rglob("*") if path.is_file()) if home.exists() else []


def test_a_tag_absent_from_the_model_store_stops_before_the_build(tmp_path):
    """A fresh machine after `dvc pull`: the tag file names a model this store never saw. One line
    naming the command that registers it, exit 2, no Bento, no context, nothing stored."""
    home, out = tmp_path / "bentoml-home", tmp_path / "out"
    tag_file = tmp_path / "bentoml_model.json"
    tag_file.write_text(json.dumps({"tag": "demand_forecaster:0123456789abcdef0123"}))
    result = _build_bento(tag_file, out, home)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {tag_file}: model demand_forecaster:0123456789abcdef0123 is not in the BentoML "
        f"model store ({home}): run 'make pipeline' (or 'dvc repro register') first"
    ]
    assert not out.exists()
    assert _stored_files(home) == []


@pytest.mark.parametrize(
    "tag",
    ["--help", "a b", "", 7, None, "demand_forecaster", "-x:1", "demand_forecaster:--help"],
    ids=["option", "space", "empty", "number", "null", "no-version", "dash-name", "dash-version"],
)
def test_a_tag_that_is_not_a_bentoml_tag_never_reaches_bentoml(tmp_path, tag):
    """An option-shaped or malformed tag: one line, exit 2, before BentoML runs (it would print
    its help or a traceback), nothing written."""
    home, out = tmp_path / "bentoml-home", tmp_path / "out"
    tag_file = tmp_path / "bentoml_model.json"
    tag_file.write_text(json.dumps({"tag": tag}))
    result = _build_bento(tag_file, out, home)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # no help text of bentoml's
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {tag_file}: tag {json.dumps(tag)} is not a BentoML")
    assert lines[0].endswith("run 'make pipeline' (or 'dvc repro register') to write it")
    assert not out.exists()
    assert not home.exists()  # not even BentoML's empty store: it never ran


def test_a_bento_without_the_model_is_an_error(tmp_path):
    """Defence in depth: the model is stored, but the bentofile's service does not declare it, so
    `bentoml build` packages no model. The build fails (exit 1) and leaves no .bento or context
    an image could be built from."""
    home, out = tmp_path / "bentoml-home", tmp_path / "out"
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    store = "import bentoml\nwith bentoml.models.create('tiny:v1') as m:\n    m.path_of('x')\n"
    subprocess.run([sys.executable, "-c", store], env=env, check=True, timeout=300)
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "plain.py").write_text(
        textwrap.dedent(
            """
            import bentoml


            @bentoml.service
            class Plain:
                @bentoml.api
                def echo(self, text: str) -> str:
                    return text
            """
        )
    )
    (project / "bentofile.yaml").write_text('service: "plain:Plain"\ninclude: ["*.py"]\n')
    tag_file = project / "bentoml_model.json"
    tag_file.write_text(json.dumps({"tag": "tiny:v1"}))
    result = _build_bento(tag_file, out, home, cwd=project)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "does not hold model tiny:v1 (its models: none)" in lines[0]
    assert not list(out.glob("*.bento"))
    assert not (out / "context").exists()
    assert not (out / "build.json").exists()
