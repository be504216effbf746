"""Issue 14 item 4, the class and not the example: every spelling of "an untrusted value becomes
code" that a hostile contributor would try next. Each case is a real workflow or action file read
by conveyor's own rules (CNV_GHA_4: `${{ }}` pasted into a script, a github-script or a container
command line; CNV_GHA_6: an untrusted value written into `$GITHUB_ENV`/`$GITHUB_PATH`), and the
end-to-end test runs `conveyor scan` (checkov included) on a small repository of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.scan.actions import action_name, scan_file
from conveyor.scan.envfile import tainted_variables, untrusted_writes
from conveyor.scan.settings import ScanConfig
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

SHA = "0123456789abcdef0123456789abcdef01234567"


def _workflow(steps: str, on: str = "issues", env: str = "") -> str:
    """A workflow with one job whose steps are ``steps`` (indented for a job)."""
    body = "\n".join("      " + line if line else "" for line in steps.strip("\n").splitlines())
    return (
        f"on: {on}\npermissions: {{contents: read}}\n{env}"
        "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"{body}\n"
    )


def _findings(tmp_path: Path, text: str, name: str = ".github/workflows/w.yml") -> set[str]:
    """The injection findings (CNV_GHA_4, CNV_GHA_6) on one file, as `rule:line`."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    composite = path.name == "action.yml"
    found = scan_file(tmp_path, Path(name), ScanConfig(), composite)
    return {f"{f.policy_id}:{f.line}" for f in found if f.policy_id in ("CNV_GHA_4", "CNV_GHA_6")}


# --- 1. `uses:` names are compared without case, as GitHub resolves them -------------------


@pytest.mark.parametrize(
    "uses",
    [
        f"actions/github-script@{SHA}",
        f"Actions/GitHub-Script@{SHA}",
        f"ACTIONS/GITHUB-SCRIPT@{SHA}",
        f" actions/Github-script@{SHA} ",
    ],
)
def test_github_script_is_a_script_sink_in_any_letter_case(tmp_path: Path, uses: str) -> None:
    steps = (
        f"- uses: '{uses}'\n  with:\n    script: core.info('${{{{ github.event.issue.title }}}}')"
    )
    assert _findings(tmp_path, _workflow(steps)) == {"CNV_GHA_4:7"}


def test_action_names_are_normalised() -> None:
    assert action_name(f"Actions/GitHub-Script@{SHA}") == "actions/github-script"
    assert action_name("./.github/actions/x") == ""
    assert action_name("Docker://Alpine:3") == "docker://Alpine:3"
    # Another action whose name only starts like it is not github-script.
    assert action_name(f"actions/github-script-fork@{SHA}") != "actions/github-script"


# --- 2. A container's command line -----------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        "- uses: docker://alpine:3.20\n  with:\n"
        '    args: sh -c "echo ${{ github.event.comment.body }}"',
        "- uses: DOCKER://alpine:3.20\n  with:\n    args: ${{ github.event.issue.title }}",
        "- uses: docker://alpine:3.20\n  with:\n    entrypoint: ${{ github.head_ref }}",
        "- uses: docker://alpine:3.20\n  with:\n"
        "    args: ${{ format('-c {0}', github.event.discussion.body) }}",
    ],
)
def test_untrusted_values_in_a_docker_step_command_line_are_found(
    tmp_path: Path, step: str
) -> None:
    assert _findings(tmp_path, _workflow(step, on="issue_comment")) == {"CNV_GHA_4:7"}


def test_a_docker_step_is_one_finding_naming_each_sink(tmp_path: Path) -> None:
    (tmp_path / "w.yml").write_text(
        _workflow(
            "- uses: docker://alpine:3.20\n  with:\n"
            "    entrypoint: ${{ github.head_ref }}\n    args: ${{ github.event.issue.body }}"
        )
    )
    found = scan_file(tmp_path, Path("w.yml"), ScanConfig(), False)
    assert [(f.policy_id, f.line) for f in found] == [("CNV_GHA_4", 7)]
    assert "`args:`" in found[0].title and "github.event.issue.body" in found[0].title
    assert "`entrypoint:`" in found[0].title and "github.head_ref" in found[0].title


