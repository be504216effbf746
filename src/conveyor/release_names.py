"""What a release tag names: the version (a semver tag, checked) and the image to push."""

from __future__ import annotations

import re

from conveyor.errors import UserError

SEMVER_TAG = re.compile(
    r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?", flags=re.ASCII
)


class NotAReleaseTagError(UserError):
    """The tag is not a release tag: the release stops here (exit 1, a failed check)."""

    exit_code = 1


def release_names(tag: str, registry: str, image_name: str) -> dict[str, str]:
    """``version`` (the tag, when it is vMAJOR.MINOR.PATCH[-pre]) and ``image`` (REGISTRY/NAME,
    lower-cased: registries refuse upper case, and GitHub owners may have it)."""
    if not SEMVER_TAG.fullmatch(tag):
        raise NotAReleaseTagError(
            f"release tag '{tag}' is not semver (vMAJOR.MINOR.PATCH, e.g. v1.2.3)"
        )
    if not registry or not image_name or any(c.isspace() for c in registry + image_name):
        raise UserError(f"image '{registry}/{image_name}': registry and name without spaces")
    return {"version": tag, "image": f"{registry}/{image_name}".lower()}
