"""The pull-request workflow, run for real with act on this machine (no Docker, no GitHub).

pull-request.yml calls ml-ci.yml, whose jobs call the composite actions in pipelines/, which call
the real `pre-commit`, `pytest`, `dvc` and `conveyor`. act runs every `run:` step on the host
(`-P ubuntu-latest=-self-hosted`); the third-party actions are replaced by the stand-ins that
ship in src/conveyor/workflows/standins/ (see its README). The boundary: nothing is sent to
GitHub (no PR comment, no code scanning upload, no artifact service) - those steps run up to
their local stand-in.

Each scenario is a pull request in a throw-away copy of this repository: a clone of the
checkout's HEAD plus this issue's workflow files, a DVC remote on disk holding the pipeline's
outputs and run-cache, and the project's .venv restored through the cache stand-in (as an exact
cache hit restores it on GitHub), so no run installs anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from conveyor.signature import RECORD_TYPE
from conveyor.workflows.act import act_copies
from tests.champion_repos import commit_harder_window, edit_params, go_live, small_project
from tests.gh_stub import GhStub
from tests.paths import REPO
from tests.promotion_repos import git

pytestmark = pytest.mark.pipeline

ACT = REPO / ".venv" / "bin" / "act"
STANDINS = REPO / "src" / "conveyor" / "workflows" / "standins"
# Files of this issue laid over the clone of HEAD (the rest of the working tree may be another
# person's work in progress: the copy tests the committed project plus the workflows).
OVERLAY = (
    ".github",
    "pipelines",
    ".actrc",
    ".pre-commit-config.yaml",
    ".gitignore",
    "pyproject.toml",
    "uv.lock",
)
SMOKE_TEST = '''"""The copy's test suite: the test job must run pytest and pass or fail with it."""

import subprocess


