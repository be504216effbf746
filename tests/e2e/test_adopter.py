"""A second model adopts conveyor, following README.md and docs/adopting.md: the proof that
conveyor knows nothing about forecasting (DESIGN.md rule 2) and that its docs are enough.

A throw-away repository holding a churn classifier (tests/fixtures/adopter: its own columns,
stage names, contract and `gates:`) depends on conveyor through a git URL (a bare clone of this
checkout, `git+file://`), installs it into its own venv with uv, writes the callers, the
promotion policy and deploy/ with `conveyor init` from that install (nothing copied by hand), and
runs: its pipeline (`dvc repro`: a contract stage and a gate),
`conveyor report`, `scan`, `build bento`, `release record` + `verify`, `promote` to dev (a bare
remote on disk, a recording `gh`), `monitor drift`, and its pull-request caller under act with
conveyor's reusable workflow mapped to this checkout: green as it is, red at the gate with a
worse model.

Everything is real (uv, DVC, Great Expectations, BentoML, checkov, git, act); nothing is
reached but the disk. One adopter repository is built per module and reused by every step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.gh_stub import GhStub
from tests.paths import REPO

pytestmark = pytest.mark.pipeline

FIXTURE = REPO / "tests" / "fixtures" / "adopter"
UV = str(REPO / ".tools" / "bin" / "uv")
ACT = REPO / ".venv" / "bin" / "act"
STANDINS = REPO / "src" / "conveyor" / "workflows" / "standins"
OWNER = "conveyor-org"  # the owner of "your conveyor copy" (docs/adopting.md: replace OWNER)
SOURCE = "acme/churn"  # the adopter's own repository
IMAGE = "ghcr.io/acme/churn"

# What docs/adopting.md tells an adopter to copy from conveyor by hand: nothing. `conveyor init`
# writes the callers, policies/promotion.yaml and deploy/ under the adopter's names (41 files
# were copied before the scan policies were packaged, 31 before `conveyor init`; issue #16's
# target is <= 5).
FILES_COPIED = 0
# What it names: its service and registry, its repository, and conveyor's.
INIT = [
    "--name", "churn", "--registry", "ghcr.io/acme", "--repository", SOURCE,
    "--conveyor-repository", f"{OWNER}/conveyor",
]  # fmt: skip


@dataclass
class Adopter:
    """The adopter's repository, its bare `origin`, its DVC remote and tool folders."""

    root: Path
    repo: Path
    conveyor_git: Path
    rev: str  # conveyor's commit, the one its callers are pinned to
    copied: list[str]
    written: list[str] = field(default_factory=list)  # by `conveyor init`
    base: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # wall times, printed at the end

    def env(self, **extra: str) -> dict[str, str]:
        """The adopter's venv first on PATH; nothing of conveyor's own environment."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
        keep.pop("VIRTUAL_ENV", None)
        system = "/usr/local/bin:/usr/bin:/bin"
        return {
            **keep,
            "PATH": f"{self.repo / '.venv' / 'bin'}{os.pathsep}{system}",
            "BENTOML_HOME": str(self.root / "bentoml"),
            "DVC_NO_ANALYTICS": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            "GX_ANALYTICS_ENABLED": "False",
            "BC_SKIP_MAPPING": "TRUE",
            "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
            "GIT_AUTHOR_NAME": "adopter",
            "GIT_AUTHOR_EMAIL": "adopter@conveyor.invalid",
            "GIT_COMMITTER_NAME": "adopter",
            "GIT_COMMITTER_EMAIL": "adopter@conveyor.invalid",
            **extra,
        }

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """A command in the adopter's repository (its own venv's tools)."""
        return subprocess.run(
            list(args),
            cwd=self.repo,
            env=env or self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = self.run(*args, env=env)
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def git(self, *args: str) -> str:
        return self.ok("git", *args).strip()


def _bare_conveyor(root: Path) -> Path:
    """conveyor as an adopter gets it: a git repository (this checkout's HEAD) tagged v1, where
    the act checkout stand-in finds OWNER/conveyor too ($ACT_GIT_ROOT/OWNER/conveyor.git)."""
    bare = root / "git" / OWNER / "conveyor.git"
    bare.parent.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(REPO), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "tag", "-f", "v1", "HEAD"], check=True)
    return bare


def _init(adopter: Adopter) -> list[str]:
    """docs/adopting.md §1: `conveyor init` from the adopter's own install of conveyor (the wheel
    built from git: the files ship in it). No --conveyor-ref: the callers are pinned to the
    commit conveyor was installed from. Returns the files it wrote."""
    written = adopter.ok("conveyor", "init", *INIT).splitlines()
    callers = adopter.repo / ".github" / "workflows"
    assert f"@{adopter.rev}\n" in (callers / "pull-request.yml").read_text()
    return written


def _lock_and_sync(adopter: Adopter, rev: str) -> None:
    """`uv lock` then the environment the workflows install (`uv sync --frozen`). conveyor's own
    uv.lock, laid down first, is the preference uv starts from (what a real adopter's `uv lock`
    would not need), so the versions are the ones `make setup` cached. Not offline: resolving
    for every Python and platform split needs metadata (e.g. numpy's for Python >= 3.15 on
    Windows) that `make setup` never fetches, so uv may read it from the package registry (the
    one place tests may reach); on a machine whose cache holds it, nothing is downloaded. The
    lock is then the adopter's own (its root, conveyor from git)."""
    pyproject = adopter.repo / "pyproject.toml"
    url = f"file://{adopter.conveyor_git}"
    pyproject.write_text(
        pyproject.read_text().replace("CONVEYOR_GIT_URL", url).replace("CONVEYOR_REV", rev)
    )
    shutil.copy2(REPO / "uv.lock", adopter.repo / "uv.lock")
    adopter.ok(UV, "lock", "--quiet")
    adopter.ok(UV, "sync", "--frozen", "--quiet", "--python", "3.11")


