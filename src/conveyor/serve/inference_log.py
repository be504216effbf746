"""Sampled logging of served requests and predictions to Parquet, for `conveyor monitor drift`.

Off unless ``CONVEYOR_INFERENCE_LOG_DIR`` is set and ``CONVEYOR_INFERENCE_LOG_SAMPLE`` (share of
rows kept, 0..1) is above 0. Rows are buffered and written as
``DIR/log_date=YYYY-MM-DD/part-<time>-<pid>-<random>.parquet`` (UTC date of logging), one file
per flush, so several workers never write the same file. Files appear atomically: a reader never
sees half a file.

Model-agnostic: a row is any mapping of request fields; a prediction is a scalar (a number, a
class label), logged as the ``prediction`` column, or a mapping of several outputs (say
``{"label": "churn", "probability": 0.83}``), logged as one column each.

Privacy, by the data contracts' PII rules (conveyor.checks.pii; a contract's ``pii:`` section
when ``CONVEYOR_INFERENCE_LOG_CONTRACT`` names one, else their defaults): a field whose name
identifies a person (``hashed_id_columns``: member, customer, user, account ... ids) is dropped
(never logged, not even hashed: a hash of a short id can be reversed by trying them all); a text
value matching one of the contract's ``text_patterns`` (e-mail address, phone, payment card or
social security number) is replaced by ``[redacted]``.

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

from conveyor.checks.pii import HASHED_ID_COLUMNS, TEXT_PATTERNS, is_hashed_id_column
from conveyor.errors import UserError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["REDACTED", "InferenceLogger"]

ENV_DIR = "CONVEYOR_INFERENCE_LOG_DIR"
ENV_SAMPLE = "CONVEYOR_INFERENCE_LOG_SAMPLE"
ENV_FLUSH_ROWS = "CONVEYOR_INFERENCE_LOG_FLUSH_ROWS"
ENV_FLUSH_SECONDS = "CONVEYOR_INFERENCE_LOG_FLUSH_SECONDS"
ENV_CONTRACT = "CONVEYOR_INFERENCE_LOG_CONTRACT"
REDACTED = "[redacted]"
PARTITION = "log_date"
PREDICTION = "prediction"  # the column of a scalar prediction (monitoring.prediction's default)
# Columns the logger adds to every row; a request field of the same name would be overwritten.
ADDED = ("model_tag", "logged_at")
# One logged request: its rows, their predictions, the model tag, and when it was logged.
Chunk = tuple[list[Mapping[str, Any]], list[Any], str, dt.datetime]
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
        id_columns: str = HASHED_ID_COLUMNS,
        text_patterns: Sequence[str] = tuple(TEXT_PATTERNS),
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"inference log sample must be within 0..1, got {sample}")
        unknown = sorted(set(text_patterns) - set(TEXT_PATTERNS))
        if unknown:
            raise ValueError(f"unknown PII pattern(s) {unknown}; known: {sorted(TEXT_PATTERNS)}")
        self.id_columns = re.compile(id_columns)
        # Empty when the contract lists no pattern: no text is redacted, as the contract says.
        self.text_pii = "|".join(f"(?:{TEXT_PATTERNS[p]})" for p in text_patterns)
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
        self._writing = False  # a writer thread runs or is about to (set under the lock)
        if self.enabled:
            # A clean exit writes what is buffered; a killed worker loses at most one buffer
            # (flush_rows rows or flush_seconds of traffic).
            atexit.register(self.close)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InferenceLogger:
        """Configure from the environment; malformed values, or a contract that cannot be read,
        disable logging (with a warning) rather than stop the service from starting: never a
        log whose redaction is not the one asked for."""
        env = os.environ if environ is None else environ
        directory = env.get(ENV_DIR, "").strip()
        if not directory:
            return cls(None)
        try:
            pii = _contract_pii(env.get(ENV_CONTRACT, "").strip())
            return cls(
                Path(directory),
                sample=float(env.get(ENV_SAMPLE, "0")),
                flush_rows=int(env.get(ENV_FLUSH_ROWS, "10000")),
                flush_seconds=float(env.get(ENV_FLUSH_SECONDS, "60")),
                **pii,
            )
        except (ValueError, UserError) as error:
            print(f"inference log disabled: {error}", file=sys.stderr)
            return cls(None)

    def log(
        self, rows: Sequence[Mapping[str, Any]], predictions: Sequence[Any], model_tag: str
    ) -> None:
        """Keep a sampled share of the rows with their predictions (one per row: a scalar or a
        mapping of outputs); never raises."""
        if not self.enabled:
            return
        try:
            self._log(rows, predictions, model_tag)
        except Exception as error:  # the request must succeed whatever happens here
            self._warn(error)

    def _log(
        self, rows: Sequence[Mapping[str, Any]], predictions: Sequence[Any], model_tag: str
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
        chunk = (list(rows), [_plain(p) for p in predictions], model_tag, dt.datetime.now(dt.UTC))
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
            if self._writing:
                return
            self._writing = True
            self._writer = threading.Thread(target=self._drain, name="inference-log", daemon=True)
            self._writer.start()

    def _drain(self) -> None:
        """Write until fewer than flush_rows rows wait: rows that arrived during a write are
        written now, not stranded until the next request (the writer was busy when they came)."""
        while True:
            self.flush()
            with self._lock:
                if self._rows < self.flush_rows:
                    self._writing = False  # under the lock: a request sees it, or its rows here
                    return

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
            _write(self.directory, self._table(chunks))
        except Exception as error:  # see log()
            self._warn(error)

    def _table(self, chunks: list[Chunk]) -> pl.DataFrame:
        """One table of the buffered requests, without person ids and with PII-looking text
        redacted (vectorised: polars' regex engine, not a Python loop per value)."""
        import polars as pl

        # One table from every buffered row: thousands of one-row requests must not become
        # thousands of one-row frames.
        rows = [
            {**row, **_outputs(prediction)}
            for c in chunks
            for row, prediction in zip(c[0], c[1], strict=True)
        ]
        frame = pl.DataFrame(rows, infer_schema_length=None)
        frame = frame.with_columns(
            pl.Series("model_tag", [c[2] for c in chunks for _ in c[0]], dtype=pl.String),
            pl.Series("logged_at", [c[3] for c in chunks for _ in c[0]]),
        )
        frame = frame.drop([c for c in frame.columns if is_hashed_id_column(c, self.id_columns)])
        if not self.text_pii:
            return frame
        text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
        return frame.with_columns(
            pl.when(pl.col(c).str.contains(self.text_pii))
            .then(pl.lit(REDACTED))
            .otherwise(pl.col(c))
            .alias(c)
            for c in text
        )

    def _warn(self, error: BaseException) -> None:
        if not self._warned:  # once: a full disk must not flood the service's log
            self._warned = True
            print(f"inference log: rows dropped ({type(error).__name__}: {error})", file=sys.stderr)


def _contract_pii(contract: str) -> dict[str, Any]:
    """The PII rules of the data contract at ``contract`` (none named: the defaults)."""
    if not contract:
        return {}
    from conveyor.checks.contract import load_contract

    pii = load_contract(Path(contract)).pii
    return {"id_columns": pii.hashed_id_columns, "text_patterns": pii.text_patterns}


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (a float32 prediction becomes a float)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, Mapping) else value


def _outputs(prediction: Any) -> dict[str, Any]:
    """A prediction as columns: a mapping's keys as they are, a scalar as ``prediction``."""
    if isinstance(prediction, Mapping):
        outputs = {str(k): _plain(v) for k, v in prediction.items()}
    else:
        outputs = {PREDICTION: prediction}
    clash = sorted(set(outputs) & set(ADDED))
    if clash:
        raise ValueError(f"prediction output(s) {clash} would overwrite the log's own columns")
    return outputs


def _write(directory: Path, table: pl.DataFrame) -> None:
    import polars as pl

    frame = table.with_columns(pl.col("logged_at").dt.date().alias(PARTITION))
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
