"""`release record` / `release verify` / `release on-branch` against real git repositories whose
pipeline ran under real DVC: the release re-establishes its verdicts on the commit it ships and
refuses verdicts that are not that commit's (issue 14, items 1 and 12)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.release import ReleaseRecord, load_record, seal
from tests.evidence_files import head, junit_report, scan_report
from tests.promotion_repos import IDENTITY, REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"ghcr.io/acme/forecaster@{DIGEST}"

MAKE_DATA = """\
import pathlib, yaml
rows = yaml.safe_load(open("params.yaml"))["data"]["rows"]
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("data/raw.csv").write_text("x\\n" + "".join(f"{i}\\n" for i in range(rows)))
"""
# Stands in for `conveyor check data` (what is under test is the record, not the checker).
VALIDATE = """\
import json, pathlib, yaml
rows = len(pathlib.Path("data/raw.csv").read_text().splitlines()) - 1
least = yaml.safe_load(open("policies/data/raw.yaml"))["min_rows"]
pathlib.Path("reports/data").mkdir(parents=True, exist_ok=True)
verdict = {"contract": "raw", "data": "data/raw.csv", "passed": rows >= least, "rows": rows}
pathlib.Path("reports/data/raw.json").write_text(json.dumps(verdict, indent=2) + "\\n")
raise SystemExit(0 if rows >= least else 1)
"""
# Stands in for the model's evaluation: the metric it writes is a knob in params.yaml.
EVALUATE = """\
import json, pathlib, yaml
wape = yaml.safe_load(open("params.yaml"))["model"]["wape"]
pathlib.Path("metrics").mkdir(exist_ok=True)
pathlib.Path("metrics/metrics.json").write_text(json.dumps({"model": {"wape": wape}}) + "\\n")
"""
DVC_YAML = """\
stages:
  ingest:
    cmd: python make_data.py
    deps: [make_data.py]
    params: [data]
    outs: [data/raw.csv]
  validate_raw:
    cmd: python validate.py
    deps: [data/raw.csv, policies/data/raw.yaml, validate.py]
    metrics:
      - reports/data/raw.json:
          cache: false
  evaluate:
    cmd: python evaluate.py
    deps: [data/raw.csv, evaluate.py]
    params: [model]
    metrics:
      - metrics/metrics.json:
          cache: false
"""
PARAMS = """\
data:
  rows: 20
model:
  wape: 0.4
gates:
  baseline_ref: HEAD
  rules:
    - metric: metrics/metrics.json:model.wape
      better: lower
      max: 0.5
