"""The `compute:` switch and the usage errors found before Spark starts: no Java, a master that
does not answer, a master URL of no known kind. None of these starts a JVM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conveyor.compute.params import ComputeParams, SparkSettings, load_compute
from conveyor.compute.session import check_java, check_master
from conveyor.errors import ConfigError, UserError


def test_no_file_or_no_section_is_the_local_engine(tmp_path: Path) -> None:
    assert load_compute(tmp_path / "params.yaml").engine == "local"
    (tmp_path / "params.yaml").write_text("data: {}\n", encoding="utf-8")
    assert load_compute(tmp_path / "params.yaml") == ComputeParams()


def test_the_spark_section_is_read_with_its_defaults(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "compute:\n  engine: spark\n  spark:\n    conf: {spark.executor.memory: 8g}\n",
        encoding="utf-8",
    )
    compute = load_compute(params)
    assert compute.engine == "spark"
    assert compute.spark.master == "local[2]"
    assert compute.spark.conf == {"spark.executor.memory": "8g"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("compute: {engine: dask}\n", r"params.yaml:1: compute.engine: Input should be 'local'"),
        ("compute:\n  engine: spark\n  sprak: {}\n", r"params.yaml:3: compute.sprak: unknown key"),
        ("compute:\n  spark: {master: ''}\n", r"compute.spark.master: String should have"),
        ("compute:\n  spark: {connect_timeout_seconds: 0}\n", r"connect_timeout_seconds"),
    ],
)
def test_a_bad_section_names_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_compute(params)


def test_no_java_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # a JAVA_HOME with no bin/java in it
    with pytest.raises(UserError, match=r"needs Java: JAVA_HOME=.* has no bin/java.*openjdk-17"):
        check_java()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match=r"no `java` on PATH; install Java 17"):
        check_java()


def test_an_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n", encoding="utf-8")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(UserError, match=r"needs Java 17\+: .* is version 8"):
        check_java()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_master_nobody_listens_at_is_a_usage_error() -> None:
    port = _closed_port()
    with pytest.raises(UserError, match=rf"cannot reach 127.0.0.1:{port} \(Connection refused"):
        check_master(SparkSettings(master=f"spark://127.0.0.1:{port}"))
    with pytest.raises(UserError, match=rf"cannot reach 127.0.0.1:{port}"):
        check_master(SparkSettings(master=f"sc://127.0.0.1:{port}"))


def test_a_master_that_never_answers_fails_within_the_timeout() -> None:
    # A listening socket whose backlog is full accepts no more connections: the connect hangs
    # like a firewalled cluster address, until the timeout.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        for _ in range(8):  # fill the backlog (its exact size depends on the kernel)
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        started = time.monotonic()
        try:
            check_master(
                SparkSettings(master=f"spark://127.0.0.1:{port}", connect_timeout_seconds=1)
            )
        except UserError as error:
            assert "no answer within 1 s" in str(error) or "cannot reach" in str(error)
        else:
            pytest.fail("a master that never answers was accepted")
        finally:
            for filler in fillers:
                filler.close()
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("master", "message"),
    [
        ("mesos://h:5050", r"expected local\[N\], spark://HOST:PORT"),
        ("spark://host-without-port", r"'host-without-port' is not HOST:PORT"),
        ("spark://", r"expected local\[N\]"),
    ],
)
def test_a_master_url_of_no_known_kind_is_a_usage_error(master: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_master(SparkSettings(master=master))


@pytest.mark.parametrize("master", ["local", "local[2]", "local[*]", "local[4,2]", "yarn"])
def test_local_and_yarn_masters_have_no_address_to_try(master: str) -> None:
    check_master(SparkSettings(master=master))


def _check_data(
    tmp_path: Path, params: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "params.yaml").write_text(params, encoding="utf-8")
    (tmp_path / "c.yaml").write_text("name: c\ncolumns: {x: {type: float}}\n", encoding="utf-8")
    (tmp_path / "d.csv").write_text("x\n1.0\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "check", "data", "c.yaml", "d.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _one_line_usage_error(run: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "reports").exists()  # nothing written
    return lines[0]


def test_check_data_on_spark_without_java_exits_2_naming_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "no-java"
    empty.mkdir()
    run = _check_data(tmp_path, "compute: {engine: spark}\n", {"JAVA_HOME": str(empty)})
    assert "apt-get install openjdk-17-jre-headless" in _one_line_usage_error(run, tmp_path)


def test_check_data_with_an_unreachable_master_exits_2_quickly(tmp_path: Path) -> None:
    port = _closed_port()
    started = time.monotonic()
    run = _check_data(
        tmp_path, f"compute:\n  engine: spark\n  spark: {{master: 'spark://127.0.0.1:{port}'}}\n"
    )
    line = _one_line_usage_error(run, tmp_path)
    assert f"compute.spark.master spark://127.0.0.1:{port}: cannot reach" in line
    assert time.monotonic() - started < 60


def test_check_data_with_a_bad_compute_section_exits_2(tmp_path: Path) -> None:
    run = _check_data(tmp_path, "compute: {engine: dask}\n")
    assert "params.yaml:1: compute.engine" in _one_line_usage_error(run, tmp_path)


def test_an_empty_or_missing_named_params_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params.yaml: empty"):
        load_compute(tmp_path / "params.yaml")
    with pytest.raises(ConfigError, match=r"other.yaml"):
        load_compute(tmp_path / "other.yaml", missing_ok=False)
