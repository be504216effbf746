"""The release record: one versioned JSON document joining a release's artifacts and the verdict
of every gate it passed. Promotion copies it beside the digest it vouches for.

The record is built by the release workflow once the image is pushed (its digest only exists then)
and is verified again before every promotion and rollback.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from conveyor import files
from conveyor.errors import UserError
from conveyor.files import write_json
from conveyor.hashing import file_md5

SCHEMA_VERSION = 1
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
VERSION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
GATES = ("tests", "data", "metrics", "security")
CLOCK_SKEW = timedelta(minutes=5)


class RecordRejectedError(UserError):
    """A record that is malformed, or vouches for a release that must not ship (exit 1)."""

    exit_code = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateVerdict(_Strict):
    """One gate's outcome, with a line a person can read and the evidence file it came from."""

    passed: bool
    summary: str
    source: str | None = None


def _sha256_digest(value: str) -> str:
    if not DIGEST.match(value):
        raise ValueError("must be sha256: followed by 64 lowercase hex digits")
    return value


# An image or document digest, as registries and `sha256sum` write it (one rule, one message).
Sha256Digest = Annotated[str, AfterValidator(_sha256_digest)]


class Image(_Strict):
    reference: str = Field(description="registry/name@sha256:..., what the cluster pulls")
    digest: Sha256Digest


class ReleaseRecord(_Strict):
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
        # It becomes the pods' `version` label and a line of $GITHUB_OUTPUT: Kubernetes label
        # rules, which also rule out newlines and spaces.
        if not VERSION.match(value):
            raise ValueError(
                "must be a Kubernetes label value: up to 63 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit (e.g. v1.4.0)"
            )
        return value

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


def load_record(path: Path) -> ReleaseRecord:
    """Read and validate a record file: a file that is not a JSON object is a usage error (exit
    2), a JSON object that is not a valid record is rejected (exit 1)."""
    return parse_record(files.read_json(path, "release record"), str(path))


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


# --- building a record from the gates' evidence -------------------------------------------------


def _read_json(path: Path, what: str) -> dict[str, Any]:
    return files.read_json(path, what)  # missing, folder, binary, not an object: exit 2


def tests_verdict(junit: Path) -> GateVerdict:
    """The tests gate from a JUnit XML report (pytest --junitxml): passed when tests ran and none
    failed or errored."""
    text = files.read_text(junit, "JUnit report")  # missing, folder, binary: exit 2
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own test run's report, not untrusted
    except ET.ParseError as exc:
        raise UserError(f"{junit}: not JUnit XML ({exc})") from None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    count = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors")}
    bad = count["failures"] + count["errors"]
    return GateVerdict(
        passed=count["tests"] > 0 and bad == 0,
        summary=f"{count['tests']} tests, {count['failures']} failed, {count['errors']} errors",
        source=str(junit),
    )


def data_verdict(data_dir: Path) -> GateVerdict:
    """The data gate from every contract verdict (``conveyor check data --out``)."""
    files = sorted(data_dir.glob("*.json"))
    if not files:
        raise UserError(f"{data_dir}: no data-contract verdicts (*.json) found")
    verdicts = [_read_json(f, "data-contract verdict") for f in files]
    failed = [v.get("contract", f.stem) for v, f in zip(verdicts, files, strict=True)]
    failed = [name for name, v in zip(failed, verdicts, strict=True) if v.get("passed") is not True]
    return GateVerdict(
        passed=not failed,
        summary=f"{len(files) - len(failed)}/{len(files)} contracts passed"
        + (f" (failed: {', '.join(failed)})" if failed else ""),
        source=str(data_dir),
    )


def metrics_verdict(gate_json: Path) -> GateVerdict:
    """The metric gate from ``conveyor gate``'s gate.json."""
    gate = _read_json(gate_json, "metric gate verdict")
    return GateVerdict(
        passed=gate.get("passed") is True,
        summary=f"{gate.get('checks_failed', '?')} of {gate.get('checks_total', '?')} rules failed"
        f" against {gate.get('baseline_ref', '?')}",
        source=str(gate_json),
    )


def security_verdict(scan_json: Path) -> GateVerdict:
    """The security gate from ``conveyor scan``'s scan.json."""
    scan = _read_json(scan_json, "security scan verdict")
    findings = scan.get("findings") or []
    passed = scan.get("passed", not findings) is True
    return GateVerdict(
        passed=passed,
        summary=f"{len(findings)} finding{'s' if len(findings) != 1 else ''}",
        source=str(scan_json),
    )


def build_record(
    *,
    version: str,
    image: str,
    build_json: Path,
    params: Path,
    gates: dict[str, GateVerdict],
    sbom_digest: str | None = None,
    signature: str | None = None,
    now: datetime | None = None,
) -> ReleaseRecord:
    """Join the build's facts, the image digest and the gate verdicts into a validated record."""
    _, at, digest = image.rpartition("@")
    if not at or not digest:
        raise UserError(
            f"--image {image!r}: must be REGISTRY/NAME@sha256:DIGEST (a digest, no tag)"
        )
    if not params.is_file():
        raise UserError(f"{params}: no such params file")
    build = _read_json(build_json, "conveyor build bento output")
    data = {
        "version": version,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "git_commit": build.get("git_commit"),
        "model_tag": build.get("model_tag"),
        "data_md5": build.get("data_md5"),
        "params_md5": file_md5(params),
        "bento_tag": build.get("bento_tag"),
        "image": {"reference": image, "digest": digest},
        "sbom_digest": sbom_digest,
        "signature": signature,
        "gates": {name: verdict.model_dump() for name, verdict in gates.items()},
    }
    return seal(parse_record(data, "release record"))


def write_record(record: ReleaseRecord, out: Path) -> None:
    """Write the record as stable JSON."""
    write_json(out, record.model_dump(mode="json"))
