"""The release record: one versioned JSON document joining a release's artifacts and the verdict
of every gate it passed. Promotion copies it beside the digest it vouches for.

The record is built by the release workflow once the image is pushed (its digest only exists then)
and is verified again before every promotion and rollback.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from conveyor import git
from conveyor.config import Strict, parse_yaml
from conveyor.errors import ConfigError, UserError
from conveyor.files import kind_of, read_json, read_text, write_json
from conveyor.gate import Gates, evaluate_at

__all__ = [
    "COMMIT",
    "FIRST_RELEASE",
    "Baseline",
    "Canonical",
    "GateVerdict",
    "RecordRejectedError",
    "ReleaseRecord",
    "build_record",
    "commit_problems",
    "content_digest",
    "decode_record",
    "image_digest",
    "in_repository",
    "junit_property",
    "load_record",
    "metrics_verdict_at",
    "on_branch",
    "parse_record",
    "problems",
    "recorded_baseline",
    "release_version",
    "repository",
    "seal",
    "security_verdict",
    "sha256_digest",
    "tests_verdict",
    "verify",
    "write_record",
]

SCHEMA_VERSION: Final = 1  # Final: its type is Literal[1], the schema field's
# \Z, never $: `$` also matches before a final newline, so "v1.0.0\n" passed as a version (a
# pod label, a line of $GITHUB_OUTPUT), and a digest or commit with a newline passed as one.
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")
COMMIT = re.compile(r"^[0-9a-f]{40}\Z")
VERSION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?\Z")
GATES = ("tests", "data", "metrics", "security")
FIRST_RELEASE = "none (first release)"
CLOCK_SKEW = timedelta(minutes=5)


class RecordRejectedError(UserError):
    """A record that is malformed, or vouches for a release that must not ship (exit 1)."""

    exit_code = 1


class GateVerdict(Strict):
    """One gate's outcome, with a line a person can read and the evidence file it came from.

    ``inputs`` ties a verdict to the commit it was established on: the hashes of what it was
    computed from, as committed there (see ``commit_problems``)."""

    passed: bool
    summary: str
    source: str | None = None
    inputs: dict[str, str] | None = None

    @model_serializer(mode="wrap")
    def _without_empty_inputs(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Records written before `inputs` existed keep their record_digest.
        data: dict[str, Any] = handler(self)
        if data.get("inputs") is None:
            data.pop("inputs", None)
        return data


def sha256_digest(value: str) -> str:
    """``value`` if it is a sha256 digest; a ValueError saying why not."""
    if not DIGEST.match(value):
        raise ValueError("must be sha256: followed by 64 lowercase hex digits")
    return value


def release_version(value: str) -> str:
    """``value`` if it may be a release version; a ValueError saying why not. The record's
    ``version`` and ``release record --version`` both check with this."""
    # It becomes the pods' `version` label and a line of $GITHUB_OUTPUT: Kubernetes label
    # rules, which also rule out newlines and spaces.
    if not VERSION.match(value):
        raise ValueError(
            "must be a Kubernetes label value: up to 63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit (e.g. v1.4.0)"
        )
    return value


# An image name as the distribution reference grammar has it (docker/distribution reference.go):
# an optional registry host[:port], then lowercase path components joined by '/', then an
# optional tag (which `problems` refuses beside a digest, with its own message). The reference
# reaches `cosign` as an argument: a name that starts with '-' would be read as an option.
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_NAME = re.compile(
    rf"^(?:{_HOST}(?::[0-9]{{1,5}})?/)?{_PATH}(?:/{_PATH})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?\Z"
)


def image_digest(reference: str) -> str:
    """The sha256 digest an image ``reference`` (REGISTRY/NAME@sha256:DIGEST) pins; a
    ValueError when it pins none (``release record --image`` and the record both use it)."""
    name, at, digest = reference.rpartition("@")
    if not at or not name or not DIGEST.match(digest):
        raise ValueError(
            "must be REGISTRY/NAME@sha256:DIGEST (a digest of 64 lowercase hex digits, no tag)"
        )
    if not IMAGE_NAME.match(name):
        raise ValueError(
            f"{name!r} is not an image name (REGISTRY/NAME: lowercase letters, digits and "
            "separators, no leading '-')"
        )
    return digest


# An image or document digest, as registries and `sha256sum` write it (one rule, one message).
Sha256Digest = Annotated[str, AfterValidator(sha256_digest)]


class Image(Strict):
    reference: str = Field(description="registry/name@sha256:..., what the cluster pulls")
    digest: Sha256Digest

    @model_validator(mode="after")
    def _reference(self) -> Image:
        # After the fields: a bad digest is named as such first. The name is an image name
        # (cosign is handed the reference as an argument); that the two digests agree, and that
        # no tag is given, `problems` says in its own words.
        try:
            image_digest(self.reference)
        except ValueError as exc:
            raise ValueError(f"reference {self.reference!r}: {exc}") from None
        return self


class ReleaseRecord(Strict):
    """Schema version 1 of the release record (``conveyor release record``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    version: str = Field(min_length=1, description="the release tag, e.g. v1.4.0")
    created_at: datetime
    git_commit: str
    model_tag: str = Field(min_length=1)
    data_md5: str | None
    params_md5: str
    bento_tag: str = Field(min_length=1)
    image: Image
    sbom_digest: Sha256Digest | None = None
    signature: str | None = None
    gates: dict[str, GateVerdict]
    # sha256 of every other field in canonical JSON: a record edited after it was written (by
    # hand, or by a bad merge) no longer matches. Integrity, not authenticity: the image signature
    # and the reviewed promotion PR are what an attacker cannot forge.
    record_digest: str | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        return release_version(value)

    @field_validator("git_commit")
    @classmethod
    def _commit(cls, value: str) -> str:
        if not COMMIT.match(value):
            raise ValueError("must be a full 40-hex git commit")
        return value


def content_digest(data: dict[str, Any]) -> str:
    """sha256 of a record's fields (all but record_digest) as canonical JSON."""
    fields = {key: value for key, value in data.items() if key != "record_digest"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def seal(record: ReleaseRecord) -> ReleaseRecord:
    """The record with its record_digest set from its content."""
    data = record.model_dump(mode="json")
    return record.model_copy(update={"record_digest": content_digest(data)})


def parse_record(data: Any, origin: str) -> ReleaseRecord:
    """Validate a decoded record; the error names the origin and the first bad field."""
    try:
        return ReleaseRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(record)"
        raise RecordRejectedError(f"{origin}: {key}: {first['msg']}") from None


# One rule for every reader of a record (a file, or a blob of an environment's history): bytes
# that are no record at all (not UTF-8, not JSON, not a JSON object) are a usage error (exit 2,
# the command was pointed at the wrong thing); a JSON object that breaks the schema, or a record
# that must not ship, is a rejected record (exit 1, a check that failed).


def load_record(path: Path) -> ReleaseRecord:
    """Read and validate a record file (exit 2: no record at all; exit 1: a bad record)."""
    return parse_record(read_json(path, "release record"), str(path))


def decode_record(raw: bytes, origin: str) -> ReleaseRecord:
    """Validate a record from its bytes as committed (a git blob), by load_record's rule."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{origin}: not UTF-8 text (release record)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{origin}: not JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise UserError(f"{origin}: nested too deeply to read as JSON") from None
    if not isinstance(data, dict):
        raise UserError(f"{origin}: expected a JSON object, got {kind_of(data)} (release record)")
    return parse_record(data, origin)


def problems(record: ReleaseRecord) -> list[str]:
    """Why a well-formed record must not be promoted; empty when it may."""
    found = []
    if record.record_digest is None:
        found.append("record_digest is missing (write records with `conveyor release record`)")
    elif record.record_digest != content_digest(record.model_dump(mode="json")):
        found.append("record was changed after it was written (record_digest does not match)")
    found += [f"gate {name!r} is missing" for name in GATES if name not in record.gates]
    found += [
        f"gate {name!r} did not pass: {verdict.summary}"
        for name, verdict in record.gates.items()
        if not verdict.passed
    ]
    name, _, digest = record.image.reference.rpartition("@")
    if not name or digest != record.image.digest:
        found.append(
            f"image reference {record.image.reference!r} does not end in @{record.image.digest}"
        )
    elif ":" in name.rsplit("/", 1)[-1]:
        found.append(
            f"image reference {record.image.reference!r} carries a tag as well as a digest"
        )
    if record.created_at.tzinfo is None:
        found.append("created_at has no time zone")
    elif record.created_at > datetime.now(UTC) + CLOCK_SKEW:
        found.append(f"created_at {record.created_at.isoformat()} is in the future")
    return found


def verify(record: ReleaseRecord, origin: str) -> None:
    """Raise a UserError (exit 1) naming every reason the record may not be promoted."""
    found = problems(record)
    if found:
        raise RecordRejectedError(f"{origin}: not promotable: " + "; ".join(found))


# --- the gates' evidence, re-established on the release's commit ------------------------------
#
# A verdict file committed to git is a claim anyone with push access can edit. So the record
# does not read them as they are: the metric gate is evaluated again from the metrics and rules
# committed at the release's commit, and every data-contract verdict must be the one that
# commit's dvc.lock records, for the data that commit's pipeline produced, and must have passed
# again when the release job re-ran the contracts (the fresh verdicts in the working tree).
# Each verdict carries `inputs` (hashes of what it was computed from), which `release verify`
# recomputes from the commit.


def _blob_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object a committed file (git blob, not a file on disk) holds; None if none."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8 or not JSON: no verdict at all
        return None
    return data if isinstance(data, dict) else None


_COUNT = re.compile(r"[0-9]{1,18}")  # ASCII digits: int() also reads " 3", "1_0", full-width digits


def _count(suite: ET.Element, key: str, junit: Path) -> int:
    value = suite.get(key, "0")
    if not _COUNT.fullmatch(value):
        raise UserError(f"{junit}: testsuite {key}={value!r} is not a count")
    return int(value)


# A test case's outcome element, per count of its suite (pytest --junitxml, and JUnit's schema).
_OUTCOMES = {"failures": "failure", "errors": "error", "skipped": "skipped"}


def _suite_counts(suite: ET.Element, junit: Path) -> dict[str, int]:
    """A leaf suite's counts: its attributes, but never fewer than its own test cases show (a
    report whose counts say 0 failures beside a <failure> is not taken at its word)."""
    cases = suite.findall("testcase")
    shown = {key: sum(c.find(tag) is not None for c in cases) for key, tag in _OUTCOMES.items()}
    shown["tests"] = len(cases)
    return {key: max(_count(suite, key, junit), shown[key]) for key in shown}


class _DoctypeError(Exception):
    """A document type declaration: what entity expansion needs."""


class _NoDoctype(ET.TreeBuilder):
    """A tree builder that stops the parse at a DOCTYPE. Every entity the expat parser would
    expand (a billion nested "laughs", an external SYSTEM file or URL) is declared in a DTD; a
    JUnit report has no use for one, so refusing the declaration refuses the whole class."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _DoctypeError(name)


def _junit_root(junit: Path) -> ET.Element:
    """The root element of a JUnit report; a usage error (exit 2) naming the file for one that
    is no XML, or declares a DOCTYPE (the report is made by the test job a pull request may
    change, so it is read as untrusted)."""
    text = read_text(junit, "JUnit report")
    parser = ET.XMLParser(target=_NoDoctype())  # noqa: S314 - stops at a DTD: nothing expands
    try:
        parser.feed(text)
        return parser.close()
    except _DoctypeError:
        raise UserError(
            f"{junit}: declares a DOCTYPE; a JUnit report needs none (entities are refused)"
        ) from None
    except ET.ParseError as exc:
        raise UserError(f"{junit}: not JUnit XML ({exc})") from None


def tests_verdict(junit: Path) -> GateVerdict:
    """The tests gate from a JUnit XML report (pytest --junitxml): passed when at least one test
    ran (skipped ones did not) and none failed or errored."""
    root = _junit_root(junit)
    if root.tag not in ("testsuite", "testsuites"):
        raise UserError(f"{junit}: not JUnit XML (root element <{root.tag}>)")
    # Suites may nest (one per file or class under a run's suite): the innermost ones hold
    # the counts; an outer suite's own counts repeat theirs, so only the leaves are summed.
    suites = [s for s in root.iter("testsuite") if s.find("testsuite") is None]
    counted = [_suite_counts(s, junit) for s in suites]
    count = {k: sum(c[k] for c in counted) for k in ("tests", "skipped", "failures", "errors")}
    bad = count["failures"] + count["errors"]
    ran = count["tests"] - count["skipped"]
    summary = f"{count['tests']} tests, {count['failures']} failed, {count['errors']} errors"
    if count["skipped"]:
        summary += f", {count['skipped']} skipped"
    if ran <= 0:
        summary += ": no test ran"  # all skipped, or none collected, proves nothing
    return GateVerdict(passed=ran > 0 and bad == 0, summary=summary, source=str(junit))


def junit_property(junit: Path, name: str) -> list[str]:
    """The values of every ``<property name=NAME>`` in a JUnit report (pytest writes a run's
    testsuite properties there), read by the same guarded parser as the tests verdict."""
    return [
        prop.get("value", "")
        for prop in _junit_root(junit).iter("property")
        if prop.get("name") == name
    ]


def security_verdict(scan_json: Path) -> GateVerdict:
    """The security gate from ``conveyor scan``'s scan.json."""
    scan = read_json(scan_json, "security scan verdict")
    findings = scan.get("findings")
    if not isinstance(findings, list):  # `conveyor scan` always writes both keys
        raise UserError(f"{scan_json}: findings: expected a list (security scan verdict)")
    claimed = scan.get("passed")
    if not isinstance(claimed, bool):  # `{}` is no verdict, and never a passed one
        raise UserError(f"{scan_json}: passed: expected true or false (security scan verdict)")
    summary = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
    if claimed and findings:
        summary += " (the file says passed: its findings say otherwise)"
    return GateVerdict(passed=claimed and not findings, summary=summary, source=str(scan_json))


def _sha256(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def repository(path: Path) -> Path:
    """The top folder of the git repository ``path`` is in (a usage error when none)."""
    top = git.toplevel(path)
    if top is None:
        raise UserError(f"--repo {path}: not a git repository")
    return top


def in_repository(top: Path, path: Path | str, option: str) -> str:
    """``path`` as a repository-relative POSIX path (absolute paths must lie inside ``top``)."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(top)
        except ValueError:
            raise UserError(f"{option} {path}: not inside the repository {top}") from None
    # One spelling per file: "sub/../params.yaml" is params.yaml (a record and the project's
    # --params are compared as text, and git reads tree paths, where '..' means nothing).
    text = posixpath.normpath(candidate.as_posix())
    if text.startswith("../") or text == "..":
        raise UserError(f"{option} {path}: not inside the repository {top}")
    return text


def require_commit(top: Path, commit: str) -> str:
    """The commit, checked to exist in the repository (exit 1 when it does not: unprovable)."""
    if not COMMIT.match(commit) or git.resolve_commit(commit, top) != commit:
        raise RecordRejectedError(
            f"commit {commit} is not in the repository {top}: its verdicts cannot be checked "
            "(fetch it: the checkout needs the full history)"
        )
    return commit


def on_branch(top: Path, commit: str, branch: str) -> None:
    """Refuse (exit 1) a commit that is not in ``branch``'s history: a release ships only what
    the default branch's reviews and gates saw."""
    tip = git.resolve_commit(branch, top, "--branch")  # an ambiguous name is refused there
    git.require_branch(branch, top)  # and a tag alone is no branch
    if tip is None:
        raise UserError(
            f"--branch {branch}: no such branch or ref in {top} (fetch it: actions/checkout "
            "needs fetch-depth: 0)"
        )
    if not git.is_ancestor(commit, tip, top):
        raise RecordRejectedError(
            f"commit {commit[:12]} is not on {branch}'s history: release only tags of commits "
            f"that reached {branch} through review"
        )


def _committed(top: Path, commit: str, path: str) -> bytes:
    raw = git.show_file(commit, path, top)
    if raw is None:
        raise RecordRejectedError(f"{path} at {commit[:12]}: no such file")
    return raw


@dataclass(frozen=True)
class Baseline:
    """The regression baseline of a release: the champion's commit (FIRST_RELEASE when none
    is live), the base-branch commit it was read from, and how a verdict names it. Found by
    ``conveyor.promotion.champion`` (it reads the promotion policy, a layer above this one)."""

    commit: str
    source: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Canonical:
    """The files a release's metric and data gates are re-established from: the gates file and
    the contract-verdict folder the project's release job uses (``release record``'s --params and
    --data-dir defaults). A record naming others chose its own rules, so it is refused: a
    side file holding looser gates would otherwise pass."""

    params: str = "params.yaml"
    folder: str = "reports/data"

    def problems(self, record: ReleaseRecord) -> list[str]:
        """Why ``record``'s metric or data verdict names other inputs than these."""
        found = []
        for gate, key, expected, option in (
            ("metrics", "params", self.params, "--params"),
            ("data", "folder", self.folder, "--data-dir"),
        ):
            verdict = record.gates.get(gate)
            named = (verdict.inputs or {}).get(key) if verdict is not None else None
            if named is not None and named != expected:
                found.append(
                    f"gate {gate!r} was evaluated from {named!r}, not from {expected!r} "
                    f"(the project's {option}): a record does not choose its own rules"
                )
        return found


def recorded_baseline(record: ReleaseRecord) -> Baseline | None:
    """The baseline ``record``'s metric verdict says it was evaluated against; None when the
    verdict names none (no inputs, or no baseline_commit)."""
    verdict = record.gates.get("metrics")
    inputs = verdict.inputs if verdict is not None else None
    if not inputs or "baseline_commit" not in inputs:
        return None
    return Baseline(inputs["baseline_commit"], inputs.get("baseline_source"))


def _pinned(top: Path, baseline: Baseline) -> tuple[str, str | None]:
    """The baseline commit, checked to exist, and how to name it (None: a first release)."""
    if baseline.commit == FIRST_RELEASE:
        return FIRST_RELEASE, None
    return require_commit(top, baseline.commit), baseline.label or baseline.commit[:12]


def metrics_verdict_at(
    top: Path,
    commit: str,
    baseline: Baseline,
    params: str = "params.yaml",
    fresh: Path | None = None,
) -> GateVerdict:
    """The metric gate evaluated again from ``params`` (its ``gates:``) and the metrics files
    committed at ``commit``; gate.json is not read. Each metrics file must be the one the
    commit's dvc.lock says the pipeline made, and (``fresh``: the checkout where the release job
    re-ran the evaluation) the same once computed again. The regression rules compare with
    ``baseline`` (the champion, ``conveyor.promotion.champion``; ``gates.baseline_ref`` is the pull
    requests' baseline, not a release's); a first release has none and says they were not
    applied."""
    origin = f"{params} at {commit[:12]}"
    raw = _committed(top, commit, params)
    try:
        gates = Gates.model_validate(parse_yaml(Path(origin), raw.decode("utf-8")).get("gates"))
    # A gates section that cannot be read is a bad input, as for `conveyor gate` (exit 2), not a
    # failed gate: the gate was never evaluated. (`release verify` reports it as a mismatch.)
    except UnicodeDecodeError:
        raise ConfigError(f"{origin}: not UTF-8 text") from None
    except ConfigError as exc:
        raise ConfigError(f"{origin}: gates: not a valid gates section ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"{origin}: gates: not a valid gates section ({key}: {first['msg']})"
        ) from None
    baseline_commit, against = _pinned(top, baseline)
    try:
        result = evaluate_at(
            gates, commit, None if baseline_commit == FIRST_RELEASE else baseline_commit, root=top
        )
    except UserError as exc:  # a committed metrics file that is not JSON: the gate cannot pass
        raise RecordRejectedError(f"metric gate at {commit[:12]}: {exc}") from None
    canonical = json.dumps(gates.model_dump(mode="json"), sort_keys=True).encode()
    inputs = {"params": params, "baseline_commit": baseline_commit}
    if baseline.source is not None:  # records made before the champion rule name none
        inputs["baseline_source"] = baseline.source
    inputs[f"{params}:gates"] = _sha256(canonical)
    stages = _lock_stages(top, commit)
    unproven = []
    for file in sorted({rule.file.as_posix() for rule in gates.rules}):
        content = git.show_file(commit, file, top)
        inputs[file] = "absent" if content is None else _sha256(content)
        if content is None:
            continue  # the rules on it fail: no metric
        why, _ = _lineage_problems(
            file, content, stages, lambda dep: git.show_file(commit, dep, top)
        )
        if fresh is not None:
            try:
                again = (fresh / file).read_bytes()
            except OSError:
                again = None
            if again != content:
                why.append("differs when computed again on this commit")
        unproven += [f"{file}: {reason}" for reason in why]
    summary = f"{len(result.failures)} of {len(result.checks)} rules failed " + (
        f"against {against}"
        if against
        else "(no previous release"
        + (f" live at {baseline.source[:12]}" if baseline.source else "")
        + ": regression rules not applied)"
    )
    summary += f" (re-evaluated at {commit[:12]})"
    failed = [f"{check.metric} {check.reason}" for check in result.failures]
    if failed:
        summary += f": {'; '.join(failed[:3])}" + ("; ..." if len(failed) > 3 else "")
    if unproven:
        summary += f"; metrics not established: {'; '.join(unproven)}"
    return GateVerdict(
        passed=result.passed and not unproven,
        summary=summary,
        source=f"{params}@{commit}",
        inputs=inputs,
    )


def _lock_stages(top: Path, commit: str) -> dict[str, Any]:
    raw = _committed(top, commit, "dvc.lock")
    try:
        lock = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError):
        raise RecordRejectedError(f"dvc.lock at {commit[:12]}: not a YAML document") from None
    stages = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages, dict):
        raise RecordRejectedError(f"dvc.lock at {commit[:12]}: no stages")
    return stages


