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

import re
import shutil
from dataclasses import dataclass

from conveyor.errors import UserError
from conveyor.tools import failure_reason, run

ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = ".github/workflows/ml-release.yml"
TRIGGER = "push"  # a release is a pushed tag; pull_request jobs may hold id-token: write too
REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
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

    def __post_init__(self) -> None:
        _repository(self.source_repository, "--source-repository")
        _repository(self.workflow_repository, "--workflow-repository")
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

    def cosign_args(self, image: str) -> list[str]:
        """The complete `cosign verify` command line for ``image`` (by digest)."""
        return [
            "cosign",
            "verify",
            *self.identity(),
            *("--certificate-oidc-issuer", ISSUER),
            *("--certificate-github-workflow-repository", self.source_repository),
            *("--certificate-github-workflow-trigger", TRIGGER),
            *("--certificate-github-workflow-ref", f"refs/tags/{self.version}"),
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
