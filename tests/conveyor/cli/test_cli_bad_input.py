"""Every `conveyor` subcommand against a matrix of bad inputs, through the installed entry point.

Each file or folder option (and positional) of each subcommand gets the bad inputs of its kind:
missing, empty, a directory, binary, non-UTF-8, the wrong JSON/YAML shape, invalid syntax; and
each output gets a path that is a file where a folder is expected (or the reverse) and a path it
cannot write. Every case must end the same way: one line on stderr naming the bad input, exit 2
(a usage error, never 1, which CI reads as "a gate failed"), no traceback, nothing written.

The subcommands and their path options are read from the argparse parser: a new subcommand or a
new path option fails `test_the_matrix_covers_every_subcommand_and_path_option` until it is
given a kind here, and then it is checked like the others.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor import files
from conveyor.cli import build_parser
from conveyor.gate import GateResult
from conveyor.report import gate_table
from tests.paths import REPO
from tests.promotion_repos import IDENTITY, git, record, write_record

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"
TIMES: list[tuple[float, str, str, str]] = []

# Input kinds, and the bad inputs each is tried with.
YAML = "yaml"  # a YAML mapping (params, contract, bentofile)
JSON = "json"  # a JSON object (record, build.json, gate.json, drift.json, pip-audit report)
JSON_DOC = "json document"  # any JSON value is valid (gh's list of open issues)
DATA = "data"  # a Parquet or CSV data set
DATA_OR_DIR = "data or folder"  # a data set or a folder of Parquet files
XML = "xml"  # a JUnit report
FILE = "file"  # any content (hashed only)
DIR = "dir"  # an existing folder
DIR_OR_NONE = "dir or none"  # a folder; absent means "nothing there" (report --data-reports)
PATHS = "paths"  # files or folders to scan
OUT_DIR = "out dir"
OUT_FILE = "out file"

BAD_CONTENT = ("empty", "directory", "binary", "non-utf8")
# "fifo" (a named pipe) everywhere: opening one blocks until something writes to it, so a
# command that opens it before checking what it is hangs (the run's timeout turns that into a
# failure here).
CASES = {
    YAML: ("missing", *BAD_CONTENT, "list", "scalar", "syntax", "fifo"),
    JSON: ("missing", *BAD_CONTENT, "list", "scalar", "syntax", "fifo"),
    JSON_DOC: ("missing", *BAD_CONTENT, "syntax", "fifo"),
    DATA: ("missing", *BAD_CONTENT, "fifo"),
    DATA_OR_DIR: ("missing", "empty", "binary", "non-utf8", "fifo"),
    XML: ("missing", *BAD_CONTENT, "syntax", "fifo"),
    FILE: ("missing", "directory", "fifo"),
    DIR: ("missing", "a file", "fifo"),
    DIR_OR_NONE: ("a file", "fifo"),
    PATHS: ("missing", "fifo"),
    OUT_DIR: ("a file", "under a file", "fifo"),
    OUT_FILE: ("directory", "under a file", "fifo"),
}
# Seconds a case may take: a refusal is quick (start-up and imports), a hang is not.
TIMEOUT = 180
SUFFIX = {YAML: ".yaml", JSON: ".json", JSON_DOC: ".json", XML: ".xml", FILE: ".txt"}
CONTENT = {
    "empty": {None: b""},
    # Not UTF-8 and full of NUL bytes: what an image or a Parquet file given by mistake reads as.
    "binary": {None: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01" * 8},
    # Valid in its format, but Latin-1: one byte that UTF-8 cannot decode.
    "non-utf8": {
        YAML: b"name: caf\xe9\n",
        JSON: b'{"name": "caf\xe9"}',
        JSON_DOC: b'{"name": "caf\xe9"}',
        XML: b'<testsuite name="caf\xe9" tests="1"/>',
        DATA: b"club_id,item_id\ncaf\xe9,1\n",
        DATA_OR_DIR: b"club_id,item_id\ncaf\xe9,1\n",
    },
    "list": {YAML: b"- a\n- b\n", JSON: b"[1, 2]"},
    "scalar": {YAML: b"just a sentence\n", JSON: b"42"},
    "syntax": {
        YAML: b"gates: [1, 2\n",
        JSON: b'{"tag": ',
        JSON_DOC: b'{"tag": ',
        XML: b"<testsuite tests=",
    },
}


@dataclass(frozen=True)
class Command:
    """A subcommand: arguments that make it valid, and the kind of each of its path options.

    ``args`` may hold ``{slot}`` placeholders (positionals): the good value of each slot comes
    from ``good``, a bad case replaces one slot or appends its option after ``args``."""

    args: tuple[str, ...]
    kinds: dict[str, str]
    good: dict[str, str]


def _commands(repo: Path, good: Path, out: Path) -> dict[str, Command]:
    """The matrix rows. Path options not listed in ``args`` keep their defaults (which exist in
    the fixture repository), so each case has exactly one bad input."""
    return {
        "init": Command(
            (
                *("init", "--name", "churn", "--registry", "ghcr.io/acme"),
                *("--repository", "acme/churn", "--conveyor-repository", "acme/conveyor"),
                *("--conveyor-ref", "v1"),
            ),
            {"--root": DIR},
            {},
        ),
        "doctor": Command(("doctor",), {"--root": DIR}, {}),
        "template update": Command(("template", "update"), {"--root": DIR}, {}),
        "template new": Command(
            ("template", "new", "{destination}", "--template", str(repo)),
            {"destination": OUT_DIR},
            {"destination": f"{out}/new-project"},
        ),
        "check data": Command(
            ("check", "data", "{CONTRACT DATA}", "{CONTRACT DATA#2}", "--out", f"{out}/data"),
            {"CONTRACT DATA": YAML, "CONTRACT DATA#2": DATA, "--out": OUT_DIR, "--params": YAML},
            {
                "CONTRACT DATA": str(repo / "policies/data/raw_sales.yaml"),
                "CONTRACT DATA#2": f"{good}/w.csv",
            },
        ),
        "check profile": Command(
            ("check", "profile", "{data}", "--out", f"{out}/contract.yaml"),
            {"data": DATA, "--out": OUT_FILE},
            {"data": f"{good}/w.csv"},
        ),
        "data manifest": Command(
            ("data", "manifest", "{URL_OR_PATH}", "--out", f"{out}/manifest.json"),
            {"URL_OR_PATH": DATA_OR_DIR, "--out": OUT_FILE},
            {"URL_OR_PATH": f"{good}/features"},
        ),
        "gate": Command(
            ("gate", "--out", f"{out}/gate"),
            {"--params": YAML, "--out": OUT_DIR, "--root": DIR},
            {},
        ),
        "report": Command(
            ("report", "--out", f"{out}/report.md", "--plots-dir", f"{out}/plots"),
            {
                "--out": OUT_FILE,
                "--gate": JSON,
                "--data-reports": DIR_OR_NONE,
                "--plots-dir": OUT_DIR,
                "--root": DIR,
            },
            {},
        ),
        "build bento": Command(
            ("build", "bento", "--model-tag-file", f"{good}/model.json", "--out", f"{out}/b"),
            {"--bentofile": YAML, "--context": DIR, "--model-tag-file": JSON, "--out": OUT_DIR},
            {},
        ),
        "build image": Command(
            ("build", "image"),
            {"--context": DIR, "--store": OUT_DIR, "--base-cache": OUT_DIR},
            {},
        ),
        "scan": Command(
            ("scan", "--out", f"{out}/scan"),
            {
                "PATH": PATHS,
                "--out": OUT_DIR,
                "--root": DIR,
                "--policies": DIR,
                "--deps-report": JSON,
                "--checkov": FILE,
            },
            {},
        ),
        "workflows run": Command(
            ("workflows", "run", "pull_request", "--artifacts", f"{out}/act"),
            {
                "--root": DIR,
                "--event-file": JSON,
                "--conveyor": DIR,
                "--act": FILE,
                "--artifacts": OUT_DIR,
                "--cache-dir": DIR,
            },
            {},
        ),
        "monitor drift": Command(
            (
                *("monitor", "drift", "--reference", f"{good}/w.csv"),
                *("--current", f"{good}/w.csv", "--out", f"{out}/monitor"),
            ),
            {
                "--reference": DATA,
                "--current": DATA_OR_DIR,
                "--out": OUT_DIR,
                "--params": YAML,
                "--root": DIR,
            },
            {},
        ),
        "monitor issue": Command(
            ("monitor", "issue", "--drift", f"{good}/drift.json", "--out", f"{out}/issue"),
            {"--drift": JSON, "--open-issue-json": JSON_DOC, "--out": OUT_DIR},
            {},
        ),
        "release record": Command(
            (
                *("release", "record", "--version", "v1.0.0"),
                *("--image", f"ghcr.io/your-org/conveyor-forecaster@sha256:{'a' * 64}"),
                *("--build-json", f"{good}/build.json", "--out", f"{out}/release.json"),
            ),
            {
                "--build-json": JSON,
                "--repo": DIR,
                "--data-dir": DIR,
                "--tests-junit": XML,
                "--scan-json": JSON,
                "--params": FILE,
                "--out": OUT_FILE,
            },
            {},
        ),
        "release verify": Command(
            ("release", "verify", "{record}"),
            {"record": JSON, "--repo": DIR},
            {"record": f"{good}/record.json"},
        ),
        "release clean": Command(
            ("release", "clean", "--tests-junit", f"{out}/junit.xml"),
            {"--tests-junit": OUT_FILE, "--scan-json": OUT_FILE, "--data-dir": DIR, "--repo": DIR},
            {},
        ),
        "release on-branch": Command(
            ("release", "on-branch", "--branch", "origin/main"), {"--repo": DIR}, {}
        ),
        "release name": Command(
            ("release", "name", "--tag", "v1.0.0", "--registry", "r.io", "--image-name", "a/b"),
            {},
            {},
        ),
        "promote": Command(
            ("promote", "--env", "dev", "--record", f"{good}/record.json"),
            {"--record": JSON, "--verification": JSON, "--body-out": OUT_FILE, "--repo": DIR},
            {},
        ),
        "verify": Command(
            (
                *("verify", "--env", "staging", "--prometheus-url", "http://127.0.0.1:9"),
                *("--out", f"{out}/verification"),
            ),
            {"--out": OUT_DIR, "--repo": DIR},
            {},
        ),
        "rollback": Command(
            ("rollback", "--env", "dev"), {"--body-out": OUT_FILE, "--repo": DIR}, {}
        ),
        "status": Command(("status",), {"--repo": DIR}, {}),
        "retrain window": Command(
            ("retrain", "window", "--to", "2026-01-05"), {"--params": YAML}, {}
        ),
        "retrain publish": Command(
            (
                *("retrain", "publish", "--report", f"{good}/model.json"),
                *("--branch", "retrain/2026-01-05", "--gate", f"{good}/gate/gate.json"),
            ),
            {"--gate": JSON, "--report": FILE, "--root": DIR},
            {},
        ),
    }


def _leaves(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every runnable subcommand of the parser, as ("release record", its parser)."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield " ".join(prefix), parser
        return
    for name, sub in subparsers[0].choices.items():
        yield from _leaves(sub, (*prefix, name))


def _path_options(parser: argparse.ArgumentParser) -> set[str]:
    """The options and positionals of a subcommand that take a path."""
    names = set()
    for action in parser._actions:
        path_type = action.type is Path or getattr(action.type, "__module__", "") == files.__name__
        if not path_type and not isinstance(action.default, Path):
            continue
        names.add(
            action.option_strings[-1] if action.option_strings else action.metavar or action.dest
        )
    return names


def test_the_matrix_covers_every_subcommand_and_path_option(tmp_path: Path) -> None:
    table = _commands(tmp_path, tmp_path, tmp_path)
    leaves = dict(_leaves(build_parser()))
    assert set(table) == set(leaves), "give every subcommand a row in _commands"
    for name, parser in leaves.items():
        # "NAME#2": the second file of a positional that takes pairs (check data).
        options = {option.partition("#")[0] for option in table[name].kinds}
        assert options == _path_options(parser), name


# --- the fixture repository -----------------------------------------------------------------


def _reference_csv(rows: int = 200) -> str:
    """A window shaped like the inference log that params.yaml `monitoring:` reads."""
    lines = ["date,club_id,item_id,price,promo,prediction,units_sold"]
    for i in range(rows):
        lines.append(
            f"2026-01-{1 + i % 28:02d},c{i % 3},i{i % 12},{1 + i % 7}.5,{i % 2},{i % 9},{i % 8}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A clone of this repository (its committed state) with a bare `origin`, good inputs, and
    one file per bad input."""
    root = tmp_path_factory.mktemp("bad-input")
    repo = root / "repo"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(repo)],
        check=True,
        capture_output=True,
    )
    origin = root / "origin.git"
    git(root, "clone", "--quiet", "--bare", str(repo), str(origin))
    git(repo, "remote", "set-url", "origin", str(origin))
    git(repo, "fetch", "--quiet", "origin")
    base = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    # The promotion policy's base branch must exist on origin (the clone's branch may differ).
    git(repo, "push", "--quiet", "origin", f"HEAD:refs/heads/{_base_branch(repo)}")
    assert base

    good = root / "good"
    good.mkdir()
    (good / "w.csv").write_text(_reference_csv(), encoding="utf-8")
    (good / "model.json").write_text(json.dumps({"tag": "demand_forecaster:abc"}))
    (good / "drift.json").write_text(json.dumps({"drifted": False}))
    # A verdict `retrain publish` takes: against no champion (none live yet).
    gate_table.write(GateResult("no champion in prod", "none", []), good / "gate")
    import pyarrow as pa
    import pyarrow.parquet as pq

    (good / "features").mkdir()
    pq.write_table(pa.table({"units": [1.0, 2.0]}), good / "features/part-0.parquet")
    write_record(good / "record.json", record("v1.0.0"))
    (good / "build.json").write_text(
        json.dumps(
            {
                "bento_tag": "demand_forecaster:abc123",
                "model_tag": "demand_forecaster:f6e2787ed0d1d0a96b00",
                "git_commit": "2" * 40,
                "data_md5": "e" * 32,
            }
        )
    )

    bad = root / "bad"
    bad.mkdir()
    for kind, cases in CASES.items():
        for case in cases:
            _make_bad(bad, kind, case)
    return {"root": root, "repo": repo, "origin": origin, "good": good, "bad": bad}


