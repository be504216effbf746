"""Adaptive batching of model calls: concurrent requests share calls, each gets its own rows."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from forecast.batching import AdaptiveBatcher


class SlowModel:
    """Sums each row, slowly enough that requests pile up behind a running call."""

    def __init__(self, seconds: float = 0.02, fail_on: float | None = None) -> None:
        self.calls: list[int] = []
        self.seconds = seconds
        self.fail_on = fail_on
        self.threads: set[str] = set()

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        self.calls.append(len(matrix))
        time.sleep(self.seconds)
        if self.fail_on is not None and (matrix == self.fail_on).any():
            raise RuntimeError("model failed")
        return matrix.sum(axis=1)


def _request(value: float, rows: int = 1) -> np.ndarray:
    return np.full((rows, 3), value)


def test_concurrent_requests_share_model_calls_and_get_their_own_rows():
    model = SlowModel()
    seen: list[tuple[int, int]] = []
    batcher = AdaptiveBatcher(model, on_batch=lambda requests, rows: seen.append((requests, rows)))

    async def run() -> list[np.ndarray]:
        return await asyncio.gather(
            *(batcher.predict(_request(v, rows=1 + v % 3)) for v in range(32))
        )

    outputs = asyncio.run(run())
    for value, output in enumerate(outputs):
        assert output.tolist() == [3.0 * value] * (1 + value % 3)
    assert len(model.calls) < 32 / 4  # the first call runs alone; the rest queue behind it
    assert sum(model.calls) == sum(1 + v % 3 for v in range(32))
    assert sum(requests for requests, _ in seen) == 32
    assert "MainThread" not in model.threads  # the event loop stays free while the model runs


def test_a_lone_request_is_not_delayed():
    model = SlowModel(seconds=0)
    batcher = AdaptiveBatcher(model)
    output = asyncio.run(batcher.predict(_request(2.0, rows=4)))
    assert output.tolist() == [6.0] * 4
    assert model.calls == [4]


def test_batches_respect_max_rows_but_never_split_a_request():
    model = SlowModel()
    batcher = AdaptiveBatcher(model, max_rows=10)

    async def run() -> list[np.ndarray]:
        return await asyncio.gather(
            batcher.predict(_request(1.0, rows=1)),
            batcher.predict(_request(2.0, rows=25)),  # larger than max_rows: runs alone
            *(batcher.predict(_request(3.0, rows=4)) for _ in range(5)),
        )

    outputs = asyncio.run(run())
    assert [len(o) for o in outputs] == [1, 25, 4, 4, 4, 4, 4]
    assert max(model.calls) == 25
    assert all(rows <= 10 for rows in model.calls if rows != 25)


def test_a_failing_call_fails_only_its_batch_and_the_batcher_recovers():
    model = SlowModel(fail_on=-1.0)
    batcher = AdaptiveBatcher(model)

    async def run() -> list[object]:
        first = asyncio.gather(batcher.predict(_request(-1.0)), return_exceptions=True)
        await asyncio.sleep(0.05)
        later = await batcher.predict(_request(5.0))
        return [*(await first), later]

    failed, later = asyncio.run(run())
    assert isinstance(failed, RuntimeError)
    assert later.tolist() == [15.0]


@pytest.mark.parametrize("rows", [0, 1])
def test_outputs_have_one_value_per_input_row(rows):
    batcher = AdaptiveBatcher(SlowModel(seconds=0))
    assert len(asyncio.run(batcher.predict(_request(1.0, rows=rows)))) == rows