def test_yaml_escapes_do_not_hide_an_expression(tmp_path: Path) -> None:
    # YAML decodes "\x24{{" to "${{" before GitHub evaluates it.
    step = '- run: "echo \\x24{{ github.event.issue.title }} \\u0024{{ github.head_ref }}"'
    assert _findings(tmp_path, _workflow(step)) == {"CNV_GHA_4:7"}


def test_a_docker_step_with_trusted_args_and_env_passes(tmp_path: Path) -> None:
    step = (
        "- uses: docker://alpine:3.20\n  env:\n    BODY: ${{ github.event.comment.body }}\n"
        "  with:\n    args: sh -c 'echo \"$BODY\" ${{ github.sha }}'"
    )
    assert _findings(tmp_path, _workflow(step)) == set()


@pytest.mark.parametrize(
    ("job", "line"),
    [
        ("    container: ${{ github.event.pull_request.head.repo.full_name }}:latest\n", 6),
        ("    container:\n      image: ${{ inputs.image }}\n", 7),
        (
            "    container:\n      image: alpine\n      options: ${{ github.event.issue.title }}\n",
            8,
        ),
        (
            "    services:\n      db:\n        image: postgres\n"
            "        volumes: ['${{ github.head_ref }}:/data']\n",
            9,
        ),
    ],
)
def test_untrusted_values_in_a_job_container_are_found(tmp_path: Path, job: str, line: int) -> None:
    text = _workflow("- run: 'true'").replace(
        "    runs-on: ubuntu-latest\n", "    runs-on: ubuntu-latest\n" + job
    )
    assert _findings(tmp_path, text) == {f"CNV_GHA_4:{line}"}


def test_a_job_container_from_trusted_values_passes(tmp_path: Path) -> None:
    job = "    container:\n      image: ghcr.io/${{ github.repository }}:${{ github.sha }}\n"
    job += "      env: {TITLE: '${{ github.event.issue.title }}'}\n"
    text = _workflow("- run: 'true'").replace(
        "    runs-on: ubuntu-latest\n", "    runs-on: ubuntu-latest\n" + job
    )
    assert _findings(tmp_path, text) == set()


DOCKER_ACTION = """name: greet
inputs:
  who: {description: who}
runs:
  using: {using}
  image: Dockerfile
  {key}: {value}
"""


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("args", "['--name', '${{ inputs.who }}']"),
        ("args", "['${{ github.event.pull_request.title }}']"),
        ("entrypoint", "${{ inputs.who }}"),
        ("pre-entrypoint", "${{ toJSON(github.event) }}"),
        ("post-entrypoint", "${{ github['head_ref'] }}"),
    ],
)
def test_a_docker_action_command_line_is_a_sink(tmp_path: Path, key: str, value: str) -> None:
    text = DOCKER_ACTION.replace("{using}", "Docker").replace("{key}", key)
    assert _findings(tmp_path, text.replace("{value}", value), "act/action.yml") == {"CNV_GHA_4:7"}


def test_a_docker_action_reading_its_inputs_from_the_environment_passes(tmp_path: Path) -> None:
    # The runner hands inputs to the container as INPUT_WHO: the safe way.
    text = DOCKER_ACTION.replace("{using}", "docker").replace("{key}", "env")
    text = text.replace("{value}", "{GREETING: hello}")
    assert _findings(tmp_path, text, "act/action.yml") == set()
    # A JavaScript action's `args` would be an ordinary input, not a command line.
    node = DOCKER_ACTION.replace("{using}", "node20").replace("{key}", "main: index.js\n  args")
    assert (
        _findings(tmp_path, node.replace("{value}", "['${{ inputs.who }}']"), "b/action.yml")
        == set()
    )


