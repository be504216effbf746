"""Issue 14, holes a hostile review found in promotion and `release verify` (rev14 repros):

- a genuine record made before a better release went live was promoted over it: a forward
  promotion now re-checks the record's metric gate against the champion live at the fetched
  base tip, and refuses a regression (a rollback restores an earlier release on purpose: exempt);
- the record chose which gates file (inputs.params) and data folder (inputs.folder) its verdicts
  were re-established from: a side file with looser gates passed. Only the project's (--params,
  --data-dir, default params.yaml and reports/data) count;
- a revoked GH_TOKEN was never checked: the branch was pushed, then gh failed.

Real git, DVC and pipeline; the real `conveyor` command; a recording `gh` stand-in (GitHub
cannot run here).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.promotion import champion
from conveyor.release import ReleaseRecord, build_record, seal, write_record
from tests.conveyor.cli.test_usage_before_work import _run
from tests.conveyor.promotion.test_promote_hostile_values import _live_in_dev, _state
from tests.conveyor.release.test_release_baseline import (  # noqa: F401
    GATES,
    _model,
    _record,
    promote_record,
    repo,
)
from tests.conveyor.release.test_release_verdicts import (
    IMAGE,
    build_json,
    cli,
    commit,
    evidence,
    run,
    template,  # noqa: F401 - a fixture, used by name
)
from tests.gh_stub import GhStub
from tests.promotion_repos import IDENTITY, REPO, git

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

# --- 1: a record made before a better champion went live ---------------------------------------


@pytest.fixture
def released(capsys, template: Path, tmp_path: Path) -> dict[str, Path]:  # noqa: F811
    """A project with a remote: v1.0.0 (wape 0.4) live in dev, then v1.1.0 (0.3), v1.2.0 (0.41,
    within 0.02 of v1.0.0: its genuine release passed) and v1.3.0 (0.31) released, and v1.1.0's
    promotion merged into dev. Returns the checkout, origin and each release's record."""
    work = tmp_path / "work"
    shutil.copytree(template, work, symlinks=True)
    shutil.copytree(REPO / "deploy", work / "deploy")
    params = work / "params.yaml"
    text = params.read_text()
    params.write_text(text[: text.index("gates:")] + GATES)
    commit(work, "environments + regression rule")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    git(work, "remote", "add", "origin", str(origin))

    def publish() -> None:
        git(work, "push", "--quiet", "origin", "main")
        git(work, "fetch", "--quiet", "origin")

    def release(version: str, digest: str) -> Path:
        where = tmp_path / version
        where.mkdir()
        out = where / "record.json"
        code, o, e = cli(
            capsys, "release", "record", "--version", version,
            "--image", f"ghcr.io/your-org/forecaster@sha256:{digest * 32}",
            "--build-json", str(build_json(work, where)), "--repo", str(work),
            "--data-dir", str(work / "reports/data"), "--params", str(params),
            "--out", str(out), *evidence(where, work),
        )  # fmt: skip
        assert code == 0, o + e
        return out

    def model(wape: str, message: str) -> None:
        text = params.read_text()
        start = text.index("wape: ") + len("wape: ")
        params.write_text(text[:start] + wape + text[text.index("\n", start) :])
        run(work, sys.executable, "-m", "dvc", "repro", "-q")
        commit(work, message)
        publish()

    publish()
    v10 = release("v1.0.0", "a1")
    promote_record(work, v10, "dev")
    publish()
    model("0.3", "a better model")
    v11 = release("v1.1.0", "b2")
    model("0.41", "slightly worse than v1.0.0, much worse than v1.1.0")
    v12 = release("v1.2.0", "c3")
    model("0.31", "within 0.02 of v1.1.0")
    v13 = release("v1.3.0", "d4")
    promote_record(work, v11, "dev")  # v1.1.0's pull request merged
    publish()
    return {"work": work, "origin": origin, "v1.0.0": v10, "v1.2.0": v12, "v1.3.0": v13}


