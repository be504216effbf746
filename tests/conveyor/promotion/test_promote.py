"""Promotion, rollback and status against real git repositories: a bare remote on disk, clones that
promote, merge as a reviewed pull request would, and race. Opening the pull request itself
(`gh pr create`) needs GitHub and is the workflow's job: everything up to that call is tested."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from conveyor.cli import main
from conveyor.promotion.promote import promote
from conveyor.promotion.trust import Trust
from conveyor.promotion.verification import load_verdict
from conveyor.release import load_record
from tests.evidence_files import head, junit_report, scan_report
from tests.promotion_repos import (
    REPO,
    clone,
    digest_of,
    evidence_args,
    git,
    merge,
    passing_verdict,
    record,
    write_record,
)

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"


def _cli(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str, str]:
    repo_option = [] if args[0] == "release" else ["--repo", str(repo)]
    if args[:2] == ("release", "verify") or args[0] in ("promote", "rollback"):
        # These records name no real commit: tying verdicts to one is test_release_verdicts.py
        # and test_promote_trust.py
        repo_option += ["--no-commit-check"]
    code = main([*args, *repo_option])
    out, err = capsys.readouterr()
    return code, out, err


def _outputs(out: str) -> dict[str, str]:
    """The key=value lines of stdout; every line must be one ($GITHUB_OUTPUT's format)."""
    lines = out.splitlines()
    assert all("=" in line for line in lines), out
    return dict(line.split("=", 1) for line in lines)


def _remote_branch(origin: Path, branch: str) -> str | None:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        cwd=origin,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None


def _promote(capsys, work: Path, env: str, data: dict, *extra: str) -> tuple[int, str, str]:
    path = write_record(work.parent / f"{data['version']}-{env}.json", data)
    return _cli(capsys, work, "promote", "--env", env, "--record", str(path), *extra)


def _render(repo: Path, env: str) -> list[dict]:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(repo / "deploy" / "environments" / env)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def test_promote_writes_the_digest_and_record_on_the_env_branch(capsys, origin, work, tmp_path):
    body = tmp_path / "body.md"
    code, out, err = _promote(capsys, work, "dev", record("v1.0.0"), "--body-out", str(body))
    assert code == 0, err
    outputs = _outputs(out)
    assert outputs["branch"] == "promote/dev"
    assert outputs["changed"] == "true"
    assert _remote_branch(origin, "promote/dev") == outputs["commit"]
    # The commit sits on main and changes exactly the environment's release files.
    changed = git(work, "diff", "--name-only", "origin/main", outputs["commit"]).splitlines()
    assert sorted(changed) == [
        "deploy/environments/dev/release.json",
        "deploy/environments/dev/release/kustomization.yaml",
    ]
    assert git(work, "rev-parse", f"{outputs['commit']}^") == git(work, "rev-parse", "origin/main")
    message = git(work, "log", "-1", "--format=%B", outputs["commit"])
    assert f"Image-Digest: {digest_of('v1.0.0')}" in message
    # What Argo CD would apply: the image by digest, the version label, the dev namespace.
    checkout = clone(origin, tmp_path / "view")
    git(checkout, "checkout", "--quiet", "promote/dev")
    docs = _render(checkout, "dev")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/your-org/conveyor-forecaster@{digest_of('v1.0.0')}"
    assert deployment["spec"]["template"]["metadata"]["labels"]["version"] == "v1.0.0"
    assert deployment["metadata"]["namespace"] == "conveyor-dev"
    assert load_record(checkout / "deploy/environments/dev/release.json").version == "v1.0.0"
    # The PR body carries the evidence.
    text = body.read_text()
    assert "promotes **dev** to **v1.0.0**" in text
    assert "| metrics | ✅ passed |" in text
    assert "first" in text
    # The user's own checkout was not touched.
    assert git(work, "status", "--porcelain") == ""


def test_promoting_again_changes_nothing(capsys, origin, work):
    assert _promote(capsys, work, "dev", record("v1.0.0"))[0] == 0
    before = _remote_branch(origin, "promote/dev")
    code, out, err = _promote(capsys, work, "dev", record("v1.0.0"))
    assert code == 0
    assert "already pending on promote/dev" in err
    assert _outputs(out)["changed"] == "false"
    assert _remote_branch(origin, "promote/dev") == before
    merge(work, "dev")
    code, out, err = _promote(capsys, work, "dev", record("v1.0.0"))
    assert code == 0
    assert "already live in dev" in err
    assert _outputs(out)["changed"] == "false"


def test_staging_needs_the_digest_live_in_dev_first(capsys, origin, work):
    code, _, err = _promote(capsys, work, "staging", record("v1.0.0"))
    assert code == 1
    assert "staging needs v1.0.0" in err
    assert "live in dev first" in err
    assert _remote_branch(origin, "promote/staging") is None
    _promote(capsys, work, "dev", record("v1.0.0"))
    merge(work, "dev")
    code, out, err = _promote(capsys, work, "staging", record("v1.0.0"))
    assert code == 0, err
    assert _outputs(out)["branch"] == "promote/staging"


def test_prod_waits_for_the_staging_soak_time(capsys, origin, work):
    _promote(capsys, work, "dev", record("v1.0.0"))
    merge(work, "dev", days_ago=3)
    _promote(capsys, work, "staging", record("v1.0.0"))
    merge(work, "staging", days_ago=0.5)  # live in staging for 12 h of the 24 h soak
    code, _, err = _promote(capsys, work, "prod", record("v1.0.0"))
    assert code == 1
    assert "for 12.0 h of the 24 h soak prod requires" in err
    assert _remote_branch(origin, "promote/prod") is None
    later = datetime.now(UTC) + timedelta(hours=13)
    outcome = promote(
        work,
        "prod",
        load_record(work.parent / "v1.0.0-prod.json"),
        now=later,
        trust=Trust(commit_check=False),
        verdict=load_verdict(passing_verdict(work, "staging", checked_at=later)),
    )
    assert outcome.changed
    assert _remote_branch(origin, "promote/prod") == outcome.commit


def test_the_soak_clock_starts_at_the_merge_not_at_the_branch(capsys, origin, work):
    _promote(capsys, work, "dev", record("v1.0.0"))
    merge(work, "dev", days_ago=3)
    _promote(capsys, work, "staging", record("v1.0.0"))
    # The promotion branch was written 3 days ago, but merged (live) only now.
    merge(work, "staging", days_ago=0)
    code, _, err = _promote(capsys, work, "prod", record("v1.0.0"))
    assert code == 1
    assert "for 0.0 h of the 24 h soak" in err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"passed": False}, "gate 'metrics' did not pass: 1 of 14 rules failed"),
        ({"registry": "docker.io/someone/forecaster"}, "registry not allowed"),
        ({"registry": "ghcr.io/someone-else/conveyor-forecaster"}, "registry not allowed"),
    ],
)
def test_a_record_that_may_not_ship_is_refused(capsys, origin, work, change, expected):
    code, _, err = _promote(capsys, work, "dev", record("v1.0.0", **change))
    assert code == 1
    assert expected in err
    assert _remote_branch(origin, "promote/dev") is None
    assert git(work, "branch", "--list", "promote/dev") == ""


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda r: r["image"].update(digest="sha256:abc"), "image.digest: Value error, must be"),
        (lambda r: r.update(sbom_digest="md5:abc"), "sbom_digest: Value error, must be sha256:"),
        (
            lambda r: r["image"].update(reference="ghcr.io/acme/app:v1@" + r["image"]["digest"]),
            "carries a tag as well as a digest",
        ),
        (lambda r: r["gates"].pop("security"), "gate 'security' is missing"),
        (lambda r: r.update(git_commit="main"), "git_commit: Value error, must be a full 40-hex"),
        (lambda r: r.update(schema_version=2), "schema_version: Input should be 1"),
        (lambda r: r.update(surprise=1), "surprise: Extra inputs are not permitted"),
    ],
)
def test_verify_names_what_is_wrong(capsys, tmp_path, mangle, expected):
    data = record("v1.0.0")
    mangle(data)
    path = write_record(tmp_path / "record.json", data)
    code, _, err = _cli(capsys, tmp_path, "release", "verify", str(path))
    assert code == 1
    assert expected in err
    assert "Traceback" not in err