def test_docker_steps_in_a_composite_action_are_checked(tmp_path: Path) -> None:
    text = (
        "name: x\ninputs:\n  who: {description: who}\nruns:\n  using: composite\n  steps:\n"
        f"    - uses: docker://alpine@sha256:{'a' * 64}\n"
        "      with:\n        args: echo ${{ inputs.who }}\n"
    )
    assert _findings(tmp_path, text, "act/action.yml") == {"CNV_GHA_4:7"}


# --- 3. CNV_GHA_6: untrusted values written into the env file or PATH -------------------------

TITLE = "  env:\n    TITLE: ${{ github.event.issue.title }}\n"


@pytest.mark.parametrize(
    "script",
    [
        # The GitHub Security Lab pattern: a newline in the title sets LD_PRELOAD.
        'echo "LD_PRELOAD=$TITLE" >> "$GITHUB_ENV"',
        "echo X=${TITLE} >>$GITHUB_ENV",
        'printf \'X=%s\\n\' "$TITLE" >> "${GITHUB_ENV}"',
        'echo "X=${TITLE:-none}" | tee -a "$GITHUB_ENV"',
        'echo "$TITLE" >> "$GITHUB_PATH"',
        # Through shell variables first.
        't="$TITLE"\nclean="x-${t}"\necho "X=$clean" >> "$GITHUB_ENV"',
        'export A=$(echo "$TITLE" | head -1)\necho "A=$A" >> $GITHUB_ENV',
        # A group or a heredoc that writes.
        '{\n  echo "A=1"\n  echo "B=$TITLE"\n} >> "$GITHUB_ENV"',
        'cat >> "$GITHUB_ENV" <<EOF\nB=$TITLE\nEOF',
        'for w in $TITLE; do\n  echo "W_$w=1"\ndone >> "$GITHUB_ENV"',
        # The multi-line form with a fixed delimiter: the title can hold the line "EOF".
        '{\n  echo "X<<EOF"\n  echo "$TITLE"\n  echo "EOF"\n} >> "$GITHUB_ENV"',
        # Or a delimiter variable that is not random.
        'd=EOF\n{ echo "X<<$d"; echo "$TITLE"; echo "$d"; } >> "$GITHUB_ENV"',
        # The same block spread over three writes, with a fixed delimiter.
        'echo "X<<EOF" >> "$GITHUB_ENV"\necho "$TITLE" >> "$GITHUB_ENV"\necho EOF >> "$GITHUB_ENV"',
        # Other ways to name the file.
        'echo "X=$TITLE" >> "${GITHUB_ENV:?}"',
        'echo "X=$TITLE" | tee -a /dev/stderr "$GITHUB_ENV"',
        'f="$GITHUB_ENV"\necho "X=$TITLE" >> "$f"',
        'exec >> "$GITHUB_ENV"\necho "A=1"\necho "X=$TITLE"',
        # The value after the file name, or the redirection first.
        'tee -a "$GITHUB_ENV" <<< "X=$TITLE"',
        '>> "$GITHUB_ENV" echo "X=$TITLE"',
        # PowerShell.
        'Add-Content -Path $env:GITHUB_ENV -Value "X=$env:TITLE"',
        '"X=${env:title}" | Out-File -FilePath ${env:GITHUB_ENV} -Append',
    ],
)
def test_untrusted_values_written_to_env_files_are_found(tmp_path: Path, script: str) -> None:
    run = "\n".join("    " + line for line in script.splitlines())
    steps = f"- name: w\n{TITLE}  run: |\n{run}"
    assert _findings(tmp_path, _workflow(steps)) == {"CNV_GHA_6:7"}


