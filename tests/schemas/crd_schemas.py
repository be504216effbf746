"""Vendored upstream CRDs -> strict JSON Schemas for the custom resources under deploy/.

    python tests/schemas/crd_schemas.py            # regenerate json/ from crds/
    python tests/schemas/crd_schemas.py --check    # exit 1 if crds/ or json/ drifted
    python tests/schemas/crd_schemas.py vendor argoproj/argo-cd ~/src/argo-cd v3.6.0

Each CRD's ``openAPIV3Schema`` becomes a draft-04 JSON Schema (OpenAPI 3.0 schemas are that
dialect: boolean ``exclusiveMinimum``, ``nullable``) made *strict* the way the API server's strict
field validation is: an object that does not declare ``x-kubernetes-preserve-unknown-fields``
accepts only the fields it lists. ``metadata`` gets the ObjectMeta fields (a CRD leaves it open).
Descriptions are dropped: they do not validate anything and are most of the bytes.
upstream.json says where every vendored file comes from; its git blob id is re-checked here.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from conveyor.files import atomic_path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "upstream.json"
JSON_DIR = HERE / "json"
DRAFT = "http://json-schema.org/draft-04/schema#"
# libyaml when PyYAML has it: the Application CRD is 400 kB, 20x faster to read.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# The ObjectMeta fields a manifest may carry (k8s.io/apimachinery ObjectMeta); a CRD's schema says
# only `metadata: {type: object}` because the API server checks metadata itself.
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": ["name"]}, {"required": ["generateName"]}],
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["apiVersion", "kind", "name", "uid"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "uid": {"type": "string"},
                    "controller": {"type": "boolean"},
                    "blockOwnerDeletion": {"type": "boolean"},
                },
            },
        },
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}

# Kubernetes extensions that carry no JSON Schema meaning once handled below (list-map key
# uniqueness and map-type atomicity are merge semantics, not validation of one manifest).
_DROPPED = {
    "description",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}


class SchemaError(Exception):
    """A vendored file is missing, edited, or cannot be converted."""


_RE2_LATE_FLAGS = re.compile(r"^\^(\(\?[a-zA-Z]+\))")


def python_pattern(pattern: str) -> str:
    """A CRD's ``pattern`` is Go RE2, which takes inline flags anywhere (``^(?i)...``); Python's
    ``re``, which jsonschema uses, wants them first. Anything else RE2-only fails here, loudly."""
    translated = _RE2_LATE_FLAGS.sub(r"\1^", pattern)
    try:
        re.compile(translated)
    except re.error as error:
        raise SchemaError(f"pattern {pattern!r} is not a Python regex: {error}") from None
    return translated


def git_blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes (`git hash-object`): compares with upstream."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _convert_key(key: str, value: Any, structural: bool) -> Any:
    """The JSON Schema value of one keyword of a CRD schema node."""
    if key == "properties":
        return {name: _convert(sub, structural) for name, sub in value.items()}
    if key in ("items", "additionalProperties") and isinstance(value, dict):
        return _convert(value, structural)
    if key in ("anyOf", "allOf", "oneOf"):
        return [_convert(branch, structural=False) for branch in value]
    if key == "not":
        return _convert(value, structural=False)
    if key == "pattern":
        return python_pattern(value)
    if key.startswith("x-kubernetes-"):
        # e.g. x-kubernetes-validations (CEL): a rule we cannot evaluate must not pass unseen.
        raise SchemaError(f"unsupported CRD schema extension {key}: extend crd_schemas.py")
    return copy.deepcopy(value)


def _convert(node: dict[str, Any], structural: bool) -> dict[str, Any]:
    """One OpenAPI schema node -> JSON Schema. ``structural`` is False inside anyOf/allOf/oneOf/not,
    whose branches only add constraints: closing them would refuse what the outer node allows."""
    out = {
        key: _convert_key(key, value, structural)
        for key, value in node.items()
        if key not in _DROPPED and key != "nullable"
    }
    if node.get("x-kubernetes-int-or-string") and "type" not in node and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    is_object = node.get("type") == "object" or "properties" in node
    if (
        structural
        and is_object
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False  # strict: an unknown field is an error, not pruned
    return out


def crd_to_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every served version of a CRD as a strict JSON Schema, keyed by its output file name."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise SchemaError(f"not a CustomResourceDefinition: kind {crd.get('kind')!r}")
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    schemas = {}
    for version in spec["versions"]:
        if not version.get("served", False):
            continue
        schema = _convert(version["schema"]["openAPIV3Schema"], structural=True)
        properties = schema.setdefault("properties", {})
        properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        properties["kind"] = {"type": "string", "enum": [kind]}
        properties["metadata"] = OBJECT_META
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
        schemas[f"{group}_{version['name']}_{kind}.json"] = {"$schema": DRAFT, **schema}
    return schemas


def load_schemas(directory: Path = JSON_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """The generated schemas by (apiVersion, kind)."""
    schemas = {}
    for path in sorted(directory.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        properties = schema["properties"]
        schemas[properties["apiVersion"]["enum"][0], properties["kind"]["enum"][0]] = schema
    return schemas


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # RFC 3339 as the API server wants it: a full date, a time and an offset (or Z).
    if not isinstance(value, str):
        return True
    parsed = datetime.datetime.fromisoformat(value)
    return "T" in value.upper() and parsed.tzinfo is not None


@_FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def validator(schema: dict[str, Any]) -> jsonschema.Draft4Validator:
    """A validator for one generated schema, checking the Kubernetes formats the CRDs use."""
    return jsonschema.Draft4Validator(schema, format_checker=_FORMATS)


def load_sources() -> list[dict[str, str]]:
    """upstream.json: one entry per vendored CRD (file, repository, tag, commit, path, blob)."""
    return json.loads(SOURCES.read_text(encoding="utf-8"))


def verify_vendored(sources: list[dict[str, str]]) -> list[str]:
    """Problems with the vendored CRDs: missing, or bytes that are not upstream's blob."""
    problems = []
    for source in sources:
        path = HERE / source["file"]
        if not path.is_file():
            problems.append(f"{source['file']}: missing (vendor it again, see README.md)")
        elif (blob := git_blob_id(path.read_bytes())) != source["blob"]:
            problems.append(
                f"{source['file']}: git blob {blob} is not {source['repository']} "
                f"{source['tag']}:{source['path']} ({source['blob']}); vendored files stay verbatim"
            )
    return problems


