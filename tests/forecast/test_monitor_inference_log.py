"""forecast.inference_log: off by default, sampled, Parquet by day, no PII, never raises."""

from __future__ import annotations

import datetime as dt

import polars as pl

from forecast.inference_log import REDACTED, InferenceLogger


def _rows(n: int, **extra: object) -> list[dict[str, object]]:
    return [
        {
            "club_id": "club_001",
            "item_id": f"item_{i:04d}",
            "date": dt.date(2026, 1, 2),
            "price": 10.0 + i,
            "promo": i % 2,
            **extra,
        }
        for i in range(n)
    ]


def _read(folder) -> pl.DataFrame:
    return pl.read_parquet(sorted(folder.rglob("*.parquet")))


def test_off_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVEYOR_INFERENCE_LOG_DIR", raising=False)
    logger = InferenceLogger.from_env()
    assert logger.enabled is False
    logger.log(_rows(3), [1.0, 2.0, 3.0], "m:1")
    logger.flush()
    # A directory alone does not turn it on: the sample share defaults to 0.
    logger = InferenceLogger.from_env({"CONVEYOR_INFERENCE_LOG_DIR": str(tmp_path / "log")})
    assert logger.enabled is False
    logger.log(_rows(3), [1.0, 2.0, 3.0], "m:1")
    logger.flush()
    assert not (tmp_path / "log").exists()


def test_logs_rows_with_predictions_partitioned_by_date(tmp_path):
    env = {
        "CONVEYOR_INFERENCE_LOG_DIR": str(tmp_path / "log"),
        "CONVEYOR_INFERENCE_LOG_SAMPLE": "1",
        "CONVEYOR_INFERENCE_LOG_FLUSH_ROWS": "4",
    }
    logger = InferenceLogger.from_env(env)
    assert logger.enabled
    logger.log(_rows(3), [1.0, 2.0, 3.0], "demand_forecaster:abc")
    assert not (tmp_path / "log").exists()  # buffered: below flush_rows
    logger.log(_rows(2), [4.0, 5.0], "demand_forecaster:abc")  # 5 rows >= 4: written
    logger.wait()  # by a background thread, off the request path
    today = dt.datetime.now(dt.UTC).date().isoformat()
    files = list((tmp_path / "log" / f"log_date={today}").glob("*.parquet"))
    assert len(files) == 1
    assert not list((tmp_path / "log").rglob(".*.tmp"))  # no temporary file left behind
    frame = _read(tmp_path / "log")
    assert frame["prediction"].to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert set(frame["model_tag"]) == {"demand_forecaster:abc"}
    assert frame.schema["date"] == pl.Date
    assert frame.schema["logged_at"] == pl.Datetime("us", "UTC")
    assert {"club_id", "item_id", "price", "promo"} <= set(frame.columns)


def test_sampling_keeps_about_the_configured_share(tmp_path):
    logger = InferenceLogger(tmp_path / "log", sample=0.1, seed=1)
    logger.log(_rows(5_000), [1.0] * 5_000, "m:1")
    logger.flush()
    kept = _read(tmp_path / "log").height
    assert 400 < kept < 600
    # The same seed keeps the same rows.
    again = InferenceLogger(tmp_path / "again", sample=0.1, seed=1)
    again.log(_rows(5_000), [1.0] * 5_000, "m:1")
    again.flush()
    assert (
        _read(tmp_path / "again")["item_id"].to_list()
        == _read(tmp_path / "log")["item_id"].to_list()
    )


def test_no_raw_member_identifiers_and_no_pii_text(tmp_path):
    # Built at run time: nothing shaped like personal data is committed.
    email = "jane.doe" + "@" + "example.com"
    phone = "(555) " + "010-" + "1234"
    rows = _rows(2, member_id="M-000123", customer_no="42", note=email, other=phone)
    logger = InferenceLogger(tmp_path / "log", sample=1.0)
    logger.log(rows, [1.0, 2.0], "m:1")
    logger.flush()
    frame = _read(tmp_path / "log")
    assert "member_id" not in frame.columns
    assert "customer_no" not in frame.columns
    assert set(frame["note"]) == {REDACTED}
    assert set(frame["other"]) == {REDACTED}
    assert set(frame["club_id"]) == {"club_001"}  # ordinary ids are kept
    text = b"".join(p.read_bytes() for p in (tmp_path / "log").rglob("*.parquet"))
    assert b"M-000123" not in text
    assert email.encode() not in text


def test_never_raises_into_the_request_path(tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    logger = InferenceLogger(blocker, sample=1.0, flush_rows=1)
    logger.log(_rows(2), [1.0, 2.0], "m:1")  # the write fails: reported, not raised
    logger.wait()
    logger.log(_rows(2), [1.0, 2.0], "m:1")
    logger.wait()
    logger.log(_rows(2), [1.0], "m:1")  # mismatched lengths: a bug upstream, still no raise
    err = capsys.readouterr().err
    assert err.count("inference log: rows dropped") == 1  # once, not per request


def test_malformed_settings_disable_logging(tmp_path, capsys):
    env = {"CONVEYOR_INFERENCE_LOG_DIR": str(tmp_path), "CONVEYOR_INFERENCE_LOG_SAMPLE": "lots"}
    assert InferenceLogger.from_env(env).enabled is False
    env["CONVEYOR_INFERENCE_LOG_SAMPLE"] = "1.5"
    assert InferenceLogger.from_env(env).enabled is False
    assert capsys.readouterr().err.count("inference log disabled") == 2
