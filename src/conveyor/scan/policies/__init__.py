"""conveyor's own checkov policies (loaded by `checkov --external-checks-dir`)."""
