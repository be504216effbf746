"""Secrets in the files checkov's secrets scan skips (lock files, "non-text" extensions): found
by detect-secrets in checkov's venv through skipped_secrets_launch.py, reported as findings."""

from __future__ import annotations

import json
from pathlib import Path

from conveyor.errors import UserError
from conveyor.scan.model import Finding
from conveyor.scan.settings import ScanConfig
from conveyor.tools import failure_reason, run

__all__ = ["checkov_python", "scan_skipped"]

LAUNCHER = Path(__file__).with_name("skipped_secrets_launch.py")
POLICY = "CNV_SECRET_1"  # its severity and remedy: conveyor's policies/config.yaml


def checkov_python(checkov: str) -> str | None:
    """The Python that runs ``checkov`` (its venv's, or its script's interpreter), or None."""
    beside = Path(checkov).parent / "python"
    if beside.is_file():
        return str(beside)
    try:
        first = Path(checkov).read_bytes()[:256].split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        return None
    interpreter = first[2:].strip().split(" ")[0] if first.startswith("#!") else ""
    return interpreter if interpreter and Path(interpreter).is_file() else None


def scan_skipped(root: Path, files: list[Path], checkov: str, config: ScanConfig) -> list[Finding]:
    """A finding per secret in the files among ``files`` (root-relative) that detect-secrets'
    filters keep out of checkov's scan; when checkov's Python cannot be found, one finding saying
    those files went unchecked."""
    if not files:
        return []
    python = checkov_python(checkov)
    if python is None:
        return [
            Finding(
                "CNV_SCAN_1",
                "Lock files and non-text files were not checked for secrets",
                "high",
                ".",
                1,
                f"pass --checkov a checkov installed in a venv (no Python found for {checkov})",
                source="conveyor",
            )
        ]
    listing = "\0".join(f.as_posix() for f in files)
    result = run([python, "-I", str(LAUNCHER)], cwd=root, input_text=listing)
    try:
        if result.returncode != 0:
            raise ValueError(failure_reason(result))
        report = json.loads(result.stdout)
    except ValueError as error:  # JSONDecodeError is one
        raise UserError(f"the secrets pass over lock and non-text files failed: {error}") from None
    policy = config.policies.get(POLICY)
    return [
        Finding(
            POLICY,
            f"{secret['type']} in a file checkov's secrets scan skips",
            policy.severity if policy else "high",
            secret["file"],
            int(secret["line"]),
            policy.remedy if policy else "remove the secret from the file and rotate it",
            source="conveyor",
        )
        for secret in report["secrets"]
    ]
