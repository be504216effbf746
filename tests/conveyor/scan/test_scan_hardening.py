"""Issue 14, items 3, 4 and 5 in `conveyor scan`: expressions are parsed (no spelling of an
untrusted value gets through), pipes without pipefail are found, and no file goes unread
without a finding or a reviewed, per-file reason. The fixture spellings are scanned end to end
with checkov in tests/conveyor/scan/test_scan.py; here the parser and the shell reader meet their
edge cases, and a small repository meets the file-size, encoding and exclusion cases (real
checkov)."""

from __future__ import annotations

import random
import shutil
import string
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from conveyor.cli import main
from conveyor.scan.expressions import ExpressionError, paths_of, untrusted_paths
from conveyor.scan.model import ScanResult
from conveyor.scan.run import scan
from conveyor.scan.settings import ScanConfig
from conveyor.scan.shell import fails_on_pipes, has_pipe, sets_pipefail
from conveyor.scan.skipped_secrets import scan_skipped
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

POLICIES = REPO / "policies/checkov"


@pytest.mark.parametrize(
    ("text", "reaches"),
    [
        ("${{ github.event.issue.title }}", "github.event.issue.title"),
        ("${{ toJSON(github.event) }}", "github.event"),
        ("${{ github['event']['pull_request']['title'] }}", "github.event.pull_request.title"),
        ("${{ github.event['pull_request'].title }}", "github.event.pull_request.title"),
        ("${{ format('{0}', github.event.issue.title) }}", "github.event.issue.title"),
        ("${{ join(github.event.commits.*.message, ' ') }}", "github.event.commits.*.message"),
        ("${{ github.head_ref }}", "github.head_ref"),
        ("${{ github['head_ref'] }}", "github.head_ref"),
        ("${{ fromJSON(steps.meta.outputs.json).title }}", "steps.meta.outputs.json"),
        ("${{ fromJSON(needs.plan.outputs.matrix) }}", "needs.plan.outputs.matrix"),
        ("${{github.event.issue.title}}", "github.event.issue.title"),
        ("${{\n  github . event . issue . title\n}}", "github.event.issue.title"),
        ("${{ GITHUB.EVENT.Issue.Title }}", "github.event.issue.title"),
        ("${{ (github).event.issue.title }}", "github.event.issue.title"),
        ("${{ github[format('{0}', 'event')].x }}", "github.*.x"),
        ("${{ github.event[0] }}", "github.event.*"),
        ("${{ toJSON(github) }}", "github"),
        ("${{ format('}} {0}', github.event.comment.body) }}", "github.event.comment.body"),
        ("${{ github.ref == 'x' && github.head_ref || 'main' }}", "github.head_ref"),
        ("${{ inputs.name }}", "inputs.name"),
        ("${{ inputs['name'] }}", "inputs.name"),
        ("${{ env.TITLE }}", "env.title"),
        ("${{ toJSON(steps) }}", "steps"),
    ],
)
def test_every_spelling_of_an_untrusted_value_is_found(text: str, reaches: str) -> None:
    assert reaches in untrusted_paths(f"echo {text} done")


@pytest.mark.parametrize(
    "text",
    [
        "${{ github.sha }} ${{ github.event_name }} ${{ github.repository }} ${{ runner.os }}",
        "${{ matrix.os }} ${{ vars.REGION }} ${{ hashFiles('**/uv.lock') }}",
        "${{ contains(github.event.pull_request.labels.*.name, 'ok') && 'yes' || 'no' }}",
        "${{ github.event.pull_request.number == 7 }} ${{ !github.event.pull_request.draft }}",
        "${{ startsWith(github.head_ref, 'dependabot/') }} ${{ success() }}",
        "${{ 'github.event.issue.title' }} ${{ 0x1F }} ${{ -1.5e3 }} ${{ null }}",
        "echo '$GITHUB_EVENT' \"$TITLE\"",  # shell variables are not expressions
    ],
)
def test_trusted_values_and_booleans_are_not_flagged(text: str) -> None:
    assert untrusted_paths(text) == []


@pytest.mark.parametrize("bad", ["github.event.", "format(github.event", "github.[x]", "a $ b"])
def test_an_expression_that_does_not_parse_is_reported_not_trusted(bad: str) -> None:
    with pytest.raises(ExpressionError):
        paths_of(bad)
    assert untrusted_paths(f"${{{{ {bad} }}}}")[0].startswith("unparsable expression")
    # an unterminated one runs to the end of the script, and is not vouched for either
    assert untrusted_paths("echo ${{ github.sha done")[0].startswith("unparsable expression")


