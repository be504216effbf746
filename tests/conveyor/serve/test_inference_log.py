"""conveyor.serve.inference_log: off by default, sampled, Parquet by day, no PII, never raises,
any request and response columns."""

from __future__ import annotations

import datetime as dt

import polars as pl

from conveyor.serve.inference_log import REDACTED, InferenceLogger


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


def test_any_request_and_response_columns(tmp_path):
    """A classifier's request (its own fields) and several outputs per row: one column each;
    a scalar class label is the `prediction` column, kept as text."""
    import numpy as np

    rows = [{"tenure": 12, "plan": "pro"}, {"tenure": 30, "plan": "basic"}]
    logger = InferenceLogger(tmp_path / "multi", sample=1.0)
    outputs = [
        {"label": "churn", "probability": np.float32(0.75)},
        {"label": "stay", "probability": 0.2},
    ]
    logger.log(rows, outputs, "churn:1")
    logger.flush()
    frame = _read(tmp_path / "multi")
    assert frame["label"].to_list() == ["churn", "stay"]
    assert frame["probability"].to_list() == [0.75, 0.2]
    assert frame["plan"].to_list() == ["pro", "basic"]
    assert "prediction" not in frame.columns

    labels = InferenceLogger(tmp_path / "labels", sample=1.0)
    labels.log(rows, ["churn", "stay"], "churn:1")
    labels.flush()
    assert _read(tmp_path / "labels")["prediction"].to_list() == ["churn", "stay"]


def test_outputs_that_would_overwrite_the_log_columns_are_dropped_not_raised(tmp_path, capsys):
    logger = InferenceLogger(tmp_path / "log", sample=1.0)
    logger.log(_rows(1), [{"model_tag": "mine"}], "m:1")
    logger.flush()
    assert not list((tmp_path / "log").rglob("*.parquet"))
    assert "would overwrite the log's own columns" in capsys.readouterr().err


def _contract(path, pii: str) -> str:
    path.write_text(
        "name: requests\ncolumns:\n  tenure: {type: integer}\n" + pii,
        encoding="utf-8",
    )
    return str(path)


def test_the_pii_rules_come_from_a_data_contract(tmp_path):
    """CONVEYOR_INFERENCE_LOG_CONTRACT: the contract's `pii:` section decides what is dropped
    and redacted, the same rules `conveyor check data` enforces on the training data."""
    email = "jane.doe" + "@" + "example.com"
    phone = "(555) " + "010-" + "1234"
    contract = _contract(
        tmp_path / "requests.yaml",
        "pii:\n  hashed_id_columns: '^(badge|patient)_ref$'\n  text_patterns: [email]\n",
    )
    env = {
        "CONVEYOR_INFERENCE_LOG_DIR": str(tmp_path / "log"),
        "CONVEYOR_INFERENCE_LOG_SAMPLE": "1",
        "CONVEYOR_INFERENCE_LOG_CONTRACT": contract,
    }
    logger = InferenceLogger.from_env(env)
    assert logger.enabled
    rows = [{"badge_ref": "B-17", "patient_ref": "P-9", "note": email, "other": phone, "tenure": 3}]
    logger.log(rows, [1.0], "m:1")
    logger.flush()
    frame = _read(tmp_path / "log")
    assert "badge_ref" not in frame.columns
    assert "patient_ref" not in frame.columns
    assert frame["note"].to_list() == [REDACTED]
    assert frame["other"].to_list() == [phone]  # phone is not among this contract's patterns

    # The defaults (no contract) are the contracts' defaults: a customer id is dropped.
    default = InferenceLogger(tmp_path / "default", sample=1.0)
    default.log([{"CustomerID": "C-1", "badge_ref": "B-17"}], [1.0], "m:1")
    default.flush()
    assert _read(tmp_path / "default").columns[:1] == ["badge_ref"]


def test_a_contract_that_cannot_be_read_disables_the_log(tmp_path, capsys):
    """Never a log redacted otherwise than asked: a missing or invalid contract turns it off."""
    env = {
        "CONVEYOR_INFERENCE_LOG_DIR": str(tmp_path / "log"),
        "CONVEYOR_INFERENCE_LOG_SAMPLE": "1",
        "CONVEYOR_INFERENCE_LOG_CONTRACT": str(tmp_path / "absent.yaml"),
    }
    assert InferenceLogger.from_env(env).enabled is False
    env["CONVEYOR_INFERENCE_LOG_CONTRACT"] = _contract(
        tmp_path / "bad.yaml", "pii:\n  text_patterns: [postcode]\n"
    )
    assert InferenceLogger.from_env(env).enabled is False
    err = capsys.readouterr().err
    assert err.count("inference log disabled") == 2
    assert "unknown pattern(s) ['postcode']" in err


def test_a_contract_without_text_patterns_redacts_no_text(tmp_path):
    email = "jane.doe" + "@" + "example.com"
    contract = _contract(tmp_path / "c.yaml", "pii:\n  text_patterns: []\n")
    env = {
        "CONVEYOR_INFERENCE_LOG_DIR": str(tmp_path / "log"),
        "CONVEYOR_INFERENCE_LOG_SAMPLE": "1",
        "CONVEYOR_INFERENCE_LOG_CONTRACT": contract,
    }
    logger = InferenceLogger.from_env(env)
    logger.log([{"note": email, "member_id": "M-1"}], [1.0], "m:1")
    logger.flush()
    frame = _read(tmp_path / "log")
    assert frame["note"].to_list() == [email]
    assert "member_id" not in frame.columns  # the id rule is the contract's default still


def test_rows_that_arrive_while_the_writer_is_busy_are_written_without_another_request(tmp_path):
    """One writer at a time: a request whose rows come during a write leaves them in the
    buffer; the writer writes them when it is done, not when the next request comes."""
    import threading

    started, release = threading.Event(), threading.Event()

    class SlowDisk(InferenceLogger):
        """The first write blocks until released: a slow disk, deterministically."""

        calls = 0

        def _table(self, chunks):
            self.calls += 1
            if self.calls == 1:
                started.set()
                release.wait(10)
            return super()._table(chunks)

    logger = SlowDisk(tmp_path / "log", sample=1.0, flush_rows=1)
    logger.log(_rows(1), [1.0], "m:1")  # starts the writer, which blocks
    assert started.wait(10)
    logger.log(_rows(2), [2.0, 3.0], "m:1")  # the writer is busy: buffered
    release.set()
    logger.wait()
    assert sorted(_read(tmp_path / "log")["prediction"].to_list()) == [1.0, 2.0, 3.0]
