"""`release verify --source-repository` checks the release record attested on the image, not
only the image's signature (issue 14, item 2; left open by the fourth review). The tests and
security verdicts exist nowhere but in the record: a record edited and re-sealed after its
release (a failed test run flipped to passed) carries the genuine image, whose signature
verifies; only the attestation tells it apart. The cosign here is tests/cosign_stub.py
(Sigstore is not reachable); what is checked is the command conveyor runs and what it does with
cosign's answer."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from conveyor.cli import main
from conveyor.release import ReleaseRecord, seal
from conveyor.signature import SignerPolicy, attestation_args
from tests.conveyor.release.test_release_signature import ARGS, IMAGE, _record
from tests.cosign_stub import cosign_stub

# The record (tests.promotion_repos.record) names commit 1...1: the certificate must too.
POLICY = SignerPolicy("your-org/your-repo", "acme/conveyor", "v1.4.0", commit="1" * 40)


def _verify(capsys, path: Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["release", "verify", str(path), "--no-commit-check", *ARGS])
    out, err = capsys.readouterr()
    return code, out, err


def _with_failed_tests(path: Path) -> Path:
    """The record the release really made (and attested): its test run failed."""
    data = json.loads(path.read_text())
    data["gates"]["tests"] |= {"passed": False, "summary": "12 tests, 3 failed, 0 errors"}
    genuine = path.with_name("genuine.json")
    genuine.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    return genuine


def _on_path(monkeypatch, folder: Path) -> None:
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_a_record_edited_after_its_release_is_refused(capsys, tmp_path, monkeypatch):
    forged = _record(tmp_path)  # every gate passed, sealed: what the forger hands over
    genuine = _with_failed_tests(forged)
    _on_path(monkeypatch, cosign_stub(tmp_path / "bin", image=IMAGE, attested=genuine))
    code, out, err = _verify(capsys, forged)
    assert code == 1, out + err
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert (
        "release record attestation: this record differs from the one its release signed in: "
        "gates.tests" in err
    )
    ran = (tmp_path / "bin" / "args.verify-attestation").read_text().splitlines()
    assert ["cosign", *ran] == attestation_args(POLICY, IMAGE)


def test_a_release_with_no_record_attested_is_refused(capsys, tmp_path, monkeypatch):
    """An image signed before the record was attested (or by anyone else): nothing vouches for
    the tests and security verdicts."""
    _on_path(monkeypatch, cosign_stub(tmp_path / "bin", image=IMAGE))
    code, out, err = _verify(capsys, _record(tmp_path))
    assert code == 1, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert "release record attestation: no release record signed under the signer rule" in err
    assert "no matching attestations" in err


def test_the_record_its_release_attested_verifies(capsys, tmp_path, monkeypatch):
    path = _record(tmp_path)
    _on_path(monkeypatch, cosign_stub(tmp_path / "bin", image=IMAGE, attested=path))
    code, out, err = _verify(capsys, path)
    assert code == 0, err
    assert "signature: verified" in out
    assert "record: the one its release attested on the image" in out


def test_without_cosign_both_checks_are_named_unchecked(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, out, err = _verify(capsys, _record(tmp_path))
    assert code == 0, err
    assert "signature NOT checked: cosign is not on PATH" in err
    assert shlex.join(attestation_args(POLICY, IMAGE)) in err
    assert "record: the one" not in out
