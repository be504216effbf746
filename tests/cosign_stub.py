"""A `cosign` on PATH standing in for the registry and Sigstore (no real cosign runs here, and
Sigstore is not reachable): each call's arguments are logged to ``args.<subcommand>``;
`verify` exits as told; `verify-attestation --type <conveyor's record type>` prints the DSSE
envelope of the record the release attested, one JSON line as cosign does, or fails when none
was attested. What is checked against it is the command line conveyor runs and what conveyor
does with cosign's answer."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from conveyor.signature import RECORD_TYPE


def envelope(record: Path, image: str) -> str:
    """The DSSE envelope (one JSON line) of ``record`` attested on ``image`` (NAME@sha256:...)."""
    name, _, digest = image.partition("@")
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": RECORD_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicate": json.loads(record.read_text()),
    }
    return json.dumps(
        {
            "payloadType": "application/vnd.in-toto+json",
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
            "signatures": [{"keyid": "", "sig": "MEUCIQ"}],
        }
    )


def cosign_stub(
    folder: Path, *, image: str, attested: Path | None = None, verify_exit: int = 0
) -> Path:
    """Write the stand-in into ``folder`` (created) and return the folder, for PATH."""
    folder.mkdir()
    if attested is not None:
        (folder / "envelope.json").write_text(envelope(attested, image) + "\n")
    script = folder / "cosign"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{folder}/args.$1"\n'
        'if [ "$1" = verify ]; then\n'
        f'  [ {verify_exit} = 0 ] || echo "Error: no matching signatures: none of the expected '
        'identities matched" >&2\n'
        f"  exit {verify_exit}\n"
        "fi\n"
        f'if [ "$1" = verify-attestation ] && [ "$3" = "{RECORD_TYPE}" ] '
        f'&& [ -f "{folder}/envelope.json" ]; then\n'
        f'  cat "{folder}/envelope.json"; exit 0\n'
        "fi\n"
        'echo "Error: no matching attestations: none of the expected identities matched" >&2\n'
        "exit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder
