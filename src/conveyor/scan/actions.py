"""conveyor's own rules on the steps of workflows and composite actions (action.yml), with the
YAML read here rather than by checkov: checkov only reads .github/workflows, and these rules need
the parsed `${{ }}` expressions and the shell each step runs in.

- CNV_GHA_1 (composite actions; checkov runs it on workflows): remote `uses:` pinned to a SHA.
- CNV_GHA_4: no untrusted context value (expressions.UNTRUSTED, any spelling) pasted into a
  `run:` script or an actions/github-script `script:`.
  Also the command line of a container: `with: args`/`entrypoint` of a `docker://` step,
  `runs.args`/`runs.entrypoint` (and pre-/post-) of a Docker action's action.yml, and the
  `image`/`options`/`volumes` of a job's `container:` or `services:`.
- CNV_GHA_5: a `run:` that pipes runs with pipefail (`shell: bash`, at the step or as
  `defaults.run.shell` of the job or workflow, or `set -o pipefail` in the script), read in
  script order (`set +o pipefail` turns it off again); the quoted script of `bash -c '...'`
  runs in a new shell without pipefail and is read on its own. Pipes inside `"$(...)"` count; the
  `shell:` is read as words (shell.fails_on_pipes), and a program not known to run with
  pipefail is reported.

Untrusted, besides expressions.UNTRUSTED: `matrix.x` of a job whose matrix is built from an
untrusted value. Trusted: `env.X` bound by the workflow, job or step `env:` to a clean value.
- CNV_GHA_6: a `run:` that writes an untrusted value (bound by `env:`) into `$GITHUB_ENV` or
  `$GITHUB_PATH` (envfile.py).

Owner and repository names in `uses:` are compared without case, as GitHub resolves them; a
step reached twice through a YAML alias is reported once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from conveyor.scan.envfile import untrusted_writes
from conveyor.scan.expressions import DEFAULT, Trust, untrusted_paths
from conveyor.scan.model import Finding
from conveyor.scan.settings import ScanConfig
from conveyor.scan.shell import fails_on_pipes, unguarded_pipes

__all__ = ["action_name", "inline_skip", "scan_file"]

PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
DIGEST = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
# What a job's `container:` or a service hands to `docker create`.
CONTAINER_KEYS = ("image", "options", "volumes")
SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def is_pinned(uses: str) -> bool:
    """Same rule as CNV_GHA_1: local paths, full commit SHAs and image digests pass."""
    uses = uses.strip()
    return uses.startswith("./") or bool(PINNED.match(uses) or DIGEST.match(uses))


def action_name(uses: str) -> str:
    """`owner/repo[/path]` of a `uses:` in lower case (GitHub matches owner and repository names
    without case), or `docker://...` as given; "" for a local action."""
    uses = uses.strip()
    if uses.lower().startswith("docker://"):
        return "docker://" + uses[len("docker://") :]
    if uses.startswith("./"):
        return ""
    return uses.split("@", 1)[0].rstrip("/").lower()


def is_docker(uses: str) -> bool:
    """A step that runs a container image directly (`docker://`, any letter case)."""
    return action_name(uses).startswith("docker://")


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if k.value == key), None)


def _steps(steps: yaml.Node | None) -> list[tuple[int, dict[str, Any]]]:
    """Each step of a steps list with its 1-based line."""
    if not isinstance(steps, yaml.SequenceNode):
        return []
    out = []
    for item in steps.value:
        value = yaml.safe_load(yaml.serialize(item))
        if isinstance(value, dict):
            out.append((item.start_mark.line + 1, value))
    return out


def _default_shell(node: yaml.Node | None) -> str | None:
    """`defaults.run.shell` of a workflow or job node."""
    shell = _child(_child(_child(node, "defaults"), "run"), "shell")
    return str(shell.value) if isinstance(shell, yaml.ScalarNode) else None


def _inputs(step: dict[str, Any], name: str) -> list[object]:
    """The step's `with:` values for input ``name``: the runner matches input names without
    case (`Script:` is `script:`), so every spelling counts."""
    inputs = step.get("with")
    if not isinstance(inputs, dict):
        return []
    return [value for key, value in inputs.items() if str(key).strip().lower() == name]


def _sinks(step: dict[str, Any]) -> list[tuple[str, object]]:
    """(what, text) of each place where a `${{ }}` value becomes code or a command line."""
    sinks: list[tuple[str, object]] = [("Script", step.get("run"))]
    uses = str(step.get("uses", ""))
    # actions/github-script evaluates `script:` as JavaScript: the same injection.
    if action_name(uses) == "actions/github-script":
        sinks += [("github-script `script:`", v) for v in _inputs(step, "script")]
    # A container step's args become the container's command line (and entrypoint its program).
    if is_docker(uses):
        for key in ("args", "entrypoint"):
            sinks += [(f"Container `{key}:`", v) for v in _inputs(step, key)]
    return sinks


def _strings(value: object) -> list[str]:
    """Every string inside a YAML value (lists and mappings, keys included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    return []


def _interpolation(
    what: str, text: object, path: Path, line: int, config: ScanConfig, trust: Trust = DEFAULT
) -> list[Finding]:
    """CNV_GHA_4 when ``text`` (a string, or a list of them) carries untrusted values."""
    untrusted: list[str] = []
    for item in _strings(text):
        untrusted += [u for u in untrusted_paths(item, trust) if u not in untrusted]
    if not untrusted:
        return []
    title = f"{what} interpolates untrusted ${{{{ }}}} values: {', '.join(untrusted)}"
    return [_finding("CNV_GHA_4", title, path, line, config)]


def _step_findings(
    step: dict[str, Any],
    shell: str | None,
    path: Path,
    line: int,
    config: ScanConfig,
    env: dict[str, Any] | None = None,
    trust: Trust = DEFAULT,
) -> list[Finding]:
    """CNV_GHA_4, 5 and 6 for one step; ``shell``, ``env`` and ``trust`` are what the job and
    workflow give it."""
    findings = []
    run = step.get("run")
    step_env = step.get("env")
    step_env = step_env if isinstance(step_env, dict) else {}
    inside = bound_trust(trust, [step_env])  # the step's own env is in its scripts' context
    # One finding per step, naming every sink (a docker step's args and entrypoint both).
    sinks = [
        f
        for what, text in _sinks(step)
        for f in _interpolation(what, text, path, line, config, inside)
    ]
    if sinks:
        title = "; ".join(f.title for f in sinks)
        findings.append(_finding("CNV_GHA_4", title, path, line, config))
    if isinstance(run, str):
        bound = {**(env or {}), **step_env}
        effective = step.get("shell", shell)
        writes = untrusted_writes(
            run, bound, str(effective) if effective is not None else None, trust
        )
        if writes:
            findings.append(
                _finding(
                    "CNV_GHA_6",
                    f"run: writes untrusted values into an env file: {', '.join(writes)}",
                    path,
                    line,
                    config,
                )
            )
    effective = step.get("shell", shell)
    effective = str(effective) if effective is not None else None
    pipefail = fails_on_pipes(effective)
    if isinstance(run, str) and pipefail is not None:
        # In script order: `set +o pipefail` turns bash's off, a pipe before
        # `set -o pipefail` runs without it.
        unguarded = unguarded_pipes(run, pipefail)
        if unguarded:
            at = run.count("\n", 0, unguarded[0]) + 1
            findings.append(
                _finding(
                    "CNV_GHA_5",
                    f"run: pipes without pipefail (shell: {effective or 'default, bash -e'}, "
                    f"script line {at}): "
                    "a failing command before the last `|` does not fail the step",
                    path,
                    line,
                    config,
                )
            )
    return findings


def _env(node: yaml.Node | None) -> dict[str, Any]:
    """The `env:` mapping of a workflow or job node."""
    value = yaml.safe_load(yaml.serialize(node)) if node is not None else None
    return value if isinstance(value, dict) else {}


def bound_trust(trust: Trust, layers: list[dict[str, Any]]) -> Trust:
    """``trust`` after `env:` mappings (workflow, job, step, in that order, each overriding the
    last): `env.NAME` bound to a value with no untrusted path is trusted, one bound to an
    untrusted value is not. Names are compared without case, as expressions read them. An
    earlier step could still rebind NAME through $GITHUB_ENV: that write is CNV_GHA_6's."""
    clean = {t[1] for t in trust.trusted if len(t) == 2 and t[0] == "env"}
    for layer in layers:
        tainted = {str(name).lower() for name, value in layer.items() if _tainted(value, trust)}
        clean = (clean | {str(name).lower() for name in layer}) - tainted
    others = tuple(t for t in trust.trusted if t[:1] != ("env",))
    return Trust(trust.untrusted, others + tuple(("env", name) for name in sorted(clean)))


def _tainted(value: object, trust: Trust) -> bool:
    return any(untrusted_paths(text, trust) for text in _strings(value))


def matrix_trust(job: yaml.Node | None, trust: Trust = DEFAULT) -> Trust:
    """``trust`` plus the job's matrix values built from untrusted ones: `matrix.title` when
    `strategy.matrix.title` (or an `include:` entry's `title`) carries `${{ github.event.* }}`,
    the whole `matrix` when the matrix or its `include:` is itself such an expression."""
    node = _child(_child(job, "strategy"), "matrix")
    if node is None:
        return trust
    matrix = yaml.safe_load(yaml.serialize(node))
    if not isinstance(matrix, dict):
        return trust.adding(("matrix",)) if _tainted(matrix, trust) else trust
    added: list[tuple[str, ...]] = []
    for key, value in matrix.items():
        name = str(key).lower()
        if name == "exclude":
            continue  # removes combinations, adds no value
        if name != "include":
            if _tainted(value, trust):
                added.append(("matrix", name))
            continue
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            if not isinstance(entry, dict):
                if _tainted(entry, trust):
                    added.append(("matrix",))
                continue
            added += [("matrix", str(k).lower()) for k, v in entry.items() if _tainted(v, trust)]
    return trust.adding(*added)


Step = tuple[int, dict[str, Any], str | None, dict[str, Any], Trust]


def scan_workflow(root: Path, path: Path) -> list[Step]:
    """Each step of every job of a workflow: (line, step, the job's or workflow's default
    shell, the `env:` they give it, the trust of the job's contexts)."""
    node = yaml.compose((root / path).read_text(encoding="utf-8"))
    top = _default_shell(node)
    top_env = _env(_child(node, "env"))
    jobs = _child(node, "jobs")
    out = []
    if isinstance(jobs, yaml.MappingNode):
        for _, job in jobs.value:
            shell = _default_shell(job) or top
            job_env = _env(_child(job, "env"))
            env = {**top_env, **job_env}
            trust = bound_trust(matrix_trust(job), [top_env, job_env])
            out += [(line, step, shell, env, trust) for line, step in _steps(_child(job, "steps"))]
    return out


def _job_containers(node: yaml.Node | None, path: Path, config: ScanConfig) -> list[Finding]:
    """CNV_GHA_4 on the containers a workflow's jobs run in (`container:` and `services:`): an
    untrusted `image` runs the attacker's image, `options`/`volumes` go to `docker create`
    (`--privileged`, `-v /:/host`)."""
    jobs = _child(node, "jobs")
    findings: list[Finding] = []
    if not isinstance(jobs, yaml.MappingNode):
        return findings
    for _, job in jobs.value:
        containers = [_child(job, "container")]
        services = _child(job, "services")
        if isinstance(services, yaml.MappingNode):
            containers += [service for _, service in services.value]
        for container in containers:
            if isinstance(container, yaml.ScalarNode):  # `container: image:tag`
                parts = [("image", container)]
            elif isinstance(container, yaml.MappingNode):
                parts = [(str(k.value), v) for k, v in container.value if k.value in CONTAINER_KEYS]
            else:
                continue
            trust = matrix_trust(job)  # a container's image may come from the matrix
            for key, value in parts:
                text = yaml.safe_load(yaml.serialize(value))
                what = f"Job container `{key}:`"
                line = value.start_mark.line + 1
                findings += _interpolation(what, text, path, line, config, trust)
    return findings


def _container_action(node: yaml.Node | None, path: Path, config: ScanConfig) -> list[Finding]:
    """CNV_GHA_4 on a Docker action's `runs:` command line (action.yml `runs.args`, entrypoints):
    the runner passes them to `docker run`. Its inputs reach the container as `INPUT_<NAME>`
    variables, which is the safe way."""
    runs = _child(node, "runs")
    using = _child(runs, "using")
    if not (isinstance(using, yaml.ScalarNode) and str(using.value).lower() == "docker"):
        return []
    findings = []
    for key in ("args", "entrypoint", "pre-entrypoint", "post-entrypoint"):
        value = _child(runs, key)
        if value is not None:
            text = yaml.safe_load(yaml.serialize(value))
            what = f"Container `runs.{key}:`"
            findings += _interpolation(what, text, path, value.start_mark.line + 1, config)
    return findings


def scan_file(root: Path, path: Path, config: ScanConfig, composite: bool) -> list[Finding]:
    """Findings for a workflow or a composite action; a `# checkov:skip=ID:reason` on a step's
    first lines is honoured as in workflows (the caller records it)."""
    findings = []
    steps: list[Step]
    if composite:
        node = yaml.compose((root / path).read_text(encoding="utf-8"))
        # A composite step has no defaults to inherit: each `run:` names its shell.
        steps = [
            (line, step, None, {}, DEFAULT)
            for line, step in _steps(_child(_child(node, "runs"), "steps"))
        ]
        findings += _container_action(node, path, config)
    else:
        steps = scan_workflow(root, path)
        findings += _job_containers(
            yaml.compose((root / path).read_text(encoding="utf-8")), path, config
        )
    for line, step, shell, env, trust in steps:
        uses = step.get("uses")
        if composite and isinstance(uses, str) and not is_pinned(uses):
            findings.append(
                _finding(
                    "CNV_GHA_1", "Remote action is not pinned to a commit SHA", path, line, config
                )
            )
        findings += _step_findings(step, shell, path, line, config, env, trust)
    return _unique(findings)


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per file, line and rule: steps shared through a YAML anchor and alias are one
    node, seen once per place that reaches it."""
    seen: set[tuple[str, str, int]] = set()
    out = []
    for finding in findings:
        key = (finding.policy_id, finding.file, finding.line)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out


def scan_action(root: Path, path: Path, config: ScanConfig) -> list[Finding]:
    """Findings for one composite action."""
    return scan_file(root, path, config, composite=True)


def _finding(policy_id: str, title: str, path: Path, line: int, config: ScanConfig) -> Finding:
    info = config.policies.get(policy_id)
    return Finding(
        policy_id,
        title,
        info.severity if info else "high",
        path.as_posix(),
        line,
        info.remedy if info else "see docs/security.md",
        source="conveyor",
    )


def inline_skip(root: Path, finding: Finding) -> tuple[str, str] | None:
    """(policy id, reason) of a `checkov:skip` comment on the finding's line or the next one."""
    lines = (root / finding.file).read_text(encoding="utf-8").splitlines()
    for text in lines[finding.line - 1 : finding.line + 1]:
        match = SKIP.search(text)
        if match and match.group(1) == finding.policy_id:
            return match.group(1), (match.group(2) or "").strip()
    return None
