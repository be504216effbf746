"""The Spark session of a process: usage errors first (no Java, a master nobody answers at), then
one quiet session with the settings every stage relies on."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from conveyor import extras
from conveyor.compute.params import SparkSettings
from conveyor.errors import UserError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "JAVA_HINT",
    "LOG_CONFIG",
    "check_java",
    "check_master",
    "driver_java_options",
    "spark_failures",
    "spark_session",
]

MIN_JAVA = 17  # pyspark 4 runs on Java 17 or later
JAVA_HINT = (
    "install Java 17 or later (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
)
# What every stage relies on, unless params.yaml `compute.spark.conf` says otherwise: dates and
# timestamps read as written (no local time zone), no web UI to bind a port for, few shuffle
# partitions (local mode has few cores: on a cluster, set more in compute.spark.conf).
DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
CONNECT_PORT = 15002  # Spark Connect's default
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
JAVA_OPTIONS = "spark.driver.extraJavaOptions"
# The last line of a Python traceback: `package.module.ErrorType: message`, unindented.
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<message>.+)$")
WORKER_HINT = (
    "the Spark workers' Python lacks a package the stage runs: on a cluster, install the "
    "model's wheel there, README 'Past one machine'"
)


def check_java() -> str:
    """The `java` Spark will start; none, or one older than MIN_JAVA: a usage error."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no `java` on PATH"
        raise UserError(f"compute.engine spark needs Java: {where}; {JAVA_HINT}")
    try:
        shown = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"compute.engine spark: {java} does not run ({exc}); {JAVA_HINT}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    major = int(match.group(1)) if match else 0
    major = int(match.group(2) or 0) if major == 1 and match else major  # "1.8.0" is Java 8
    if major < MIN_JAVA:
        raise UserError(
            f"compute.engine spark needs Java {MIN_JAVA}+: {java} is "
            f"{'version ' + str(major) if major else 'of unknown version'}; {JAVA_HINT}"
        )
    return java


def check_master(settings: SparkSettings) -> None:
    """A cluster master that does not accept a connection within the timeout: a usage error
    now, not a session that waits for executors for ever. Local masters and YARN (found through
    HADOOP_CONF_DIR) have no address to try."""
    master = settings.master
    if master == "yarn" or re.fullmatch(r"local(\[[^\]]*\])?", master):
        return
    for host, port in _addresses(master):
        try:
            with socket.create_connection((host, port), timeout=settings.connect_timeout_seconds):
                pass
        except OSError as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise UserError(
                f"compute.spark.master {master}: cannot reach {host}:{port} ({reason} within "
                f"{settings.connect_timeout_seconds:g} s); is the cluster up and the address right?"
            ) from None


def _addresses(master: str) -> list[tuple[str, int]]:
    """The host:port pairs of a master URL: spark://h1:p1,h2:p2 or k8s://https://h:p."""
    scheme, _, rest = master.partition("://")
    if scheme == "k8s":
        url = urlsplit(rest if "://" in rest else f"https://{rest}")
        return [(url.hostname or "", url.port or (443 if url.scheme == "https" else 80))]
    if scheme == "sc":  # Spark Connect: sc://HOST[:PORT][/;token=...]
        url = urlsplit(master)
        return [(url.hostname or "", url.port or CONNECT_PORT)]
    if scheme != "spark" or not rest:
        raise UserError(
            f"compute.spark.master {master!r}: expected local[N], spark://HOST:PORT, yarn, "
            "k8s://https://HOST:PORT or sc://HOST:PORT (Spark Connect)"
        )
    pairs = []
    for address in rest.split(","):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"compute.spark.master {master!r}: {address!r} is not HOST:PORT")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def spark_session(settings: SparkSettings, command: str) -> SparkSession:
    """The process's Spark session for ``command`` (started once; later calls get the same)."""
    extras.require(f"{command} with compute.engine spark", "spark")
    # pyspark 4.3 warns (at start and at each import of its pandas parts) that pandas 3 is not
    # fully supported: the conversions conveyor makes are tested with the pandas it locks.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pyspark.sql import SparkSession

    if settings.master.startswith("sc://"):
        # A Spark Connect server (Databricks Connect speaks the same protocol): a client only,
        # no local JVM, so no Java needed here.
        check_master(settings)
        return SparkSession.builder.remote(settings.master).getOrCreate()
    java = check_java()
    check_master(settings)
    os.environ.setdefault("JAVA_HOME", str(Path(java).resolve().parent.parent))
    if settings.master.startswith("local"):
        # Python workers (the `prepare` stage's) run this interpreter, with this environment's
        # packages, not whatever `python3` is first on PATH; a cluster's workers run its own.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.master).appName(f"conveyor {command}")
    chosen = {
        k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.conf.items()
    }
    for key, value in {**DEFAULTS, **chosen}.items():
        builder = builder.config(key, value)
    builder = builder.config(JAVA_OPTIONS, driver_java_options(chosen.get(JAVA_OPTIONS, "")))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def driver_java_options(chosen: str) -> str:
    """The driver JVM's options: the user's (params.yaml compute.spark.conf), then the logging
    configuration that keeps Spark's start-up chatter (log level notices, native-library
    warnings) out of the job log, unless the user's options name one of their own."""
    if "log4j2.configurationFile" in chosen:
        return chosen
    return f"{chosen} -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}".strip()


@contextmanager
def spark_failures(command: str) -> Iterator[None]:
    """Spark stopping mid-run (a task out of memory, the JVM gone, a lost cluster) as one line,
    exit 2: not a verdict, and not a Java stack trace in the job log."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JError, ConnectionError) as exc:
        raised = _worker_error(str(exc))
        if raised is not None and raised[0].startswith("conveyor.errors."):
            # The worker refused the data as the local engine would: its line, not Spark's.
            raise UserError(raised[1]) from None
        if raised is not None:
            hint = WORKER_HINT if raised[0] == "ModuleNotFoundError" else "Spark's log above"
            raise UserError(
                f"{command}: a Spark worker failed: {raised[0]}: {raised[1][:300]} ({hint})"
            ) from None
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise UserError(
            f"{command}: Spark stopped: {first[:300]} (Spark's log above says why; memory is set "
            "in params.yaml compute.spark.conf, e.g. spark.driver.memory)"
        ) from None


def _worker_error(message: str) -> tuple[str, str] | None:
    """The exception a Python worker raised, as (its type, its message), from the traceback
    Spark quotes; None when Spark quotes none."""
    if "Traceback (most recent call last)" not in message:
        return None
    raised = [m for m in map(_EXCEPTION_LINE.match, message.splitlines()) if m is not None]
    return (raised[-1]["type"], raised[-1]["message"]) if raised else None