@pytest.mark.parametrize(
    "script",
    [
        "conveyor rollback | tee -a out",
        "a |& tee log",
        "x=$(git log | head -1)",
        "echo 'it''s' | wc -c",
        "cat <<EOF\nbody\nEOF\nsort data | uniq",
    ],
)
def test_pipes_are_found(script: str) -> None:
    assert has_pipe(script)


@pytest.mark.parametrize(
    "script",
    [
        "make test || exit 1",
        "echo \"a|b\" 'c|d' a\\|b",
        "true  # a | b",
        "cat > t.md <<'EOF'\n| a | b |\nEOF",
        "echo \"${{ github.sha || 'x' }}\"",
        "echo hi >| out.txt",
    ],
)
def test_things_that_only_look_like_pipes_are_not(script: str) -> None:
    assert not has_pipe(script)


def test_which_shells_fail_on_pipes() -> None:
    assert fails_on_pipes("bash") is True
    assert fails_on_pipes("bash --noprofile --norc -eo pipefail {0}") is True
    assert fails_on_pipes(None) is False  # GitHub's default: bash -e {0}
    assert fails_on_pipes("bash -e {0}") is False
    assert fails_on_pipes("sh") is False
    assert fails_on_pipes("pwsh") is None and fails_on_pipes("python") is None
    assert sets_pipefail("set -euo pipefail\na | b") and sets_pipefail("  set -e -o pipefail")
    assert not sets_pipefail("set +o pipefail") and not sets_pipefail("echo set -o pipefail")


# --- item 5: nothing unread without a word ---------------------------------------------------


def _key_pair(seed: int) -> str:
    """An AWS-shaped key pair made up at run time: no key-shaped string is committed."""
    rng = random.Random(seed)
    key_id = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))
    return f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\n"


def _data(size: int) -> str:
    row = "2024-01-01,club-7,item-42,3.25,1\n"
    return row * (size // len(row))


@pytest.fixture(scope="module")
def unread_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScanResult, Path]:
    """A repository with: a key pair at the end of a 2.1 MB file (checkov's secrets scan read
    it, the old 2 MB cut did not), a 3.5 MB file over a 3 MB limit, a non-UTF-8 file holding a
    key pair, a reviewed `unscanned:` file, a stale one, and an excluded folder that holds a key
    pair and a bad workflow; plus an exclusion that tries to cover the repository's .github/."""
    root = tmp_path_factory.mktemp("unread")
    (root / "sales.csv").write_text(_data(2_100_000) + _key_pair(1))
    (root / "huge.csv").write_text(_data(3_500_000))
    (root / "legacy.txt").write_bytes(("caf\xe9\n" + _key_pair(2)).encode("latin-1"))
    (root / "model.bin").write_bytes(b"\xff\xfe" * 64)
    # Files detect-secrets keeps out of checkov's secrets scan by name or extension.
    for n, name in enumerate(SKIPPED_BY_NAME, start=10):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("[[package]]\nname = 'x'\n" + _key_pair(n))
    (root / "clean.lock").write_text("[[package]]\nname = 'x'\nversion = '1.0'\n")
    vendor = root / "vendor/lib"
    vendor.mkdir(parents=True)
    (vendor / "creds.env").write_text(_key_pair(3))
    bad = "name: ci\non: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
    bad += "    steps:\n      - uses: actions/checkout@v4\n"
    (vendor / "ci.yml").write_text(bad)
    (root / "vendor/.github/workflows").mkdir(parents=True)
    (root / "vendor/.github/workflows/ci.yml").write_text(bad)
    (root / ".github/workflows").mkdir(parents=True)
    (root / ".github/workflows/ci.yml").write_text(bad)
    policies = root / "policies/checkov"
    shutil.copytree(POLICIES, policies)
    config = yaml.safe_load((policies / "config.yaml").read_text())
    config["max_file_mb"] = 3
    config["exclude"] = [
        {"path": "vendor/**", "reason": "third-party code, reviewed upstream"},
        {"path": ".github/**", "reason": "an exclusion that must not apply here"},
    ]
    config["unscanned"] = [
        {"file": "model.bin", "reason": "a binary model, built by CI from reviewed code"},
        {"file": "gone.bin", "reason": "was here once, deleted since"},
    ]
    (policies / "config.yaml").write_text(yaml.safe_dump(config))
    return scan(root, [], policies, root / "reports/scan"), root


