"""ml-release makes the tests and scan verdicts its record bundles in the run itself (issue 14,
review finding H3): an earlier run's files are deleted (`conveyor release clean`, one command)
before the tests and the scan run, for the very paths `release record` reads, and pytest loads
conveyor.junit_commit so its report names the commit."""

from __future__ import annotations

import shlex

import yaml

from tests.paths import REPO


def _options(command: str) -> dict[str, str]:
    """``--name value`` pairs of a shell command (folded YAML, backslash continuations)."""
    words = shlex.split(command.replace("\\\n", " "))
    return {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("--")}


def test_stale_verdicts_are_deleted_before_the_tests_and_scan_that_remake_them() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/ml-release.yml").read_text())
    steps = workflow["jobs"]["release"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    clean = next(
        i
        for i, run in enumerate(runs)
        if run.startswith("conveyor release clean") and "--tests-junit" in run
    )  # the other `release clean` deletes the committed contract verdicts (--data-dir)
    tests = next(i for i, step in enumerate(steps) if step.get("id") == "tests")
    scan = next(i for i, step in enumerate(steps) if step.get("id") == "scan")
    record = next(i for i, run in enumerate(runs) if "conveyor release record" in run)
    assert clean < tests < record and clean < scan < record
    lines = iter(runs[record].splitlines())
    command = [next(line for line in lines if line.startswith("conveyor release record "))]
    while command[-1].endswith("\\"):  # the one command, to its last continued line
        command.append(next(lines))
    recorded = _options("\n".join(command))
    cleaned = _options(runs[clean])
    assert cleaned["--tests-junit"] == recorded["--tests-junit"]
    assert cleaned["--scan-json"] == recorded["--scan-json"]
    assert "-p conveyor.junit_commit" in runs[tests]
    assert f"--junitxml={recorded['--tests-junit']}" in runs[tests]
    assert _options(runs[scan])["--out"] + "/scan.json" == recorded["--scan-json"]