def _base_branch(repo: Path) -> str:
    import yaml

    policy = yaml.safe_load((repo / "policies/promotion.yaml").read_text(encoding="utf-8"))
    return policy.get("base_branch", "main")


def _bad_path(bad: Path, kind: str, case: str) -> Path:
    """One path per (kind, case), so the error line can be checked to name it."""
    slug = f"{kind.replace(' ', '-')}-{case.replace(' ', '-')}"
    if case == "under a file":
        return bad / "a-plain-file" / slug
    if kind in (DATA, DATA_OR_DIR):
        return bad / f"{slug}{'.parquet' if case in ('binary', 'directory') else '.csv'}"
    return bad / f"{slug}{SUFFIX.get(kind, '')}"


def _make_bad(bad: Path, kind: str, case: str) -> None:
    (bad / "a-plain-file").write_text("not a folder\n")
    path = _bad_path(bad, kind, case)
    if case in ("directory",):
        path.mkdir()
        (path / "something").write_text("x")
    elif case in ("a file",):
        path.write_text("not a folder\n")
    elif case == "fifo":
        os.mkfifo(path)
    elif case in ("missing", "under a file"):
        return
    else:
        contents = CONTENT[case]
        path.write_bytes(contents.get(kind, contents.get(None, b"")))


# --- running the matrix ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    command: str
    option: str
    kind: str
    case: str
    argv: tuple[str, ...]
    bad: Path