def build(root: Path) -> Adopter:
    """The adopter's repository under ``root``: installed, its pipeline run and pushed."""
    started = time.monotonic()
    conveyor_git = _bare_conveyor(root)
    repo = root / "churn"
    shutil.copytree(FIXTURE, repo)
    rev = subprocess.run(
        ["git", "-C", str(conveyor_git), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    box = Adopter(root, repo, conveyor_git, rev, copied=[])
    _lock_and_sync(box, rev)
    box.written = _init(box)
    box.seconds["install"] = time.monotonic() - started
    # checkov in its own venv where `conveyor scan` looks first (.tools/checkov): the machine's,
    # so the test installs nothing from PyPI (an adopter's first scan installs it once).
    (repo / ".tools").mkdir()
    (repo / ".tools" / "checkov").symlink_to(REPO / ".tools" / "checkov")
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("/.tools/\n")
    box.git("init", "-q", "--initial-branch=main")
    box.ok("dvc", "init", "-q")
    # TOOLCHAIN.md: DVC's analytics daemon crashes here; README's own .dvc/config turns it off.
    box.ok("dvc", "config", "core.analytics", "false")
    box.ok("dvc", "config", "core.check_update", "false")
    box.ok("dvc", "remote", "add", "-d", "local", str(root / "dvc-remote"))
    box.git("add", "-A")
    box.git("commit", "-q", "-m", "churn classifier adopts conveyor")
    step = time.monotonic()
    box.ok("dvc", "repro")
    box.seconds["dvc repro"] = time.monotonic() - step
    box.ok("dvc", "push", "--run-cache")
    box.git("add", "-A")
    box.git("commit", "-q", "-m", "dvc repro: the first model")
    origin = root / "origin.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(origin)], check=True
    )
    box.git("remote", "add", "origin", str(origin))
    box.git("push", "-q", "origin", "main")
    box.git("fetch", "-q", "origin")
    box.base = box.git("rev-parse", "HEAD")
    box.seconds["build"] = time.monotonic() - started
    return box


@pytest.fixture(scope="module")
def adopter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adopter]:
    started = time.monotonic()
    box = build(tmp_path_factory.mktemp("adopter"))
    yield box
    box.seconds["module"] = time.monotonic() - started
    print(f"\nadopter wall times (s): { {k: round(v, 1) for k, v in box.seconds.items()} }")


