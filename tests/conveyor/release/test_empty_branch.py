"""An empty `--branch` is a ref that names nothing, never "use the default" (fifth hostile pass):
`release record --branch ''` used to fall back to origin/<base_branch> silently, as if the option
had not been given. Exit 2 naming the option; nothing written. Real git."""

from __future__ import annotations

import json

from conveyor.cli import main
from tests.promotion_repos import git


def test_release_record_with_an_empty_branch_is_a_usage_error(capsys, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "params.yaml").write_text("gates: {rules: []}\n")
    (repo / "reports" / "data").mkdir(parents=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "update-ref", "refs/remotes/origin/main", head)  # the default a fallback finds
    build = tmp_path / "build.json"
    build.write_text(json.dumps({"git_commit": head, "model_tag": "m:1", "bento_tag": "b:1"}))
    out = tmp_path / "out" / "record.json"
    out.parent.mkdir()
    code = main(
        [
            *("release", "record", "--version", "v1.0.0", "--branch", ""),
            *("--image", f"ghcr.io/acme/forecaster@sha256:{'ab' * 32}"),
            *("--repo", str(repo), "--build-json", str(build), "--out", str(out)),
            *("--params", str(repo / "params.yaml"), "--data-dir", str(repo / "reports/data")),
        ]
    )
    stdout, err = capsys.readouterr()
    assert code == 2, stdout + err
    assert err.startswith("error: --branch : no such branch or ref in ")
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
