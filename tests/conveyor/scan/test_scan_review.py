"""Review bugs 3, 4 and 17 on conveyor's own workflow rules, each as a real workflow or action
file read by `scan_file`: CNV_GHA_4 through the matrix and case-free `with:` input names,
CNV_GHA_6 through any command that names an env file, CNV_GHA_5 in script order; and the noise
(an `env:` bound to a literal, an event number) that must not be reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.scan.actions import scan_file
from conveyor.scan.expressions import is_fixed_event_field, untrusted_paths
from conveyor.scan.settings import ScanConfig

SHA = "0123456789abcdef0123456789abcdef01234567"
TITLE = "${{ github.event.issue.title }}"


def _workflow(steps: str, job: str = "", top: str = "", on: str = "issues") -> str:
    """A workflow with one job: ``job`` lines go above its steps (strategy, env...)."""
    body = "\n".join("      " + line for line in steps.strip("\n").splitlines())
    head = "".join("    " + line + "\n" for line in job.strip("\n").splitlines())
    return (
        f"on: {on}\npermissions: {{contents: read}}\n{top}jobs:\n  a:\n"
        f"    runs-on: ubuntu-latest\n{head}    steps:\n{body}\n"
    )


def _found(tmp_path: Path, text: str, name: str = ".github/workflows/w.yml") -> set[str]:
    """`rule:line` of every conveyor finding on one file."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    found = scan_file(tmp_path, Path(name), ScanConfig(), path.name == "action.yml")
    return {f"{f.policy_id}:{f.line}" for f in found}


# --- 3. CNV_GHA_4: the matrix and input names in any case ------------------------------------

MATRICES = {
    "list": f'strategy:\n  matrix:\n    title: ["{TITLE}"]',
    "include": f"strategy:\n  matrix:\n    py: ['3.11']\n    include:\n      - title: {TITLE}",
    "whole": "strategy:\n  matrix: ${{ fromJSON(github.event.issue.body) }}",
    "include-expression": "strategy:\n  matrix:\n    include: ${{ fromJSON(needs.x.outputs.m) }}",
    "nested": f"strategy:\n  matrix:\n    title:\n      - {{t: '{TITLE}'}}",
    "key-case": f'strategy:\n  matrix:\n    Title: ["{TITLE}"]',
}


@pytest.mark.parametrize("matrix", MATRICES.values(), ids=MATRICES)
def test_a_matrix_built_from_the_event_is_untrusted(tmp_path: Path, matrix: str) -> None:
    text = _workflow("- run: echo ${{ matrix.title }}", job=matrix)
    line = text.splitlines().index("      - run: echo ${{ matrix.title }}") + 1
    assert _found(tmp_path, text) == {f"CNV_GHA_4:{line}"}


def test_a_matrix_value_reaches_env_files_and_containers(tmp_path: Path) -> None:
    text = _workflow(
        '- env:\n    T: ${{ matrix.title }}\n  run: echo "T=$T" >> "$GITHUB_ENV"',
        job=f'strategy:\n  matrix:\n    title: ["{TITLE}"]\ncontainer: ${{{{ matrix.title }}}}',
    )
    assert {f.split(":")[0] for f in _found(tmp_path, text)} == {"CNV_GHA_4", "CNV_GHA_6"}


def test_a_matrix_of_literals_or_numbers_is_trusted(tmp_path: Path) -> None:
    job = (
        "strategy:\n  matrix:\n    py: ['3.11', '3.12']\n"
        "    pr: ['${{ github.event.pull_request.number }}']\n"
        f"    exclude:\n      - py: {TITLE}"
    )
    text = _workflow("- run: echo ${{ matrix.py }} ${{ matrix.pr }}", job=job)
    assert _found(tmp_path, text) == set()


