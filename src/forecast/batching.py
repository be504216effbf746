"""Adaptive batching of model calls inside one service worker.

Concurrent requests are validated and encoded one by one (so a bad request fails alone, with its
own 4xx), then their input rows share one model call. There is no fixed wait: while the model
runs a batch in a worker thread, new arrivals queue, and the next call takes everything queued (up
to ``max_rows``). Under light load a request goes straight through; under heavy load batches grow
with the queue, which is what adaptive batching is for.

Why not BentoML's ``@bentoml.api(batchable=True)``: it merges request bodies before the service
sees them, so one request with an unknown club would fail every request batched with it; behind a
separate batchable service (``bentoml.depends``) it answered HTTP 500 under load on this machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class _Pending:
    matrix: np.ndarray
    done: asyncio.Future[np.ndarray]


class AdaptiveBatcher:
    """Queue input matrices from concurrent requests; run them through ``predict`` together."""

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        max_rows: int = 4096,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._on_batch = on_batch  # (requests, rows) of each model call
        self._queue: list[_Pending] = []
        self._running: asyncio.Task[None] | None = None

    async def predict(self, matrix: np.ndarray) -> np.ndarray:
        """The model's output for ``matrix``'s rows, computed with whatever else is queued."""
        done: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(matrix, done))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
        return await done

    def _take(self) -> list[_Pending]:
        """The queue's head up to max_rows (at least one request, however large)."""
        taken, rows = [], 0
        while self._queue and (not taken or rows + len(self._queue[0].matrix) <= self._max_rows):
            item = self._queue.pop(0)
            taken.append(item)
            rows += len(item.matrix)
        return taken

    async def _drain(self) -> None:
        while self._queue:
            batch = self._take()
            matrix = batch[0].matrix if len(batch) == 1 else np.vstack([p.matrix for p in batch])
            try:
                # A thread, so the event loop keeps accepting (and queueing) while the model runs.
                output = await asyncio.to_thread(self._predict, matrix)
            except Exception as error:  # handed to every request of the batch
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(error)
                continue
            if self._on_batch is not None:
                self._on_batch(len(batch), len(matrix))
            start = 0
            for pending in batch:
                end = start + len(pending.matrix)
                if not pending.done.done():  # the client may have gone away meanwhile
                    pending.done.set_result(output[start:end])
                start = end