def _found(result: ScanResult) -> dict[str, set[str]]:
    by_file: dict[str, set[str]] = defaultdict(set)
    for finding in result.findings:
        by_file[finding.file].add(finding.policy_id)
    return by_file


# Lock-file names and "non-text" extensions detect-secrets' filters skip (an excluded folder too).
SKIPPED_BY_NAME = (
    "uv.lock",
    "poetry.lock",
    "go.sum",
    "package-lock.json",
    "icon.svg",
    "theme.css",
    "vendor/Cargo.lock",
    "odd\nname.lock",  # a newline in a name: the list of files must not split it in two
)


@pytest.mark.parametrize("name", SKIPPED_BY_NAME)
def test_a_key_pair_in_a_file_the_secrets_scanner_skips_is_found(unread_scan, name) -> None:
    found = [f for f in unread_scan[0].findings if f.file == name]
    titles = {(f.policy_id, f.line, f.title) for f in found}
    # The key id on line 3 (the secret on line 4 may be found by other detectors too).
    assert ("CNV_SECRET_1", 3, "AWS Access Key in a file checkov's secrets scan skips") in titles
    assert "rotate it" in found[0].remedy  # policies/config.yaml's remedy


def test_a_lock_file_without_a_secret_is_not_a_finding(unread_scan) -> None:
    assert "clean.lock" not in _found(unread_scan[0])


def test_a_checkov_without_a_python_leaves_the_skipped_files_as_one_finding(tmp_path) -> None:
    checkov = tmp_path / "checkov"
    checkov.write_text("#!/no/such/python\n")
    found = scan_skipped(tmp_path, [Path("uv.lock")], str(checkov), ScanConfig())
    assert [(f.policy_id, f.file) for f in found] == [("CNV_SCAN_1", ".")]
    assert "no Python found" in found[0].remedy


def test_a_key_pair_in_a_file_over_2_mb_is_found(unread_scan) -> None:
    assert "CKV_SECRET_2" in _found(unread_scan[0])["sales.csv"]


def test_files_that_cannot_be_read_are_findings_with_the_reason(unread_scan) -> None:
    result = unread_scan[0]
    assert _found(result)["huge.csv"] == {"CNV_SCAN_1"}
    assert _found(result)["legacy.txt"] == {"CNV_SCAN_1"}
    titles = {f.file: f.title for f in result.findings if f.policy_id == "CNV_SCAN_1"}
    assert "over the scan's limit of 3 MB" in titles["huge.csv"]
    assert "not UTF-8" in titles["legacy.txt"]


def test_a_reviewed_unscanned_file_is_recorded_and_a_stale_one_is_a_finding(unread_scan) -> None:
    result = unread_scan[0]
    assert "model.bin" not in _found(result)
    left_out = [s for s in result.suppressed if s.file == "model.bin"]
    assert [(s.policy_id, s.how) for s in left_out] == [("CNV_SCAN_1", "config")]
    stale = [f for f in result.findings if f.policy_id == "CNV_SKIP_3"]
    assert [f.resource for f in stale] == ["gone.bin"]


def test_excluded_folders_are_still_searched_for_secrets(unread_scan) -> None:
    result = unread_scan[0]
    found = _found(result)
    assert found["vendor/lib/creds.env"] == {"CKV_SECRET_2"}
    # left out of the policy checks, and listed as such
    assert "vendor/lib/ci.yml" not in found and "vendor/.github/workflows/ci.yml" not in found
    assert "vendor/.github/workflows/ci.yml" in result.files["excluded"]


def test_the_repositorys_own_workflows_cannot_be_excluded(unread_scan) -> None:
    assert "CNV_GHA_1" in _found(unread_scan[0])[".github/workflows/ci.yml"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("unscanned:\n  - file: data/*.csv\n    reason: too big to read\n", "unscanned.0.file"),
        ("unscanned:\n  - file: data/x.csv\n    reason: big\n", "unscanned.0.reason"),
        ("max_file_mb: 0\n", "max_file_mb"),
    ],
)
def test_unscanned_files_are_listed_one_by_one_with_a_reason(
    tmp_path: Path, entry: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "config.yaml").write_text(entry)
    out = tmp_path / "out"
    target = str(REPO / "tests/fixtures/scan/gha_clean")
    code = main(
        ["scan", target, "--root", str(REPO), "--policies", str(policies), "--out", str(out)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err, err
    assert not out.exists()
