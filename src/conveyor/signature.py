"""Who may have signed a release image: the `cosign verify` rule for keyless signatures made by
conveyor's reusable release workflow.

With a reusable workflow, Fulcio's certificate names the *called* workflow as its identity (the
Build Signer URI, `job_workflow_ref`): `https://github.com/OWNER/conveyor/.github/workflows/
ml-release.yml@REF`, the same for every repository that calls it. So the identity alone proves
only "some repository ran conveyor's release workflow". The certificate's GitHub extensions
(Fulcio OIDs 1.3.6.1.4.1.57264.1.5 repository, .1.2 trigger, .1.6 ref; their newer twins .1.12
Source Repository URI, .1.20 Build Trigger, .1.14 Source Repository Ref) say *which* repository
ran it, on what event and at which ref: all three are pinned here.

cosign matches `--certificate-identity-regexp` with Go's `regexp.MatchString`, which finds the
pattern anywhere in the identity: the pattern is anchored (`^...$`) so no longer identity (a
branch `@refs/heads/evil`, a repository `conveyor-evil`) can contain it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor.errors import UserError
from conveyor.tools import failure_reason, run

__all__ = [
    "ISSUER",
    "RECORD_TYPE",
    "SignerPolicy",
    "attestation_args",
    "check",
    "cosign_available",
    "record_check",
]

ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = ".github/workflows/ml-release.yml"
# The in-toto predicate type of the release record that ml-release attests on the image
# (`cosign attest --type RECORD_TYPE --predicate release/record.json IMAGE`).
RECORD_TYPE = "https://conveyor.invalid/attestations/release-record/v1"  # a name, never fetched
TRIGGER = "push"  # a release is a pushed tag; pull_request jobs may hold id-token: write too
REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}\Z")  # not $
# The refs a caller may pin the reusable workflow at: a release tag (v1, v1.4, v1.4.0, v1.4.0-rc.1)
# or a full commit. Never a branch: anyone who can push a branch of the workflow's repository
# could then sign as it.
PINNED_REF = r"(refs/tags/v[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?|[0-9a-f]{40})"


def _repository(value: str, option: str) -> str:
    if not REPOSITORY.match(value) or value.split("/")[1] in (".", ".."):
        raise UserError(f"{option} {value!r}: must be OWNER/NAME of a GitHub repository")
    return value


def _escape(text: str) -> str:
    """Escape for Go's RE2 as for Python's re: only the characters that are special in both
    (a repository name has letters, digits, '-', '_' and '.')."""
    return re.sub(r"([.\\+*?()|\[\]{}^$])", r"\\\1", text)


@dataclass(frozen=True)
class SignerPolicy:
    """The signer a release image must have: conveyor's ml-release workflow (in
    ``workflow_repository``, at ``workflow_ref`` when known), run by a tag push of ``version``
    in ``source_repository``."""

    source_repository: str
    workflow_repository: str
    version: str
    workflow_ref: str | None = None
    # The commit the release run built (the record's git_commit): the certificate's workflow SHA
    # must be it, so a tag pushed on another commit cannot vouch for this record.
    commit: str | None = None

    def __post_init__(self) -> None:
        _repository(self.source_repository, "--source-repository")
        _repository(self.workflow_repository, "--workflow-repository")
        if self.commit is not None and not re.fullmatch(r"[0-9a-f]{40}", self.commit):
            raise UserError(f"commit {self.commit!r}: must be a full commit SHA (40 hex digits)")
        if self.workflow_ref is not None and not re.fullmatch(PINNED_REF, self.workflow_ref):
            raise UserError(
                f"--workflow-ref {self.workflow_ref!r}: must be refs/tags/vX[.Y[.Z]] or a full "
                "commit (what the caller's `uses: ...ml-release.yml@` names)"
            )

    def identity(self) -> list[str]:
        """The identity flag: exact when the workflow's ref is known, else an anchored pattern
        that admits only a release tag or a commit of the workflow repository."""
        base = f"https://github.com/{self.workflow_repository}/{WORKFLOW}@"
        if self.workflow_ref is not None:
            return ["--certificate-identity", base + self.workflow_ref]
        return ["--certificate-identity-regexp", f"^{_escape(base)}{PINNED_REF}$"]

    def cosign_args(self, image: str, command: tuple[str, ...] = ("verify",)) -> list[str]:
        """The complete `cosign verify` command line for ``image`` (by digest)."""
        return [
            "cosign",
            *command,
            *self.identity(),
            *("--certificate-oidc-issuer", ISSUER),
            *("--certificate-github-workflow-repository", self.source_repository),
            *("--certificate-github-workflow-trigger", TRIGGER),
            *("--certificate-github-workflow-ref", f"refs/tags/{self.version}"),
            *(("--certificate-github-workflow-sha", self.commit) if self.commit else ()),
            image,
        ]


def cosign_available() -> bool:
    """True when `cosign` is on PATH."""
    return shutil.which("cosign") is not None


def check(policy: SignerPolicy, image: str) -> str | None:
    """Run `cosign verify` on ``image``: None when the signature verified under the policy, else
    cosign's reason."""
    result = run(policy.cosign_args(image), timeout=300)
    return None if result.returncode == 0 else failure_reason(result)


def attestation_args(policy: SignerPolicy, image: str) -> list[str]:
    """`cosign verify-attestation` of the release record attested on ``image``, under the same
    signer rule as the image's signature."""
    return policy.cosign_args(image, ("verify-attestation", "--type", RECORD_TYPE))


def _predicate_records(line: str) -> list[dict[str, Any]]:
    """The release records one line of `cosign verify-attestation` output carries (a DSSE
    envelope whose base64 payload is an in-toto statement; cosign puts a custom predicate
    either as is or, as a string, under ``Data``)."""
    try:
        envelope = json.loads(line)
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        predicate = statement["predicate"]
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        return []
    if isinstance(predicate, dict) and isinstance(predicate.get("Data"), str):
        try:
            predicate = json.loads(predicate["Data"])
        except (ValueError, RecursionError):
            return []
    return [predicate] if isinstance(predicate, dict) else []


def signed_records(output: str) -> list[dict[str, Any]]:
    """Every release record in the output of a `cosign verify-attestation` that succeeded."""
    return [found for line in output.splitlines() for found in _predicate_records(line)]


def _differences(signed: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """The fields (gates one by one) in which ``record`` departs from ``signed``."""
    fields = sorted((signed.keys() | record.keys()) - {"gates", "record_digest"})
    found = [key for key in fields if signed.get(key) != record.get(key)]
    old, new = signed.get("gates"), record.get("gates")
    if isinstance(old, dict) and isinstance(new, dict):
        found += [f"gates.{n}" for n in sorted(old.keys() | new.keys()) if old.get(n) != new.get(n)]
    elif old != new:
        found.append("gates")
    return found


def record_check(
    policy: SignerPolicy,
    image: str,
    record: dict[str, Any],
    digest: Callable[[dict[str, Any]], str],
) -> str | None:
    """None when ``image`` carries a release-record attestation, signed under ``policy``, of
    exactly ``record`` (equal content ``digest``); else why not, naming the fields that differ."""
    result = run(attestation_args(policy, image), timeout=300)
    if result.returncode != 0:
        return f"no release record signed under the signer rule ({failure_reason(result)})"
    signed = signed_records(result.stdout)
    if any(digest(found) == digest(record) for found in signed):
        return None
    if len(signed) == 1:
        differ = ", ".join(_differences(signed[0], record)) or "its content"
        return f"this record differs from the one its release signed in: {differ}"
    return f"none of the {len(signed)} release records signed for the image is this one"
