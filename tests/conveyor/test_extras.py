"""conveyor is a package with extras: the wheel built from this checkout, installed into a clean
venv with only its core dependencies, runs `--help` and `doctor`, and each command whose extra is
missing exits 2 with one line naming it. Installing one extra makes its command go on.

The wheel and the venvs are real (uv, offline from the uv cache `make setup` filled); nothing is
patched. The core venv is built once per module (~1 s: wheel 0.6 s, venv and install 0.4 s).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor import doctor, extras
from conveyor.renames import BATCH_FILES
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

UV = shutil.which("uv", path=str(REPO / ".venv" / "bin")) or str(REPO / ".tools" / "bin" / "uv")
# Distributions of every extra: none may be in the core install.
HEAVY = {"great-expectations", "pandas", "pyarrow", "matplotlib", "polars", "scipy", "numpy"}
HEAVY |= {"bentoml", "uv", "pip-audit", "dvc"}
CONTRACT = REPO / "policies" / "data" / "raw_sales.yaml"


@dataclass(frozen=True)
class Venv:
    """A virtual environment with conveyor installed from the wheel."""

    path: Path

    def env(self) -> dict[str, str]:
        # Nothing of the project's environment leaks in: only this venv and the system tools.
        return {
            "PATH": f"{self.path / 'bin'}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "DVC_NO_ANALYTICS": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            "GX_ANALYTICS_ENABLED": "False",
        }

    def conveyor(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path / "bin" / "conveyor"), *args],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def distributions(self) -> set[str]:
        code = (
            "import importlib.metadata as m; print('\\n'.join(d.name for d in m.distributions()))"
        )
        result = subprocess.run(
            [str(self.path / "bin" / "python"), "-c", code],
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return {extras._normalize(name) for name in result.stdout.split()}


def _uv(*args: str) -> None:
    result = subprocess.run([UV, *args], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conveyor's wheel, built from this checkout (offline: hatchling is in the uv cache)."""
    out = tmp_path_factory.mktemp("dist")
    _uv("build", "--wheel", "--offline", "--quiet", "--out-dir", str(out), str(REPO))
    (built,) = out.glob("conveyor-*.whl")
    return built


def _venv(root: Path, wheel: Path, *extra: str) -> Venv:
    """A venv with the wheel and the locked versions of its core dependencies plus ``extra``.
    The versions come from uv.lock as a pylock.toml (it names each file's URL, so uv installs
    from its cache without asking the index); `uv pip check` then proves the wheel's own
    metadata is satisfied by what was installed."""
    root.mkdir(parents=True)
    lock = root.parent / "pylock.toml"
    with_extras = [arg for name in extra for arg in ("--extra", name)]
    _uv(
        "export",
        "--frozen",
        "--quiet",
        "--project",
        str(REPO),
        "--no-default-groups",
        *with_extras,
        "--no-emit-workspace",
        "--format",
        "pylock.toml",
        "--output-file",
        str(lock),
    )
    python = str(root / "venv" / "bin" / "python")
    _uv("venv", "--quiet", "--python", sys.executable, str(root / "venv"))
    _uv("pip", "install", "--offline", "--quiet", "--python", python, "-r", str(lock))
    _uv("pip", "install", "--offline", "--quiet", "--no-deps", "--python", python, str(wheel))
    _uv("pip", "check", "--quiet", "--python", python)
    return Venv(root / "venv")


