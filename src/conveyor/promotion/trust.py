"""What a promotion checks beyond the release record's own fields: that the record is the one its
release made (its commit's verdicts, its signature), and what could not be checked."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from conveyor import signature
from conveyor.errors import UserError
from conveyor.promotion import champion
from conveyor.release import (
    Canonical,
    RecordRejectedError,
    ReleaseRecord,
    content_digest,
    on_branch,
)

__all__ = ["Trust", "branch_problems", "require_trust", "signature_problems"]


@dataclass(frozen=True)
class Trust:
    """What a promotion checks beyond the record's own fields, which anyone who can edit the
    file can rewrite and re-seal (record_digest is an unkeyed hash).

    ``commit_check``: the data and metric verdicts are re-established from the record's commit
    in the repository. ``source_repository`` (and the workflow's repository and ref): the record
    must be the one ml-release signed there (a cosign attestation on the image), which alone
    vouches for the tests and security verdicts; ``require_signature`` refuses to run without
    cosign rather than skip that check. ``canonical``: the gates file and data folder the
    verdicts are re-established from (the project's, never the ones the record names)."""

    commit_check: bool = True
    canonical: Canonical = field(default_factory=Canonical)
    source_repository: str | None = None
    workflow_repository: str | None = None
    workflow_ref: str | None = None
    require_signature: bool = False

    def signer(self, record: ReleaseRecord) -> signature.SignerPolicy | None:
        """Who may have signed ``record``'s release (None: no signer rule given)."""
        if self.source_repository is None:
            return None
        return signature.SignerPolicy(
            source_repository=self.source_repository,
            workflow_repository=self.workflow_repository or self.source_repository,
            version=record.version,
            workflow_ref=self.workflow_ref,
            commit=record.git_commit,
        )


def trust_problems(repo: Path, record: ReleaseRecord, trust: Trust) -> tuple[list[str], list[str]]:
    """(why the record is not the one its release made, what was not checked and why)."""
    found: list[str] = []
    unchecked: list[str] = []
    if trust.commit_check:
        found += champion.record_problems(record, repo, canonical=trust.canonical)
    else:
        unchecked.append(
            "data and metric verdicts NOT tied to a commit, nor the commit to the base branch, "
            "nor compared with the champion live there (--no-commit-check)"
        )
    signer = trust.signer(record)
    if signer is None:
        unchecked.append(
            "signature NOT checked (no --source-repository): the tests and security verdicts "
            "are only as trustworthy as this file"
        )
    elif not signature.cosign_available():
        command = shlex.join(signature.attestation_args(signer, record.image.reference))
        unchecked.append(f"signature NOT checked: cosign is not on PATH; run: {command}")
    else:
        reason = signature.record_check(
            signer, record.image.reference, record.model_dump(mode="json"), content_digest
        )
        if reason is not None:
            found.append(f"signature check: {reason}")
    return found, unchecked


def require_trust(repo: Path, record: ReleaseRecord, trust: Trust, origin: str) -> list[str]:
    """Refuse (exit 1, one line naming every mismatch) a record its release did not make; the
    checks that could not run, for the caller to say so."""
    if trust.require_signature and trust.source_repository is None:
        raise UserError("--require-signature needs --source-repository")
    if trust.require_signature and not signature.cosign_available():
        raise UserError("--require-signature: cosign is not on PATH (install it first)")
    found, unchecked = trust_problems(repo, record, trust)
    if found:
        raise RecordRejectedError(f"{origin}: not the record its release made: " + "; ".join(found))
    return unchecked


def branch_problems(
    record: ReleaseRecord, top: Path, branch: str, canonical: Canonical
) -> list[str]:
    """Why the record is not its commit's (made from ``canonical``'s gates and contract
    verdicts), nor a commit of ``branch``'s history, nor free of regression from the champion
    live at its tip: the rules a forward promotion holds it to (``promote.plan``)."""
    tip = champion.branch_commit(top, branch)  # a missing ref is exit 2, before any verdict
    found = champion.record_problems(record, top, branch, canonical)
    try:
        on_branch(top, record.git_commit, branch)
    except RecordRejectedError as exc:
        found.append(str(exc))
    if found:
        return found  # a record that is not its commit's: the live comparison would be noise
    try:
        regression = champion.live_regression(record, top, tip, canonical)
    except UserError as exc:  # the live champion does not stand, or no policy there
        return [str(exc)]
    return [regression] if regression else []


def signature_problems(
    record: ReleaseRecord, signer: signature.SignerPolicy
) -> tuple[list[str], str | None]:
    """(why the image's signature, or the release record ml-release attested on the image, does
    not hold under ``signer``; what was not checked, naming both commands, when cosign is not on
    PATH). The attestation is what vouches for the tests and security verdicts: they exist
    nowhere else."""
    image = record.image.reference
    command = shlex.join(signer.cosign_args(image))
    attested = shlex.join(signature.attestation_args(signer, image))
    if not signature.cosign_available():
        return [], f"signature NOT checked: cosign is not on PATH; run: {command}; and: {attested}"
    found = []
    reason = signature.check(signer, image)
    if reason is not None:
        found.append(f"signature does not verify ({reason}): {command}")
    reason = signature.record_check(signer, image, record.model_dump(mode="json"), content_digest)
    if reason is not None:
        found.append(f"release record attestation: {reason}: {attested}")
    return found, None