def test_verify_accepts_a_good_record_and_rejects_bad_files(capsys, tmp_path):
    good = write_record(tmp_path / "good.json", record("v1.0.0"))
    code, out, _ = _cli(capsys, tmp_path, "release", "verify", str(good))
    assert code == 0
    assert "v1.0.0" in out
    assert "every gate passed" in out
    assert "  metrics: ok" in out
    (tmp_path / "broken.json").write_text("{not json")
    code, _, err = _cli(capsys, tmp_path, "release", "verify", str(tmp_path / "broken.json"))
    assert code == 2  # not a record at all: a usage error, not a gate that failed
    assert "(release record): not valid JSON (line 1" in err
    code, _, err = _cli(capsys, tmp_path, "release", "verify", str(tmp_path / "missing.json"))
    assert code == 2
    assert "(release record): file not found" in err
    code, _, err = _cli(capsys, tmp_path, "release", "verify", str(tmp_path))
    assert code == 2
    assert "(release record): is a folder, not a file" in err
    (tmp_path / "latin1.json").write_bytes(b'{"version": "caf\xe9"}')
    code, _, err = _cli(capsys, tmp_path, "release", "verify", str(tmp_path / "latin1.json"))
    assert code == 2
    assert "not UTF-8" in err


@pytest.mark.parametrize("version", ["v4.0.0+build.7", "v1\nbranch=main", "", "v" + "1" * 63])
def test_a_version_that_cannot_be_a_label_is_refused(capsys, tmp_path, version):
    data = record("v1.0.0")
    data["version"] = version
    path = write_record(tmp_path / "record.json", data)
    code, _, err = _cli(capsys, tmp_path, "release", "verify", str(path))
    assert code == 1
    assert "version:" in err
    assert len(err.strip().splitlines()) == 1