def generate(sources: list[dict[str, str]]) -> dict[str, str]:
    """The text of every JSON Schema file, from the vendored CRDs."""
    texts = {}
    for source in sources:
        crd = yaml.load((HERE / source["file"]).read_bytes(), Loader=_LOADER)  # noqa: S506 (safe)
        for name, schema in crd_to_schemas(crd).items():
            texts[name] = json.dumps(schema, indent=1, sort_keys=True) + "\n"
    return texts


def check() -> list[str]:
    """Everything that differs from what upstream.json and the converter say."""
    sources = load_sources()
    problems = verify_vendored(sources)
    if problems:
        return problems
    expected = generate(sources)
    present = {p.name for p in JSON_DIR.glob("*.json")}
    for name in sorted(present - expected.keys()):
        problems.append(f"json/{name}: no vendored CRD makes it (delete it)")
    for name, text in sorted(expected.items()):
        if name not in present:
            problems.append(f"json/{name}: missing (run crd_schemas.py)")
        elif (JSON_DIR / name).read_text(encoding="utf-8") != text:
            problems.append(f"json/{name}: out of date or edited by hand (run crd_schemas.py)")
    return problems


def _write(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:  # never a half-written schema or CRD
        tmp.write_bytes(data)


def write(texts: dict[str, str]) -> None:
    """Replace json/ with exactly these files."""
    for stale in JSON_DIR.glob("*.json"):
        if stale.name not in texts:
            stale.unlink()
    for name, text in texts.items():
        _write(JSON_DIR / name, text.encode())


def _git(clone: Path, *args: str) -> bytes:
    result = subprocess.run(["git", "-C", str(clone), *args], capture_output=True, check=False)
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise SchemaError(f"git {' '.join(args)} in {clone}: {reason[-1] if reason else 'failed'}")
    return result.stdout


def vendor(repository: str, clone: Path, tag: str) -> list[str]:
    """Copy this repository's CRDs at ``tag`` from a local clone; update upstream.json. Nothing is
    written unless every file is found at the tag."""
    sources = load_sources()
    mine = [s for s in sources if s["repository"] == repository]
    if not mine:
        known = sorted({s["repository"] for s in sources})
        raise SchemaError(f"no vendored CRD comes from {repository} (known: {', '.join(known)})")
    commit = _git(clone, "rev-parse", "--verify", f"{tag}^{{commit}}").decode().strip()
    files = {s["file"]: _git(clone, "show", f"{commit}:{s['path']}") for s in mine}
    for source in mine:
        source.update(tag=tag, commit=commit, blob=git_blob_id(files[source["file"]]))
    for data in files.values():  # refuse a file the converter cannot handle
        crd_to_schemas(yaml.load(data, Loader=_LOADER))  # noqa: S506 (a safe loader)
    for name, data in files.items():
        _write(HERE / name, data)
    _write(SOURCES, (json.dumps(sources, indent=2) + "\n").encode())
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate (default), --check, or vendor a new upstream tag."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if anything drifted")
    sub = parser.add_subparsers(dest="command")
    vendor_cmd = sub.add_parser("vendor", help="copy the CRDs of a tag from a local git clone")
    vendor_cmd.add_argument("repository", help="as in upstream.json, e.g. argoproj/argo-cd")
    vendor_cmd.add_argument("clone", type=Path, help="a local git clone of that repository")
    vendor_cmd.add_argument("tag", help="the release tag to vendor, e.g. v3.6.0")
    args = parser.parse_args(argv)
    try:
        if args.command == "vendor":
            if not (args.clone / ".git").exists() and not (args.clone / "HEAD").is_file():
                print(f"error: {args.clone} is not a git clone", file=sys.stderr)
                return 2
            for name in vendor(args.repository, args.clone, args.tag):
                print(f"vendored {name}")
        if args.check:
            problems = check()
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if problems else 0
        sources = load_sources()
        problems = verify_vendored(sources)
        if problems:
            print(problems[0], file=sys.stderr)
            return 1
        texts = generate(sources)
        write(texts)
        for name in sorted(texts):
            print(f"wrote json/{name}")
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