def test_conveyor_runs() -> None:
    result = subprocess.run(["conveyor", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("conveyor ")
'''


def _pins() -> dict[str, str]:
    """`uses:` of every remote action the workflows name (owner/repo[/path]@sha)."""
    found: set[str] = set()
    for path in [*(REPO / ".github" / "workflows").glob("*.yml"), *REPO.glob("pipelines/*/*.yml")]:
        for line in path.read_text().splitlines():
            stripped = line.strip().removeprefix("- ")
            if stripped.startswith("uses:") and "@" in stripped and "./" not in stripped:
                found.add(stripped.split()[1])
    return {ref: ref.split("@")[0] for ref in found}


def _local_repositories() -> list[str]:
    """--local-repository flags: each pinned action the tested jobs use -> its stand-in."""
    standin = {
        "actions/checkout": STANDINS / "checkout",
        "actions/setup-python": STANDINS / "setup-python",
        "astral-sh/setup-uv": STANDINS / "setup-uv",
        "actions/cache": STANDINS / "cache",
        "actions/upload-artifact": STANDINS / "upload-artifact",
        "github/codeql-action/upload-sarif": STANDINS / "codeql-action",
        "aws-actions/configure-aws-credentials": STANDINS / "configure-aws-credentials",
        "docker/setup-buildx-action": STANDINS / "setup-buildx-action",
        "docker/login-action": STANDINS / "login-action",
        "docker/build-push-action": STANDINS / "build-push-action",
        "anchore/sbom-action": STANDINS / "sbom-action",
        "sigstore/cosign-installer": STANDINS / "cosign-installer",
        "actions/attest-build-provenance": STANDINS / "attest-build-provenance",
        "actions/download-artifact": STANDINS / "download-artifact",
    }
    flags = []
    for ref, action in _pins().items():
        if action in standin:
            repo_ref = ref.replace("/upload-sarif@", "@")  # act maps the repository, then the path
            flags += ["--local-repository", f"{repo_ref}={standin[action]}"]
    return flags


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"git {' '.join(args)}: {result.stderr}")
    return result.stdout.strip()


@dataclass
class Run:
    """One act run: its exit code, each job's result, annotations and job wall times."""

    returncode: int
    jobs: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    log: str = ""

    def failed_because(self) -> str:
        return "\n".join(self.errors) + "\n" + self.log[-6000:]


def _parse(returncode: int, stdout: str) -> Run:
    run = Run(returncode, log=stdout)
    spans: dict[str, list[datetime]] = {}
    for line in stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        job = entry.get("jobID")
        if job and "time" in entry:
            spans.setdefault(job, []).append(datetime.fromisoformat(entry["time"]))
        if job and "jobResult" in entry:
            run.jobs[job] = entry["jobResult"]
        if entry.get("stepResult") == "failure":
            run.failed_steps.append(entry.get("msg", "").strip())
        if entry.get("command") == "error":
            run.errors.append(f"{job}: {entry.get('arg', '').strip()}")
    run.seconds = {job: (max(t) - min(t)).total_seconds() for job, t in spans.items()}
    return run


# GitHub cannot be reached here: a `gh` that says so, as a runner's gh would fail without GitHub
# (conveyor refuses to push at all when there is no gh on PATH, or a logged-out one). Its `auth
# status` answers as a runner's gh does with the job's GH_TOKEN, which act leaves empty: logged in.
NO_GITHUB = (
    '#!/bin/sh\n[ "$1 $2" = "auth status" ] && exit 0\necho \'no GitHub here (act)\' >&2\nexit 1\n'
)


class Sandbox:
    """A throw-away repository, DVC remote, cache and artifact folders for act runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.artifacts = root / "artifacts"
        self.cache = root / "cache"
        self.base = ""

    def build(self) -> None:
        _git(self.root, "clone", "-q", str(REPO), str(self.repo))
        for name in OVERLAY:
            source, target = REPO / name, self.repo / name
            if source.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target)
            elif source.is_file():
                shutil.copy2(source, target)
        # The copy's own test suite is one quick test (make test runs the real one).
        shutil.rmtree(self.repo / "tests")
        (self.repo / "tests").mkdir()
        (self.repo / "tests" / "test_smoke.py").write_text(SMOKE_TEST)
        # The scan job's `make scan` asks PyPI about vulnerabilities (pip-audit) and tests never
        # reach the internet: the copy's caller turns it off with ml-ci's own `scan` input
        # (tests/conveyor/scan/test_scan.py covers the command; test_workflows.py the job's wiring).
        caller = self.repo / ".github" / "workflows" / "pull-request.yml"
        caller.write_text(caller.read_text() + "    with:\n      scan: false\n")
        self._fill_dvc_remote()
        # act names the repository after the origin remote.
        _git(self.repo, "remote", "set-url", "origin", "https://github.com/acme/conveyor.git")
        _git(self.repo, "add", "-A")
        _git(self.repo, "commit", "-q", "-m", "base: the project with its workflows")
        self.base = _git(self.repo, "rev-parse", "HEAD")
        self._seed_env_cache()
        self._seed_mypy_cache()

    def _fill_dvc_remote(self, from_checkout: bool = True) -> None:
        """A DVC remote on disk holding the outputs and run-cache of the committed dvc.lock,
        as `dvc push --run-cache` leaves a team's remote. The checkout's DVC cache seeds it when
        it has them; otherwise (a fresh clone) the pipeline runs here once and pushes."""
        remote = self.root / "dvc-remote"
        remote.mkdir()
        if from_checkout and (REPO / ".dvc" / "cache").is_dir():
            shutil.copytree(REPO / ".dvc" / "cache", remote, dirs_exist_ok=True)
        config = self.repo / ".dvc" / "config"
        config.write_text(config.read_text().replace("../.dvc-remote", str(remote)))
        env = {
            **os.environ,
            "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "BENTOML_HOME": str(self.root / "bentoml"),
        }
        for command in (["dvc", "repro", "--pull"], ["dvc", "push", "--run-cache"]):
            result = subprocess.run(
                command, cwd=self.repo, capture_output=True, text=True, check=False, env=env
            )
            if result.returncode != 0:
                pytest.fail(f"{' '.join(command)}: {result.stdout}\n{result.stderr}")

    def _seed_env_cache(self) -> None:
        """The .venv an exact cache hit restores: the project's own environment (same lock)."""
        listing = subprocess.run(
            ["sha256sum", "pyproject.toml", "uv.lock"],
            cwd=self.repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lock = hashlib.sha256(listing.encode()).hexdigest()
        key = f"conveyor-venv-Linux-py{platform.python_version()}-{lock}"
        (self.cache / key).mkdir(parents=True)
        (self.cache / key / ".venv").symlink_to(REPO / ".venv")

    def _seed_mypy_cache(self) -> None:
        """The mypy cache a pull request's earlier run saved (ml-ci's lint job restores it by
        prefix): made here once, from the checkout's own cache when `make lint` left one, so
        each run's mypy re-checks only what its change touched, as on GitHub."""
        seed = self.cache / "conveyor-mypy-Linux-seed" / ".mypy_cache"
        if (REPO / ".mypy_cache").is_dir():
            shutil.copytree(REPO / ".mypy_cache", seed)
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "mypy"), "--cache-dir", str(seed)],
            cwd=self.repo, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]

    def pull_request(self, name: str, change: Callable[[Path], object]) -> str:
        """Branch ``name`` off the base with ``change`` applied and committed; its head sha."""
        _git(self.repo, "checkout", "-q", "-B", name, self.base)
        change(self.repo)
        _git(self.repo, "add", "-A")
        _git(self.repo, "commit", "-q", "--allow-empty", "-m", f"PR: {name}")
        return _git(self.repo, "rev-parse", "HEAD")

    def act(self, name: str, head: str) -> Run:
        """Run pull-request.yml on a pull_request event for branch ``name``."""
        payload = {
            "number": 7,
            "pull_request": {
                "number": 7,
                "base": {"ref": "main", "sha": self.base},
                "head": {"ref": name, "sha": head},
            },
            "repository": {"full_name": "acme/conveyor"},
        }
        return self.run_workflow(name, "pull_request", "pull-request.yml", payload)

    def run_workflow(
        self, label: str, event: str, workflow: str, payload: dict, *flags: str, gh: str = NO_GITHUB
    ) -> Run:
        """act EVENT on .github/workflows/WORKFLOW with PAYLOAD; artifacts in a folder per label;
        ``gh`` the script the jobs find as `gh`."""
        event_file = self.root / f"{label}.json"
        event_file.write_text(json.dumps(payload))
        artifacts = self.artifacts / label
        artifacts.mkdir(parents=True)
        env = {
            "ACT_UV": str(REPO / ".tools" / "bin" / "uv"),
            "ACT_CACHE_DIR": str(self.cache),
            "ACT_ARTIFACT_DIR": str(artifacts),
            # What ml-release attested on each image, for the cosign stand-in.
            "ACT_ATTESTATIONS": str(self.root / "attestations"),
            "BENTOML_HOME": str(self.root / "bentoml"),
        }
        # The caller as act can read it (conveyor workflows run does the same): GitHub's keys
        # act does not know yet left out of a copy.
        (caller,) = act_copies([self.repo / ".github/workflows" / workflow], artifacts / "caller")
        args = [
            str(ACT),
            event,
            "-e",
            str(event_file),
            "-W",
            str(caller),
            "--action-cache-path",
            str(self.root / "act-cache"),
            "--json",
            "--no-cache-server",  # the cache stand-in restores from ACT_CACHE_DIR
            *flags,
            *_local_repositories(),
        ]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        gh_dir = self.root / "no-github"
        gh_dir.mkdir(exist_ok=True)
        (gh_dir / "gh").write_text(gh)
        (gh_dir / "gh").chmod(0o755)
        os_env = {
            **os.environ,
            "ACT_DISABLE_VERSION_CHECK": "1",
            "PATH": f"{gh_dir}{os.pathsep}{os.environ['PATH']}",
        }
        os_env.pop("GITHUB_TOKEN", None)  # act would hand it to the report step: no comment here
        # act runs the jobs on this host: a git identity exported here (CI's own) would reach the
        # steps, while GitHub's runners have none (promotion commits are then the Actions bot's).
        for role in ("AUTHOR", "COMMITTER"):
            for part in ("NAME", "EMAIL"):
                os_env.pop(f"GIT_{role}_{part}", None)
        # No input: act runs the steps on a terminal of its own, where a tool's question (DVC:
        # "Missing cache for directory ... continue? [y/n]") would wait for ever; with stdin
        # closed it reads end-of-file, as on GitHub's runners, where no terminal is attached.
        result = subprocess.run(
            args,
            cwd=self.repo,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            env=os_env,
        )
        return _parse(result.returncode, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    box = Sandbox(tmp_path_factory.mktemp("act"))
    box.build()
    return box


def _workflows_run(sandbox: Sandbox, name: str, head: str) -> Run:
    """`conveyor workflows run pull_request` in the copy: the command adopters run, with the
    stand-ins it ships; the copy's cache, artifacts and isolation as Sandbox.run_workflow's."""
    payload = {
        "number": 7,
        "pull_request": {
            "number": 7,
            "base": {"ref": "main", "sha": sandbox.base},
            "head": {"ref": name, "sha": head},
        },
        "repository": {"full_name": "acme/conveyor"},
    }
    event_file = sandbox.root / f"{name}.json"
    event_file.write_text(json.dumps(payload))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    env.pop("GITHUB_TOKEN", None)
    env["BENTOML_HOME"] = str(sandbox.root / "bentoml")
    command = [
        *(str(REPO / ".venv" / "bin" / "conveyor"), "workflows", "run", "pull_request"),
        *("--event-file", str(event_file), "--workflow", "pull-request.yml", "--json"),
        *("--act", str(ACT), "--uv", str(REPO / ".tools" / "bin" / "uv")),
        *("--cache-dir", str(sandbox.cache), "--artifacts", str(sandbox.artifacts / name)),
    ]
    result = subprocess.run(
        command,
        cwd=sandbox.repo,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return _parse(result.returncode, result.stdout + result.stderr)


def test_pull_request_passes_on_the_repository_as_it_is(sandbox: Sandbox) -> None:
    head = sandbox.pull_request("docs-only", lambda repo: (repo / "NOTES.md").write_text("hi\n"))
    run = _workflows_run(sandbox, "docs-only", head)
    gates = {"lint", "test", "data", "train-and-gate"}
    assert {job: run.jobs.get(job) for job in gates} == dict.fromkeys(gates, "success"), (
        run.failed_because()
    )
    assert run.returncode == 0, run.failed_because()
    assert "scan" not in run.jobs  # turned off in the copy (see Sandbox.build)
    # lint restored mypy's cache by prefix (Sandbox._seed_mypy_cache): mypy re-checked no file.
    assert "conveyor-mypy-Linux-seed (hit=false)" in run.log
    # Nothing retrained: every stage came from the remote's outputs and run-cache.
    assert "Running stage" not in run.log
    assert "Stage 'train' didn't change, skipping" in run.log
    # The report and its plots are published as artifacts (not to a third-party host).
    report = sandbox.artifacts / "docs-only" / "ml-report"
    assert (report / "reports" / "report.md").read_text().count("|") > 10
    assert list((report / "reports" / "plots").glob("*.png"))
    verdict = json.loads((report / "reports" / "gate" / "gate.json").read_text())
    assert verdict["passed"] is True
    print(f"act wall times (s): {run.seconds}")


def _worse_model(repo: Path) -> None:
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"].update(num_boost_round=8, learning_rate=0.02)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def test_pull_request_fails_at_the_gate_when_params_make_the_model_worse(
    sandbox: Sandbox,
) -> None:
    head = sandbox.pull_request("worse-model", _worse_model)
    run = sandbox.act("worse-model", head)
    assert run.returncode != 0
    assert run.jobs.get("data") == "success", run.failed_because()
    assert run.jobs.get("train-and-gate") == "failure", run.failed_because()
    assert any("metric gate failed" in error for error in run.errors), run.failed_because()
    # The report still explains the failure (summary and artifact) and the verdict is recorded.
    verdict = json.loads(
        (
            sandbox.artifacts / "worse-model" / "ml-report" / "reports" / "gate" / "gate.json"
        ).read_text()
    )
    assert verdict["passed"] is False
    assert "Running stage 'train'" in run.log


def _corrupt_data(repo: Path) -> None:
    """Point the pipeline at a sales file with negative sales and an e-mail in a column."""
    sales = pl.read_parquet(repo / "data" / "raw" / "sales.parquet")  # pulled from the remote
    bad = sales.with_columns(
        pl.when(pl.int_range(pl.len()) % 500 == 0)
        .then(-5)
        .otherwise(pl.col("units_sold"))
        .cast(sales.schema["units_sold"])
        .alias("units_sold"),
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("jane.doe@example.com"))
        .otherwise(pl.col("region"))
        .alias("region"),
    )
    (repo / "data" / "external").mkdir(parents=True)
    bad.write_parquet(repo / "data" / "external" / "sales.parquet")
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["data"]["source"] = {"kind": "file", "path": "data/external/sales.parquet"}
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def test_pull_request_fails_at_data_when_the_data_is_corrupted(sandbox: Sandbox) -> None:
    head = sandbox.pull_request("corrupt-data", _corrupt_data)
    run = sandbox.act("corrupt-data", head)
    assert run.returncode != 0
    assert run.jobs.get("data") == "failure", run.failed_because()
    # Bad data never yields a model: the training job does not run.
    assert run.jobs.get("train-and-gate") != "success"
    assert "Running stage 'train'" not in run.log
    contracts = sandbox.artifacts / "corrupt-data" / "data-contracts" / "reports" / "data"
    verdict = json.loads((contracts / "raw_sales.json").read_text())
    assert verdict["passed"] is False


def test_pull_request_without_gates_fails_early_with_an_annotation(sandbox: Sandbox) -> None:
    def drop_gates(repo: Path) -> None:
        params_file = repo / "params.yaml"
        params = yaml.safe_load(params_file.read_text())
        del params["gates"]
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))

    head = sandbox.pull_request("no-gates", drop_gates)
    run = sandbox.act("no-gates", head)
    assert run.jobs.get("train-and-gate") == "failure", run.failed_because()
    assert any("params.yaml has no top-level 'gates:' section" in e for e in run.errors), (
        run.failed_because()
    )
    assert "Running stage" not in run.log


def _release(sandbox: Sandbox, tag: str, commit: str | None = None) -> Run:
    _git(sandbox.repo, "checkout", "-q", "-B", "main", sandbox.base)
    # What actions/checkout's full fetch leaves on GitHub: the default branch as origin/main.
    _git(sandbox.repo, "update-ref", "refs/remotes/origin/main", sandbox.base)
    if commit is not None:
        _git(sandbox.repo, "checkout", "-q", "--detach", commit)
    payload = {
        "ref": f"refs/tags/{tag}",
        "ref_type": "tag",
        "repository": {"full_name": "acme/conveyor", "default_branch": "main"},
    }
    return sandbox.run_workflow(f"release-{tag}", "push", "release.yml", payload)


def test_a_release_tag_off_the_default_branch_is_refused_before_any_build(
    sandbox: Sandbox,
) -> None:
    side = sandbox.pull_request("side", lambda repo: None)  # a commit main never got
    run = _release(sandbox, "v6.6.6", commit=side)
    assert run.jobs.get("release") == "failure", run.failed_because()
    assert any(
        f"commit {side[:12]} is not on origin/main's history" in line
        for line in run.log.splitlines()
    ), run.failed_because()
    assert "conveyor build bento" not in run.log
    assert "Running stage" not in run.log
    assert not (sandbox.artifacts / "release-v6.6.6" / "build-push.json").exists()


def test_a_release_tag_that_is_not_semver_fails_before_anything_is_built(sandbox: Sandbox) -> None:
    run = _release(sandbox, "banana")
    assert run.returncode != 0
    assert run.jobs.get("release") == "failure", run.failed_because()
    assert "release: release tag 'banana' is not semver (vMAJOR.MINOR.PATCH, e.g. v1.2.3)" in (
        run.errors
    ), run.failed_because()
    assert "conveyor build bento" not in run.log
    assert not (sandbox.artifacts / "release-banana" / "build-push.json").exists()
    assert "dev" not in run.jobs or run.jobs["dev"] != "success"


def test_a_release_builds_the_bento_and_stops_at_the_docker_boundary(sandbox: Sandbox) -> None:
    # Up to the boundary: the tag passes, the model is re-registered from the DVC remote, the
    # Bento is built and its Docker context checked; build-push's stand-in records its inputs
    # and stops (no Docker engine). Push, SBOM, signing and provenance run on GitHub only.
    run = _release(sandbox, "v1.2.3")
    assert run.jobs.get("release") == "failure", run.failed_because()
    assert any("no Docker engine here" in error for error in run.errors), run.failed_because()
    # The only step that failed is build-push (and the stand-in's script inside it).
    assert run.failed_steps[-1].startswith("❌  Failure - Main docker/build-push-action@"), (
        run.failed_steps
    )
    assert len(run.failed_steps) == 2, run.failed_steps
    assert not any("not semver" in error for error in run.errors)
    recorded = json.loads((sandbox.artifacts / "release-v1.2.3" / "build-push.json").read_text())
    assert recorded["context"] == "build/bento/context"
    assert recorded["file"] == "build/bento/context/env/docker/Dockerfile"
    assert "env/docker/Dockerfile" in recorded["context_files"]
    assert "HEALTHCHECK" in recorded["dockerfile"]
    assert recorded["tags"] == ["ghcr.io/acme/conveyor:v1.2.3"]
    assert recorded["push"] == "true"
    assert "org.opencontainers.image.version=v1.2.3" in recorded["labels"]
    login = json.loads((sandbox.artifacts / "release-v1.2.3" / "docker-login.json").read_text())
    assert login["registry"] == "ghcr.io"


def test_promoting_a_release_that_no_environment_runs_fails_with_an_annotation(
    sandbox: Sandbox,
) -> None:
    _git(sandbox.repo, "checkout", "-q", "-B", "main", sandbox.base)
    payload = {"inputs": {"environment": "staging", "version": "v9.9.9", "rollback": False}}
    run = sandbox.run_workflow("promote-unknown", "workflow_dispatch", "promote.yml", payload)
    assert run.jobs.get("promote") == "failure", run.failed_because()
    assert (
        "promote: no environment runs release 'v9.9.9': promote it to the first environment "
        "from its release run"
    ) in run.errors, run.failed_because()
    assert "pushed to origin" not in run.log  # the record is looked up before anything moves


def _genuine_record(
    work: Path, tmp_path: Path, env: dict[str, str], root: Path, version: str = "v1.2.3"
) -> Path:
    """`conveyor release record` of ``version`` at ``work``'s HEAD: promotion ties its data and
    metric verdicts to that commit, so a made-up record would be refused. It is left where the
    cosign stand-in finds what ml-release attested: ``root``/attestations."""
    from tests.evidence_files import junit_report, scan_report
    from tests.promotion_repos import digest_of

    head = _git(work, "rev-parse", "HEAD")
    junit = junit_report(tmp_path / "junit.xml", head, tests=1)
    scan = scan_report(tmp_path / "scan.json", head)
    build = tmp_path / "build.json"
    build.write_text(
        json.dumps({"bento_tag": "svc:1", "model_tag": "m:1", "data_md5": None, "git_commit": head})
    )
    out = tmp_path / f"record-{version}.json"
    image = f"ghcr.io/your-org/conveyor-forecaster@{digest_of(version)}"
    made = subprocess.run(
        [
            *("conveyor", "release", "record", "--version", version, "--image", image),
            *("--build-json", str(build), "--tests-junit", str(junit)),
            *("--scan-json", str(scan), "--out", str(out)),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    # The record ml-release would have attested on the image, for the cosign stand-in.
    attestations = root / "attestations"
    attestations.mkdir(exist_ok=True)
    shutil.copy(out, attestations / f"{image.rpartition(':')[2]}.json")
    return out


def _origin_and_work(sandbox: Sandbox, tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A bare `origin` and a clone of the sandbox that names GitHub's acme/conveyor (act reads
    the repository's name through the `github` remote): (origin, work, the environment the
    project's commands run with)."""
    from tests.promotion_repos import git

    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(sandbox.repo), str(work))
    git(work, "remote", "rename", "origin", "github")
    git(work, "remote", "set-url", "github", "https://github.com/acme/conveyor.git")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "checkout", "--quiet", "-B", "main", sandbox.base)
    git(work, "push", "--quiet", "origin", "main")
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return origin, work, env


def _promoted_and_merged(
    work: Path, env: dict[str, str], record: Path, where: str, hours_ago: float = 0
) -> None:
    """`conveyor promote` of ``record`` to ``where``, its PR merged ``hours_ago``."""
    from tests.promotion_repos import git, merge

    promoted = subprocess.run(
        ["conveyor", "promote", "--env", where, "--record", str(record)],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        env={**env, "GIT_AUTHOR_NAME": "p", "GIT_AUTHOR_EMAIL": "p@conveyor.invalid"},
    )
    assert promoted.returncode == 0, promoted.stderr
    merge(work, where, days_ago=hours_ago / 24)
    git(work, "checkout", "--quiet", "main")


def _live_in_dev(sandbox: Sandbox, tmp_path: Path) -> tuple[Path, Path]:
    """_origin_and_work with a genuine release promoted to dev and merged: (origin, work)."""
    origin, work, env = _origin_and_work(sandbox, tmp_path)
    release = _genuine_record(work, tmp_path, env, sandbox.root)
    _promoted_and_merged(work, env, release, "dev")
    return origin, work


@pytest.mark.parametrize(
    ("workflow", "event", "payload"),
    [
        # by hand: promote.yml, environment and version
        (
            "promote.yml",
            "workflow_dispatch",
            {"inputs": {"environment": "staging", "version": "v1.2.3", "rollback": False}},
        ),
        # by itself: dev's release.json changed on main -> the staging PR
        ("promote-next.yml", "push", {"ref": "refs/heads/main"}),
    ],
    ids=["promote.yml", "promote-next.yml"],
)
def test_promote_pushes_the_environment_branch_and_stops_at_the_pull_request(
    sandbox: Sandbox, tmp_path: Path, workflow: str, event: str, payload: dict
) -> None:
    # Real git up to the boundary: `origin` is a bare repository on disk (act finds the
    # repository's name through the `github` remote). Release v1.2.3 is live in dev (its
    # promotion merged); promoting to staging pushes promote/staging to origin with the
    # record, then stops where `gh pr create` needs GitHub.
    from tests.promotion_repos import git

    origin, work = _live_in_dev(sandbox, tmp_path)

    box = Sandbox(sandbox.root)  # same env cache and artifacts, this working copy
    box.repo, box.base = work, sandbox.base
    run = box.run_workflow(
        f"staging-{workflow}", event, workflow, payload, "--remote-name", "github"
    )
    assert run.jobs.get("promote") == "failure", run.failed_because()  # no GitHub for the PR
    assert "branch=promote/staging" in run.log, run.failed_because()
    assert "changed=true" in run.log
    # ml-promote asked the policy first: staging takes no verdict, so no Prometheus was needed.
    assert "staging requires no live verification (policies/promotion.yaml)" in run.log
    # conveyor pushed, then stopped at the PR (gh) in the same step: no GitHub here.
    assert any("conveyor promote --pull-request" in s for s in run.failed_steps), run.failed_steps
    assert "gh pr list failed: no GitHub here (act)" in run.failed_because()
    pushed = git(origin, "show", "promote/staging:deploy/environments/staging/release.json")
    assert json.loads(pushed)["version"] == "v1.2.3"
    # The record was checked against what ml-release attested, under the documented signer rule.
    asked = (box.artifacts / f"staging-{workflow}" / "cosign-args.txt").read_text().splitlines()
    assert asked[:3] == ["verify-attestation", "--type", RECORD_TYPE], asked
    assert asked[asked.index("--certificate-github-workflow-repository") + 1] == "acme/conveyor"
    # GitHub's runners have no git identity: the step gives the commit the Actions bot's.
    author = git(origin, "log", "-1", "--format=%an <%ae>", "promote/staging")
    assert author == "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


def test_a_refused_rollback_fails_the_job(sandbox: Sandbox, tmp_path: Path) -> None:
    # Issue 14, item 3: the rollback step pipes `conveyor rollback` into `tee`. Under GitHub's
    # default `bash -e` the pipe's status is tee's, so a refusal passed green. dev has had one
    # release only: the rollback is refused, and with `defaults.run.shell: bash` (-eo pipefail)
    # the step and the job fail.
    from tests.promotion_repos import git

    origin, work = _live_in_dev(sandbox, tmp_path)
    tip = git(origin, "rev-parse", "promote/dev")

    box = Sandbox(sandbox.root)
    box.repo, box.base = work, sandbox.base
    # workflow_dispatch inputs arrive as strings in the event, as GitHub sends them
    payload = {"inputs": {"environment": "dev", "version": "", "rollback": "true"}}
    run = box.run_workflow(
        "rollback-refused", "workflow_dispatch", "promote.yml", payload, "--remote-name", "github"
    )
    assert "dev has had only v1.2.3: nothing earlier to roll back to" in run.log, (
        run.failed_because()
    )
    assert run.jobs.get("promote") == "failure", run.failed_because()
    assert any("conveyor rollback" in step for step in run.failed_steps), run.failed_steps
    assert git(origin, "rev-parse", "promote/dev") == tip  # nothing pushed


# A gh that finds no open pull request (`pr list` answers nothing) and reaches no GitHub for
# anything else; it writes each call to $GH_CALLS.
GH_NO_PULL_REQUEST = """#!/bin/sh
echo "$*" >> "$GH_CALLS"
[ "$1 $2" = "auth status" ] && exit 0
[ "$1 $2" = "pr list" ] && exit 0
echo 'no GitHub here (act)' >&2
exit 1
"""


@pytest.mark.prometheus
def test_scheduled_verification_of_a_failing_release_proposes_its_rollback(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # verify.yml as the schedule runs it: staging ran v1.2.2, then v1.2.3 for the last hour, and
    # v1.2.3 answered 5% of its requests with 5xx (known series in a real Prometheus). conveyor
    # lists staging as under soak (prod does not run v1.2.3), verifies it (failed, error_ratio),
    # looks for prod's promotion PR to tell, and the rollback step pushes promote/staging back
    # to v1.2.2, then stops where `gh pr create` needs GitHub. No workflow names staging.
    from datetime import UTC, timedelta

    from tests.conveyor.verify.series import Pods, backfill, serving
    from tests.promotion_repos import git

    origin, work, env = _origin_and_work(sandbox, tmp_path)
    older = _genuine_record(work, tmp_path, env, sandbox.root, "v1.2.2")
    newer = _genuine_record(work, tmp_path, env, sandbox.root, "v1.2.3")
    for record, dev, staging in ((older, 5.0, 4.0), (newer, 1.5, 1.0)):
        _promoted_and_merged(work, env, record, "dev", dev)
        _promoted_and_merged(work, env, record, "staging", staging)
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    data = tmp_path / "prometheus"
    backfill(
        [
            Pods("v1.2.2", now - 4 * hour, now - hour),
            Pods("v1.2.3", now - hour, now, error_share=0.05),
        ],
        data,
    )
    calls = tmp_path / "gh-calls.txt"
    box = Sandbox(sandbox.root)
    box.repo, box.base = work, sandbox.base
    with serving(data) as url:
        run = box.run_workflow(
            "verify-staging",
            "schedule",
            "verify.yml",
            {"schedule": "17 * * * *"},
            *("--remote-name", "github", "--var", f"PROMETHEUS_URL={url}"),
            *("--env", f"GH_CALLS={calls}"),
            gh=GH_NO_PULL_REQUEST,
        )
    assert run.jobs == {"under-soak": "success", "verify": "failure"}, run.failed_because()
    said = "\n".join(
        json.loads(line).get("msg", "") for line in run.log.splitlines() if line.startswith("{")
    )
    assert 'environments=["staging"]' in said, run.failed_because()  # the matrix, from conveyor
    assert "v1.2.3 in staging: failed (error_ratio = 0.05" in said, run.failed_because()
    asked = calls.read_text().splitlines()
    assert any(c.startswith("pr list --head promote/prod") for c in asked), asked  # the verdict
    assert any(c.startswith("pr create --head promote/staging") for c in asked), asked
    assert any("conveyor rollback" in step for step in run.failed_steps), run.failed_steps
    rolled = git(origin, "show", "promote/staging:deploy/environments/staging/release.json")
    assert json.loads(rolled)["version"] == "v1.2.2"


MONITOR_CALLER = """\
name: drift-check
on: workflow_dispatch
permissions: {}
jobs:
  monitor:
    uses: ./.github/workflows/ml-monitor.yml
    with:
      current: data/window/current.parquet
    permissions:
      contents: read  # read the code
      id-token: write  # OIDC to the data's cloud role
      issues: write  # the drift issue
"""


def test_monitor_reports_drift_and_stops_at_the_issue_api(sandbox: Sandbox, tmp_path: Path) -> None:
    # ml-monitor.yml as a repository calls it, with a production window whose prices tripled:
    # the drift step finds it, its report is kept, and the run stops where conveyor's
    # `gh issue list` needs GitHub (the issue itself:
    # tests/conveyor/monitor/test_monitor_issue*.py).
    work = tmp_path / "work"
    _git(tmp_path, "clone", "-q", str(sandbox.repo), str(work))
    _git(work, "remote", "set-url", "origin", "https://github.com/acme/conveyor.git")
    _git(work, "checkout", "-q", "-B", "main", sandbox.base)
    reference = pl.read_parquet(sandbox.repo / "data" / "features" / "features.parquet")
    window = reference.sample(5000, seed=1).with_columns(pl.col("price") * 3)
    (work / "data" / "window").mkdir(parents=True)
    window.write_parquet(work / "data" / "window" / "current.parquet")
    (work / ".github" / "workflows" / "drift-check.yml").write_text(MONITOR_CALLER)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "a production window")

    box = Sandbox(sandbox.root)
    box.repo, box.base = work, sandbox.base
    run = box.run_workflow("monitor", "workflow_dispatch", "drift-check.yml", {})
    assert run.jobs.get("drift") == "failure", run.failed_because()  # no GitHub for the issue
    assert "drift=true" in run.log, run.failed_because()
    assert any("open, update or close the drift issue" in step for step in run.failed_steps), (
        run.failed_steps
    )
    report = box.artifacts / "monitor" / "drift" / "reports" / "monitor"
    drift = json.loads((report / "drift.json").read_text())
    assert drift["drifted"] is True
    assert "price" in (report / "drift.md").read_text()


def _merge_to_main(sandbox: Sandbox, label: str, change: Callable[[Path], object]) -> Run:
    """Commit ``change`` on main (as a merge would) and run main.yml on its push event."""
    _git(sandbox.repo, "checkout", "-q", "-B", "main", sandbox.base)
    change(sandbox.repo)
    _git(sandbox.repo, "add", "-A")
    _git(sandbox.repo, "commit", "-q", "-m", f"merge: {label}")
    payload = {
        "ref": "refs/heads/main",
        "after": _git(sandbox.repo, "rev-parse", "HEAD"),
        "repository": {"full_name": "acme/conveyor", "default_branch": "main"},
    }
    return sandbox.run_workflow(label, "push", "main.yml", payload)


def _dvc(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "BENTOML_HOME": str(sandbox.root / "bentoml"),
    }
    return subprocess.run(
        ["dvc", *args], cwd=sandbox.repo, capture_output=True, text=True, check=False, env=env
    )


def _more_rounds(repo: Path, rounds: int) -> None:
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"]["num_boost_round"] += rounds
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_merge_to_main_pushes_what_it_trained_to_the_dvc_remote(sandbox: Sandbox) -> None:
    """The contributor ran the pipeline and committed dvc.lock but never pushed: main.yml
    trains what the remote lacks and pushes it, so the next pull request restores it."""

    def retrained_not_pushed(repo: Path) -> None:
        small_project(repo)  # nothing of it in the remote yet: main.yml must train it
        result = _dvc(sandbox, "repro")
        assert result.returncode == 0, result.stdout + result.stderr

    run = _merge_to_main(sandbox, "main-pushes", retrained_not_pushed)
    assert run.jobs.get("outputs") == "success", run.failed_because()
    assert "Running stage 'train'" in run.log  # the remote had nothing for these params
    status = _dvc(sandbox, "status", "--cloud")
    assert status.returncode == 0, status.stderr
    assert "in sync" in status.stdout, status.stdout


def test_a_merge_whose_dvc_lock_is_stale_pushes_nothing(sandbox: Sandbox) -> None:
    """params.yaml changed, dvc.lock not updated: the outputs would belong to no commit."""
    remote = sandbox.root / "dvc-remote"
    before = sorted(remote.rglob("*"))

    def stale(repo: Path) -> None:
        small_project(repo)
        _more_rounds(repo, 5)

    run = _merge_to_main(sandbox, "main-stale-lock", stale)
    assert run.jobs.get("outputs") == "failure", run.failed_because()
    assert "Running stage 'train'" in run.log  # it trained: only the lock check stopped it
    assert any("the outputs are the ones dvc.lock names" in s for s in run.failed_steps), (
        run.failed_because()
    )
    assert (
        "dvc push --run-cache" not in run.log.split("the outputs are the ones dvc.lock names")[-1]
    )
    # What the stale run trained never reached the remote: not one file more.
    assert sorted(remote.rglob("*")) == before


# retrain.yml -> ml-retrain.yml (issue #18): the command-by-command flow, a worse challenger and
# a re-run are in tests/conveyor/retrain/test_retrain_publish.py; this proves the workflow's wiring.
RETRAIN_PR = "https://github.com/acme/conveyor/pull/9"


def _trained(work: Path, env: dict[str, str], message: str) -> str:
    """`dvc repro` and `dvc push --run-cache` in ``work``, committed and pushed; the commit."""
    for command in (["dvc", "repro"], ["dvc", "push", "--run-cache"]):
        done = subprocess.run(
            command, cwd=work, capture_output=True, text=True, check=False, env=env
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", message)
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD")


def _champion_live_and_main(
    sandbox: Sandbox, tmp_path: Path, rounds: int, hard_window: bool = False
) -> tuple[Path, Sandbox, GhStub, dt.date]:
    """Origin, a sandbox on its clone and a recording gh: prod runs a champion trained on data
    four weeks older (20 rounds; with ``hard_window`` its commit records WAPE 40), and main has
    since asked for ``rounds`` (committed: the retraining runs the pipeline itself)."""
    origin, work, env = _origin_and_work(sandbox, tmp_path)
    env = {**env, "BENTOML_HOME": str(sandbox.root / "bentoml"), "DVC_NO_ANALYTICS": "1"}
    last_day = pl.read_parquet(sandbox.repo / "data/raw/sales.parquet")["date"].max()
    assert isinstance(last_day, dt.date)
    older = (last_day - dt.timedelta(days=28)).isoformat()
    small_project(work, older, older_window=True)
    champion = _trained(work, env, "the champion: an older window, 20 rounds")
    if hard_window:
        champion = commit_harder_window(work)
    go_live(work, "prod", "v1.0.0", champion)
    edit_params(work, {"train.num_boost_round": rounds})
    git(work, "commit", "--quiet", "-am", f"train {rounds} rounds")
    git(work, "push", "--quiet", "origin", "main")
    stub = GhStub(tmp_path / "gh", {"pr list": "", "pr create": RETRAIN_PR})
    box = Sandbox(sandbox.root)
    box.repo, box.base = work, champion
    return origin, box, stub, last_day


def _retrain(box: Sandbox, stub: GhStub, name: str, to: dt.date) -> Run:
    """retrain.yml by hand (workflow_dispatch) moving the window to ``to``, gh the stub."""
    return box.run_workflow(
        name,
        "workflow_dispatch",
        "retrain.yml",
        {"inputs": {"to": to.isoformat()}},
        "--remote-name",
        "github",
        gh=(stub.path / "gh").read_text(),
    )


def test_a_better_challenger_pushes_its_branch_and_opens_one_pull_request(
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    origin, box, stub, last_day = _champion_live_and_main(sandbox, tmp_path, rounds=60)
    run = _retrain(box, stub, "retrain", last_day)
    assert run.jobs.get("retrain") == "success", run.failed_because()
    assert "Running stage 'train'" in run.log  # the new window was trained, not pulled
    # The branch: main plus the retraining (the window in params, the new lock), on origin.
    branch = f"retrain/{last_day.isoformat()}"
    head = git(origin, "rev-parse", branch)
    assert git(origin, "rev-parse", f"{head}^") == git(origin, "rev-parse", "main")
    assert f'end_date: "{last_day.isoformat()}"' in git(origin, "show", f"{head}:params.yaml")
    changed = git(origin, "diff", "--name-only", f"{head}^", head).split()
    assert {"params.yaml", "dvc.lock", "metrics/metrics.json"} <= set(changed)
    # One pull request, from that branch to main, carrying the champion-vs-challenger report.
    calls, bodies = stub.calls(), stub.bodies()
    creates = [i for i, c in enumerate(calls) if c[:2] == ["pr", "create"]]
    assert len(creates) == 1, calls
    create = calls[creates[0]]
    assert create[create.index("--head") + 1] == branch
    assert create[create.index("--base") + 1] == "main"
    assert "## Champion vs challenger" in (bodies[creates[0]] or "")
    assert "v1.0.0" in (bodies[creates[0]] or "")  # the champion named by its release
    # What the challenger trained is in the DVC remote: its PR's CI and its release pull it.
    lock = yaml.safe_load(git(origin, "show", f"{head}:dvc.lock"))
    (model,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.txt"]
    stored = sandbox.root / "dvc-remote" / "files" / "md5" / model["md5"][:2] / model["md5"][2:]
    assert stored.is_file(), stored
    # The gate re-scored the champion on the challenger's holdout, and passed it.
    (gate_file,) = (box.artifacts / "retrain").rglob("gate.json")
    gate = json.loads(gate_file.read_text())
    assert gate["passed"] is True and gate["champion"]["version"] == "v1.0.0"

    # A re-run (the next schedule, the pull request still open) replaces the branch and edits
    # that pull request: never a second one.
    stub.answer({"pr list": RETRAIN_PR, "pr list --state": []})
    again = _retrain(box, stub, "retrain-again", last_day)
    assert again.jobs.get("retrain") == "success", again.failed_because()
    verbs = [c[:2] for c in stub.calls()]
    assert verbs.count(["pr", "create"]) == 1, stub.calls()
    edits = [c for c in stub.calls() if c[:2] == ["pr", "edit"]]
    assert len(edits) == 1 and edits[0][2] == RETRAIN_PR, stub.calls()
    assert git(origin, "rev-parse", branch) != head  # the branch was replaced, not kept
    assert git(origin, "rev-parse", f"{branch}^") == git(origin, "rev-parse", "main")


def test_a_worse_challenger_opens_no_pull_request_and_says_why(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # The champion's own window was a hard one (WAPE 40 committed): against those metrics the
    # 2-round challenger would pass; scored again on the same new holdout, the champion wins.
    origin, box, stub, last_day = _champion_live_and_main(sandbox, tmp_path, 2, hard_window=True)
    run = _retrain(box, stub, "retrain-worse", last_day)
    # Not a failure: the champion staying is an outcome, said with its figures.
    assert run.jobs.get("retrain") == "success", run.failed_because()
    assert "retrain: champion-wins" in run.log
    assert not [call for call in stub.calls() if call[0] == "pr"], stub.calls()
    branches = git(origin, "for-each-ref", "--format=%(refname)", "refs/heads/retrain/")
    assert branches.strip() == ""
    (gate_file,) = (box.artifacts / "retrain-worse").rglob("gate.json")
    gate = json.loads(gate_file.read_text())
    assert gate["passed"] is False and gate["champion"]["version"] == "v1.0.0"
    wape = next(c for c in gate["checks"] if c["metric"].endswith(":model.wape"))
    # The champion re-scored, not its committed 40, which the challenger would have beaten.
    assert wape["baseline"] != 40.0 and wape["current"] < 40.0
    assert wape["verdict"] == "fail" and wape["current"] > wape["baseline"]
    (report,) = (box.artifacts / "retrain-worse").rglob("report.md")
    text = report.read_text()
    assert "Champion vs challenger" in text
    assert f"{wape['baseline']:.4g}" in text and f"{wape['current']:.4g}" in text