def test_the_adopter_copied_what_the_docs_say_and_no_more(adopter: Adopter) -> None:
    assert len(adopter.copied) == FILES_COPIED, adopter.copied
    assert {"policies/promotion.yaml", "deploy/base/deployment.yaml"} <= set(adopter.written)
    assert ".github/workflows/pull-request.yml" in adopter.written
    # conveyor came from git, with its extras, into the adopter's own venv.
    rev = subprocess.run(
        ["git", "-C", str(adopter.conveyor_git), "rev-parse", "v1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lock = tomllib.loads((adopter.repo / "uv.lock").read_text())
    (locked,) = [package for package in lock["package"] if package["name"] == "conveyor"]
    assert locked["source"] == {"git": f"file://{adopter.conveyor_git}?rev={rev}#{rev}"}
    site = adopter.repo / ".venv" / "lib" / "python3.11" / "site-packages"
    installed = json.loads((site / "conveyor-0.1.0.dist-info" / "direct_url.json").read_text())
    assert installed["vcs_info"]["commit_id"] == rev
    assert not (site / "forecast").exists()  # the example model is not in conveyor's wheel
    # Every extra the adopter's files need is there, found from its own stage names.
    doctor = adopter.run("conveyor", "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "!!" not in doctor.stdout
    assert "needed by dvc.yaml stage contract_customers: conveyor check data" in doctor.stdout


def test_the_pipeline_ran_the_contract_and_the_gate_passes(adopter: Adopter) -> None:
    verdict = json.loads((adopter.repo / "reports" / "data" / "customers.json").read_text())
    assert verdict["passed"] is True
    scores = json.loads((adopter.repo / "metrics" / "scores.json").read_text())
    assert scores["model"]["auc"] > 0.7, scores
    result = adopter.run("conveyor", "gate", "--out", "reports/local/gate")
    assert result.returncode == 0, result.stdout + result.stderr
    gate = json.loads((adopter.repo / "reports" / "local" / "gate" / "gate.json").read_text())
    assert gate["passed"] is True
    assert [check["metric"] for check in gate["checks"]] == [
        "metrics/scores.json:model.auc",
        "metrics/scores.json:model.log_loss",
    ]


def test_report_explains_the_gate_and_the_contract(adopter: Adopter) -> None:
    adopter.ok("conveyor", "gate", "--out", "reports/local/gate")
    adopter.ok(
        "conveyor", "report", "--out", "reports/local/report.md",
        "--gate", "reports/local/gate/gate.json", "--plots-dir", "reports/local/plots",
    )  # fmt: skip
    report = (adopter.repo / "reports" / "local" / "report.md").read_text()
    assert "Metric gate passed: 2 checks" in report
    assert "| `metrics/scores.json:model.auc` |" in report
    assert "`customers`: passed" in report
    assert "forecast" not in report.lower() and "wape" not in report.lower()


def test_scan_passes_on_the_adopters_files(adopter: Adopter) -> None:
    result = adopter.run("conveyor", "scan", "--out", "reports/local/scan")
    assert result.returncode == 0, result.stdout + result.stderr
    scanned = json.loads((adopter.repo / "reports" / "local" / "scan" / "scan.json").read_text())
    assert scanned["passed"] is True
    # The callers, the deploy overlays and the workflows were read, not skipped.
    assert "passed:" in result.stdout and "workflows/actions/manifests/Dockerfiles" in result.stdout


@pytest.fixture(scope="module")
def bento(adopter: Adopter) -> dict:
    """`conveyor build bento` with the adopter's bentofile and its registered model."""
    step = time.monotonic()
    adopter.ok("conveyor", "build", "bento")
    adopter.seconds["build bento"] = time.monotonic() - step
    return json.loads((adopter.repo / "build" / "bento" / "build.json").read_text())


def test_build_bento_packages_the_registered_model(adopter: Adopter, bento: dict) -> None:
    tag = json.loads((adopter.repo / "models" / "bentoml_model.json").read_text())["tag"]
    assert tag.startswith("churn_classifier:")
    assert bento["model_tag"] == tag and bento["models_in_bento"] == [tag]
    assert bento["bento_tag"].startswith("churn_classifier:")
    # The labels the model contract asks for (docs/adopting.md §9) travel into build.json.
    assert bento["model_git_commit"] == adopter.git("rev-parse", "HEAD~1")
    data_md5 = hashlib.md5(
        (adopter.repo / "data" / "customers.parquet").read_bytes(), usedforsecurity=False
    )
    assert bento["data_md5"] == data_md5.hexdigest()
    dockerfile = (adopter.repo / bento["dockerfile"]).read_text()
    assert "HEALTHCHECK" in dockerfile and "USER " in dockerfile


@pytest.fixture(scope="module")
def record(adopter: Adopter, bento: dict) -> Path:
    """`conveyor release record` as ml-release runs it, on the adopter's evidence: an earlier
    run's verdicts deleted, then the tests and the scan run again on this commit."""
    adopter.ok(
        "conveyor", "release", "clean", "--tests-junit", "reports/local/tests/junit.xml",
        "--scan-json", "reports/local/scan/scan.json",
    )  # fmt: skip
    adopter.ok(
        "pytest", "-q", "-p", "conveyor.junit_commit", "--junitxml=reports/local/tests/junit.xml"
    )
    adopter.ok("conveyor", "scan", "--out", "reports/local/scan")
    digest = "sha256:" + hashlib.sha256(bento["bento_tag"].encode()).hexdigest()
    adopter.ok(
        "conveyor", "release", "record", "--version", "v0.1.0", "--image", f"{IMAGE}@{digest}",
        "--build-json", "build/bento/build.json", "--tests-junit", "reports/local/tests/junit.xml",
        "--scan-json", "reports/local/scan/scan.json", "--branch", "origin/main",
        "--out", "reports/local/release/record.json",
    )  # fmt: skip
    return adopter.repo / "reports" / "local" / "release" / "record.json"


def test_release_record_and_verify(adopter: Adopter, record: Path) -> None:
    sealed = json.loads(record.read_text())
    assert sealed["model_tag"].startswith("churn_classifier:")
    assert sealed["git_commit"] == adopter.base
    assert {name: gate["passed"] for name, gate in sealed["gates"].items()} == dict.fromkeys(
        ("data", "metrics", "security", "tests"), True
    )
    assert sealed["gates"]["data"]["summary"] == f"1/1 contracts passed at {adopter.base[:12]}"
    out = adopter.ok("conveyor", "release", "verify", str(record), "--branch", "origin/main")
    assert "every gate passed" in out
    # A record edited after sealing is refused.
    forged = record.with_name("forged.json")
    forged.write_text(record.read_text().replace('"v0.1.0"', '"v0.1.1"'))
    refused = adopter.run("conveyor", "release", "verify", str(forged), "--branch", "origin/main")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr


def test_promote_to_dev_pushes_the_branch_and_opens_the_pr(
    adopter: Adopter, record: Path, tmp_path: Path
) -> None:
    # What ml-promote does: a fresh checkout of the adopter's repository, then promote.
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(adopter.root / "origin.git"), str(work)], check=True)
    url = "https://github.com/acme/churn/pull/1"
    gh = GhStub(tmp_path / "gh", {"pr list": "", "pr create": url})
    env = adopter.env(PATH=f"{gh.path}{os.pathsep}{adopter.env()['PATH']}")
    result = subprocess.run(
        ["conveyor", "promote", "--record", str(record), "--env", "dev", "--pull-request"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"pull_request_url={url}" in result.stdout.splitlines()
    assert gh.calls()[-1][:2] == ["pr", "create"]
    origin = adopter.root / "origin.git"
    show = ["git", "-C", str(origin), "show", "promote/dev:deploy/environments/dev/release.json"]
    live = json.loads(subprocess.run(show, capture_output=True, text=True, check=True).stdout)
    assert live["record_digest"] == json.loads(record.read_text())["record_digest"]
    overlay = [
        "git",
        "-C",
        str(origin),
        "show",
        "promote/dev:deploy/environments/dev/release/kustomization.yaml",
    ]
    assert (
        live["image"]["digest"]
        in subprocess.run(overlay, capture_output=True, text=True, check=True).stdout
    )


def test_monitor_drift_on_the_adopters_columns(adopter: Adopter, tmp_path: Path) -> None:
    python = str(adopter.repo / ".venv" / "bin" / "python")
    make_windows = f"""
import pandas as pd
frame = pd.read_parquet("data/customers.parquet").drop(columns=["churned", "customer_id"])
window = frame.sample(1000, random_state=1).assign(churn_probability=0.3)
window.to_parquet({str(tmp_path / "same.parquet")!r})
window.assign(monthly_charges=window["monthly_charges"] + 60).to_parquet(
    {str(tmp_path / "shifted.parquet")!r}
)
"""
    adopter.ok(python, "-c", make_windows)
    args = ("conveyor", "monitor", "drift", "--reference", "data/customers.parquet")
    same = adopter.run(
        *args, "--current", str(tmp_path / "same.parquet"), "--out", "reports/monitor"
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "No drift" in same.stdout
    shifted = adopter.run(
        *args, "--current", str(tmp_path / "shifted.parquet"), "--out", "reports/monitor"
    )
    assert shifted.returncode == 1, shifted.stdout + shifted.stderr
    verdict = json.loads((adopter.repo / "reports" / "monitor" / "drift.json").read_text())
    assert verdict["drifted_columns"] == ["monthly_charges"]
    assert "DRIFT monthly_charges" in shifted.stdout


DIGEST = "sha256:" + "a" * 64
BAD = "reports/local/bad"
# Issue #16's bad input, met in the adopter's repository: each one line naming the fix, exit 2.
BAD_INPUT = {
    "no model tag file": (
        ["build", "bento", "--model-tag-file", "models/none.json", "--out", "build/bad"],
        "error: models/none.json: no such file: run the pipeline first (it registers the model)",
    ),
    "no gates:": (
        ["gate", "--params", "policies/promotion.yaml", "--out", BAD],
        "error: policies/promotion.yaml: gates: required section is missing",
    ),
    "no contract": (
        ["check", "data", "policies/data/none.yaml", "data/customers.parquet", "--out", BAD],
        "error: policies/data/none.yaml: file not found",
    ),
    "no current window": (
        ["monitor", "drift", "--reference", "data/customers.parquet",
         "--current", "data/none.parquet", "--out", BAD],
        "error: current data/none.parquet: no such file or folder",
    ),
    "no build": (
        ["release", "record", "--version", "v0.1.0", "--image", f"{IMAGE}@{DIGEST}",
         "--build-json", "build/none.json", "--out", f"{BAD}/record.json"],
        "error: build/none.json (conveyor build bento output): file not found",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_line_exit_2_and_nothing_written(adopter: Adopter, case: str) -> None:
    args, message = BAD_INPUT[case]
    before = adopter.git("status", "--porcelain", "--ignored")
    result = adopter.run("conveyor", *args)
    assert (result.returncode, result.stderr, result.stdout) == (2, message + "\n", "")
    assert adopter.git("status", "--porcelain", "--ignored") == before
    assert not (adopter.repo / "reports" / "local" / "bad").exists()
    assert not (adopter.repo / "build" / "bad").exists()


# --- the pull-request caller under act -------------------------------------------------------

STANDIN = {  # third-party action -> its stand-in (conveyor/workflows/standins/)
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "astral-sh/setup-uv": "setup-uv",
    "actions/cache": "cache",
    "actions/upload-artifact": "upload-artifact",
    "github/codeql-action/upload-sarif": "codeql-action",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
}


def _act_flags(rev: str) -> list[str]:
    """--local-repository flags: conveyor's reusable workflows at the pinned commit -> this
    checkout, and each pinned third-party action that ml-ci and the composite actions use -> its
    stand-in."""
    flags = ["--local-repository", f"{OWNER}/conveyor@{rev}={REPO}"]
    sources = [REPO / ".github" / "workflows" / "ml-ci.yml", *REPO.glob("pipelines/*/action.yml")]
    for source in sources:
        for line in source.read_text().splitlines():
            words = line.strip().removeprefix("- ").split()
            if words[:1] != ["uses:"] or "@" not in words[1] or words[1].startswith("./"):
                continue
            action, _, sha = words[1].partition("@")
            if action in STANDIN:
                repository = "/".join(action.split("/")[:2])  # act maps the repository
                flags += ["--local-repository", f"{repository}@{sha}={STANDINS / STANDIN[action]}"]
    return flags


@dataclass
class ActRun:
    """One act run: exit code, each job's result, the ::error:: annotations, the steps' output
    lines and act's whole JSON log."""

    returncode: int
    jobs: dict[str, str]
    errors: list[str]
    lines: list[str]
    log: str

    def why(self) -> str:
        return "\n".join(self.errors) + "\n" + self.log[-6000:]


def _parse(returncode: int, output: str) -> ActRun:
    run = ActRun(returncode, {}, [], [], output)
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        job = str(entry.get("jobID", ""))
        if job and "jobResult" in entry:
            run.jobs[job.rsplit("/", maxsplit=1)[-1]] = entry["jobResult"]
        run.lines.append(str(entry.get("msg", "")).strip())
        if entry.get("command") == "error":
            run.errors.append(f"{job}: {entry.get('arg', '').strip()}")
    return run


@pytest.fixture(scope="module")
def pull_requests(adopter: Adopter) -> Path:
    """A clone of the adopter's repository named acme/churn (act reads the origin URL), its
    caller given what docs/adopting.md says to pass, and the act tools' folders."""
    where = adopter.root / "pr"
    subprocess.run(["git", "clone", "-q", str(adopter.root / "origin.git"), str(where)], check=True)
    caller = where / ".github" / "workflows" / "pull-request.yml"
    # docs/adopting.md §1-2: name the data-contract stages with `data-stages`. `scan: false`:
    # the scan job's `conveyor scan --deps` asks PyPI about vulnerabilities (pip-audit), which
    # tests never reach; `conveyor scan` itself runs above.
    caller.write_text(
        caller.read_text().replace(
            f"      toolkit-ref: {adopter.rev}\n",
            f"      toolkit-ref: {adopter.rev}\n      data-stages: contract_customers\n"
            "      scan: false\n",
        )
    )
    for args in (
        ("add", "-A"),
        ("commit", "-q", "-m", "callers: the data stage, no scan"),
        ("push", "-q", "origin", "main"),
        ("remote", "set-url", "origin", f"https://github.com/{SOURCE}.git"),
    ):
        subprocess.run(["git", "-C", str(where), *args], check=True, env=adopter.env())
    # The .venv an exact cache hit restores (pipelines/setup keys it on pyproject.toml, uv.lock
    # and the Python version the setup-python stand-in finds first on PATH: the venv's own).
    interpreter = (adopter.repo / ".venv" / "bin" / "python").resolve()
    version = subprocess.run(
        [str(interpreter), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tools = adopter.root / "act-bin"
    tools.mkdir()
    (tools / "python3.11").symlink_to(interpreter)
    # GitHub is not reachable: a `gh` that says so (the report step's comment is skipped anyway).
    (tools / "gh").write_text("#!/bin/sh\necho 'no GitHub here (act)' >&2\nexit 1\n")
    (tools / "gh").chmod(0o755)
    listing = subprocess.run(
        ["sha256sum", "pyproject.toml", "uv.lock"],
        cwd=where,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lock = hashlib.sha256(listing.encode()).hexdigest()
    entry = adopter.root / "act-cache-dir" / f"conveyor-venv-Linux-py{version}-{lock}"
    entry.mkdir(parents=True)
    (entry / ".venv").symlink_to(adopter.repo / ".venv")
    return where


def _act(adopter: Adopter, where: Path, branch: str, change: dict | None) -> ActRun:
    """Branch ``branch`` off main with params.yaml's `train:` updated by ``change``, then
    pull-request.yml on its pull_request event."""
    git = ["git", "-C", str(where)]
    env = adopter.env()
    subprocess.run([*git, "checkout", "-q", "-B", branch, "origin/main"], check=True, env=env)
    base = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    if change:
        params = yaml.safe_load((where / "params.yaml").read_text())
        params["train"].update(change)
        (where / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([*git, "commit", "-q", "-a", "--allow-empty", "-m", branch], check=True, env=env)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    event = {
        "number": 3,
        "pull_request": {
            "number": 3,
            "base": {"ref": "main", "sha": base.strip()},
            "head": {"ref": branch, "sha": head.strip()},
        },
        "repository": {"full_name": SOURCE},
    }
    event_file = adopter.root / f"{branch}.json"
    event_file.write_text(json.dumps(event))
    artifacts = adopter.root / "artifacts" / branch
    artifacts.mkdir(parents=True)
    settings = {
        "ACT_UV": UV,
        "ACT_GIT_ROOT": str(adopter.root / "git"),
        "ACT_CACHE_DIR": str(adopter.root / "act-cache-dir"),
        "ACT_ARTIFACT_DIR": str(artifacts),
        "BENTOML_HOME": str(adopter.root / "bentoml"),
    }
    args = [
        str(ACT), "pull_request", "-e", str(event_file), "-W", ".github/workflows/pull-request.yml",
        "-P", "ubuntu-latest=-self-hosted", "--action-cache-path", str(adopter.root / "act-cache"),
        "--json", "--no-cache-server", *_act_flags(adopter.rev),
    ]  # fmt: skip
    for key, value in settings.items():
        args += ["--env", f"{key}={value}"]
    host = {k: v for k, v in env.items() if not k.startswith("GIT_") and k != "GITHUB_TOKEN"}
    host["PATH"] = f"{adopter.root / 'act-bin'}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    host["ACT_DISABLE_VERSION_CHECK"] = "1"
    step = time.monotonic()
    # stdin closed: a tool's question would otherwise wait for ever on act's terminal.
    result = subprocess.run(
        args,
        cwd=where,
        env=host,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    adopter.seconds[f"act {branch}"] = time.monotonic() - step
    return _parse(result.returncode, result.stdout + result.stderr)


def test_pull_request_caller_passes_under_act(adopter: Adopter, pull_requests: Path) -> None:
    run = _act(adopter, pull_requests, "docs-only", None)
    jobs = {"lint", "test", "data", "train-and-gate"}
    assert {job: run.jobs.get(job) for job in jobs} == dict.fromkeys(jobs, "success"), run.why()
    assert run.returncode == 0, run.why()
    assert "scan" not in run.jobs
    # conveyor's composite actions came from OWNER/conveyor at the pinned commit, the pipeline
    # from the remote.
    assert f"stand-in checkout: {OWNER}/conveyor@{adopter.rev} -> .conveyor" in run.lines
    assert "Stage 'fit' didn't change, skipping" in run.lines, run.why()
    assert "Running stage" not in run.log  # nothing retrained: the DVC remote had it all
    report = adopter.root / "artifacts" / "docs-only" / "ml-report"
    verdict = json.loads((report / "reports" / "gate" / "gate.json").read_text())
    assert verdict["passed"] is True
    assert "metrics/scores.json:model.auc" in (report / "reports" / "report.md").read_text()


def test_pull_request_caller_fails_at_the_gate_with_a_worse_model(
    adopter: Adopter, pull_requests: Path
) -> None:
    # One weak feature: the classifier is barely better than chance.
    run = _act(adopter, pull_requests, "worse-model", {"features": ["monthly_charges"]})
    assert run.returncode != 0
    assert run.jobs.get("data") == "success", run.why()
    assert run.jobs.get("train-and-gate") == "failure", run.why()
    assert "Running stage 'fit'" in run.log
    # It failed for the gate's reason, naming the rule.
    assert (
        "train-and-gate: metric gate failed: see the table above and reports/gate/gate.md"
        in run.errors
    ), run.why()
    (headline,) = [line for line in run.lines if line.startswith("Metric gate FAILED")]
    assert headline.endswith("first: metrics/scores.json:model.auc: below the minimum 0.7")
    report = adopter.root / "artifacts" / "worse-model" / "ml-report"
    verdict = json.loads((report / "reports" / "gate" / "gate.json").read_text())
    assert verdict["passed"] is False
    failed = {check["metric"] for check in verdict["checks"] if check["verdict"] == "fail"}
    assert "metrics/scores.json:model.auc" in failed, verdict