@pytest.mark.parametrize(
    "step",
    [
        f"- uses: actions/github-script@{SHA}\n  with:\n    Script: core.info('{TITLE}')",
        f"- uses: actions/github-script@{SHA}\n  with:\n    SCRIPT: core.info('{TITLE}')",
        f"- uses: docker://alpine:3.20\n  with:\n    Args: sh -c 'echo {TITLE}'",
        f"- uses: docker://alpine:3.20\n  with:\n    ENTRYPOINT: {TITLE}",
        # Two spellings of one input: the clean one must not hide the other.
        f"- uses: docker://alpine:3.20\n  with:\n    args: ok\n    Args: {TITLE}",
    ],
)
def test_input_names_are_read_without_case(tmp_path: Path, step: str) -> None:
    assert _found(tmp_path, _workflow(step)) == {"CNV_GHA_4:7"}


# --- 4. CNV_GHA_6: any command that names an env file ----------------------------------------


@pytest.mark.parametrize(
    ("script", "target"),
    [
        ('echo "T=$T" &>> $GITHUB_ENV', "GITHUB_ENV"),
        ('echo "T=$T" &> "$GITHUB_ENV"', "GITHUB_ENV"),
        ('echo "T=$T" >> ${{ github.env }}', "GITHUB_ENV"),
        ('echo "$T" >> ${{ github.path }}', "GITHUB_PATH"),
        ("echo \"$T\" >> ${{ github['PATH'] }}", "GITHUB_PATH"),
        ('dd of=$GITHUB_ENV oflag=append conv=notrunc <<< "T=$T"', "GITHUB_ENV"),
        ('cp /dev/stdin $GITHUB_ENV <<< "T=$T"', "GITHUB_ENV"),
        ('echo "T=$T" >> $(echo $GITHUB_ENV)', "GITHUB_ENV"),
        ('echo "T=$T" >> `printenv GITHUB_ENV`', "GITHUB_ENV"),
        ('echo "$T" >> "$(printenv GITHUB_PATH)"', "GITHUB_PATH"),
        ('f=$(printenv GITHUB_ENV)\necho "T=$T" >> "$f"', "GITHUB_ENV"),
        ('n=GITHUB_ENV\necho "T=$T" >> "${!n}"', "GITHUB_ENV"),
        ('printf "T=%s\\n" "$T" | sponge -a "$GITHUB_ENV"', "GITHUB_ENV"),
    ],
)
def test_every_way_of_reaching_an_env_file_is_a_write(
    tmp_path: Path, script: str, target: str
) -> None:
    text = _workflow(f"- run: |\n{_indent(script)}", job=f"env:\n  T: {TITLE}")
    found = scan_file(tmp_path, _write(tmp_path, text), ScanConfig(), False)
    writes = [f.title.rsplit(": ", 1)[1] for f in found if f.policy_id == "CNV_GHA_6"]
    assert writes == [f"{target} <- $T"]


def test_naming_an_env_file_without_an_untrusted_value_is_not_a_finding(tmp_path: Path) -> None:
    script = 'echo "V=1.0" &>> $GITHUB_ENV\ncp /dev/stdin ${{ github.env }} <<< "B=$HOME"'
    text = _workflow(f"- run: |\n{_indent(script)}", job=f"env:\n  T: {TITLE}")
    assert _found(tmp_path, text) == set()


def test_an_env_file_named_by_expression_in_another_language(tmp_path: Path) -> None:
    script = "import os\nopen('${{ github.env }}', 'a').write('T=' + os.environ['T'])"
    text = _workflow(f"- shell: python\n  run: |\n{_indent(script)}", job=f"env:\n  T: {TITLE}")
    assert _found(tmp_path, text) == {"CNV_GHA_6:9"}


# --- 17. CNV_GHA_5 in script order; no noise on literals and numbers --------------------------


