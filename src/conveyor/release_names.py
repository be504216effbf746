"""What a release tag names: the version (a semver tag, checked) and the image to push."""

from __future__ import annotations

import re

from conveyor.errors import UserError

__all__ = ["release_names"]

SEMVER_TAG = re.compile(
    r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?", flags=re.ASCII
)
# A registry host as OCI references spell it (the distribution/reference grammar): DNS labels,
# an optional port. No path, no '..', no user info: the image goes where the host says.
REGISTRY = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]+)?",
    flags=re.ASCII,
)
# The repository path (lower case): components of [a-z0-9] joined by '.', '_', '__' or '-'s,
# separated by '/'. No tag and no digest: the release adds the tag, the push yields the digest.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
IMAGE_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", flags=re.ASCII)


class NotAReleaseTagError(UserError):
    """The tag is not a release tag: the release stops here (exit 1, a failed check)."""

    exit_code = 1


def release_names(tag: str, registry: str, image_name: str) -> dict[str, str]:
    """``version`` (the tag, when it is vMAJOR.MINOR.PATCH[-pre]) and ``image`` (REGISTRY/NAME,
    lower-cased: registries refuse upper case, and GitHub owners may have it). Semver build
    metadata (``+build``) is refused: the version becomes the image tag and a Kubernetes label,
    and neither may contain '+'."""
    if "+" in tag and SEMVER_TAG.fullmatch(tag.partition("+")[0]):
        raise NotAReleaseTagError(
            f"release tag '{tag}': build metadata ('+...') cannot be an image tag or a "
            "Kubernetes label; tag vMAJOR.MINOR.PATCH[-pre] (e.g. v1.2.3-rc.1)"
        )
    if not SEMVER_TAG.fullmatch(tag):
        raise NotAReleaseTagError(
            f"release tag '{tag}' is not semver (vMAJOR.MINOR.PATCH, e.g. v1.2.3)"
        )
    if not REGISTRY.fullmatch(registry):
        raise UserError(
            f"--registry '{registry}': a registry host (e.g. ghcr.io or host:5000), no path"
        )
    name = image_name.lower()
    if not IMAGE_NAME.fullmatch(name):
        raise UserError(
            f"--image-name '{image_name}': OWNER/NAME of lower-case letters, digits and "
            "'.', '_', '-' between them, no tag or digest"
        )
    return {"version": tag, "image": f"{registry.lower()}/{name}"}