def _entries(stage: Any, kind: str) -> dict[str, str]:
    """path -> md5 of a dvc.lock stage's deps or outs."""
    items = stage.get(kind) if isinstance(stage, dict) else None
    return {
        str(item["path"]): str(item.get("md5"))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and "path" in item
    }


def _lineage_problems(
    path: str, raw: bytes, stages: dict[str, Any], committed: Callable[[str], bytes | None]
) -> tuple[list[str], dict[str, str]]:
    """Why a committed pipeline output is not what the commit's dvc.lock says the pipeline made
    (edited by hand, stale against its inputs, or made with other committed files), and the
    stage's deps (path -> md5) it was made from."""
    md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    outputs = {out: h for stage in stages.values() for out, h in _entries(stage, "outs").items()}
    writer = next((s for s in stages.values() if path in _entries(s, "outs")), None)
    if writer is None:
        return ["not an output of any stage in dvc.lock"], {}
    deps = _entries(writer, "deps")
    why = []
    if outputs[path] != md5:
        why.append("differs from the one dvc.lock records (edited by hand?)")
    why += [
        f"made from {dep} md5 {made[:8]}, but the pipeline's {dep} is {outputs[dep][:8]}"
        for dep, made in deps.items()
        if dep in outputs and outputs[dep] != made
    ]
    # A file kept in git (a contract, the code) must be the one the output was made with.
    for dep, made in deps.items():
        content = None if dep in outputs else committed(dep)
        if content is not None and hashlib.md5(content, usedforsecurity=False).hexdigest() != made:
            why.append(f"{dep} changed after it was made (dvc.lock has md5 {made[:8]})")
    return why, deps