@pytest.mark.parametrize(
    ("env", "script"),
    [
        # Job- and workflow-level env count as well as the step's.
        ("job", 'echo "X=$JOBV" >> "$GITHUB_ENV"'),
        ("top", 'echo "X=$TOPV" >> "$GITHUB_ENV"'),
        # Values no `env:` carries: the branch name, the event payload file.
        ("none", 'echo "B=$GITHUB_HEAD_REF" >> "$GITHUB_ENV"'),
        ("none", 'echo "T=$(jq -r .issue.title "$GITHUB_EVENT_PATH")" >> "$GITHUB_ENV"'),
        ("none", 't=$(jq -r .comment.body < "$GITHUB_EVENT_PATH")\necho "$t" >> "$GITHUB_PATH"'),
    ],
)
def test_taint_comes_from_every_level_and_from_the_runner(
    tmp_path: Path, env: str, script: str
) -> None:
    top = "env:\n  TOPV: ${{ github.event.workflow_run.head_branch }}\n" if env == "top" else ""
    text = _workflow("- run: |\n" + "\n".join("    " + s for s in script.splitlines()), env=top)
    if env == "job":
        text = text.replace(
            "    runs-on:", "    env:\n      JOBV: ${{ inputs.name }}\n    runs-on:"
        )
    line = 7 + top.count("\n") + (2 if env == "job" else 0)
    assert _findings(tmp_path, text) == {f"CNV_GHA_6:{line}"}


@pytest.mark.parametrize(
    "script",
    [
        # A random delimiter: the value cannot close the block.
        'd="$(openssl rand -hex 16)"\n'
        '{\n  echo "X<<$d"\n  echo "$TITLE"\n  echo "$d"\n} >> "$GITHUB_ENV"',
        'delim="ghadelim_${RANDOM}${RANDOM}"\n'
        '{ echo "X<<${delim}"; echo "$TITLE"; echo "${delim}"; } >> "$GITHUB_ENV"',
        # GitHub's documented form, over three writes, with a random delimiter.
        "EOF=$(dd if=/dev/urandom bs=15 count=1 status=none | base64)\n"
        'echo "X<<$EOF" >> "$GITHUB_ENV"\necho "$TITLE" >> "$GITHUB_ENV"\n'
        'echo "$EOF" >> "$GITHUB_ENV"',
        # The untrusted value goes elsewhere; the env file gets a constant.
        'echo "title: $TITLE"; echo "FOO=bar" >> "$GITHUB_ENV"',
        'echo "$TITLE" > title.txt && echo "FILE=title.txt" >> "$GITHUB_ENV"',
        # A here-string is not a heredoc: the lines after it are not written.
        'cat <<<NOTE >> "$GITHUB_ENV"\necho "$TITLE"\nNOTE',
        # A quoted heredoc delimiter: the body is literal text, `$TITLE` is not expanded.
        "cat >> \"$GITHUB_ENV\" <<'EOF'\nB=$TITLE\nEOF",
        # $GITHUB_OUTPUT is out of this rule's scope (outputs are untrusted wherever they land).
        'echo "title=$TITLE" >> "$GITHUB_OUTPUT"',
        # A trusted value.
        'echo "SHA=$SHA" >> "$GITHUB_ENV"',
    ],
)
def test_safe_env_file_writes_pass(tmp_path: Path, script: str) -> None:
    run = "\n".join("    " + line for line in script.splitlines())
    steps = f"- name: w\n{TITLE}    SHA: ${{{{ github.sha }}}}\n  run: |\n{run}"
    assert _findings(tmp_path, _workflow(steps)) == set()


@pytest.mark.parametrize(
    ("shell", "script"),
    [
        (
            "python",
            'import os\ntitle = os.environ["TITLE"]\n'
            'with open(os.environ["GITHUB_ENV"], "a") as f:\n    f.write(f"X={title}\\n")',
        ),
        ("pwsh", '$t = $env:TITLE\n"X=$t" | Out-File -FilePath $env:GITHUB_ENV -Append'),
        ("node {0}", 'require("fs").appendFileSync(process.env.GITHUB_PATH, process.env.TITLE)'),
    ],
)
def test_writes_in_other_languages_are_found(tmp_path: Path, shell: str, script: str) -> None:
    run = "\n".join("    " + line for line in script.splitlines())
    steps = f"- name: w\n  shell: {shell}\n{TITLE}  run: |\n{run}"
    assert _findings(tmp_path, _workflow(steps)) == {"CNV_GHA_6:7"}


