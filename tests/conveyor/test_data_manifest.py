"""`conveyor data manifest`: what DVC tracks of a data set kept outside its cache.

A real DVC repository whose stage writes Parquet files into a folder outside the workspace (the
stand-in for a bucket) and tracks only their manifest: `dvc repro` re-runs the stage downstream
when, and only when, the files changed. Then the manifest's own promises: byte-identical runs,
a content id that follows the bytes, and the bad inputs (mixed schemas, a missing path, a
filesystem package that is not installed)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.cli import main
from conveyor.hashing import file_md5

BIN = Path(sys.executable).parent
RUNS = ("train", "report")  # the consumers, each logging its runs

# The producer: two partitions of a feature table; `scale` changes partition b only.
WRITE = """\
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

scale = yaml.safe_load(Path("params.yaml").read_text())["scale"]
bucket = Path(sys.argv[1])
for part, factor in (("a", 1), ("b", scale)):
    (bucket / f"part={part}").mkdir(parents=True, exist_ok=True)
    table = pa.table({"item": ["x", "y", "z"], "units": [factor * v for v in (1.0, 2.0, 3.0)]})
    pq.write_table(table, bucket / f"part={part}" / "0.parquet")
"""
# A consumer: records the content id it was built from, and that it ran.
USE = """\
import json
import sys
from pathlib import Path

manifest, out, log = sys.argv[1:]
content_id = json.loads(Path(manifest).read_text())["content_id"]
Path(out).write_text(content_id + "\\n")
with open(log, "a") as runs:
    runs.write(content_id + "\\n")
"""


def _dvc_yaml(bucket: Path, landing: Path, runs: Path) -> str:
    manifest = "conveyor data manifest"
    return f"""\
stages:
  features:  # its output lives in the bucket; DVC tracks the manifest
    cmd: python write.py {bucket} && {manifest} {bucket} --out manifests/features.json
    deps: [write.py]
    params: [scale]
    outs:
      - manifests/features.json:
          cache: false
  train:
    cmd: python use.py manifests/features.json model.txt {runs}/train.log
    deps: [use.py, manifests/features.json]
    outs: [model.txt]
  landing:  # data another system writes: listed on every run
    cmd: {manifest} {landing} --out manifests/landing.json
    always_changed: true
    outs:
      - manifests/landing.json:
          cache: false
  report:
    cmd: python use.py manifests/landing.json report.txt {runs}/report.log
    deps: [use.py, manifests/landing.json]
    outs: [report.txt]
"""


def _run(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.integration
def test_dvc_repro_reruns_downstream_when_and_only_when_the_bucket_changed(tmp_path: Path) -> None:
    bucket, landing, runs = tmp_path / "bucket", tmp_path / "landing", tmp_path / "runs"
    repo = tmp_path / "repo"
    for folder in (repo, runs):
        folder.mkdir()
    _write(landing / "2026-01-01.parquet", item=["x"], units=[1.0])
    _run(repo, "git", "init", "-q")
    _run(repo, sys.executable, "-m", "dvc", "init", "-q")
    (repo / "write.py").write_text(WRITE)
    (repo / "use.py").write_text(USE)
    (repo / "params.yaml").write_text("scale: 1\n")
    (repo / "dvc.yaml").write_text(_dvc_yaml(bucket, landing, runs))

    def repro() -> dict[str, list[str]]:
        """Each consumer's runs, by the content id it was built from."""
        _run(repo, sys.executable, "-m", "dvc", "repro", "-q")
        return {name: (runs / f"{name}.log").read_text().splitlines() for name in RUNS}

    def content_id(name: str) -> str:
        return json.loads((repo / f"manifests/{name}.json").read_text())["content_id"]

    ran = repro()
    first, landed = content_id("features"), content_id("landing")
    assert ran == {"train": [first], "report": [landed]}
    # The data never entered DVC's cache: it holds the consumers' outputs alone.
    cached = sorted(p.read_text() for p in (repo / ".dvc/cache/files").rglob("*") if p.is_file())
    assert cached == sorted([first + "\n", landed + "\n"])

    # Nothing changed in the data: no consumer runs. The producer runs again (its script
    # changed) and writes the same bytes (new files, new mtimes): the same manifest; the
    # landing manifest is made again (always_changed), the same.
    (repo / "write.py").write_text(WRITE + "# touched\n")
    assert repro() == {"train": [first], "report": [landed]}

    # One partition's content changes: a new content id, and its consumer (only) runs on it.
    (repo / "params.yaml").write_text("scale: 2\n")
    ran, second = repro(), content_id("features")
    assert second != first
    assert ran == {"train": [first, second], "report": [landed]}
    assert (repo / "model.txt").read_text() == second + "\n"

    # Another system rewrites a landed file: the next repro sees it, and only its consumer runs.
    _write(landing / "2026-01-01.parquet", item=["x"], units=[1.5])
    ran, relanded = repro(), content_id("landing")
    assert relanded != landed
    assert ran == {"train": [first, second], "report": [landed, relanded]}