"""


def _env() -> dict[str, str]:
    # DVC stage commands run the first `python` on PATH: this interpreter, with yaml.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, **IDENTITY, "PATH": path, "DVC_NO_ANALYTICS": "1"}


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=_env())
    if check:
        assert result.returncode == 0, f"{' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def commit(repo: Path, message: str) -> str:
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "--allow-empty", "-m", message)
    return run(repo, "git", "rev-parse", "HEAD").stdout.strip()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository on main whose last commit ran its pipeline with `dvc repro`: passing data
    contract, passing metric gate, committed dvc.lock and verdicts."""
    repo = tmp_path_factory.mktemp("release") / "repo"
    repo.mkdir()
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, sys.executable, "-m", "dvc", "init", "-q")
    run(repo, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
    (repo / "make_data.py").write_text(MAKE_DATA)
    (repo / "validate.py").write_text(VALIDATE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text(PARAMS)
    (repo / "policies/data").mkdir(parents=True)
    (repo / "policies/data/raw.yaml").write_text("min_rows: 10\n")
    # The promotion policy names the environments whose live release is the champion (the
    # regression baseline of a release), read on main.
    shutil.copy(REPO / "policies/promotion.yaml", repo / "policies/promotion.yaml")
    (repo / "evaluate.py").write_text(EVALUATE)
    commit(repo, "project")
    run(repo, sys.executable, "-m", "dvc", "repro", "-q")
    commit(repo, "pipeline run")
    return repo


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(template, copy, symlinks=True)
    return copy


def worse_model(repo: Path) -> None:
    """The pipeline, re-run, evaluates a model that fails the gate (wape 0.9 > 0.5)."""
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("wape: 0.4", "wape: 0.9"))
    run(repo, sys.executable, "-m", "dvc", "repro", "-q")


def build_json(repo: Path, where: Path, **extra: object) -> Path:
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    data = {"bento_tag": "svc:1", "model_tag": "m:1", "data_md5": "d" * 32, "git_commit": head}
    path = where / "build.json"
    path.write_text(json.dumps(data | extra))
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def evidence(where: Path, repo: Path) -> list[str]:
    """A passing JUnit report and a clean scan made on ``repo``'s HEAD: the two verdicts the
    release job makes itself."""
    junit = junit_report(where / "junit-ok.xml", head(repo))
    scan = scan_report(where / "scan-ok.json", head(repo))
    return ["--tests-junit", str(junit), "--scan-json", str(scan)]


def record(capsys, repo: Path, tmp_path: Path, *extra: str, build: Path | None = None):
    out = tmp_path / "out" / "record.json"
    code, stdout, err = cli(
        capsys,
        "release",
        "record",
        *("--version", "v1.0.0", "--image", IMAGE),
        *("--build-json", str(build or build_json(repo, tmp_path))),
        *("--repo", str(repo), "--data-dir", str(repo / "reports/data")),
        *("--params", str(repo / "params.yaml")),
        *("--out", str(out)),
        *evidence(tmp_path, repo),
        *("--branch", "main"),  # no remote here: main is the default branch
        *extra,
    )
    return code, stdout, err, out


def test_a_good_commit_gets_a_record_that_verify_ties_to_it(capsys, repo, tmp_path):
    code, out, err, path = record(capsys, repo, tmp_path, "--branch", "main")
    assert code == 0, out + err
    written = load_record(path)
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    assert written.git_commit == head
    assert written.gates["metrics"].passed and written.gates["data"].passed
    # No release tag before this commit: a first release, and the verdict says so.
    assert written.gates["metrics"].inputs["baseline_commit"] == "none (first release)"
    summary = written.gates["metrics"].summary
    assert f"(no previous release live at {head[:12]}: regression rules not applied)" in summary
    assert written.gates["data"].inputs["raw:data/raw.csv"].startswith("md5:")
    code, out, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 0, err
    assert f"tied to {head[:12]}" in out


def test_a_hand_edited_gate_json_does_not_pass_failing_metrics(capsys, repo, tmp_path):
    """The metrics fail the gate; gate.json claims they passed: the record re-evaluates."""
    worse_model(repo)
    (repo / "reports/gate").mkdir(parents=True)
    (repo / "reports/gate/gate.json").write_text(
        json.dumps({"passed": True, "checks_total": 1, "checks_failed": 0, "baseline_ref": "HEAD"})
    )
    commit(repo, "worse model, verdict edited by hand")
    code, out, _, path = record(capsys, repo, tmp_path)
    assert code == 1
    assert "gate 'metrics' did not pass: 1 of 1 rules failed" in out
    assert load_record(path).gates["metrics"].passed is False


def test_metrics_edited_by_hand_are_refused(capsys, repo, tmp_path):
    """The model fails the gate; metrics.json is edited to pass it: not what the pipeline made."""
    worse_model(repo)
    (repo / "metrics/metrics.json").write_text('{"model": {"wape": 0.3}}\n')
    commit(repo, "worse model, metrics edited by hand")
    code, out, _, _ = record(capsys, repo, tmp_path)
    assert code == 1
    assert "metrics not established: metrics/metrics.json: differs from the one dvc.lock" in out


def test_metrics_that_differ_when_computed_again_are_refused(capsys, repo, tmp_path):
    """The release job's re-run of the evaluation (the working tree) does not give the committed
    metrics: they are not this commit's."""
    (repo / "metrics/metrics.json").write_text('{"model": {"wape": 0.45}}\n')
    code, out, _, _ = record(capsys, repo, tmp_path)
    assert code == 1
    assert "metrics/metrics.json: differs when computed again on this commit" in out


def test_a_data_verdict_edited_by_hand_is_refused(capsys, repo, tmp_path):
    (repo / "policies/data/raw.yaml").write_text("min_rows: 100\n")  # the data now fails it
    verdict = json.loads((repo / "reports/data/raw.json").read_text())
    (repo / "reports/data/raw.json").write_text(json.dumps(verdict | {"rows": 21}, indent=2))
    commit(repo, "stricter contract, old verdict kept and touched")
    code, out, _, _ = record(capsys, repo, tmp_path)
    assert code == 1
    assert "differs from the one dvc.lock records" in out


def test_a_verdict_about_other_data_is_refused(capsys, repo, tmp_path):
    """dvc.lock's data changed (ingest re-ran) but the contract did not run on it."""
    (repo / "params.yaml").write_text(PARAMS.replace("rows: 20", "rows: 5"))
    run(repo, sys.executable, "-m", "dvc", "repro", "-q", "--single-item", "ingest")
    commit(repo, "new data, contract not re-run")
    code, out, _, _ = record(capsys, repo, tmp_path)
    assert code == 1
    assert "raw: made from data/raw.csv md5" in out
    assert "but the pipeline's data/raw.csv is" in out


def test_a_contract_changed_after_its_check_is_refused(capsys, repo, tmp_path):
    (repo / "policies/data/raw.yaml").write_text("min_rows: 15\n")  # still passes, not re-run
    commit(repo, "contract edited, verdict not re-established")
    code, out, _, _ = record(capsys, repo, tmp_path)
    assert code == 1
    assert "raw: policies/data/raw.yaml changed after it was made" in out


def test_a_contract_that_fails_when_re_run_is_refused(capsys, repo, tmp_path):
    """The committed verdict passed; the release job's re-run (the working tree) did not."""
    (repo / "policies/data/raw.yaml").write_text("min_rows: 100\n")
    assert run(repo, "python", "validate.py", check=False).returncode == 1
    run(repo, "git", "checkout", "--", "policies")  # the commit itself is untouched
    code, out, _, _ = record(capsys, repo, tmp_path)
    assert code == 1
    assert "raw: failed when re-checked on this commit" in out


def test_verify_refuses_verdicts_that_are_not_the_commits(capsys, repo, tmp_path):
    """A resealed record that claims passing metrics for a commit whose metrics fail."""
    code, _, _, path = record(capsys, repo, tmp_path)
    assert code == 0
    good = json.loads(path.read_text())
    worse_model(repo)
    worse = commit(repo, "worse model")
    forged = seal(ReleaseRecord.model_validate(good | {"git_commit": worse}))
    path.write_text(json.dumps(forged.model_dump(mode="json")))
    code, _, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 1
    assert f"gate 'metrics' does not match commit {worse[:12]}: re-established there it fails" in (
        err
    )
    assert len(err.strip().splitlines()) == 1


def test_verify_refuses_a_record_without_inputs_or_commit(capsys, repo, tmp_path):
    code, _, _, path = record(capsys, repo, tmp_path)
    data = json.loads(path.read_text())
    data["gates"]["data"].pop("inputs")
    path.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    code, _, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 1
    assert "gate 'data' names no inputs, so it is not tied to commit" in err
    data["git_commit"] = "0" * 40
    path.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    code, _, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 1
    assert f"commit {'0' * 40} is not in the repository" in err
    code, out, _ = cli(capsys, "release", "verify", str(path), "--no-commit-check")
    assert code == 0
    assert "NOT tied to a commit" in out


def test_on_branch_accepts_main_and_refuses_a_side_branch(capsys, repo, tmp_path):
    run(repo, "git", "tag", "v1.0.0")
    code, out, _ = cli(
        capsys,
        "release",
        "on-branch",
        "--repo",
        str(repo),
        "--branch",
        "main",
        "--commit",
        "v1.0.0",
    )
    assert code == 0
    assert "is on main's history" in out
    run(repo, "git", "checkout", "-q", "-b", "side")
    side = commit(repo, "never reviewed")
    run(repo, "git", "tag", "v1.0.1")
    code, _, err = cli(
        capsys,
        "release",
        "on-branch",
        "--repo",
        str(repo),
        "--branch",
        "main",
        "--commit",
        "v1.0.1",
    )
    assert code == 1
    assert err.strip() == (
        f"error: commit {side[:12]} is not on main's history: release only tags of commits that "
        "reached main through review"
    )
    # The record refuses it too, and writes nothing.
    code, _, err, path = record(capsys, repo, tmp_path, "--branch", "main")
    assert code == 1
    assert "is not on main's history" in err
    assert not path.exists()
    code, _, err = cli(capsys, "release", "on-branch", "--repo", str(repo), "--branch", "nope")
    assert code == 2
    assert "--branch nope: no such branch or ref" in err
    code, _, err = cli(
        capsys, "release", "on-branch", "--repo", str(repo), "--branch", "--upload-pack=touch x"
    )
    assert code == 2
    assert "must not start with '-'" in err


def test_a_dirty_or_foreign_build_is_refused(capsys, repo, tmp_path):
    code, _, err, path = record(
        capsys, repo, tmp_path, build=build_json(repo, tmp_path, git_dirty=True)
    )
    assert code == 1
    assert "built from a working tree that differs" in err
    assert not path.exists()
    first = run(repo, "git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    code, _, err, path = record(
        capsys, repo, tmp_path, build=build_json(repo, tmp_path, git_commit=first)
    )
    assert code == 1
    assert f"was built at {first[:12]}" in err
    assert not path.exists()


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[str, Path, str]]:
    """option -> (case, path, expected message part) for every bad shape of an input file."""
    cases = {}
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    folder = tmp_path / "folder"
    folder.mkdir()
    latin = tmp_path / "latin1.json"
    latin.write_bytes(b'{"git_commit": "caf\xe9"}')
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    junit_count = tmp_path / "junit.xml"
    junit_count.write_text('<testsuite name="pytest" tests="many" failures="0" errors="0"/>')
    junit_negative = tmp_path / "junit-negative.xml"
    junit_negative.write_text('<testsuite tests="3" failures="-1" errors="0"/>')
    junit_html = tmp_path / "page.xml"
    junit_html.write_text("<html><body/></html>")
    junit_latin = tmp_path / "junit-latin1.xml"
    junit_latin.write_bytes(b'<?xml version="1.0" encoding="utf-8"?><testsuite name="\xe9"/>')
    scan_findings = tmp_path / "scan.json"
    scan_findings.write_text('{"passed": true, "findings": "none"}')
    for option, what in (
        ("--build-json", "conveyor build bento output"),
        ("--scan-json", "security scan verdict"),
    ):
        cases[f"{option} list"] = (option, listed, "expected a JSON object")
        cases[f"{option} folder"] = (option, folder, f"({what}): is a folder, not a file")
        cases[f"{option} latin1"] = (option, latin, "not UTF-8 text")
        cases[f"{option} broken"] = (option, broken, "not valid JSON (line")
        cases[f"{option} missing"] = (option, tmp_path / "missing.json", "file not found")
    cases["--tests-junit count"] = ("--tests-junit", junit_count, "tests='many' is not a count")
    cases["--tests-junit negative"] = ("--tests-junit", junit_negative, "failures='-1' is not")
    cases["--tests-junit html"] = ("--tests-junit", junit_html, "root element <html>")
    cases["--tests-junit latin1"] = ("--tests-junit", junit_latin, "(JUnit report): not UTF-8")
    cases["--tests-junit folder"] = ("--tests-junit", folder, "(JUnit report): is a folder")
    cases["--scan-json findings"] = ("--scan-json", scan_findings, "findings: expected a list")
    cases["--params outside"] = ("--params", tmp_path / "params.yaml", "not inside the repository")
    cases["--data-dir outside"] = ("--data-dir", folder, "not inside the repository")
    cases["--out folder"] = ("--out", folder, "a folder, expected a file")
    cases["--repo not git"] = ("--repo", folder, "not a git repository")
    return cases