def test_a_program_that_writes_only_trusted_values_passes(tmp_path: Path) -> None:
    script = 'import os\nwith open(os.environ["GITHUB_ENV"], "a") as f:\n    f.write("X=1\\n")'
    run = "\n".join("    " + line for line in script.splitlines())
    steps = f"- name: w\n  shell: python\n{TITLE}  run: |\n{run}"
    assert _findings(tmp_path, _workflow(steps)) == set()


def test_a_random_delimiter_does_not_make_a_path_safe(tmp_path: Path) -> None:
    script = (
        'd=$(openssl rand -hex 8)\n{ echo "X<<$d"; echo "$TITLE"; echo "$d"; } >> "$GITHUB_PATH"'
    )
    run = "\n".join("    " + line for line in script.splitlines())
    assert _findings(tmp_path, _workflow(f"- name: w\n{TITLE}  run: |\n{run}")) == {"CNV_GHA_6:7"}


def test_env_file_writes_in_composite_actions_are_found(tmp_path: Path) -> None:
    text = (
        "name: x\ninputs:\n  who: {description: who}\nruns:\n  using: composite\n  steps:\n"
        "    - shell: bash\n      env:\n        WHO: ${{ inputs.who }}\n"
        '      run: echo "WHO=$WHO" >> "$GITHUB_ENV"\n'
    )
    assert _findings(tmp_path, text, "act/action.yml") == {"CNV_GHA_6:7"}


def test_tainted_variables_follow_assignment_chains() -> None:
    env = {"TITLE": "${{ github.event.issue.title }}", "SHA": "${{ github.sha }}"}
    script = 'a="$TITLE"\nb=${a}-x\nc="$SHA"\nexport d=$(printf %s "$b")\n'
    assert tainted_variables(script, env) >= {"TITLE", "a", "b", "d"}
    assert not tainted_variables(script, env) & {"SHA", "c"}
    assert untrusted_writes(script + 'echo "X=$c" >> "$GITHUB_ENV"', env) == []
    assert untrusted_writes(script + 'echo "X=$d" >> "$GITHUB_ENV"', env) == ["GITHUB_ENV <- $d"]


# --- 4. A step reached through a YAML alias is one finding -----------------------------------


def test_steps_shared_through_an_alias_are_reported_once(tmp_path: Path) -> None:
    text = (
        "on: issues\npermissions: {contents: read}\njobs:\n"
        "  a:\n    runs-on: ubuntu-latest\n    steps: &steps\n"
        "      - run: echo ${{ github.event.issue.title }}\n"
        "  b:\n    runs-on: ubuntu-latest\n    steps: *steps\n"
    )
    path = tmp_path / ".github/workflows/w.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    found = scan_file(tmp_path, Path(".github/workflows/w.yml"), ScanConfig(), False)
    assert [(f.policy_id, f.line) for f in found] == [("CNV_GHA_4", 7)]


def test_a_composite_step_repeated_by_alias_is_reported_once(tmp_path: Path) -> None:
    text = (
        "name: x\ninputs:\n  who: {description: who}\nruns:\n  using: composite\n  steps:\n"
        "    - &greet\n      shell: bash\n      run: echo ${{ inputs.who }}\n"
        "    - *greet\n"
    )
    path = tmp_path / "act/action.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    found = scan_file(tmp_path, Path("act/action.yml"), ScanConfig(), True)
    assert [(f.policy_id, f.line) for f in found] == [("CNV_GHA_4", 7)]


# --- Other spellings of the same values (regressions: the parser catches these) --------------


