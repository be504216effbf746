"""Record fields that reach other tools are checked for every spelling (issue 14, fifth hostile
pass). `$` in a pattern also matches before a final newline, so "v1.0.0\\n" passed as a version
(a pod label, a line of $GITHUB_OUTPUT), and a digest or commit with a newline as one. An image
name is handed to `cosign` as an argument: one starting with '-' would be read as an option;
the record now requires an image name by the distribution grammar. Each is refused before any
tool runs: the cosign on PATH here records any call."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.release import ReleaseRecord, content_digest, seal
from tests.conveyor.release.test_release_signature import ARGS, IMAGE, _record
from tests.cosign_stub import cosign_stub

DIGEST = IMAGE.rpartition("@")[2]


def _edited(path: Path, field: str, value: object) -> Path:
    """The record with one field set, re-sealed (the seal is unkeyed: anyone can redo it)."""
    data = json.loads(path.read_text())
    where = data
    *parents, last = field.split(".")
    for key in parents:
        where = where[key]
    where[last] = value
    edited = path.with_name("edited.json")
    # Sealed by hand: the model would refuse the value before it could be sealed.
    data["record_digest"] = content_digest(data)
    edited.write_text(json.dumps(data))
    return edited


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("version", "v1.4.0\n", "version: Value error, must be a Kubernetes label value"),
        ("git_commit", "a" * 40 + "\n", "git_commit: Value error, must be a full 40-hex"),
        ("image.digest", DIGEST + "\n", "image.digest: Value error, must be sha256:"),
        ("image.reference", IMAGE + "\n", "image: Value error, reference 'ghcr.io/"),
        ("image.reference", f"--output-file=/tmp/x@{DIGEST}", "is not an image name"),
        ("image.reference", f"ghcr.io/-x/forecaster@{DIGEST}", "is not an image name"),
        ("image.reference", f"ghcr.io/Acme/forecaster@{DIGEST}", "is not an image name"),
        ("image.reference", f"ghcr.io/acme/fore caster@{DIGEST}", "is not an image name"),
    ],
    ids=["version newline", "commit newline", "digest newline", "reference newline",
         "reference option", "component with a leading dash", "upper case path", "space"],
)  # fmt: skip
def test_a_field_spelled_otherwise_is_refused_before_cosign_runs(
    capsys, tmp_path, monkeypatch, field, value, expected
):
    path = _edited(_record(tmp_path), field, value)
    cosign = cosign_stub(tmp_path / "bin", image=IMAGE, attested=path)
    monkeypatch.setenv("PATH", f"{cosign}{os.pathsep}{os.environ['PATH']}")
    code = main(["release", "verify", str(path), "--no-commit-check", *ARGS])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"error: {path}: " in err and expected in err
    assert not list(cosign.glob("args.*"))  # cosign was never called


def test_release_record_refuses_a_version_or_image_with_a_newline(capsys, tmp_path):
    out = tmp_path / "record.json"
    for option, value in (("--version", "v1.0.0\n"), ("--image", IMAGE + "\n")):
        args = {"--version": "v1.0.0", "--image": IMAGE} | {option: value}
        options = [part for pair in args.items() for part in pair]
        code = main(["release", "record", *options, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith(f"error: {option} {value!r}: must be") and err.count("\n") == 1
    assert not out.exists()


def test_a_well_formed_registry_reference_still_loads(tmp_path):
    for name in ("localhost:5000/team/app", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"):
        data = json.loads(_record(tmp_path).read_text())
        data["image"]["reference"] = f"{name}@{DIGEST}"
        assert seal(ReleaseRecord.model_validate(data)).image.reference == f"{name}@{DIGEST}"


def test_a_signer_repository_with_a_newline_is_a_usage_error(capsys, tmp_path):
    record = str(_record(tmp_path))
    signer = ("--source-repository", "your-org/your-repo\n")
    code = main(["release", "verify", record, "--no-commit-check", *signer])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--source-repository 'your-org/your-repo\\n': must be OWNER/NAME" in err
