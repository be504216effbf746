"""The documented signature check (docs/adopting.md) and the one `conveyor release verify` builds
are the same command, and that command accepts a genuine release's certificate and refuses the
look-alikes (issue 14, item 2).

cosign is not installed here, so its matching is reproduced from its source
(sigstore/cosign pkg/cosign/verify.go): the identity regexp is compiled with Go's regexp and
applied with ``MatchString`` (found anywhere in the SAN: ``re.search``), an exact identity and
every ``--certificate-github-workflow-*`` value must equal the certificate's field.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.release import ReleaseRecord, seal
from conveyor.signature import ISSUER, SignerPolicy
from tests.cosign_stub import cosign_stub
from tests.paths import REPO
from tests.promotion_repos import record

DIGEST = "sha256:" + "cd" * 32
COMMIT = "1" * 40  # the commit the release run built (the record's git_commit)
IMAGE = f"ghcr.io/your-org/your-repo@{DIGEST}"
# The doc's placeholders and what a test fills them with.
PLACEHOLDERS = {
    "OWNER/conveyor": "acme/conveyor",
    "YOUR_ORG/YOUR_REPO": "your-org/your-repo",
    "ghcr.io/your-org/your-repo@sha256:DIGEST": IMAGE,
    "COMMIT_OF_THE_TAG": COMMIT,
}


@dataclass(frozen=True)
class Certificate:
    """The fields of a Fulcio certificate that `cosign verify` checks."""

    san: str  # Build Signer URI: the workflow that signed (job_workflow_ref)
    issuer: str = ISSUER
    repository: str = "your-org/your-repo"  # OID 1.3.6.1.4.1.57264.1.5
    trigger: str = "push"  # OID 1.3.6.1.4.1.57264.1.2
    ref: str = "refs/tags/v1.4.0"  # OID 1.3.6.1.4.1.57264.1.6
    sha: str = COMMIT  # OID 1.3.6.1.4.1.57264.1.3: the commit the signing run built


GENUINE = Certificate(
    san="https://github.com/acme/conveyor/.github/workflows/ml-release.yml@refs/tags/v1"
)
LOOK_ALIKES = {
    "another repository calling the same public workflow": replace(
        GENUINE, repository="mallory/forecaster"
    ),
    "a pull_request job with id-token: write": replace(
        GENUINE, trigger="pull_request", ref="refs/pull/7/merge"
    ),
    "a branch of the workflow repository": replace(
        GENUINE,
        san="https://github.com/acme/conveyor/.github/workflows/ml-release.yml@refs/heads/evil",
    ),
    "a look-alike workflow repository": replace(
        GENUINE,
        san="https://github.com/acme/conveyor-evil/.github/workflows/ml-release.yml@refs/tags/v1",
    ),
    "the genuine identity as a suffix": replace(GENUINE, san="https://evil.example/" + GENUINE.san),
    "the genuine identity with a longer tag": replace(GENUINE, san=GENUINE.san + "-evil/x"),
    "another workflow of the workflow repository": replace(
        GENUINE, san=GENUINE.san.replace("ml-release.yml", "ml-ci.yml")
    ),
    "another release's tag": replace(GENUINE, ref="refs/tags/v0.9.0"),
    "the release tag pushed on another commit": replace(GENUINE, sha="b" * 40),
    "a person's login": replace(GENUINE, issuer="https://github.com/login/oauth"),
}


def cosign_accepts(args: list[str], cert: Certificate) -> bool:
    """cosign verify's certificate checks for the flags in ``args``."""
    assert args[:2] == ["cosign", "verify"], args
    flags = dict(zip(args[2:-1:2], args[3:-1:2], strict=True))
    if "--certificate-identity" in flags:
        identity_ok = cert.san == flags["--certificate-identity"]
    else:
        identity_ok = re.search(flags["--certificate-identity-regexp"], cert.san) is not None
    exact = {
        "--certificate-oidc-issuer": cert.issuer,
        "--certificate-github-workflow-repository": cert.repository,
        "--certificate-github-workflow-trigger": cert.trigger,
        "--certificate-github-workflow-ref": cert.ref,
        "--certificate-github-workflow-sha": cert.sha,
    }
    return identity_ok and all(flags.get(f) in (None, value) for f, value in exact.items())


def documented_command() -> list[str]:
    """The cosign command under docs/adopting.md's `signature-check` marker, placeholders filled."""
    text = (REPO / "docs/adopting.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- signature-check:[^>]*-->\n```bash\n(.*?)```", text, re.S)
    assert block, "docs/adopting.md lost its signature-check command"
    command = block.group(1).replace("\\\n", " ")
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    return shlex.split(command)


POLICY = SignerPolicy("your-org/your-repo", "acme/conveyor", "v1.4.0", commit=COMMIT)