def _one_data_verdict(
    name: str,
    raw: bytes,
    path: str,
    stages: dict[str, Any],
    fresh: Path | None,
    committed: Callable[[str], bytes | None],
) -> tuple[list[str], dict[str, str]]:
    """Why one committed contract verdict does not stand, and the inputs it was computed from."""
    md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    verdict = _blob_object(raw)
    if verdict is None:
        return [f"{path}: not a JSON object (data-contract verdict)"], {name: f"md5:{md5}"}
    why = [] if verdict.get("passed") is True else ["failed"]
    lineage, deps = _lineage_problems(path, raw, stages, committed)
    why += lineage
    if fresh is not None:
        again = fresh / Path(path).name
        try:
            rechecked = read_json(again, "data-contract verdict")
        except UserError:
            why.append(f"not re-checked on this commit ({again} is missing or unreadable)")
        else:
            if rechecked.get("passed") is not True:
                why.append("failed when re-checked on this commit")
    inputs = {name: f"md5:{md5}"} | {f"{name}:{dep}": f"md5:{h}" for dep, h in deps.items()}
    return why, inputs


def data_verdict_at(
    top: Path, commit: str, folder: str = "reports/data", fresh: Path | None = None
) -> GateVerdict:
    """The data gate: every contract verdict committed in ``folder`` at ``commit`` passed, is the
    one dvc.lock records there, was computed on the data the pipeline produced, and (``fresh``:
    the folder the release job re-ran the contracts into) passed again."""
    paths = [p for p in git.list_files(commit, folder, top) if p.endswith(".json")]
    if not paths:
        raise RecordRejectedError(f"{folder} at {commit[:12]}: no data-contract verdicts (*.json)")
    stages = _lock_stages(top, commit)
    failed, inputs = [], {"folder": folder}
    for path in paths:
        name = Path(path).stem
        why, found = _one_data_verdict(
            name,
            _committed(top, commit, path),
            path,
            stages,
            fresh,
            lambda dep: git.show_file(commit, dep, top),
        )
        inputs |= found
        if why:
            failed.append(f"{name}: {', '.join(why)}")
    if fresh is not None and fresh.is_dir():
        committed = {Path(p).name for p in paths}
        failed += [
            f"{extra.stem}: re-checked but not committed at {commit[:12]}"
            for extra in sorted(fresh.glob("*.json"))
            if extra.name not in committed
        ]
    return GateVerdict(
        passed=not failed,
        summary=f"{len(paths) - len(failed)}/{len(paths)} contracts passed at {commit[:12]}"
        + (f" (failed: {'; '.join(failed)})" if failed else ""),
        source=f"{folder}@{commit}",
        inputs=inputs,
    )


