"""`conveyor promote` trusts nothing a contributor can write (issue 14, item 1).

A release record's `record_digest` is an unkeyed sha256: anyone can edit a verdict and seal the
record again. So promotion re-establishes the data and metric verdicts from the record's commit
(real git, real `dvc repro` outputs), and requires the record to be the one ml-release signed as
a cosign attestation on the image, which is what vouches for the tests and security verdicts.
Every forgery below is refused with one line, exit 1, and no ref moves on the bare remote.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from conveyor.cli import main
from conveyor.release import ReleaseRecord, content_digest, seal
from conveyor.signature import RECORD_TYPE
from tests.conveyor.release.test_release_verdicts import (
    DIGEST,
    build_json,
    commit,
    template,  # noqa: F401 - a fixture, used by name
    worse_model,
)
from tests.evidence_files import head, junit_report
from tests.promotion_repos import REPO, git

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

IMAGE = f"ghcr.io/your-org/forecaster@{DIGEST}"  # a registry policies/promotion.yaml allows
SIGNER = ("--source-repository", "acme/forecaster", "--workflow-repository", "acme/conveyor")


def _release(
    repo: Path, where: Path, *extra: str, tests_ok: bool = True, scan_ok: bool = True
) -> Path:
    """`conveyor release record` at ``repo``'s HEAD with the given tests and scan outcomes (and
    ``extra`` options); the record is written even when a gate failed (exit 1), as the release
    job does."""
    where.mkdir(parents=True, exist_ok=True)
    junit = junit_report(where / "junit.xml", head(repo), failures=0 if tests_ok else 2)
    scan = where / "scan.json"
    findings = [] if scan_ok else [{"check": "CKV_X", "file": "Dockerfile"}]
    verdict = {"passed": scan_ok, "findings": findings, "git_commit": head(repo)}
    scan.write_text(json.dumps(verdict))
    out = where / "record.json"
    code = main(
        [
            *("release", "record", "--version", "v1.0.0", "--image", IMAGE),
            *("--build-json", str(build_json(repo, where))),
            *("--repo", str(repo), "--data-dir", str(repo / "reports/data")),
            *("--params", str(repo / "params.yaml")),
            *("--tests-junit", str(junit), "--scan-json", str(scan), "--out", str(out)),
            *extra,
        ]
    )
    assert code in (0, 1)
    return out


@pytest.fixture
def project(template: Path, tmp_path: Path) -> tuple[Path, Path]:  # noqa: F811 - the fixture
    """(clone, bare origin): the pipeline repository with the project's environments and
    promotion policy, pushed to a bare remote on disk."""
    work = tmp_path / "work"
    shutil.copytree(template, work, symlinks=True)
    shutil.copytree(REPO / "deploy", work / "deploy")
    shutil.copy(REPO / "policies" / "promotion.yaml", work / "policies" / "promotion.yaml")
    commit(work, "environments")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "--quiet", "origin", "main")
    return work, origin


def _forge(path: Path, **gates: dict[str, Any]) -> Path:
    """The record with some gate verdicts rewritten, sealed again: a valid-looking record."""
    data = json.loads(path.read_text())
    for name, changes in gates.items():
        data["gates"][name] |= changes
    forged = path.with_name("forged.json")
    record = seal(ReleaseRecord.model_validate(data))
    forged.write_text(json.dumps(record.model_dump(mode="json")))
    return forged


def _refs(origin: Path, work: Path) -> tuple[str, str]:
    listing = "--format=%(refname) %(objectname)"
    return git(origin, "for-each-ref", listing), git(work, "for-each-ref", listing)


def _promote(capsys, work: Path, record: Path, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()  # only what promote says
    code = main(["promote", "--env", "dev", "--record", str(record), "--repo", str(work), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _without_cosign() -> str:
    """PATH without any cosign, so the test means the same on a machine that has one."""
    dirs = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not (Path(d) / "cosign").exists())


def _cosign_holding(folder: Path, signed: Path) -> Path:
    """A `cosign` on PATH standing in for the registry and Sigstore: `verify-attestation` with
    conveyor's predicate type and signer flags prints the DSSE envelope of ``signed`` (the
    record the release job attested) as cosign does, one JSON line; anything else fails."""
    folder.mkdir()
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": RECORD_TYPE,
        "subject": [{"name": IMAGE.partition("@")[0], "digest": {"sha256": IMAGE[-64:]}}],
        "predicate": json.loads(signed.read_text()),
    }
    envelope = {
        "payloadType": "application/vnd.in-toto+json",
        "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
        "signatures": [{"keyid": "", "sig": "MEUCIQ"}],
    }
    (folder / "envelope.json").write_text(json.dumps(envelope) + "\n")
    script = folder / "cosign"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{folder}/args"\n'
        f'[ "$1" = verify-attestation ] && [ "$3" = "{RECORD_TYPE}" ] || exit 1\n'
        f'cat "{folder}/envelope.json"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_a_genuine_record_promotes_and_says_the_signature_was_not_checked(
    capsys, project, tmp_path, monkeypatch
):
    work, origin = project
    monkeypatch.setenv("PATH", _without_cosign())
    record = _release(work, tmp_path / "release")
    code, out, err = _promote(capsys, work, record, *SIGNER)
    assert code == 0, err
    assert "changed=true" in out
    assert git(origin, "rev-parse", "--verify", "--quiet", "refs/heads/promote/dev")
    assert "signature NOT checked: cosign is not on PATH; run: cosign verify-attestation" in err
    assert f"--type {RECORD_TYPE}" in err


@pytest.mark.parametrize(
    ("gate", "make", "expected"),
    [
        ("metrics", "worse model", "gate 'metrics' does not match commit"),
        ("data", "edited verdict", "gate 'data' does not match commit"),
    ],
)
def test_a_flipped_data_or_metrics_verdict_is_refused(
    capsys, project, tmp_path, gate, make, expected
):
    """The verdict failed on its commit; flipped to passed and re-sealed, the commit says no."""
    work, origin = project
    if make == "worse model":
        worse_model(work)
    else:
        verdict = work / "reports/data/raw.json"
        verdict.write_text(verdict.read_text().replace('"passed": true', '"passed": false'))
    commit(work, make)
    git(work, "push", "--quiet", "origin", "main")
    genuine = _release(work, tmp_path / "release")
    assert json.loads(genuine.read_text())["gates"][gate]["passed"] is False
    forged = _forge(genuine, **{gate: {"passed": True, "summary": "all good"}})
    before = _refs(origin, work)
    code, out, err = _promote(capsys, work, forged)
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "release v1.0.0: not the record its release made: " in err
    assert expected in err
    assert out == ""
    assert _refs(origin, work) == before


@pytest.mark.parametrize("gate", ["tests", "security"])
def test_a_flipped_tests_or_security_verdict_is_refused_by_the_signed_record(
    capsys, project, tmp_path, monkeypatch, gate
):
    """Tests and scan results are not in git: the signed record is what they are checked
    against. The release signed the record it made (tests or scan failed); the forgery differs."""
    work, origin = project
    genuine = _release(
        work, tmp_path / "release", tests_ok=gate != "tests", scan_ok=gate != "security"
    )
    assert json.loads(genuine.read_text())["gates"][gate]["passed"] is False
    forged = _forge(genuine, **{gate: {"passed": True, "summary": "12 tests, 0 failed"}})
    cosign = _cosign_holding(tmp_path / "bin", genuine)
    monkeypatch.setenv("PATH", f"{cosign}{os.pathsep}{os.environ['PATH']}")
    before = _refs(origin, work)
    code, out, err = _promote(capsys, work, forged, *SIGNER, "--require-signature")
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert (
        f"signature check: this record differs from the one its release signed in: gates.{gate}"
        in err
    )
    assert out == ""
    assert _refs(origin, work) == before
    args = (cosign / "args").read_text().splitlines()
    assert args[:3] == ["verify-attestation", "--type", RECORD_TYPE]
    assert "--certificate-github-workflow-repository" in args
    assert args[-1] == IMAGE


def test_the_signed_genuine_record_promotes(capsys, project, tmp_path, monkeypatch):
    work, _ = project
    genuine = _release(work, tmp_path / "release")
    cosign = _cosign_holding(tmp_path / "bin", genuine)
    monkeypatch.setenv("PATH", f"{cosign}{os.pathsep}{os.environ['PATH']}")
    code, out, err = _promote(capsys, work, genuine, *SIGNER, "--require-signature")
    assert code == 0, err
    assert "changed=true" in out
    assert "NOT checked" not in err
    signed = json.loads(genuine.read_text())
    assert signed["record_digest"] == content_digest(signed)


def test_require_signature_without_cosign_is_a_usage_error_and_moves_nothing(
    capsys, project, tmp_path, monkeypatch
):
    work, origin = project
    genuine = _release(work, tmp_path / "release")
    monkeypatch.setenv("PATH", _without_cosign())
    before = _refs(origin, work)
    code, _, err = _promote(capsys, work, genuine, *SIGNER, "--require-signature")
    assert code == 2
    assert err.strip() == "error: --require-signature: cosign is not on PATH (install it first)"
    assert _refs(origin, work) == before
    code, _, err = _promote(capsys, work, genuine, "--require-signature")
    assert code == 2
    assert "--require-signature needs --source-repository" in err


def test_a_record_of_a_commit_the_checkout_lacks_is_refused(capsys, project, tmp_path):
    """A record naming another commit cannot be tied to anything here: refused, not trusted."""
    work, origin = project
    genuine = json.loads(_release(work, tmp_path / "release").read_text())
    genuine["git_commit"] = "1" * 40
    forged = tmp_path / "other-commit.json"
    forged.write_text(
        json.dumps(seal(ReleaseRecord.model_validate(genuine)).model_dump(mode="json"))
    )
    before = _refs(origin, work)
    code, _, err = _promote(capsys, work, forged)
    assert code == 1
    assert f"commit {'1' * 40} is not in the repository" in err
    assert _refs(origin, work) == before


def test_no_commit_check_says_so(capsys, project, tmp_path):
    work, _ = project
    genuine = _release(work, tmp_path / "release")
    code, _, err = _promote(capsys, work, genuine, "--no-commit-check")
    assert code == 0, err
    assert (
        "warning: data and metric verdicts NOT tied to a commit, nor the commit to the base "
        "branch, nor compared with the champion live there (--no-commit-check)" in err
    )
    assert "warning: signature NOT checked (no --source-repository)" in err