def _cases(fx: dict[str, Path]) -> list[Case]:
    out = fx["root"] / "outputs"  # must not exist after any case: nothing is written
    cases = []
    for name, command in _commands(fx["repo"], fx["good"], out).items():
        for option, kind in command.kinds.items():
            for case in CASES[kind]:
                bad = _bad_path(fx["bad"], kind, case)
                slots = dict(command.good)
                argv: list[str] = []
                slot_names = {f"{{{slot}}}" for slot in slots}
                args = list(command.args)
                if option.startswith("--") and option in args:
                    index = args.index(option)
                    del args[index : index + 2]  # the bad value replaces the good one
                for arg in args:
                    if arg in slot_names:
                        slot = arg[1:-1]
                        argv.append(str(bad) if slot == option else slots[slot])
                    else:
                        argv.append(arg)
                if option.startswith("--"):
                    argv += [option, str(bad)]
                elif f"{{{option}}}" not in slot_names:
                    argv.append(str(bad))  # a positional without a good value (scan PATH)
                cases.append(Case(name, option, kind, case, tuple(argv), bad))
    return cases


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots`` with its size and modification time."""
    seen = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                stat = path.lstat()
                seen[str(path)] = (stat.st_size, stat.st_mtime_ns if name in filenames else 0)
    return seen


def _refs(fx: dict[str, Path]) -> tuple[str, str]:
    fmt = "--format=%(refname) %(objectname)"
    return git(fx["repo"], "for-each-ref", fmt), git(fx["origin"], "for-each-ref", fmt)


def _run(case: Case, cwd: Path, env: dict[str, str]) -> str | None:
    """None when the case ends as it must; else what went wrong."""
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(CONVEYOR), *case.argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"{case.command} {case.option} {case.case!r} ({case.kind}): hung ({TIMEOUT} s)"
    seconds = time.monotonic() - started
    lines = result.stderr.strip().splitlines()
    problems = []
    if result.returncode != 2:
        problems.append(f"exit {result.returncode}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    if "Traceback" in result.stderr:
        problems.append("traceback")
    if lines and str(case.bad) not in lines[-1] and case.option not in lines[-1]:
        problems.append("the error does not name the bad input")
    TIMES.append((round(seconds, 1), " ".join(case.argv[:3]), case.option, case.case))
    if not problems:
        return None
    said = lines[-1][:300] if lines else result.stdout.strip()[-300:]
    return (
        f"{case.command} {case.option} {case.case!r} ({case.kind}): {', '.join(problems)}: {said}"
    )


def test_every_subcommand_refuses_bad_input_with_one_line_and_exit_2(fixture) -> None:
    fx = fixture
    cases = _cases(fx)
    home = fx["root"] / "home"
    env = {
        **os.environ,
        **IDENTITY,
        "HOME": str(home),
        "BENTOML_HOME": str(home / "bentoml"),
        "DVC_NO_ANALYTICS": "1",
        "BENTOML_DO_NOT_TRACK": "true",
        "GX_ANALYTICS_ENABLED": "False",
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    }
    tree = (fx["repo"], fx["good"], fx["bad"])
    before, refs = _snapshot(*tree), _refs(fx)
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(lambda c: _run(c, fx["repo"], env), cases) if f]
    # Not asserted (this machine's load varies too much), but shown: a slow refusal was late.
    print("slowest cases:", *sorted(TIMES, reverse=True)[:12], sep="\n  ")
    written = sorted(set(_snapshot(*tree).items()) ^ set(before.items()))
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
    assert not written, f"files changed: {written[:10]}"
    assert not (fx["root"] / "outputs").exists()
    assert _refs(fx) == refs
    shutil.rmtree(home, ignore_errors=True)


# --- numbers and names ----------------------------------------------------------------------

# Spellings of "not a meaningful number": NaN and infinities (1e400 overflows to one), signs
# and separators, other scripts' digits, fractions where a whole number is expected, blanks.
NOT_FINITE = ("nan", "NaN", "inf", "-inf", "Infinity", "1e400", "", " ", "abc", "0x10")
NOT_WHOLE = (*NOT_FINITE, "1.5", "1e3", "+3", " 3", "3_0", "\u0663")
# Each numeric option: a valid command line without it, its bad values, and one good value.
NUMERIC: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...], str]] = {
    ("check profile", "--tolerance"): (
        ("check", "profile", "{good}/w.csv", "--out", "{out}/c.yaml"),
        (*NOT_FINITE, "-5", "-0.01"),
        "0",
    ),
    ("check profile", "--max-age-days"): (
        ("check", "profile", "{good}/w.csv", "--out", "{out}/c.yaml"),
        (*NOT_WHOLE, "-3"),
        "0",
    ),
    ("report", "--pr"): (("report", "--out", "{out}/r.md"), (*NOT_WHOLE, "-1", "0"), "12"),
    ("retrain publish", "--issue"): (
        (
            *("retrain", "publish", "--report", "{good}/model.json"),
            *("--branch", "retrain/2026-01-05", "--gate", "{good}/gate/gate.json"),
        ),
        (*NOT_WHOLE, "-1", "0"),
        "3",
    ),
    ("monitor drift", "--last-days"): (
        (
            *("monitor", "drift", "--reference", "{good}/w.csv"),
            *("--current", "{good}/w.csv", "--out", "{out}/m"),
        ),
        (*NOT_WHOLE, "-2", "0"),
        "7",
    ),
}
# A contract name is held to the rule of a contract file's `name:`.
BAD_NAMES = ("Bad Name!", "UPPER", "_leading", ".hidden", "a/b", "../up", "tab\there", "é", "")


def _numeric_actions() -> set[tuple[str, str]]:
    """Every option of every subcommand that takes a number (by its type)."""
    found = set()
    for name, parser in _leaves(build_parser()):
        for action in parser._actions:
            kind = getattr(action.type, "__name__", "")
            if action.type in (int, float) or kind in ("whole_number", "finite_number"):
                found.add((name, action.option_strings[-1]))
    return found


def test_every_numeric_option_has_a_checked_type_and_a_row() -> None:
    leaves = dict(_leaves(build_parser()))
    bare = [
        (name, action.option_strings)
        for name, parser in leaves.items()
        for action in parser._actions
        if action.type in (int, float)
    ]
    assert not bare, f"use conveyor.cli.types for numeric options: {bare}"
    assert _numeric_actions() == set(NUMERIC), "give every numeric option a row in NUMERIC"


def _refused(argv: list[str], cwd: Path) -> str | None:
    result = subprocess.run(
        [str(CONVEYOR), *argv], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    lines = result.stderr.strip().splitlines()
    if result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr:
        return None
    return f"{argv[-2:]}: exit {result.returncode}: {result.stderr.strip()[-300:]}"


def test_numbers_and_names_are_refused_while_parsing(tmp_path: Path) -> None:
    good, out = tmp_path / "good", tmp_path / "outputs"
    good.mkdir()
    (good / "w.csv").write_text(_reference_csv(), encoding="utf-8")
    runs: list[list[str]] = []
    for (_, option), (args, bad_values, _) in NUMERIC.items():
        argv = [a.format(good=good, out=out) for a in args]
        runs += [[*argv, f"{option}={value}"] for value in bad_values]
    profile = ["check", "profile", str(good / "w.csv"), "--out", str(out / "c.yaml")]
    runs += [[*profile, f"--name={name}"] for name in BAD_NAMES]
    # Without --name the --out file's name is the contract's name: held to the same rule.
    runs.append(["check", "profile", str(good / "w.csv"), "--out", str(out / "Bad Name.yaml")])
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(lambda argv: _refused(argv, tmp_path), runs) if f]
    assert not failures, f"{len(failures)} of {len(runs)} accepted or crashed:\n" + "\n".join(
        failures
    )
    assert not out.exists()


def test_the_good_values_of_the_numeric_options_are_accepted_by_the_parser() -> None:
    """The refusals above are not a parser that refuses everything: each row's good value (and a
    well-formed contract name) parses to the number or name it spells."""
    parser = build_parser()
    for (_, option), (args, _, value) in NUMERIC.items():
        argv = [a.format(good="g", out="o") for a in args]
        parsed = parser.parse_args([*argv, option, value])
        assert getattr(parsed, option[2:].replace("-", "_")) == float(value), option
    parsed = parser.parse_args(
        ["check", "profile", "w.csv", "--out", "o.yaml", "--name", "a-b.c_1"]
    )
    assert parsed.name == "a-b.c_1"