def commit_problems(
    record: ReleaseRecord,
    top: Path,
    baseline: Baseline | None,
    canonical: Canonical | None = None,
    gates: tuple[str, ...] = ("metrics", "data"),
) -> list[str]:
    """Why the record's metric and data verdicts (``gates``) are not what its commit yields
    against ``baseline``, from the ``canonical`` gates file and data folder (default: params.yaml
    and reports/data); empty when they are. Re-establishes them from ``top``'s git objects (no
    data needed). The caller derives ``baseline`` (``conveyor.promotion.champion``): taken from
    the record, a forged weaker one would match; None when it could not be derived (the metric
    verdict is then refused, unless the caller leaves it out of ``gates`` having said why)."""
    # Named by the caller, never by the record: the record's inputs only have to agree.
    wrong = (canonical or Canonical()).problems(record)
    if wrong:
        return wrong
    try:
        commit = require_commit(top, record.git_commit)
    except UserError as exc:
        return [str(exc)]

    def metrics(inputs: dict[str, Any]) -> GateVerdict:
        if baseline is None:
            raise UserError("its regression baseline could not be derived")
        return metrics_verdict_at(top, commit, baseline, inputs["params"])

    rebuild: dict[str, Callable[[dict[str, Any]], GateVerdict]] = {
        "metrics": metrics,
        "data": lambda i: data_verdict_at(top, commit, i["folder"]),
    }
    found = []
    for name, again in rebuild.items():
        if name not in gates:
            continue
        verdict = record.gates.get(name)
        if verdict is None:
            continue  # `problems` names a missing gate
        if not verdict.inputs:
            found.append(f"gate {name!r} names no inputs, so it is not tied to commit {commit}")
            continue
        try:
            redone = again(verdict.inputs)
        except (UserError, KeyError) as exc:
            found.append(f"gate {name!r} cannot be re-established at {commit[:12]}: {exc}")
            continue
        if redone.passed != verdict.passed or redone.inputs != verdict.inputs:
            differ = sorted(
                key
                for key in (redone.inputs or {}).keys() | verdict.inputs.keys()
                if (redone.inputs or {}).get(key) != verdict.inputs.get(key)
            )
            found.append(
                f"gate {name!r} does not match commit {commit[:12]}: re-established there it "
                f"{'passes' if redone.passed else 'fails'} ({redone.summary})"
                + (f"; its inputs differ ({', '.join(differ)})" if differ else "")
            )
    return found