def test_the_documented_command_is_the_one_conveyor_builds():
    assert documented_command() == POLICY.cosign_args(IMAGE)


def test_the_documented_command_accepts_a_genuine_release():
    assert cosign_accepts(documented_command(), GENUINE)
    pinned_by_commit = replace(GENUINE, san=GENUINE.san.replace("refs/tags/v1", "a" * 40))
    assert cosign_accepts(documented_command(), pinned_by_commit)
    # conveyor's own release.yml calls ml-release.yml locally: the SAN carries the release tag.
    own = replace(GENUINE, san=GENUINE.san.replace("refs/tags/v1", "refs/tags/v1.4.0"))
    assert cosign_accepts(documented_command(), own)


@pytest.mark.parametrize("case", sorted(LOOK_ALIKES))
def test_the_documented_command_refuses_look_alikes(case):
    assert not cosign_accepts(documented_command(), LOOK_ALIKES[case])


def test_the_old_documented_pattern_was_wrong_both_ways():
    """The pattern docs/adopting.md had: never matches a genuine signature, and loosened to the
    workflow's repository it accepts other repositories' and pull-request certificates."""
    old = [
        "cosign",
        "verify",
        "--certificate-identity-regexp",
        "https://github.com/your-org/your-repo/",
        "--certificate-oidc-issuer",
        ISSUER,
        IMAGE,
    ]
    assert not cosign_accepts(old, GENUINE)
    loosened = [*old[:3], "https://github.com/acme/conveyor", *old[4:]]
    assert cosign_accepts(
        loosened, LOOK_ALIKES["another repository calling the same public workflow"]
    )
    assert cosign_accepts(loosened, LOOK_ALIKES["a pull_request job with id-token: write"])
    assert cosign_accepts(loosened, LOOK_ALIKES["a look-alike workflow repository"])


def test_an_exact_workflow_ref_gives_an_exact_identity():
    exact = replace(POLICY, workflow_ref="refs/tags/v1")
    args = exact.cosign_args(IMAGE)
    assert args[2:4] == ["--certificate-identity", GENUINE.san]
    assert cosign_accepts(args, GENUINE)
    other = replace(GENUINE, san=GENUINE.san.replace("refs/tags/v1", "refs/tags/v2"))
    assert not cosign_accepts(args, other)


def _verify(capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["release", "verify", str(path), "--no-commit-check", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _record(tmp_path: Path) -> Path:
    data = record("v1.4.0", registry="ghcr.io/your-org/your-repo")
    data["image"] = {"reference": IMAGE, "digest": DIGEST}
    path = tmp_path / "record.json"
    path.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    return path


def _fake_cosign(folder: Path, exit_code: int, attested: Path | None = None) -> Path:
    """A `cosign` on PATH that logs its arguments and exits ``exit_code`` for `verify`, and holds
    ``attested`` as the release record attestation (tests/cosign_stub.py: no real cosign here,
    what is checked is the command line conveyor runs)."""
    return cosign_stub(folder, image=IMAGE, attested=attested, verify_exit=exit_code)


ARGS = ("--source-repository", "your-org/your-repo", "--workflow-repository", "acme/conveyor")


def test_verify_says_the_signature_was_not_checked_without_cosign(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, out, err = _verify(capsys, _record(tmp_path), *ARGS)
    assert code == 0
    assert "signature NOT checked: cosign is not on PATH; run: cosign verify" in err
    assert shlex.join(POLICY.cosign_args(IMAGE)) in err
    assert "signature: verified" not in out


def test_verify_runs_cosign_with_the_documented_flags(capsys, tmp_path, monkeypatch):
    path = _record(tmp_path)
    bin_dir = _fake_cosign(tmp_path / "bin", 0, attested=path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out, err = _verify(capsys, path, *ARGS)
    assert code == 0, err
    assert "signature: verified" in out
    ran = ["cosign", *(bin_dir / "args.verify").read_text().splitlines()]
    assert ran == documented_command()


def test_verify_fails_when_cosign_refuses(capsys, tmp_path, monkeypatch):
    bin_dir = _fake_cosign(tmp_path / "bin", 1)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, _, err = _verify(capsys, _record(tmp_path), *ARGS)
    assert code == 1
    assert "signature does not verify (Error: no matching signatures" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--source-repository=--upload-pack=x/y",), "must be OWNER/NAME"),
        (("--source-repository", "a/b", "--workflow-ref", "refs/heads/main"), "--workflow-ref"),
        (("--workflow-repository", "acme/conveyor"), "need --source-repository"),
    ],
)
def test_bad_signer_options_are_usage_errors(capsys, tmp_path, extra, expected):
    code, _, err = _verify(capsys, _record(tmp_path), *extra)
    assert code == 2
    assert expected in err
