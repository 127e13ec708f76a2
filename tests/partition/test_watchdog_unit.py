"""The watchdog measures the loop's lag and reports a block once, naming the blocking task."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from wakeful.partition.watchdog import LoopWatchdog


async def test_block_is_reported_once_with_the_task_and_lag_is_measured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 1 s block past a 0.2 s threshold is one report naming the task; the lag it measured
    is about the block's length, and back near zero once the loop is free."""
    seen: list[str | None] = []

    def describe(task: asyncio.Task[object] | None) -> str:
        seen.append(None if task is None else task.get_name())
        return "the blocker"

    watchdog = LoopWatchdog(asyncio.get_running_loop(), 0.2, describe)
    watchdog.start()
    try:
        await asyncio.sleep(0.3)  # a few answered pings first

        async def blocker() -> None:
            time.sleep(1.0)  # noqa: ASYNC251 - the point: block the loop

        with caplog.at_level(logging.WARNING, logger="wakeful.partition.watchdog"):
            await asyncio.get_running_loop().create_task(blocker(), name="blocking-task")
            await asyncio.sleep(0.6)
        assert watchdog.blocks == 1
        assert seen == ["blocking-task"]
        assert 0.6 <= watchdog.max_lag_s < 3  # pinged up to one interval into the block
        assert watchdog.lag_s < 0.5
        messages = [r.getMessage() for r in caplog.records]
        assert any("blocked" in m and "the blocker" in m for m in messages)
        assert any("free again" in m for m in messages)
    finally:
        watchdog.stop()