def _conveyor(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_record_older_than_the_live_champion_is_not_promoted_over_it(capsys, released):
    work, origin, v12 = released["work"], released["origin"], released["v1.2.0"]
    refs = git(origin, "for-each-ref", "--format=%(refname)")
    code, out, err = _conveyor(
        capsys, "promote", "--env", "dev", "--record", str(v12), "--repo", str(work)
    )
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    # One line naming the record, the champion and the rule it breaks.
    assert last.startswith("error: v1.2.0 regresses from the champion, previous release v1.1.0")
    assert "live in dev" in last
    assert "model.wape" in last
    assert out == ""
    assert git(origin, "for-each-ref", "--format=%(refname)") == refs  # no promote/dev pushed


def test_a_rollback_may_restore_a_worse_release(capsys, released):
    """A rollback restores an earlier release on purpose: v1.0.0 is worse than the live v1.1.0
    (0.4 against 0.3), and is restored all the same."""
    work, origin, v10 = released["work"], released["origin"], released["v1.0.0"]
    code, out, err = _conveyor(capsys, "rollback", "--env", "dev", "--repo", str(work))
    assert code == 0, err
    assert "changed=true" in out
    pushed = git(origin, "show", "promote/dev:deploy/environments/dev/release.json")
    assert json.loads(pushed)["version"] == "v1.0.0"
    assert json.loads(pushed)["image"]["digest"] == json.loads(v10.read_text())["image"]["digest"]


def test_a_record_older_than_the_champion_that_does_not_regress_goes_through(capsys, released):
    """The check refuses regressions only: v1.3.0 was also released against v1.0.0, and is
    within the rule's 0.02 of the live v1.1.0 (0.31 against 0.3)."""
    work, origin, v13 = released["work"], released["origin"], released["v1.3.0"]
    code, out, err = _conveyor(
        capsys, "promote", "--env", "dev", "--record", str(v13), "--repo", str(work)
    )
    assert code == 0, err
    assert "changed=true" in out
    pushed = git(origin, "show", "promote/dev:deploy/environments/dev/release.json")
    assert json.loads(pushed)["version"] == "v1.3.0"


# --- 2: the record does not choose its own gates file or data folder ---------------------------


def test_a_record_naming_its_own_gates_file_is_refused(capsys, repo, tmp_path):  # noqa: F811
    """loose.yaml (not CODEOWNED, unlike params.yaml) has no regression rule. `release record
    --params loose.yaml` is refused (the champion was not made from it either), and a record
    made from it as the command did before (the library, the champion read from params.yaml)
    does not verify: the record does not choose the rules it is checked against."""
    (repo / "loose.yaml").write_text(
        "gates:\n  rules:\n    - metric: metrics/metrics.json:model.wape\n      better: lower\n"
        "      max: 0.9\n"
    )
    commit(repo, "add experiment settings")
    _model(repo, 0.49, "much worse model")
    code, out, err, _ = _record(capsys, repo, tmp_path / "genuine", "v1.1.0")
    assert code == 1, out + err  # the project's gates refuse it
    where = tmp_path / "loose"
    where.mkdir()
    loose = where / "record.json"
    code, out, err = cli(
        capsys, "release", "record", "--version", "v1.1.0", "--image", IMAGE,
        "--build-json", str(build_json(repo, where)), "--repo", str(repo),
        "--data-dir", str(repo / "reports/data"), "--params", str(repo / "loose.yaml"),
        "--out", str(loose), *evidence(where, repo), "--branch", "main",
    )  # fmt: skip
    assert code == 1
    assert "the champion (v1.0.0) does not stand" in err
    assert "evaluated from 'params.yaml', not from 'loose.yaml'" in err
    assert not loose.exists()
    forged = build_record(
        version="v1.1.0", image=IMAGE, build_json=build_json(repo, where), repo=repo,
        params=Path("loose.yaml"), data_dir=Path("reports/data"), gates={},
        baseline=lambda top: champion.baseline_at(top, champion.branch_commit(top, "main")),
    )  # fmt: skip
    assert forged.gates["metrics"].passed  # what the forger gets: a sealed, passing record
    write_record(forged, loose)
    code, out, err = cli(capsys, "release", "verify", str(loose), "--repo", str(repo))
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "gate 'metrics' was evaluated from 'loose.yaml', not from 'params.yaml'" in err
    assert "--params" in err


def test_a_record_naming_another_data_folder_is_refused(capsys, repo, tmp_path):  # noqa: F811
    _model(repo, 0.41, "ok model")
    code, out, err, path = _record(capsys, repo, tmp_path / "r", "v1.1.0")
    assert code == 0, out + err
    code, out, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 0, err  # the genuine record verifies
    data = json.loads(path.read_text())
    data["gates"]["data"]["inputs"]["folder"] = "elsewhere/data"
    path.write_text(json.dumps(seal(ReleaseRecord.model_validate(data)).model_dump(mode="json")))
    code, out, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 1
    assert "gate 'data' was evaluated from 'elsewhere/data', not from 'reports/data'" in err
    assert "--data-dir" in err
    assert len(err.strip().splitlines()) == 1


# --- 3: a token gh rejects is found before any ref moves ---------------------------------------

REJECTED = "X Failed to log in to github.com using token (GH_TOKEN)"


def test_a_revoked_token_is_refused_before_any_ref_moves(tmp_path, origin, work):
    good = _live_in_dev(work, tmp_path)
    gh = GhStub(tmp_path / "gh", {"auth status": {"exit": 1, "stderr": REJECTED}, "pr list": ""})
    secret = "-".join(["revoked", "token", "value"])  # built here: no secret-shaped literal
    before = _state(tmp_path, work, origin)
    result = _run(
        work, "promote", "--env", "staging", "--record", str(good), "--no-commit-check",
        "--pull-request", PATH=gh.env()["PATH"], GH_TOKEN=secret, **IDENTITY,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --pull-request: gh rejects the token in GH_TOKEN ({REJECTED}): set a valid "
        "token (repo and pull-request write access)"
    )
    assert "Traceback" not in result.stderr
    assert secret not in result.stdout + result.stderr
    assert gh.calls() == [["auth", "status"]]  # asked with the token, nothing after it
    after = _state(tmp_path, work, origin)
    assert after[1:] == before[1:]  # no promote/staging, here or on origin


# --- 4: a champion that vanished is refused, never "no previous release" ------------------------


def test_a_deployed_environment_without_its_record_is_refused(capsys, repo, tmp_path):  # noqa: F811
    """dev deploys v1.0.0's digest (its release component, as a merged promotion leaves it); a
    commit drops only release.json. The next release must not read "no previous release"."""
    live = json.loads((repo / "deploy/environments/dev/release.json").read_text())
    component = repo / "deploy/environments/dev/release/kustomization.yaml"
    component.parent.mkdir(parents=True, exist_ok=True)
    text = (REPO / "deploy/environments/dev/release/kustomization.yaml").read_text()
    component.write_text(text.replace("sha256:" + "0" * 64, live["image"]["digest"]))
    commit(repo, "dev runs v1.0.0")
    run(repo, "git", "rm", "-q", "deploy/environments/dev/release.json")
    tip = commit(repo, "tidy: drop stale evidence file")
    _model(repo, 0.49, "much worse model")
    code, out, err, path = _record(capsys, repo, tmp_path / "r", "v1.1.0")
    assert code == 1, out + err
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    assert err.strip() == (
        f"error: deploy/environments/dev at {head[:12]} deploys {live['image']['digest'][:19]} "
        "but has no release.json: the champion's evidence is gone (restore it, or promote a "
        "release there), so no release can be compared with it"
    )
    assert head != tip and not path.exists()


def test_an_environment_dropped_from_the_policy_is_refused(capsys, repo, tmp_path):  # noqa: F811
    """prod runs v1.0.0; a policy edit renames prod to production (the folder left in place,
    Argo CD still syncs it): the champion must not silently vanish."""
    record = tmp_path / "v1.json"
    shutil.copyfile(repo / "deploy/environments/dev/release.json", record)
    run(repo, "git", "rm", "-q", "deploy/environments/dev/release.json")
    promote_record(repo, record, "prod")
    policy = repo / "policies/promotion.yaml"
    policy.write_text(policy.read_text().replace("  prod:\n", "  production:\n"))
    commit(repo, "rename prod")
    _model(repo, 0.49, "much worse model")
    code, out, err, path = _record(capsys, repo, tmp_path / "r", "v1.1.0")
    assert code == 1, out + err
    assert err.strip().startswith("error: deploy/environments/prod at ")
    assert "policies/promotion.yaml names no environment 'prod'" in err
    assert len(err.strip().splitlines()) == 1 and not path.exists()