@pytest.fixture(scope="module")
def core(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A clean venv holding conveyor and its core dependencies only (`pip install conveyor`)."""
    return _venv(tmp_path_factory.mktemp("core") / "env", wheel)


def test_the_wheel_holds_conveyor_and_not_the_example_model(wheel: Path, tmp_path: Path) -> None:
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"conveyor", "conveyor-0.1.0.dist-info"}
    # The example model is a package of its own (a workspace member): its wheel holds
    # src/forecast/ and depends on conveyor.
    _uv(
        "build",
        "--wheel",
        "--offline",
        "--quiet",
        "--out-dir",
        str(tmp_path),
        str(REPO / "packages" / "forecast"),
    )
    (model,) = tmp_path.glob("forecast-*.whl")
    names = zipfile.ZipFile(model).namelist()
    sources = sorted(p.name for p in (REPO / "src" / "forecast").glob("*.py"))
    assert sorted(n.removeprefix("forecast/") for n in names if n.endswith(".py")) == sources
    metadata = zipfile.ZipFile(model).read("forecast-0.1.0.dist-info/METADATA").decode()
    assert "Requires-Dist: conveyor[serve]" in metadata


def _tracked(name: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", name], cwd=REPO, capture_output=True, text=True, check=True
    )
    return listed.stdout.splitlines()


def test_the_wheel_ships_what_conveyor_init_writes(wheel: Path, core: Venv, tmp_path: Path) -> None:
    """The callers, deploy/ and the promotion policy are in the wheel (this repository's own
    files, force-included), and `conveyor init` from the core install, with no checkout, writes
    them."""
    shipped = {
        name.removeprefix("conveyor/project_files/")
        for name in zipfile.ZipFile(wheel).namelist()
        if name.startswith("conveyor/project_files/")
    }
    callers = [f"caller/{Path(name).name}" for name in _tracked("examples/caller")]
    assert shipped == {*callers, *_tracked("deploy"), "promotion.yaml"}
    args = ["init", "--name", "churn", "--registry", "ghcr.io/acme", "--repository", "acme/churn"]
    args += ["--conveyor-repository", "acme/conveyor"]
    # Installed from a file, not from git: there is no commit to pin, so it must be given.
    missing = core.conveyor(tmp_path, *args)
    assert (missing.returncode, missing.stdout) == (2, ""), missing.stderr
    assert missing.stderr.startswith("error: --conveyor-ref: required (conveyor was not installed")
    assert list(tmp_path.iterdir()) == []
    done = core.conveyor(tmp_path, *args, "--conveyor-ref", "v1")
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert done.stdout.splitlines() == written
    # Everything shipped but the nightly batch CronJob's files (init writes those with --batch).
    assert len(written) == len(shipped) - len(BATCH_FILES)
    assert "name: churn-dev" in (tmp_path / "deploy/argocd/dev.yaml").read_text()


def test_the_core_install_has_none_of_the_extras_libraries(core: Venv) -> None:
    installed = core.distributions()
    assert {"conveyor", "pydantic", "pyyaml"} <= installed
    assert not installed & HEAVY, installed & HEAVY


def test_help_and_version_work_without_any_extra(core: Venv, tmp_path: Path) -> None:
    result = core.conveyor(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("doctor", "check", "gate", "report", "build", "scan", "monitor"):
        assert command in result.stdout
    assert core.conveyor(tmp_path, "--version").stdout.startswith("conveyor ")


# Each command with arguments it would otherwise accept: the missing extra is what stops it.
COMMANDS = [
    ("checks", ["check", "data", str(CONTRACT), str(CONTRACT), "--out", "reports/data"]),
    ("checks", ["check", "profile", str(CONTRACT), "--out", "contract.yaml"]),
    ("checks", ["data", "manifest", str(REPO / "data"), "--out", "manifests/data.json"]),
    ("report", ["report", "--out", "reports/report.md"]),
    ("monitor", ["monitor", "drift", "--reference", str(CONTRACT), "--current", str(CONTRACT)]),
    ("scan", ["scan", "--deps", "--out", "reports/scan"]),
    ("serve", ["build", "bento", "--context", str(REPO / "src"), "--out", "build/bento"]),
]


@pytest.mark.parametrize(("extra", "args"), COMMANDS, ids=[" ".join(a[:2]) for _, a in COMMANDS])
def test_a_command_without_its_extra_exits_2_naming_it(
    core: Venv, tmp_path: Path, extra: str, args: list[str]
) -> None:
    result = core.conveyor(tmp_path, *args)
    command = " ".join(args[:2]) if args[0] in ("check", "data", "monitor", "build") else args[0]
    command += " --deps" if "--deps" in args else ""
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"error: conveyor {command} needs conveyor[{extra}]: pip install 'conveyor[{extra}]'\n"
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_scan_without_deps_needs_no_extra(core: Venv, tmp_path: Path) -> None:
    # Only --deps runs pip-audit: the policy check that follows is what fails here.
    result = core.conveyor(tmp_path, "scan", "--policies", "nowhere", "--out", "out")
    assert "needs conveyor[" not in result.stderr
    assert result.returncode == 2 and "nowhere" in result.stderr, result.stderr


DVC_YAML = """\
stages:
  validate:
    cmd: conveyor check data policies/data/a.yaml data/a.parquet --out reports/data
  explain:
    foreach: [a, b]
    do:
      cmd: python -m conveyor.cli report --out reports/${item}.md
"""


def test_doctor_names_the_extras_the_repository_needs_and_lacks(core: Venv, tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    result = core.conveyor(tmp_path, "doctor")
    assert result.returncode == 1, result.stdout
    lines = {" ".join(line.split()[1:3]): line for line in result.stdout.splitlines()}
    assert lines["extra checks"] == (
        "!! extra checks    MISSING (fsspec, great-expectations, pandas, pyarrow): needed by "
        "dvc.yaml stage validate: conveyor check data; pip install 'conveyor[checks]'"
    )
    assert lines["extra report"].startswith("!! ")
    assert "dvc.yaml stage explain: conveyor report" in lines["extra report"]
    assert (
        lines["extra pipeline"].startswith("!! ")
        and "needed by dvc.yaml;" in lines["extra pipeline"]
    )
    assert lines["dvc MISSING"].startswith("!! ")  # a pipeline needs dvc on the machine
    # Not needed by any file here: listed, and no problem.
    for extra in ("monitor", "serve", "scan"):
        assert lines[f"extra {extra}"].startswith("ok "), lines[f"extra {extra}"]
        assert "not installed; not needed" in lines[f"extra {extra}"]


def test_doctor_in_a_repository_that_needs_no_extra_passes(core: Venv, tmp_path: Path) -> None:
    result = core.conveyor(tmp_path, "doctor")
    assert result.returncode == 0, result.stdout
    assert "!!" not in result.stdout


@pytest.fixture(scope="module")
def with_report(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A clean venv with `conveyor[report]` only (matplotlib from the uv cache)."""
    return _venv(tmp_path_factory.mktemp("report") / "env", wheel, "report")


def test_one_extra_installed_lets_its_command_go_on(with_report: Venv, tmp_path: Path) -> None:
    assert "matplotlib" in with_report.distributions()
    assert "great-expectations" not in with_report.distributions()
    # `report` is past the extra check: it now reads the gate's verdict (absent here).
    result = with_report.conveyor(tmp_path, "report", "--out", "r.md")
    assert result.returncode == 2 and "needs conveyor[" not in result.stderr, result.stderr
    assert "no gate verdict: run `conveyor gate` first" in result.stderr
    # Another command still names its own extra.
    other = with_report.conveyor(tmp_path, "check", "profile", str(CONTRACT), "--out", "c.yaml")
    assert "needs conveyor[checks]" in other.stderr
    (tmp_path / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    lines = with_report.conveyor(tmp_path, "doctor").stdout.splitlines()
    (report,) = [line for line in lines if line.split()[1:3] == ["extra", "report"]]
    assert report.startswith("ok ") and "installed (matplotlib " in report


def test_the_extras_read_from_the_metadata_are_the_ones_pyproject_declares() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    optional = declared["project"]["optional-dependencies"]
    assert set(optional) == {*extras.EXTRAS, "all"}
    for extra in extras.EXTRAS:
        names = [extras._normalize(re.split(r"[<>=!~\[; ]", r)[0]) for r in optional[extra]]
        assert sorted(extras.distributions(extra)) == sorted(names), extra
    # `all` (a self-reference) is every extra's distributions, expanded.
    every = {name for extra in extras.EXTRAS for name in extras.distributions(extra)}
    assert set(extras.distributions("all")) == every
    # This repository's environment (`make setup`) holds every extra.
    assert [extras.missing(extra) for extra in extras.EXTRAS] == [[]] * len(extras.EXTRAS)


def test_every_command_that_needs_an_extra_is_found_in_a_command_line() -> None:
    assert doctor.conveyor_commands(
        "python -m conveyor.cli report --out r.md && .venv/bin/conveyor scan --out s --deps; ls"
    ) == [["report", "--out", "r.md"], ["scan", "--out", "s", "--deps"]]
    found = [extras.command_extra(w) for w in doctor.conveyor_commands("conveyor scan --out s")]
    assert found == [None]  # scan without --deps: no pip-audit
    for command, extra in extras.COMMANDS.items():
        assert extras.command_extra([*command.split(), "x"]) == (command, extra)
    assert extras.command_extra(["check"]) is None


def test_doctor_reads_the_callers_of_conveyors_reusable_workflows(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "monitor.yml").write_text(
        "jobs:\n  drift:\n    uses: OWNER/conveyor/.github/workflows/ml-monitor.yml@0123 # v1\n",
        encoding="utf-8",
    )
    (workflows / "notes.yml").write_text("# ml-ci.yml is not called here\n", encoding="utf-8")
    needs, problems = doctor.needed_extras(tmp_path)
    assert problems == []
    assert needs == {
        "pipeline": [".github/workflows/monitor.yml: calls ml-monitor.yml"],
        "monitor": [".github/workflows/monitor.yml: calls ml-monitor.yml"],
    }


def test_doctor_flags_a_dvc_yaml_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: [unclosed\n", encoding="utf-8")
    needs, problems = doctor.needed_extras(tmp_path)
    assert needs == {"pipeline": ["dvc.yaml"]}
    assert len(problems) == 1 and not problems[0].ok and "dvc.yaml" in problems[0].detail
