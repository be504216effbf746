"""Data sets in a bucket: `conveyor check data` and `conveyor data manifest` given s3:// URLs of
a Parquet file, a folder of them and a Delta table read what the same data on a local disk
gives. The bucket is a real S3 endpoint on loopback (moto's server); s3fs and delta-rs reach it
through the environment, as they reach AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from conveyor.checks.contract import load_contract
from conveyor.checks.gx_backend import GreatExpectationsBackend
from conveyor.checks.validate import check
from conveyor.cli import main
from conveyor.manifest import build_manifest
from tests.conveyor.checks.test_delta_tables import CONTRACT, SALES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[dict[str, str]]:
    """An S3 endpoint on loopback, and the environment that points s3fs and delta-rs at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    word = "-".join(["conveyor", "tests"])  # moto takes any key; not a credential
    yield {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": word,
        "AWS_SECRET_ACCESS_KEY": word,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",  # delta-rs: the endpoint is plain HTTP
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookups off this machine
    }
    server.stop()


@pytest.fixture
def bucket(endpoint: dict[str, str], monkeypatch, tmp_path: Path) -> Iterator[str]:
    """A new bucket holding sales.parquet, a folder of parts and a Delta table (whose first,
    overwritten version breaks the contract), with their local copies under tmp_path."""
    import s3fs
    from deltalake import write_deltalake

    for name, value in endpoint.items():
        monkeypatch.setenv(name, value)
    name = f"b{tmp_path.name.lower().replace('_', '-')[-40:]}".rstrip("-")
    local = tmp_path / "local"
    (local / "parts" / "day=1").mkdir(parents=True)
    SALES.write_parquet(local / "sales.parquet")
    SALES.head(2).write_parquet(local / "parts" / "day=1" / "part-0.parquet")
    (local / "parts" / "day=2").mkdir()
    SALES.tail(1).write_parquet(local / "parts" / "day=2" / "part-0.parquet")
    (local / "parts" / "_SUCCESS").write_text("")
    broken = SALES.with_columns(pl.col("units_sold") - 10)
    write_deltalake(str(local / "table"), broken.to_arrow(), partition_by=["club_id"])
    write_deltalake(str(local / "table"), SALES.to_arrow(), mode="overwrite")
    store = s3fs.S3FileSystem(skip_instance_cache=True)
    store.mkdir(name)
    store.put(f"{local}/", name, recursive=True)
    yield name
    store.rm(name, recursive=True)


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    path = tmp_path / "sales.yaml"
    path.write_text(CONTRACT)
    return path


@pytest.mark.parametrize("data", ["sales.parquet", "parts", "table"])
def test_check_data_reads_a_url_as_it_reads_the_same_data_on_disk(
    bucket: str, contract: Path, tmp_path: Path, data: str
) -> None:
    backend = GreatExpectationsBackend()
    url = f"s3://{bucket}/{data}"
    remote = check(load_contract(contract), url, backend)
    local = check(load_contract(contract), tmp_path / "local" / data, backend)
    assert remote.data == url and remote.rows == local.rows == 3
    assert remote.passed and local.passed
    assert [(r.rule.id, r.observed) for r in remote.results] == [
        (r.rule.id, r.observed) for r in local.results
    ]


def test_the_cli_names_the_url_in_its_verdict_and_fails_a_broken_table(
    bucket: str, contract: Path, tmp_path: Path, endpoint: dict[str, str]
) -> None:
    import s3fs
    from deltalake import write_deltalake

    table = tmp_path / "negative"
    write_deltalake(str(table), SALES.with_columns(pl.col("units_sold") - 4).to_arrow())
    s3fs.S3FileSystem(skip_instance_cache=True).put(f"{table}/", f"{bucket}/negative", True)
    url = f"s3://{bucket}/negative"
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "check", "data", str(contract), url, "--out", out],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("FAIL [error] sales: units_sold.range:")
    assert done.stdout.splitlines()[-1].endswith(f"rows of {url}")
    assert json.loads((out / "sales.json").read_text())["data"] == url


def test_the_manifest_of_a_table_in_a_bucket_lists_its_current_version(
    bucket: str, tmp_path: Path
) -> None:
    remote = build_manifest(f"s3://{bucket}/table")
    local = build_manifest(tmp_path / "local" / "table")
    assert remote["delta"] == local["delta"] == {"version": 1}
    assert [f["path"] for f in remote["files"]] == [f["path"] for f in local["files"]]
    assert remote["rows"] == 3 and remote["schema"] == local["schema"]
    # The store's own checksum (S3's ETag: the MD5 of a single-part upload's bytes).
    assert [f["checksum"].removeprefix("ETag:") for f in remote["files"]] == [
        f["checksum"].removeprefix("md5:") for f in local["files"]
    ]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("nothing", "{url}: no such file or folder"),
        ("parts/_SUCCESS", "{url}: not a Parquet file (.parquet) nor a folder of them"),
    ],
)
def test_a_url_that_is_not_a_data_set_is_one_line_and_exit_2(
    bucket: str, contract: Path, tmp_path: Path, capsys, data: str, says: str
) -> None:
    url = f"s3://{bucket}/{data}"
    out = tmp_path / "out"
    assert main(["check", "data", str(contract), url, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {says.format(url=url)}\n"
    assert not out.exists()


def test_a_bucket_without_credentials_is_one_line_and_exit_2(
    bucket: str, contract: Path, tmp_path: Path
) -> None:
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    env = {name: value for name, value in os.environ.items() if name not in keys}
    env["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    url, out = f"s3://{bucket}/table", tmp_path / "out"
    commands = (["check", "data", str(contract), url], ["data", "manifest", url])
    for args in commands:  # each in a new process: no filesystem cached with credentials
        done = subprocess.run(
            [sys.executable, "-m", "conveyor.cli", *args, "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=env,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"error: {url}: cannot list: Unable to locate credentials\n"
    assert not out.exists()


def test_an_empty_table_in_a_bucket_is_checked_as_no_rows(
    bucket: str, contract: Path, tmp_path: Path
) -> None:
    import s3fs
    from deltalake import write_deltalake

    table = tmp_path / "empty"
    write_deltalake(str(table), SALES.clear().to_arrow())  # a log, no data file
    s3fs.S3FileSystem(skip_instance_cache=True).put(f"{table}/", f"{bucket}/empty", True)
    url = f"s3://{bucket}/empty"
    out = tmp_path / "out"
    assert main(["check", "data", str(contract), url, "--out", str(out)]) == 1
    verdict = json.loads((out / "sales.json").read_text())
    assert verdict["rows"] == 0
    assert [r["id"] for r in verdict["rules"] if not r["passed"]] == ["table.rows"]
