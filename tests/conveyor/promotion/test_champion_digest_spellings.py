"""The digest an environment deploys is found in every YAML spelling of its release component
(review, issue 14): a flow-style or quoted `digest:` renders the same image in kustomize, so it
must not read as "nothing deployed" and let the champion vanish. Real git: the component is read
as committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.promotion.champion import _deployed
from tests.promotion_repos import git

DIGEST = "sha256:" + "2485f4" + "0" * 58
PLACEHOLDER = "sha256:" + "0" * 64
SPELLINGS = {
    "block": f"images:\n- name: app\n  digest: {DIGEST}\n",
    "flow": f'images: [{{name: app, newName: ghcr.io/acme/app, digest: "{DIGEST}"}}]\n',
    "json": f'{{"images": [{{"name": "app", "digest": "{DIGEST}"}}]}}\n',
    "quoted key": f'images:\n- name: app\n  "digest": {DIGEST}\n',
}


def _component(tmp_path: Path, text: str) -> Path:
    repo = tmp_path / "repo"
    folder = repo / "deploy" / "environments" / "dev" / "release"
    folder.mkdir(parents=True)
    git(tmp_path, "init", "-q", str(repo))
    (folder / "kustomization.yaml").write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release component")
    return repo


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_every_spelling_of_a_deployed_digest_is_found(tmp_path: Path, spelling: str) -> None:
    repo = _component(tmp_path, SPELLINGS[spelling])
    assert _deployed(repo, "HEAD", "dev") == DIGEST


def test_the_placeholder_is_no_release(tmp_path: Path) -> None:
    repo = _component(tmp_path, f"images:\n- name: app\n  digest: {PLACEHOLDER}\n")
    assert _deployed(repo, "HEAD", "dev") is None
