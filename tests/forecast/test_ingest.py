"""The ingest stage reads each configured source into the raw schema, or says what is wrong."""

from __future__ import annotations

import polars as pl
import pytest

from conveyor.errors import DataError
from forecast import ingest
from forecast.params import DataParams, SourceParams
from forecast.schema import RAW_SCHEMA, conform_raw


def _file_source(path) -> DataParams:
    return DataParams(source=SourceParams(kind="file", path=path))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_file_source_round_trips(tmp_path, small_sales, suffix):
    path = tmp_path / f"sales{suffix}"
    small = small_sales.head(500)
    small.write_parquet(path) if suffix == ".parquet" else small.write_csv(path)
    out = tmp_path / "raw.parquet"
    assert ingest.run(_file_source(path), out) == 500
    loaded = ingest.load_source(_file_source(path))
    assert dict(loaded.schema) == RAW_SCHEMA
    assert loaded.equals(small)


def test_duckdb_source(tmp_path, small_sales):
    path = tmp_path / "sales.parquet"
    small_sales.write_parquet(path)
    query = f"SELECT * FROM read_parquet('{path}') WHERE club_id = 'club_001'"  # noqa: S608
    loaded = ingest.load_source(DataParams(source=SourceParams(kind="duckdb", query=query)))
    assert loaded.height == small_sales.filter(small_sales["club_id"] == "club_001").height
    assert dict(loaded.schema) == RAW_SCHEMA


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"data.source.path: .*nope.parquet does not exist"):
        ingest.load_source(_file_source(tmp_path / "nope.parquet"))


def test_missing_column_is_named(tmp_path, small_sales):
    path = tmp_path / "sales.parquet"
    small_sales.drop("price").write_parquet(path)
    with pytest.raises(DataError, match=r"missing required column\(s\) price"):
        ingest.load_source(_file_source(path))


def test_wrong_type_is_named(tmp_path, small_sales):
    path = tmp_path / "sales.csv"
    small_sales.head(20).with_columns(units_sold=small_sales["club_id"].head(20)).write_csv(path)
    with pytest.raises(DataError, match=r"column 'units_sold' has type String and cannot be read"):
        ingest.load_source(_file_source(path))


def test_text_dates_are_iso_days_and_the_others_are_quoted(small_sales):
    # A day written another way first: it is the one quoted, not the ISO days after it.
    days = small_sales["date"].head(50).cast(pl.String).to_list()
    days[0], days[30] = "01/02/2023", "2023-02-30"
    frame = small_sales.head(50).with_columns(pl.Series("date", days))
    with pytest.raises(DataError) as raised:
        conform_raw(frame, "sales.csv")
    assert str(raised.value) == (
        "sales.csv: column 'date' has type String and cannot be read as Date "
        "(values that cannot: ['01/02/2023', '2023-02-30'])"
    )
    iso = small_sales["date"].head(50)
    fixed = frame.with_columns(pl.Series("date", iso.cast(pl.String)))
    assert conform_raw(fixed, "sales.csv")["date"].to_list() == iso.to_list()


def test_a_wrong_value_is_quoted_not_the_first_rows(tmp_path, small_sales):
    # Prices as text, all numbers but two far down the file: the message quotes those two.
    prices = small_sales["price"].head(200).cast(pl.String).to_list()
    prices[150], prices[170] = "n/a", "1,5"
    frame = small_sales.head(200).with_columns(pl.Series("price", prices))
    with pytest.raises(DataError) as raised:
        conform_raw(frame, "sales.csv")
    assert str(raised.value) == (
        "sales.csv: column 'price' has type String and cannot be read as Float64 "
        "(values that cannot: ['n/a', '1,5'])"
    )


def test_empty_file_fails(tmp_path, small_sales):
    path = tmp_path / "sales.parquet"
    small_sales.head(0).write_parquet(path)
    with pytest.raises(DataError, match="no rows"):
        ingest.load_source(_file_source(path))


def test_bad_query_is_one_line(tmp_path):
    source = SourceParams(kind="duckdb", query="SELECT * FROM no_such_table")
    with pytest.raises(DataError, match=r"data\.source\.query: DuckDB failed") as caught:
        ingest.load_source(DataParams(source=source))
    assert "\n" not in str(caught.value)


def test_failed_ingest_leaves_previous_output(tmp_path, small_sales):
    out = tmp_path / "raw.parquet"
    small_sales.head(10).write_parquet(out)
    before = out.read_bytes()
    with pytest.raises(DataError):
        ingest.run(_file_source(tmp_path / "missing.csv"), out)
    assert out.read_bytes() == before
