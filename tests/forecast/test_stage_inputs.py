"""`python -m forecast STAGE` with an input data file that is missing, not Parquet, corrupt or
empty: one line naming the file, exit 2, nothing written; never the reader's traceback."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from forecast import train
from forecast.__main__ import FILE_INPUTS, FILE_OUTPUTS, OPTION_HELP, PARQUET_INPUTS, STAGES
from forecast.__main__ import main as forecast_main
from forecast.features import build_features
from tests.paths import REPO


def _missing(folder: Path) -> Path:
    return folder / "no-such.parquet"


def _csv(folder: Path) -> Path:
    path = folder / "sales.csv"
    path.write_text("date,club_id\n2024-01-01,club_001\n", encoding="utf-8")
    return path


def _corrupt(folder: Path) -> Path:
    path = folder / "sales.parquet"
    path.write_bytes(b"not parquet at all")
    return path


def _empty_folder(folder: Path) -> Path:
    path = folder / "parts"
    path.mkdir()
    return path


BAD = {
    "missing": (_missing, "no such data file"),
    "CSV": (_csv, "unsupported file type '.csv' (use .parquet)"),
    "corrupt": (_corrupt, "cannot read"),
    "folder without Parquet": (_empty_folder, "a folder with no .parquet file"),
}
CASES = [(stage, option) for stage, options in PARQUET_INPUTS.items() for option in options]


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize(("stage", "option"), CASES)
def test_a_bad_input_file_is_one_line_and_writes_nothing(tmp_path, capsys, stage, option, bad):
    make, expected = BAD[bad]
    path = make(tmp_path)
    outputs = tmp_path / "outputs"
    args = [f"--{option}", str(path)]
    # Every other path of the stage into a folder that must stay empty.
    for other in STAGES[stage][1]:
        if other != option:
            args += [f"--{other}", str(outputs / other)]
    code = forecast_main(["--params", str(REPO / "params.yaml"), stage, *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {stage}: {path}: ")
    assert expected in err
    assert not outputs.exists()


@pytest.mark.parametrize(
    ("engine", "edit", "expected"),
    [
        (engine, edit, expected)
        for engine in ("local", "spark")
        for edit, expected in [
            (lambda f: f.head(0), "no rows"),
            (lambda f: f.drop("price"), "missing required column(s) price"),
        ]
    ],
)
def test_prepare_refuses_raw_sales_it_cannot_build_from_on_either_engine(
    tmp_path, capsys, small_sales, engine, edit, expected
):
    # On Spark, refused from the footers before Spark starts (no Java needed for the refusal).
    raw = tmp_path / "raw.parquet"
    edit(small_sales).write_parquet(raw)
    params = tmp_path / "params.yaml"
    compute = "\ncompute:\n  engine: spark\n" if engine == "spark" else ""
    params.write_text((REPO / "params.yaml").read_text(encoding="utf-8") + compute)
    out = tmp_path / "features" / "features.parquet"
    code = forecast_main(["--params", str(params), "prepare", "--raw", str(raw), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: prepare: {raw}: ")
    assert expected in err and err.count("\n") == 1
    assert not out.parent.exists()


@pytest.mark.parametrize(
    ("stage", "option", "problem"),
    [
        ("evaluate", "model", "no such file"),
        ("register", "model", "no such file"),
        ("register", "metrics", "no such file"),
        ("register", "raw", "not a file"),  # a folder: register records one file's md5
    ],
)
def test_a_missing_model_or_metrics_file_is_one_line(tmp_path, capsys, stage, option, problem):
    paths = {name: tmp_path / name for name in STAGES[stage][1]}
    paths.update({n: tmp_path / f"{n}.parquet" for n in ("features", "raw") if n in paths})
    for name in ("features", "raw"):  # the data inputs present, so only ``option`` is wrong
        if name in paths:
            target = paths[name] / "part-0.parquet" if name == option else paths[name]
            target.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame({"x": [1]}).write_parquet(target)
    for name in FILE_INPUTS[stage]:
        if name not in (option, "raw"):
            paths[name].write_text("{}", encoding="utf-8")
    args = [arg for name, path in paths.items() for arg in (f"--{name}", str(path))]
    code = forecast_main(["--params", str(REPO / "params.yaml"), stage, *args])
    assert code == 2
    expected = f"error: {stage}: {paths[option]}: {problem} ({OPTION_HELP[option]})\n"
    assert capsys.readouterr().err == expected


@pytest.mark.parametrize(
    ("stage", "option"),
    [(stage, option) for stage, options in FILE_OUTPUTS.items() for option in options],
)
def test_an_output_file_that_is_a_folder_is_one_line_before_any_work(
    tmp_path, capsys, small_sales, stage, option
):
    # The stage's inputs exist and read (so only ``option`` is wrong); ``option`` names a folder.
    paths = {name: tmp_path / "in" / name for name in STAGES[stage][1]}
    paths.update({n: tmp_path / "in" / f"{n}.parquet" for n in ("features", "raw") if n in paths})
    for name in ("features", "raw"):
        if name in paths:
            paths[name].parent.mkdir(parents=True, exist_ok=True)
            small_sales.write_parquet(paths[name])
    for name in FILE_INPUTS.get(stage, ()):
        if name not in ("raw", "features"):
            paths[name].write_text("{}", encoding="utf-8")
    folder = tmp_path / "a folder"
    (folder / "kept").mkdir(parents=True)
    paths[option] = folder
    args = [arg for name, path in paths.items() for arg in (f"--{name}", str(path))]
    code = forecast_main(["--params", str(REPO / "params.yaml"), stage, *args])
    assert code == 2
    expected = (
        f"error: {stage}: --{option} {folder}: cannot write there (a folder, expected a file)\n"
    )
    assert capsys.readouterr().err == expected
    assert [p.name for p in folder.iterdir()] == ["kept"]


def _write_folder(root: Path, frames: dict[str, pl.DataFrame]) -> Path:
    for name, frame in frames.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(root / name)
    return root


def test_a_folder_reads_as_spark_lists_it_and_files_that_disagree_are_one_line(
    tmp_path, capsys, small_sales
):
    # A failed write's leftovers and hidden files are not data: counted, they would double rows.
    folder = _write_folder(
        tmp_path / "raw",
        {
            "part-0.parquet": small_sales,
            "_temporary/0/part-0.parquet": small_sales,
            ".part-1.parquet": small_sales,
        },
    )
    (folder / "_SUCCESS").write_text("")
    out = tmp_path / "f.parquet"
    params = ["--params", str(REPO / "params.yaml"), "prepare"]
    assert forecast_main([*params, "--raw", str(folder), "--out", str(out)]) == 0
    whole = tmp_path / "whole.parquet"
    assert (
        forecast_main([*params, "--raw", str(folder / "part-0.parquet"), "--out", str(whole)]) == 0
    )
    assert pl.read_parquet(out).equals(pl.read_parquet(whole))
    # Files that disagree on a column's type: named, not a reader's traceback.
    mixed = _write_folder(
        tmp_path / "mixed",
        {
            "a.parquet": small_sales.head(100),
            "b.parquet": small_sales.tail(100).with_columns(pl.col("price").cast(pl.String)),
        },
    )
    capsys.readouterr()
    assert forecast_main([*params, "--raw", str(mixed), "--out", str(tmp_path / "m.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: prepare: {mixed}: its files disagree on a column: price: ")
    assert err.count("\n") == 1


def _run_stage(stage: str, inputs: dict[str, Path], outputs: Path) -> int:
    """`python -m forecast STAGE` with ``inputs``, its other paths into ``outputs``."""
    args = [arg for name, path in inputs.items() for arg in (f"--{name}", str(path))]
    for other in STAGES[stage][1]:
        if other not in inputs:
            args += [f"--{other}", str(outputs / other)]
    return forecast_main(["--params", str(REPO / "params.yaml"), stage, *args])


@pytest.mark.parametrize("stage", ["train", "evaluate"])
def test_a_file_that_is_not_the_feature_table_is_one_line(
    tmp_path, capsys, stage, small_sales, small_params
):
    # The raw sales given where the features go: a readable Parquet file, the wrong columns.
    raw = tmp_path / "sales.parquet"
    small_sales.write_parquet(raw)
    inputs = {"features": raw}
    if stage == "evaluate":  # a model to evaluate, trained on the small data's features
        features = tmp_path / "features.parquet"
        build_features(small_sales, small_params.features, "US").write_parquet(features)
        inputs["model"] = tmp_path / "model.txt"
        train.run(features, small_params, inputs["model"], tmp_path / "importance.csv")
    outputs = tmp_path / "outputs"
    code = _run_stage(stage, inputs, outputs)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {stage}: {raw}: not a feature table: no column ")
    assert "(python -m forecast prepare writes one)" in err
    assert not outputs.exists()


def _corrupt_pages(path: Path, column: str) -> None:
    """Flip bytes inside ``column``'s data pages: the footer still reads, the values do not."""
    import pyarrow.parquet as pq

    metadata = pq.read_metadata(path)
    names = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    chunk = metadata.row_group(0).column(names.index(column))
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    for offset in range(middle, middle + 64):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("stage", ["prepare", "train", "evaluate"])
def test_a_file_whose_pages_are_corrupt_behind_a_good_footer_is_one_line(
    tmp_path, capsys, stage, small_sales, small_params
):
    features = tmp_path / "features.parquet"
    build_features(small_sales, small_params.features, "US").write_parquet(features)
    inputs = {"features": features}
    if stage == "prepare":
        inputs = {"raw": tmp_path / "sales.parquet"}
        small_sales.write_parquet(inputs["raw"], compression="zstd")
    if stage == "evaluate":
        inputs["model"] = tmp_path / "model.txt"
        train.run(features, small_params, inputs["model"], tmp_path / "importance.csv")
    bad = inputs["raw" if stage == "prepare" else "features"]
    _corrupt_pages(bad, "price")
    outputs = tmp_path / "outputs"
    code = _run_stage(stage, inputs, outputs)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {stage}: {bad}: cannot read: "), err
    assert not outputs.exists()