def test_bad_inputs_get_one_line_exit_2_and_nothing_written(capsys, repo, tmp_path):
    good_build = build_json(repo, tmp_path)
    for name, (option, path, expected) in _bad_inputs(tmp_path).items():
        out = tmp_path / "out" / "record.json"
        junit, scan = evidence(tmp_path, repo)[1::2]
        options = {
            "--tests-junit": junit,
            "--scan-json": scan,
            "--build-json": str(good_build),
            "--repo": str(repo),
            "--data-dir": str(repo / "reports/data"),
            "--params": str(repo / "params.yaml"),
            "--out": str(out),
            option: str(path),
        }
        args = ["release", "record", "--version", "v1.0.0", "--image", IMAGE]
        args += [part for pair in options.items() for part in pair]
        code, stdout, err = cli(capsys, *args)
        assert code == 2, (name, stdout, err)
        assert expected in err, (name, err)
        assert len(err.strip().splitlines()) == 1, (name, err)
        assert "Traceback" not in err
        assert not out.exists(), name
        assert not (tmp_path / "out").exists(), name


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[1, 2]", "(release record): expected a JSON object, got a list"),
        (b'{"version": "caf\xe9"}', "(release record): not UTF-8 text"),
        (b"{not json", "(release record): not valid JSON (line 1"),
        (b"", "(release record): the file is empty, expected JSON"),
        (None, "(release record): is a folder, not a file"),
    ],
)
def test_verify_of_a_file_that_is_no_record_is_a_usage_error(capsys, tmp_path, content, expected):
    path = tmp_path / "record.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    code, out, err = cli(capsys, "release", "verify", str(path))
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""