def build_record(
    *,
    version: str,
    image: str,
    build_json: Path,
    repo: Path,
    params: Path,
    data_dir: Path,
    gates: dict[str, GateVerdict],
    baseline: Callable[[Path], Baseline],
    branch: str | None = None,
    sbom_digest: str | None = None,
    signature: str | None = None,
    now: datetime | None = None,
) -> ReleaseRecord:
    """Join the build's facts, the image digest and the gate verdicts into a validated record;
    the metric and data verdicts are re-established on the built commit, the regression rules
    against ``baseline(top)`` (called once every usage error is ruled out)."""
    try:
        digest = image_digest(image)
    except ValueError as exc:
        raise UserError(f"--image {image!r}: {exc}") from None
    top = repository(repo)
    params_path = in_repository(top, params, "--params")
    folder = in_repository(top, data_dir, "--data-dir")
    build = read_json(build_json, "conveyor build bento output")
    commit = build.get("git_commit")
    if not isinstance(commit, str) or not COMMIT.match(commit):
        raise UserError(f"{build_json}: git_commit: must be a full 40-hex git commit")
    if build.get("git_dirty") is True:
        raise RecordRejectedError(
            f"{build_json}: the Bento was built from a working tree that differs from "
            f"{commit[:12]} (git_dirty): it is not that commit's model"
            + _not_made_again(top, commit, folder)
        )
    require_commit(top, commit)
    head = git.head_commit(top) or "no commit"
    if head != commit:
        raise RecordRejectedError(
            f"{build_json} was built at {commit[:12]} but {top} is at {head[:12]}: "
            "record in the checkout that built it"
        )
    if branch is not None:
        on_branch(top, commit, branch)
    established = {
        "metrics": metrics_verdict_at(top, commit, baseline(top), params_path, top),
        "data": data_verdict_at(top, commit, folder, fresh=top / folder),
    }
    data = {
        "version": version,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "git_commit": commit,
        "model_tag": build.get("model_tag"),
        "data_md5": build.get("data_md5"),
        "params_md5": hashlib.md5(
            _committed(top, commit, params_path), usedforsecurity=False
        ).hexdigest(),
        "bento_tag": build.get("bento_tag"),
        "image": {"reference": image, "digest": digest},
        "sbom_digest": sbom_digest,
        "signature": signature,
        "gates": {name: verdict.model_dump() for name, verdict in (gates | established).items()},
    }
    return seal(parse_record(data, "release record"))


def _not_made_again(top: Path, commit: str, folder: str) -> str:
    """Why the tree may differ: committed contract verdicts missing from the working tree, which
    `release clean --data-dir` deleted and no contract stage of this run wrote again."""
    missing = [
        p
        for p in git.list_files(commit, folder, top)
        if p.endswith(".json") and not (top / p).exists()
    ]
    if not missing:
        return ""
    return (
        f"; {', '.join(missing)}: not made again by this run (its contract stage did not run: "
        "list it in the workflow's data-stages)"
    )


def write_record(record: ReleaseRecord, out: Path) -> None:
    """Write the record as stable JSON."""
    write_json(out, record.model_dump(mode="json"))