def test_a_tag_only_image_gets_the_digest_hint(capsys, tmp_path):
    code, _, err = _cli(
        capsys,
        tmp_path,
        "release",
        "record",
        "--version",
        "v1.4.0",
        "--image",
        "ghcr.io/your-org/conveyor-forecaster:v1.4.0",
        "--out",
        str(tmp_path / "r.json"),
    )
    assert code == 2
    assert "must be REGISTRY/NAME@sha256:DIGEST" in err
    assert not (tmp_path / "r.json").exists()


def test_a_newer_pending_promotion_is_not_replaced_by_an_older_one(capsys, origin, work, tmp_path):
    body = tmp_path / "body.md"
    _promote(capsys, work, "dev", record("v2.0.0", created_days_ago=1))
    pending = _remote_branch(origin, "promote/dev")
    code, _, err = _promote(capsys, work, "dev", record("v1.0.0", created_days_ago=2))
    assert code == 1
    assert "promote/dev carries v2.0.0, newer than v1.0.0" in err
    assert _remote_branch(origin, "promote/dev") == pending
    code, _, err = _promote(
        capsys, work, "dev", record("v3.0.0", created_days_ago=0), "--body-out", str(body)
    )
    assert code == 0, err
    assert "replaces the pending promotion of v2.0.0" in body.read_text()
    # One PR per environment, updated in place by a fast-forward: v2's commit, then v3's.
    subjects = git(work, "log", "--format=%s", "origin/main..origin/promote/dev").splitlines()
    assert [s.split(" @ ")[0] for s in subjects] == [
        "Promote dev to v3.0.0",
        "Promote dev to v2.0.0",
    ]


def _install_racing_hook(racer_clone: Path, racer_record: Path, victim: Path) -> Path:
    """A pre-push hook in ``victim`` that, on its first push only, lets ``racer_clone`` promote
    to the same branch: the victim's push then meets a branch that moved after it looked."""
    marker = victim.parent / "raced"
    hook = victim / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        f'[ -e "{marker}" ] && exit 0\n'
        f'touch "{marker}"\n'
        f'cd "{racer_clone}" && "{CONVEYOR}" promote --env dev --record "{racer_record}" \\\n'
        "  --no-commit-check >/dev/null\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    return marker


def test_racing_promotions_lose_nothing_older_one_is_replaced(capsys, origin, work, tmp_path):
    racer = clone(origin, tmp_path / "racer")
    racer_record = write_record(tmp_path / "v2.json", record("v2.0.0", created_days_ago=2))
    marker = _install_racing_hook(racer, racer_record, work)
    body = tmp_path / "body.md"
    code, out, err = _promote(
        capsys, work, "dev", record("v3.0.0", created_days_ago=1), "--body-out", str(body)
    )
    assert code == 0, err
    assert marker.exists()  # the race really happened
    head = _remote_branch(origin, "promote/dev")
    assert head == _outputs(out)["commit"]
    assert load_record_at(origin, head).version == "v3.0.0"
    # The racer's promotion is not lost silently: the PR says what it replaced.
    assert "replaces the pending promotion of v2.0.0" in body.read_text()


