"""Sampled logging of served requests and predictions to Parquet, for `conveyor monitor drift`.

Off unless ``CONVEYOR_INFERENCE_LOG_DIR`` is set and ``CONVEYOR_INFERENCE_LOG_SAMPLE`` (share of
rows kept, 0..1) is above 0. Rows are buffered and written as
``DIR/log_date=YYYY-MM-DD/part-<time>-<pid>-<random>.parquet`` (UTC date of logging), one file
per flush, so several workers never write the same file. Files appear atomically: a reader never
sees half a file.

Privacy (the data contracts' PII rules, conveyor.checks.pii): a field named like a member,
customer, loyalty or card id is dropped (never logged, not even hashed: a hash of a short id can
be reversed by trying them all); a text value that looks like an e-mail address, phone number or
payment card number is replaced by ``[redacted]``.

The logger never raises into the request path: a failure to write is reported once on stderr and
the rows are dropped.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.checks.pii import TEXT_PATTERNS

if TYPE_CHECKING:
    import polars as pl

ENV_DIR = "CONVEYOR_INFERENCE_LOG_DIR"
ENV_SAMPLE = "CONVEYOR_INFERENCE_LOG_SAMPLE"
ENV_FLUSH_ROWS = "CONVEYOR_INFERENCE_LOG_FLUSH_ROWS"
ENV_FLUSH_SECONDS = "CONVEYOR_INFERENCE_LOG_FLUSH_SECONDS"
# The data contracts' default for columns that must never hold raw ids (policies/data/*.yaml).
MEMBER_ID = re.compile(r"(?i)(member|customer|loyalty|card)_?(id|number|no)")
TEXT_PII = re.compile("|".join(f"(?:{p})" for p in TEXT_PATTERNS.values()))
REDACTED = "[redacted]"
PARTITION = "log_date"
# One logged request: its rows, their predictions, the model tag, and when it was logged.
Chunk = tuple[list[Mapping[str, Any]], list[float], str, dt.datetime]
BACKLOG_FACTOR = 10  # buffered rows beyond flush_rows x this are dropped


class InferenceLogger:
    """Buffers sampled (row, prediction) pairs and writes them to date-partitioned Parquet."""

    def __init__(
        self,
        directory: Path | None,
        sample: float = 0.0,
        flush_rows: int = 10_000,
        flush_seconds: float = 60.0,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"inference log sample must be within 0..1, got {sample}")
        self.directory = directory
        self.sample = sample
        self.enabled = directory is not None and sample > 0
        self.flush_rows = max(1, flush_rows)
        self.flush_seconds = flush_seconds
        self._random = random.Random(seed)  # noqa: S311 - sampling, not security
        self._buffer: list[Chunk] = []
        self._rows = 0  # rows in the buffer
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._warned = False
        self._writer: threading.Thread | None = None
        if self.enabled:
            # A clean exit writes what is buffered; a killed worker loses at most one buffer
            # (flush_rows rows or flush_seconds of traffic).
            atexit.register(self.close)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InferenceLogger:
        """Configure from the environment; malformed values disable logging (with a warning)
        rather than stop the service from starting."""
        env = os.environ if environ is None else environ
        directory = env.get(ENV_DIR, "").strip()
        if not directory:
            return cls(None)
        try:
            return cls(
                Path(directory),
                sample=float(env.get(ENV_SAMPLE, "0")),
                flush_rows=int(env.get(ENV_FLUSH_ROWS, "10000")),
                flush_seconds=float(env.get(ENV_FLUSH_SECONDS, "60")),
            )
        except ValueError as error:
            print(f"inference log disabled: {error}", file=sys.stderr)
            return cls(None)

    def log(
        self, rows: Sequence[Mapping[str, Any]], predictions: Sequence[float], model_tag: str
    ) -> None:
        """Keep a sampled share of the rows with their predictions; never raises."""
        if not self.enabled:
            return
        try:
            self._log(rows, predictions, model_tag)
        except Exception as error:  # the request must succeed whatever happens here
            self._warn(error)

    def _log(
        self, rows: Sequence[Mapping[str, Any]], predictions: Sequence[float], model_tag: str
    ) -> None:
        if len(rows) != len(predictions):
            raise ValueError(f"{len(rows)} rows but {len(predictions)} predictions")
        if self.sample < 1:
            keep = [i for i in range(len(rows)) if self._random.random() < self.sample]
            rows, predictions = [rows[i] for i in keep], [predictions[i] for i in keep]
        if not rows:
            return
        # Only references are kept here: building the table and redacting happen in the writer,
        # off the request path.
        chunk = (list(rows), [float(p) for p in predictions], model_tag, dt.datetime.now(dt.UTC))
        with self._lock:
            if self._rows >= self.flush_rows * BACKLOG_FACTOR:
                # The writer cannot keep up (a slow or full disk): drop, never grow without bound.
                raise OSError(f"more than {self._rows:,} rows waiting to be written")
            self._buffer.append(chunk)
            self._rows += len(chunk[0])
            due = (
                self._rows >= self.flush_rows
                or time.monotonic() - self._last_flush >= self.flush_seconds
            )
        if due:
            self._flush_in_background()

    def _flush_in_background(self) -> None:
        """Write off the request thread; one writer at a time (rows wait in the buffer)."""
        with self._lock:
            if self._writer is not None and self._writer.is_alive():
                return
            self._writer = threading.Thread(target=self.flush, name="inference-log", daemon=True)
            self._writer.start()

    def wait(self) -> None:
        """Block until a background write has finished (for shutdown and tests)."""
        writer = self._writer
        if writer is not None:
            writer.join()

    def close(self) -> None:
        """Finish a background write, then write what is left; never raises."""
        self.wait()
        self.flush()

    def flush(self) -> None:
        """Write buffered rows to one Parquet file per log date; never raises."""
        with self._lock:
            chunks, self._buffer, self._rows = self._buffer, [], 0
            self._last_flush = time.monotonic()
        if not chunks or self.directory is None:
            return
        try:
            _write(self.directory, chunks)
        except Exception as error:  # see log()
            self._warn(error)

    def _warn(self, error: BaseException) -> None:
        if not self._warned:  # once: a full disk must not flood the service's log
            self._warned = True
            print(f"inference log: rows dropped ({type(error).__name__}: {error})", file=sys.stderr)


def _table(chunks: list[Chunk]) -> pl.DataFrame:
    """One table of the buffered requests, without member ids and with PII-looking text
    redacted (vectorised: polars' regex engine, not a Python loop per value)."""
    import polars as pl

    # One table from every buffered row: thousands of one-row requests must not become
    # thousands of one-row frames.
    frame = pl.DataFrame([row for c in chunks for row in c[0]], infer_schema_length=None)
    frame = frame.with_columns(
        pl.Series("prediction", [p for c in chunks for p in c[1]], dtype=pl.Float64),
        pl.Series("model_tag", [c[2] for c in chunks for _ in c[0]], dtype=pl.String),
        pl.Series("logged_at", [c[3] for c in chunks for _ in c[0]]),
    )
    frame = frame.drop([c for c in frame.columns if MEMBER_ID.search(c)])
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(TEXT_PII.pattern))
        .then(pl.lit(REDACTED))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def _write(directory: Path, chunks: list[Chunk]) -> None:
    import polars as pl

    frame = _table(chunks).with_columns(pl.col("logged_at").dt.date().alias(PARTITION))
    parts = frame.partition_by(PARTITION, as_dict=True, include_key=False, maintain_order=True)
    for (date,), part in parts.items():
        folder = directory / f"{PARTITION}={date.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%H%M%S", time.gmtime())
        name = f"part-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        # Written under a hidden name, then renamed: `monitor drift` reads only *.parquet.
        tmp = folder / f".{name}.tmp"
        try:
            part.write_parquet(tmp)
            tmp.replace(folder / name)
        finally:
            tmp.unlink(missing_ok=True)