# --- the manifest itself -------------------------------------------------------------------


def _write(path: Path, **columns: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "features"
    _write(folder / "day=2/part-0.parquet", item=["x", "y"], units=[1.0, 2.0])
    _write(folder / "day=1/part-0.parquet", item=["z"], units=[3.0])
    (folder / "_SUCCESS").write_text("")  # what Spark leaves beside its parts: not data
    _write(folder / "_temporary/0/part-9.parquet", item=["w"], units=[4.0])  # a failed writer's
    return folder


def _manifest(location: str, out: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["data", "manifest", location, "--out", str(out)]) == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def test_the_manifest_is_byte_identical_run_to_run_and_follows_the_bytes(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _manifest(str(dataset), tmp_path / "one.json", capsys)
    two = _manifest(str(dataset), tmp_path / "two.json", capsys)
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
    assert [f["path"] for f in one["files"]] == ["day=1/part-0.parquet", "day=2/part-0.parquet"]
    assert [f["rows"] for f in one["files"]] == [1, 2] and one["rows"] == 3
    assert one["schema"]["columns"] == ["item: string", "units: double"]
    # On a local disk, the MD5 of the bytes (as DVC hashes files): mtimes play no part.
    assert one["files"][0]["checksum"] == f"md5:{file_md5(dataset / 'day=1/part-0.parquet')}"

    # One value of one file: a new content id; the schema and row count stay.
    _write(dataset / "day=2/part-0.parquet", item=["x", "y"], units=[1.0, 2.5])
    three = _manifest(str(dataset), tmp_path / "three.json", capsys)
    assert three["content_id"] != two["content_id"]
    assert (three["rows"], three["schema"]) == (two["rows"], two["schema"])
    assert three["files"][0] == two["files"][0] and three["files"][1] != two["files"][1]

    # A URL goes through its fsspec filesystem (here fsspec's in-memory one): same rows and
    # schema, the files keyed by what that filesystem lists.
    import fsspec

    memory = fsspec.filesystem("memory")
    for part in three["files"]:
        memory.pipe(f"/bucket/features/{part['path']}", (dataset / part["path"]).read_bytes())
    remote = _manifest("memory://bucket/features", tmp_path / "remote.json", capsys)
    assert [f["path"] for f in remote["files"]] == [f["path"] for f in three["files"]]
    assert (remote["rows"], remote["schema"]) == (three["rows"], three["schema"])
    memory.rm("/bucket", recursive=True)


def test_files_that_disagree_on_a_column_fail_naming_it(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(dataset / "day=3/part-0.parquet", item=["w"], units=["3"])  # text, not numbers
    out = tmp_path / "m.json"
    assert main(["data", "manifest", str(dataset), "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"error: {dataset}: table.schema: expected every file with the same columns and types; "
        "observed units: double in day=1/part-0.parquet, string in day=3/part-0.parquet\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("{tmp}/nowhere", "{tmp}/nowhere: no such file or folder"),
        ("{tmp}/empty", "{tmp}/empty: a folder with no .parquet file below it"),
        ("{tmp}/notes.csv", "{tmp}/notes.csv: not a Parquet file (.parquet) nor a folder of them"),
        ("{tmp}/broken.parquet", "{tmp}/broken.parquet: cannot read its footer: "),
        ("gs://bucket/features", "gs://bucket/features: reading gs:// needs the gcsfs package: "),
        ("nosuch://bucket/x", "nosuch://bucket/x: Protocol not known: nosuch"),
    ],
)
def test_bad_locations_are_one_line_and_exit_2(
    location: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if location.startswith("gs://") and importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed: gs:// would be read")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    out = tmp_path / "m.json"
    code = main(["data", "manifest", location.format(tmp=tmp_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {says.format(tmp=tmp_path)}"), err
    assert err.count("\n") == 1 and not out.exists()


# --- Delta tables ---------------------------------------------------------------------------


def _delta(path: Path, mode: str, **columns: list) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(path), pa.table(columns), mode=mode, schema_mode="merge")


def test_a_delta_table_is_listed_as_its_current_version_with_the_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltalake import DeltaTable

    table = tmp_path / "features"
    _delta(table, "append", item=["x", "y"], units=[1.0, 2.0])
    _delta(table, "overwrite", item=["z"], units=[3.0])  # the first file stays in the folder
    _delta(table, "append", item=["w"], units=[4.0], promo=[1])  # a column added later
    DeltaTable(str(table)).create_checkpoint()  # a Parquet file in _delta_log/: not data
    assert len(list(table.rglob("*.parquet"))) == 4
    manifest = _manifest(str(table), tmp_path / "m.json", capsys)
    assert "Delta version 2" in capsys.readouterr().out
    assert manifest["delta"] == {"version": 2}
    assert [f["rows"] for f in manifest["files"]] == [1, 1] and manifest["rows"] == 2
    # Two of the three files in the folder: the first version's is not data any more.
    assert {f["path"] for f in manifest["files"]} < {p.name for p in table.glob("*.parquet")}
    # The log's schema, not a conflict between the older file and the newer.
    assert manifest["schema"]["columns"] == ["item: string", "units: double", "promo: int64"]
    # Through a URL: the same files, checksums and content id.
    by_url = _manifest(table.as_uri(), tmp_path / "url.json", capsys)
    assert (by_url["files"], by_url["content_id"]) == (manifest["files"], manifest["content_id"])

    # A new version changes the content id; the version says which to read back.
    _delta(table, "append", item=["v"], units=[5.0])
    later = _manifest(str(table), tmp_path / "later.json", capsys)
    assert later["delta"] == {"version": 3} and later["content_id"] != manifest["content_id"]


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        ("vacuumed", "the Delta log (version 0) names part-"),
        ("deletion vectors", "the Delta table uses deletionVectors"),
        ("broken log", "not a readable Delta table: "),
    ],
)
def test_a_delta_table_its_files_cannot_describe_is_one_line_and_exit_2(
    spoil: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltalake import write_deltalake

    table = tmp_path / "features"
    options = {"configuration": {"delta.enableDeletionVectors": "true"}}
    data = pa.table({"item": ["x"], "units": [1.0]})
    write_deltalake(str(table), data, **(options if spoil == "deletion vectors" else {}))
    if spoil == "vacuumed":
        next(table.glob("*.parquet")).unlink()
    if spoil == "broken log":
        (table / "_delta_log" / "00000000000000000000.json").write_text("{")
    out = tmp_path / "m.json"
    assert main(["data", "manifest", str(table), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {table}: {says}"), err
    assert err.count("\n") == 1 and not out.exists()