@pytest.mark.parametrize(
    ("shell", "script"),
    [
        ("bash", "set +o pipefail\nfalse | tee x"),
        ("bash", "set -e +o pipefail\nfalse | tee x"),
        ("bash", "shopt -u -o pipefail; false | tee x"),
        ("bash", "if true; then set +o pipefail; fi\nfalse | tee x"),
        (None, "false | tee x\nset -o pipefail"),
        ("sh", "false | tee x\nset -eo pipefail\ntrue | cat"),
        ("bash -e {0}", "set -o pipefail\na | b\nset +euo pipefail\nc | d"),
    ],
)
def test_a_pipe_where_pipefail_is_off_is_found(
    tmp_path: Path, shell: str | None, script: str
) -> None:
    step = (f"- shell: {shell}\n" if shell else "- ") + ("  " if shell else "") + "run: |\n"
    text = _workflow(step + _indent(script))
    assert {f.split(":")[0] for f in _found(tmp_path, text)} == {"CNV_GHA_5"}


@pytest.mark.parametrize(
    ("shell", "script"),
    [
        ("bash", "false | tee x"),
        ("bash", "set +o pipefail; set -o pipefail\nfalse | tee x"),
        (None, "set -euo pipefail\nfalse | tee x"),
        (None, "shopt -s -o pipefail\nfalse | tee x"),
        (None, "echo 'set +o pipefail'\nset -o pipefail\na | b"),
    ],
)
def test_a_pipe_under_pipefail_is_not_found(tmp_path: Path, shell: str | None, script: str) -> None:
    step = (f"- shell: {shell}\n  run: |\n" if shell else "- run: |\n") + _indent(script)
    assert _found(tmp_path, _workflow(step)) == set()


def test_env_bound_to_a_literal_and_event_numbers_are_not_findings(tmp_path: Path) -> None:
    steps = (
        "- env:\n    STEP: x\n  run: >-\n"
        "    echo ${{ env.PY }} ${{ env.job }} ${{ env.STEP }}\n"
        "    ${{ github.event.pull_request.number }} ${{ github.event.pull_request.head.sha }}\n"
        "    ${{ github.event.number }} ${{ github.event.pull_request.commits }}"
    )
    text = _workflow(steps, job="env:\n  JOB: 3", top="env:\n  PY: '3.12'\n", on="pull_request")
    assert _found(tmp_path, text) == set()


def test_env_names_that_are_unbound_or_rebound_to_untrusted_stay_untrusted(
    tmp_path: Path,
) -> None:
    steps = (
        f"- env:\n    PY: {TITLE}\n  run: echo ${{{{ env.PY }}}}\n- run: echo ${{{{ env.OTHER }}}}"
    )
    text = _workflow(steps, top="env:\n  PY: '3.12'\n")
    assert _found(tmp_path, text) == {"CNV_GHA_4:9", "CNV_GHA_4:12"}


def test_a_composite_actions_env_is_its_callers_unless_bound_to_a_literal(tmp_path: Path) -> None:
    text = (
        "runs:\n  using: composite\n  steps:\n"
        "    - shell: bash\n      env:\n        PY: '3.12'\n      run: echo ${{ env.PY }}\n"
        "    - shell: bash\n      run: echo ${{ env.PY }}\n"
    )
    assert _found(tmp_path, text, "act/action.yml") == {"CNV_GHA_4:8"}


@pytest.mark.parametrize(
    "text",
    [
        "${{ github.event.client_payload.id }}",
        "${{ github.event.inputs.number }}",
        "${{ github.event[inputs.x].id }}",
        "${{ github.event.commits }}",
        "${{ github.event.commits[0].message }}",
        "${{ github.event.deployment.payload.number }}",
        "${{ toJSON(github.event.pull_request) }}",
    ],
)
def test_only_fixed_fields_of_webhook_objects_are_trusted(text: str) -> None:
    assert untrusted_paths(text)


def test_fixed_event_fields() -> None:
    assert is_fixed_event_field(("github", "event", "issue", "number"))
    assert is_fixed_event_field(("github", "event", "commits", "*", "id"))
    assert not is_fixed_event_field(("github", "event", "*", "number"))
    assert not is_fixed_event_field(("github", "event", "pull_request", "title"))


def _indent(script: str) -> str:
    return "".join("    " + line + "\n" for line in script.splitlines())


def _write(tmp_path: Path, text: str) -> Path:
    name = Path(".github/workflows/w.yml")
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name