def test_racing_promotions_lose_nothing_newer_one_stays(capsys, origin, work, tmp_path):
    racer = clone(origin, tmp_path / "racer")
    racer_record = write_record(tmp_path / "v4.json", record("v4.0.0", created_days_ago=0))
    _install_racing_hook(racer, racer_record, work)
    code, _, err = _promote(capsys, work, "dev", record("v3.0.0", created_days_ago=1))
    assert code == 1
    assert "promote/dev carries v4.0.0, newer than v3.0.0" in err
    assert load_record_at(origin, _remote_branch(origin, "promote/dev")).version == "v4.0.0"


def load_record_at(origin: Path, commit: str | None) -> object:
    assert commit is not None
    text = git(origin, "show", f"{commit}:deploy/environments/dev/release.json")
    from conveyor.release import parse_record

    return parse_record(json.loads(text), commit)


def test_rollback_restores_the_previous_release(capsys, origin, work, tmp_path):
    for version in ("v1.0.0", "v2.0.0"):
        _promote(capsys, work, "dev", record(version))
        merge(work, "dev")
    body = tmp_path / "body.md"
    code, out, err = _cli(capsys, work, "rollback", "--env", "dev", "--body-out", str(body))
    assert code == 0, err
    outputs = _outputs(out)
    assert outputs["title"].startswith("Roll back dev to v1.0.0")
    assert "(was v2.0.0)" in outputs["title"]
    text = body.read_text()
    assert "rolls back **dev** to **v1.0.0**" in text
    assert "| model | `demand_forecaster:v200` | `demand_forecaster:v100` |" in text
    assert "| data (md5) | `" + "d" * 32 + "` | `" + "d" * 32 + "` (unchanged) |" in text
    assert load_record_at(origin, _remote_branch(origin, "promote/dev")).version == "v1.0.0"
    merge(work, "dev")
    code, out, _ = _cli(capsys, work, "status", "--ref", "origin/main", "--json")
    dev = next(row for row in json.loads(out) if row["environment"] == "dev")
    assert dev["version"] == "v1.0.0"
    # --to names any release the environment has run.
    code, out, err = _cli(capsys, work, "rollback", "--env", "dev", "--to", "v2.0.0")
    assert code == 0, err
    assert "Roll back dev to v2.0.0" in _outputs(out)["title"]


def test_rollback_without_history_or_to_an_unknown_version_fails_clearly(capsys, origin, work):
    code, _, err = _cli(capsys, work, "rollback", "--env", "dev")
    assert code == 2
    assert "dev has no release in its history" in err
    _promote(capsys, work, "dev", record("v1.0.0"))
    merge(work, "dev")
    code, _, err = _cli(capsys, work, "rollback", "--env", "dev")
    assert code == 2
    assert "dev has had only v1.0.0: nothing earlier to roll back to" in err
    code, _, err = _cli(capsys, work, "rollback", "--env", "dev", "--to", "v0.9.0")
    assert code == 2
    assert "'v0.9.0' was never live in dev (its history has: v1.0.0)" in err
    assert _remote_branch(origin, "promote/dev") == git(work, "rev-parse", "origin/promote/dev")


