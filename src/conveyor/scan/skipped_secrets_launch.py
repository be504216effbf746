"""Look for secrets in the files detect-secrets leaves out of checkov's secrets scan without a
word: lock files by name (uv.lock, poetry.lock, go.sum, ...) and "non-text" extensions (.svg,
.css, .lock, ...), where a key can sit as well as anywhere. Which files those are is decided by
detect-secrets' own filters, so the list cannot drift from the scanner's. Run by checkov's venv
python (detect-secrets is installed there, not in the project environment) with `python -I`;
never imported by conveyor. Reads root-relative paths on stdin, NUL-separated (a file name
may hold a newline); prints JSON
{"covered": [paths], "secrets": [{"file", "line", "type"}]}."""

import json
import sys

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.filters.heuristic import is_lock_file, is_non_text_file
from detect_secrets.settings import default_settings

__all__: list[str] = []

SKIPPING_FILTERS = (
    "detect_secrets.filters.heuristic.is_lock_file",
    "detect_secrets.filters.heuristic.is_non_text_file",
)

ENTROPY_PLUGINS = ("HexHighEntropyString", "Base64HighEntropyString")


def main() -> None:
    """Scan the skipped files among those on stdin with the filters that skip them turned off."""
    files = [name for name in sys.stdin.read().split("\0") if name]
    covered = [f for f in files if is_lock_file(f) or is_non_text_file(f)]
    found = []
    with default_settings() as settings:
        settings.disable_filters(*SKIPPING_FILTERS)
        # Lock files are lists of hashes by design: entropy alone would flag every line. The
        # detectors of key shapes (cloud keys, tokens, private keys) and secret keywords stay.
        settings.disable_plugins(*ENTROPY_PLUGINS)
        secrets = SecretsCollection()
        for name in covered:
            secrets.scan_file(name)
        for name, secret in secrets:
            found.append({"file": name, "line": secret.line_number, "type": secret.type})
    print(json.dumps({"covered": covered, "secrets": found}))


if __name__ == "__main__":
    main()
