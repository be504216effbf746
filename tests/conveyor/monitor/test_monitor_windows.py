"""`conveyor monitor drift` takes its windows from params.yaml `monitoring:` when the command line
names none, and `--pull` fetches those DVC tracks from the remote first (what ml-monitor runs on a
checkout that holds only DVC's pointers). Real DVC, real git, a local DVC remote."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.dvc_pull import tracked
from forecast.generate import generate_sales
from forecast.params import SyntheticParams
from tests.paths import REPO

pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"
SHAPE = {"n_clubs": 4, "n_items": 30, "n_days": 60}
COLUMNS = ["club_id", "item_id", "date", "price", "promo"]


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def _ok(cwd: Path, *args: str) -> str:
    done = _run(cwd, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC repository: the reference is DVC-tracked and pushed to a local remote, the
    current window is a plain file; params.yaml names both."""
    root = tmp_path_factory.mktemp("windows") / "repo"
    (root / "data").mkdir(parents=True)
    _ok(root, "git", "init", "-q", "-b", "main")
    _ok(root, sys.executable, "-m", "dvc", "init", "-q")
    _ok(root, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
    remote = root.parent / "dvc-remote"
    _ok(root, sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(remote))
    sales = generate_sales(SyntheticParams(seed=3, **SHAPE)).select(COLUMNS)
    sales.write_parquet(root / "data/reference.parquet")
    sales.sample(2000, seed=1).write_parquet(root / "data/current.parquet")  # every club
    _ok(root, sys.executable, "-m", "dvc", "add", "-q", "data/reference.parquet")
    _ok(root, sys.executable, "-m", "dvc", "push", "-q")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    monitoring = params["monitoring"] | {
        "reference": "data/reference.parquet",
        "current": "data/current.parquet",
    }
    for key in ("actual", "performance", "within"):
        monitoring.pop(key, None)  # plain request windows: no outcomes to score
    (root / "params.yaml").write_text(yaml.safe_dump({"monitoring": monitoring}))
    return root


def test_the_windows_come_from_params_when_the_command_names_none(project: Path) -> None:
    out = project / "reports/plain"
    done = _run(project, str(CONVEYOR), "monitor", "drift", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "drift.json").read_text())
    assert report["reference"]["path"].endswith("data/reference.parquet")
    assert report["current"]["path"].endswith("data/current.parquet")


def test_pull_fetches_the_tracked_reference_and_leaves_the_rest(project: Path) -> None:
    (project / "data/reference.parquet").unlink()  # a fresh checkout: only the .dvc pointer
    out = project / "reports/pulled"
    done = _run(project, str(CONVEYOR), "monitor", "drift", "--pull", "--out", str(out))
    assert done.returncode == 0, done.stderr
    pulled = [line for line in done.stdout.splitlines() if line.startswith("pulled ")]
    assert pulled == ["pulled data/reference.parquet from the DVC remote"]  # not current: git's
    assert (project / "data/reference.parquet").is_file()
    assert json.loads((out / "drift.json").read_text())["drifted"] is False


def test_without_a_window_anywhere_it_is_a_usage_error_and_writes_nothing(project: Path) -> None:
    params = project / "bare-params.yaml"
    monitoring = yaml.safe_load((project / "params.yaml").read_text())["monitoring"]
    del monitoring["reference"]
    params.write_text(yaml.safe_dump({"monitoring": monitoring}))
    out = project / "reports/none"
    args = ("monitor", "drift", "--params", str(params), "--out", str(out))
    done = _run(project, str(CONVEYOR), *args)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: no reference window: give --reference or set monitoring.reference in params.yaml"
    )
    assert not out.exists()


def test_a_pull_that_fails_is_a_usage_error_naming_dvcs_reason(project: Path, tmp_path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns("reference.parquet", "cache"))
    _ok(clone, sys.executable, "-m", "dvc", "remote", "modify", "local", "url", str(tmp_path / "x"))
    done = _run(clone, str(CONVEYOR), "monitor", "drift", "--pull", "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: dvc pull data/reference.parquet: ")
    assert "Traceback" not in done.stderr and not (tmp_path / "o").exists()


def test_what_dvc_tracks(project: Path, tmp_path: Path) -> None:
    assert str(tracked(project, project / "data/reference.parquet")) == "data/reference.parquet"
    assert tracked(project, project / "data/current.parquet") is None  # a plain file
    assert tracked(project, tmp_path / "elsewhere.parquet") is None  # outside the repository
    # An output of a stage (dvc.lock), and a file inside an output folder
    (project / "dvc.lock").write_text(
        yaml.safe_dump({"schema": "2.0", "stages": {"s": {"outs": [{"path": "data/logs"}]}}})
    )
    try:
        assert str(tracked(project, project / "data/logs/day=1/a.parquet")) == (
            "data/logs/day=1/a.parquet"
        )
        assert tracked(project, project / "data/logsx") is None
    finally:
        (project / "dvc.lock").unlink()