def test_status_shows_live_and_pending_releases(capsys, origin, work):
    _promote(capsys, work, "dev", record("v1.0.0"))
    merge(work, "dev")
    _promote(capsys, work, "dev", record("v2.0.0"))
    git(work, "fetch", "--quiet", "origin")
    code, out, _ = _cli(capsys, work, "status", "--ref", "origin/main")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ENVIRONMENT", "VERSION", "DIGEST"]
    dev = lines[1].split()
    assert dev[:3] == ["dev", "v1.0.0", digest_of("v1.0.0")[7:19]]
    assert dev[-1] == "v2.0.0"  # pending on promote/dev
    assert lines[2].split()[:2] == ["staging", "-"]
    code, out, _ = _cli(capsys, work, "status", "--ref", "origin/main", "--json")
    rows = json.loads(out)
    assert [row["environment"] for row in rows] == ["dev", "staging", "prod"]
    assert rows[0]["commit"] == git(work, "rev-parse", "origin/main")
    assert rows[0]["image"].endswith(digest_of("v1.0.0"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("promote", "--env", "qa", "--record", "{work}/r.json"), "unknown environment 'qa'"),
        (
            ("promote", "--env", "dev", "--record", "missing.json"),
            "(release record): file not found",
        ),
        (("status", "--ref", "no-such-ref"), "'no-such-ref' is not a git revision"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, origin, work, args, expected):
    write_record(work / "r.json", record("v1.0.0"))
    code, _, err = _cli(capsys, work, *(arg.format(work=work) for arg in args))
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert _remote_branch(origin, "promote/qa") is None


def snapshot(work: Path, origin: Path) -> tuple[str, ...]:
    """Every ref and the working tree state of the clone, and every ref of the remote."""
    return (
        git(work, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"),
        git(work, "rev-parse", "HEAD"),
        git(work, "status", "--porcelain", "--untracked-files=all"),
        git(work, "worktree", "list", "--porcelain"),
        git(origin, "for-each-ref", "--format=%(refname) %(objectname)"),
    )


def _live_in(work: Path, *pairs: tuple[str, str, float]) -> None:
    for version, env, days_ago in pairs:
        path = write_record(work.parent / f"{version}-{env}.json", record(version))
        args = ["promote", "--env", env, "--record", str(path), "--repo", str(work)]
        if env == "prod":  # the policy requires staging's live verification of the release
            args += ["--verification", str(passing_verdict(work, "staging"))]
        assert main([*args, "--no-commit-check"]) == 0
        merge(work, env, days_ago=days_ago)


def _tampered(data: dict) -> dict:
    data["model_tag"] = "demand_forecaster:someotherone"  # after the record was sealed
    return data


BAD_PROMOTIONS = {
    "failed gate": (lambda: record("v2.0.0", passed=False), "prod", 1, "did not pass"),
    "digest not sha256 + 64 hex": (
        lambda: {
            **record("v2.0.0"),
            "image": {"reference": "ghcr.io/a/b@sha256:12", "digest": "sha256:12"},
        },
        "dev",
        1,
        "image.digest",
    ),
    "tag-only image": (
        lambda: {**record("v2.0.0"), "image": {"reference": "ghcr.io/a/b:v2", "digest": "v2"}},
        "dev",
        1,
        "image.digest",
    ),
    "tampered record": (
        lambda: _tampered(record("v2.0.0")),
        "dev",
        1,
        "changed after it was written",
    ),
    "prod before staging ran it": (lambda: record("v2.0.0"), "prod", 1, "live in staging first"),
    "unknown environment": (lambda: record("v2.0.0"), "qa", 2, "unknown environment 'qa'"),
}


@pytest.mark.parametrize("case", BAD_PROMOTIONS)
def test_bad_promotions_change_nothing(capsys, origin, work, case):
    _live_in(work, ("v1.0.0", "dev", 3), ("v1.0.0", "staging", 2), ("v1.0.0", "prod", 1))
    capsys.readouterr()
    make, env, expected_code, expected = BAD_PROMOTIONS[case]
    path = write_record(work.parent / "bad.json", make())
    before = snapshot(work, origin)
    code, _, err = _cli(capsys, work, "promote", "--env", env, "--record", str(path))
    assert code == expected_code
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(work, origin) == before


def test_a_dirty_working_tree_is_refused(capsys, origin, work):
    policy = work / "policies" / "promotion.yaml"
    policy.write_text(policy.read_text().replace("soak_hours: 24", "soak_hours: 0"))
    before = snapshot(work, origin)
    code, _, err = _promote(capsys, work, "dev", record("v1.0.0"))
    assert code == 2
    assert "uncommitted changes (M policies/promotion.yaml)" in err
    assert snapshot(work, origin) == before


def test_the_policy_on_the_base_branch_rules_and_a_broken_one_is_named(capsys, origin, work):
    policy = work / "policies" / "promotion.yaml"
    policy.write_text(policy.read_text().replace("requires: dev", "requires: qa"))
    git(work, "commit", "--quiet", "-am", "break the policy")
    # Committed locally only: main on the remote still has the reviewed policy, which rules.
    code, _, err = _promote(capsys, work, "staging", record("v1.0.0"))
    assert code == 1
    assert "live in dev first" in err
    git(work, "push", "--quiet", "origin", "main")
    before = snapshot(work, origin)
    code, _, err = _promote(capsys, work, "staging", record("v1.0.0"))
    assert code == 2
    assert "policies/promotion.yaml" in err
    assert "requires unknown 'qa'" in err
    assert snapshot(work, origin) == before


def test_a_remote_that_refuses_to_rewrite_the_branch_is_reported(capsys, origin, work):
    _promote(capsys, work, "dev", record("v1.0.0", created_days_ago=2))
    # main moves on, so the pending branch is stale and must be rebuilt: a non-fast-forward push.
    (work / "NOTES.md").write_text("moved on\n")
    git(work, "add", "NOTES.md")
    git(work, "commit", "--quiet", "-m", "unrelated change")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    git(origin, "config", "receive.denyNonFastForwards", "true")
    before = snapshot(work, origin)
    code, _, err = _promote(capsys, work, "dev", record("v2.0.0", created_days_ago=1))
    assert code == 2
    assert "origin refused the push of promote/dev" in err
    assert "non-fast-forward" in err
    assert snapshot(work, origin) == before


def test_release_to_prod_and_back(capsys, origin, work, tmp_path):
    """The acceptance run: record -> dev -> staging -> prod (soak met by commit dates) -> rollback
    prod; after each step the overlay, release.json, status and the remote branch agree."""
    evidence = _evidence(tmp_path)
    records = {}
    for version in ("v1.0.0", "v2.0.0"):
        out = tmp_path / f"{version}.json"
        code, _, err = _cli(
            capsys,
            work,
            "release",
            "record",
            "--version",
            version,
            "--image",
            f"ghcr.io/your-org/conveyor-forecaster@{digest_of(version)}",
            *evidence,
            "--out",
            str(out),
        )
        assert code == 0, err
        records[version] = out
    view = clone(origin, tmp_path / "view")

    def step(command: list[str], env: str, version: str, days_ago: float) -> None:
        body = tmp_path / f"{env}-{version}.md"
        code, out, err = _cli(capsys, work, *command, "--env", env, "--body-out", str(body))
        assert code == 0, err
        assert _outputs(out)["changed"] == "true"
        assert version in body.read_text()
        git(view, "fetch", "--quiet", "origin")
        git(view, "checkout", "--quiet", "--detach", f"origin/promote/{env}")
        image = next(d for d in _render(view, env) if d["kind"] == "Deployment")
        container = image["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].endswith(f"@{digest_of(version)}")
        assert load_record(view / f"deploy/environments/{env}/release.json").version == version
        merge(work, env, days_ago=days_ago)
        code, out, _ = _cli(capsys, work, "status", "--ref", "origin/main", "--json")
        row = next(r for r in json.loads(out) if r["environment"] == env)
        assert (row["version"], row["digest"]) == (version, digest_of(version))

    for version, base_age in (("v1.0.0", 10), ("v2.0.0", 5)):
        record_args = ["promote", "--record", str(records[version])]
        step(record_args, "dev", version, base_age)
        step(record_args, "staging", version, base_age - 1)
        verified = ["--verification", str(passing_verdict(work, "staging"))]
        step([*record_args, *verified], "prod", version, base_age - 2)
    step(["rollback"], "prod", "v1.0.0", 0)
    code, out, _ = _cli(capsys, work, "status", "--ref", "origin/main")
    table = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert table["prod"][1] == "v1.0.0"
    assert table["staging"][1] == "v2.0.0"


def _evidence(tmp_path: Path) -> list[str]:
    """The gate verdicts a release job has at hand: the repository's own data and metric
    verdicts, a pytest JUnit report, a clean scan, and the build's record."""
    junit = junit_report(tmp_path / "junit.xml", head(REPO))
    scan = scan_report(tmp_path / "scan.json", head(REPO))
    build = tmp_path / "build.json"
    build.write_text(
        json.dumps(
            {
                "bento_tag": "demand_forecaster:abc123",
                "model_tag": "demand_forecaster:f6e2787ed0d1d0a96b00",
                "git_commit": git(REPO, "rev-parse", "HEAD"),  # the record is made at HEAD
                "data_md5": "e" * 32,
            }
        )
    )
    return [*evidence_args(build, junit), "--scan-json", str(scan)]


def test_a_pending_promotion_still_says_what_its_pull_request_is(capsys, origin, work, tmp_path):
    """A re-run after `gh pr create` failed must be able to open the PR: title and body again."""
    _promote(capsys, work, "dev", record("v1.0.0"))
    body = tmp_path / "again.md"
    code, out, err = _promote(capsys, work, "dev", record("v1.0.0"), "--body-out", str(body))
    assert code == 0, err
    outputs = _outputs(out)
    assert (outputs["changed"], outputs["pull_request"]) == ("false", "true")
    assert outputs["title"].startswith("Promote dev to v1.0.0")
    assert "promotes **dev** to **v1.0.0**" in body.read_text()
    merge(work, "dev")
    code, out, _ = _promote(capsys, work, "dev", record("v1.0.0"))
    assert _outputs(out)["pull_request"] == "false"  # live: nothing to propose


def test_a_merged_branch_is_not_a_pending_promotion(capsys, origin, work, tmp_path):
    """GitHub keeps a merged PR's branch: the next PR must not claim to replace what is live."""
    _promote(capsys, work, "dev", record("v1.0.0", created_days_ago=3))
    merge(work, "dev")
    body = tmp_path / "body.md"
    older_than_live = record("v0.9.0", created_days_ago=9)
    # Not refused as "older than the pending one": the branch holds only what is live.
    code, _, err = _promote(capsys, work, "dev", older_than_live, "--body-out", str(body))
    assert code == 0, err
    assert "replaces the pending promotion" not in body.read_text()


def test_rolling_back_twice_does_not_bring_back_the_bad_release(capsys, origin, work):
    for version in ("v1.0.0", "v2.0.0", "v3.0.0"):
        _promote(capsys, work, "dev", record(version))
        merge(work, "dev")
    code, out, err = _cli(capsys, work, "rollback", "--env", "dev")  # v3 is bad: back to v2
    assert code == 0, err
    assert "Roll back dev to v2.0.0" in _outputs(out)["title"]
    merge(work, "dev")
    code, out, err = _cli(capsys, work, "rollback", "--env", "dev")  # v2 too: back to v1
    assert code == 0, err
    assert "Roll back dev to v1.0.0" in _outputs(out)["title"]
    merge(work, "dev")
    code, _, err = _cli(capsys, work, "rollback", "--env", "dev")
    assert code == 2
    assert "every earlier release of dev was rolled back from (v2.0.0, v3.0.0)" in err
    code, out, err = _cli(capsys, work, "rollback", "--env", "dev", "--to", "v3.0.0")
    assert code == 0, err  # named on purpose: allowed


def test_no_push_commits_locally_and_never_moves_a_checked_out_branch(capsys, origin, work):
    code, out, err = _promote(capsys, work, "dev", record("v1.0.0"), "--no-push")
    assert code == 0, err
    assert _remote_branch(origin, "promote/dev") is None
    assert git(work, "rev-parse", "promote/dev") == _outputs(out)["commit"]
    git(work, "checkout", "--quiet", "promote/dev")
    before = snapshot(work, origin)
    code, _, err = _promote(capsys, work, "dev", record("v2.0.0"), "--no-push")
    assert code == 2
    assert "promote/dev is checked out here" in err
    assert snapshot(work, origin) == before
    # Pushing never touches local branches, so the same checkout can promote.
    code, out, err = _promote(capsys, work, "dev", record("v2.0.0"))
    assert code == 0, err
    assert _remote_branch(origin, "promote/dev") == _outputs(out)["commit"]
    assert git(work, "rev-parse", "HEAD") == before[1]


def test_in_github_actions_the_body_links_the_run_and_commits(capsys, origin, work, monkeypatch):
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/conveyor")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    body = work.parent / "body.md"
    code, _, err = _promote(capsys, work, "dev", record("v1.0.0"), "--body-out", str(body))
    assert code == 0, err
    text = body.read_text()
    assert "[4242](https://github.com/acme/conveyor/actions/runs/4242)" in text
    assert f"(https://github.com/acme/conveyor/commit/{'1' * 40})" in text