@pytest.mark.parametrize(
    ("on", "expression"),
    [
        ("pull_request_target", "${{github.event.pull_request.title}}"),
        ("issues", "${{ github['event']['issue']['title'] }}"),
        ("issues", "${{ format('t={0}', github.event.issue.body) }}"),
        ("issues", "${{ toJSON(github.event) }}"),
        ("workflow_run", "${{ github.event.workflow_run.head_branch }}"),
        ("workflow_run", "${{ github.event.workflow_run.head_commit.message }}"),
        ("issue_comment", "${{ github.event.comment.body }}"),
        ("discussion", "${{ github.event.discussion.title }}"),
        ("discussion_comment", "${{ github.event.comment.body }}"),
        ("pull_request", "${{ github.head_ref }}"),
        ("pull_request", "${{ github.event.pull_request.head.ref }}"),
        ("pull_request", "${{ join(github.event.commits.*.author.email, ' ') }}"),
        ("workflow_dispatch", "${{ inputs.name }}"),
        ("pull_request", "${{ steps.meta.outputs.title }}"),
    ],
)
def test_other_spellings_in_run_are_found(tmp_path: Path, on: str, expression: str) -> None:
    assert _findings(tmp_path, _workflow(f'- run: echo "{expression}"', on=on)) == {"CNV_GHA_4:7"}


# --- End to end: `conveyor scan` (checkov included) on a repository of these ------------------


def test_conveyor_scan_reports_each_new_spelling_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    workflows = root / ".github/workflows"
    workflows.mkdir(parents=True)
    shutil.copytree(REPO / "policies/checkov", root / "policies/checkov")
    (workflows / "script.yml").write_text(
        _workflow(
            f"- uses: Actions/GitHub-Script@{SHA}\n"
            "  with:\n    script: core.info('${{ github.event.issue.title }}')"
        )
    )
    (workflows / "envfile.yml").write_text(
        _workflow(f'- name: w\n{TITLE}  run: |\n    echo "LD_PRELOAD=$TITLE" >> "$GITHUB_ENV"')
    )
    (workflows / "skipped.yml").write_text(
        _workflow(
            "- name: w  # checkov:skip=CNV_GHA_6:the title is checked against ^[a-z]+$ first\n"
            f'{TITLE}  run: echo "T=$TITLE" >> "$GITHUB_PATH"'
        )
    )
    (workflows / "alias.yml").write_text(
        "on: issues\npermissions: {contents: read}\njobs:\n"
        "  a:\n    runs-on: ubuntu-latest\n    steps: &steps\n"
        f"      - uses: docker://alpine@sha256:{'b' * 64}\n"
        "        with: {args: 'echo ${{ github.event.issue.body }}'}\n"
        "  b:\n    runs-on: ubuntu-latest\n    steps: *steps\n"
    )
    (workflows / "prt.yml").write_text(
        _workflow(
            f"- uses: Actions/Checkout@{SHA}\n"
            "  with: {ref: '${{ github.event.pull_request.head.sha }}'}",
            on="pull_request_target",
        )
    )
    out = tmp_path / "out"
    assert main(["scan", "--root", str(root), "--out", str(out)]) == 1
    capsys.readouterr()
    report = json.loads((out / "scan.json").read_text())
    ours = sorted(
        (f["policy_id"], f["file"].rsplit("/", 1)[-1], f["line"])
        for f in report["findings"]
        if f["policy_id"].startswith("CNV_GHA")
    )
    assert ours == [
        ("CNV_GHA_3", "prt.yml", 7),  # checkov runs CNV_GHA_3: checkout in another letter case
        ("CNV_GHA_4", "alias.yml", 7),
        ("CNV_GHA_4", "script.yml", 7),
        ("CNV_GHA_6", "envfile.yml", 7),
    ]
    remedy = next(f["remedy"] for f in report["findings"] if f["policy_id"] == "CNV_GHA_6")
    assert "openssl rand" in remedy
    skipped = [s for s in report["suppressed"] if s["policy_id"] == "CNV_GHA_6"]
    assert [(s["file"], s["line"]) for s in skipped] == [(".github/workflows/skipped.yml", 7)]
