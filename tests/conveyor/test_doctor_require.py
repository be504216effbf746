"""`conveyor doctor --require` and `--github-env`: the setup action's repository check and its
environment for the later steps, as one command (they were shell in pipelines/setup)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"


def _doctor(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        [str(CONVEYOR), "doctor", "--root", str(root), *args],
        capture_output=True, text=True, check=False, env={**base, **env},
    )  # fmt: skip


def test_required_files_and_sections(tmp_path):
    (tmp_path / "params.yaml").write_text("data: {}\ngates:\n  rules: []\n")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    ok = _doctor(tmp_path, "--require", "dvc.yaml params.yaml:gates")  # one input, split
    assert ok.returncode == 0, ok.stdout
    assert "ok file params.yaml:gates" in ok.stdout

    bad = _doctor(
        tmp_path, "--require", "dvc.yaml", "params.yaml:monitoring", "bentofile.yaml",
        GITHUB_ACTIONS="true",
    )  # fmt: skip
    assert bad.returncode == 1
    assert "!! file params.yaml:monitoring" in bad.stdout
    annotations = [line for line in bad.stdout.splitlines() if line.startswith("::error")]
    assert annotations == [
        "::error file=params.yaml::params.yaml has no top-level 'monitoring:' section "
        "(see docs/adopting.md)",
        "::error file=bentofile.yaml::bentofile.yaml is missing: conveyor's workflows need it "
        "(see docs/adopting.md)",
    ]
    # `gates:` nested under another key is not a top-level section.
    (tmp_path / "params.yaml").write_text("data:\n  gates: {}\n")
    nested = _doctor(tmp_path, "--require", "params.yaml:gates")
    assert nested.returncode == 1
    assert "!! file params.yaml:gates" in nested.stdout


def test_github_env_puts_this_environment_on_the_jobs_path(tmp_path):
    path_file, env_file = tmp_path / "path", tmp_path / "env"
    result = _doctor(
        tmp_path, "--github-env", GITHUB_ACTIONS="true", GITHUB_PATH=str(path_file),
        GITHUB_ENV=str(env_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    prefix = Path(sys.prefix)
    assert path_file.read_text() == f"{prefix / 'bin'}\n"
    assert env_file.read_text().splitlines() == [
        f"VIRTUAL_ENV={prefix}",
        "DVC_NO_ANALYTICS=1",
        "BENTOML_DO_NOT_TRACK=true",
        "GX_ANALYTICS_ENABLED=False",
        "UV_PYTHON_DOWNLOADS=never",
    ]


def test_release_name_checks_the_tag_and_lowercases_the_image(tmp_path):
    output = tmp_path / "output"
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env = {**base, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output)}
    args = [str(CONVEYOR), "release", "name", "--registry", "ghcr.io", "--image-name", "Acme/Fc"]
    ok = subprocess.run([*args, "--tag", "v1.2.3-rc.1", "--github-output"], env=env,
                        capture_output=True, text=True, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert output.read_text() == "version=v1.2.3-rc.1\nimage=ghcr.io/acme/fc\n"
    for tag in ("1.2.3", "v1.2", "v01.2.3", "v1.2.3\nimage=evil"):
        output.unlink(missing_ok=True)
        bad = subprocess.run([*args, "--tag", tag, "--github-output"], env=env,
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert bad.returncode == 1, tag
        assert "is not semver (vMAJOR.MINOR.PATCH, e.g. v1.2.3)" in bad.stderr
        assert bad.stdout.startswith("::error::release tag ")
        assert not output.exists()  # nothing written


def test_a_required_path_outside_the_repository_is_refused(tmp_path):
    """Review finding L7: --require checked files outside the checkout (`../x`, absolute)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "outside.yaml").write_text("gates: {}\n")
    (repo / "sub").mkdir()
    for spelling in (
        "../outside.yaml",
        str(tmp_path / "outside.yaml"),
        "sub/../../outside.yaml",
        "./../outside.yaml:gates",
        "/etc/hostname",
        "..",
    ):
        result = _doctor(repo, "--require", spelling)
        assert result.returncode == 2, (spelling, result.stdout, result.stderr)
        assert "not a path inside the repository" in result.stderr, spelling
        assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout
    (repo / "link.yaml").symlink_to(tmp_path / "outside.yaml")  # inside by name, not by target
    linked = _doctor(repo, "--require", "link.yaml:gates")
    assert linked.returncode == 1
    assert "!! file link.yaml:gates" in linked.stdout and "leads outside the repository" in (
        linked.stdout
    )
    (repo / "sub/x.yaml").write_text("gates: {}\n")
    assert _doctor(repo, "--require", "sub/../sub/x.yaml:gates").returncode == 0
