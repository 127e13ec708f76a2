"""Combinators over durable futures: `select`, `gather`, `wait_completed`, `as_completed`.

Which future "came first" is decided by the order in which the attempt consumed their
notifications, which is journal order; a replay therefore picks the same winner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from wakeful.sdk.context import RestateDurableFuture
from wakeful.sdk.futures import DurableFuture
from wakeful.vm.handles import Await
from wakeful.vm.pump import AttemptPump

__all__ = ["as_completed", "gather", "select", "wait_completed"]


def _durable(
    futures: Sequence[RestateDurableFuture[Any]],
) -> tuple[AttemptPump, list[DurableFuture[Any]]]:
    if not futures:
        raise ValueError("combinators need at least one future")
    found: list[DurableFuture[Any]] = []
    for future in futures:
        if not isinstance(future, DurableFuture):
            raise TypeError(f"not a durable future of this context: {future!r}")
        found.append(future)
    pump = found[0].pump
    if any(f.pump is not pump for f in found):
        raise ValueError("all futures of a combinator must come from the same context")
    return pump, found


def _completion_order(
    pump: AttemptPump, futures: list[DurableFuture[Any]]
) -> list[DurableFuture[Any]]:
    rank = {handle: i for i, handle in enumerate(pump.machine.results)}
    done = [f for f in futures if f.handle in rank]
    return sorted(done, key=lambda f: rank[f.handle])


async def gather(*futures: RestateDurableFuture[Any]) -> list[RestateDurableFuture[Any]]:
    """Wait until all futures are completed; return them (await each for its value)."""
    pump, found = _durable(futures)
    await pump.wait_for([f.handle for f in found], Await.ALL)
    return list(futures)


async def select(**futures: RestateDurableFuture[Any]) -> list[Any]:
    """Wait for the first future to complete; return `[name, value]`.

    >>> match await select(approved=approval, timeout=ctx.sleep(timedelta(days=1))):
    ...     case ["approved", verdict]: ...
    ...     case ["timeout", _]: ...
    """
    pump, found = _durable(list(futures.values()))
    await pump.wait_for([f.handle for f in found], Await.ANY)
    first = _completion_order(pump, found)[0]
    name = next(n for n, f in futures.items() if f is first)
    return [name, await first]


async def wait_completed(
    *futures: RestateDurableFuture[Any],
) -> tuple[list[RestateDurableFuture[Any]], list[RestateDurableFuture[Any]]]:
    """Wait until at least one future completes; return `(done, pending)`."""
    pump, found = _durable(futures)
    await pump.wait_for([f.handle for f in found], Await.ANY)
    done = _completion_order(pump, found)
    pending = [f for f in found if f not in done]
    return list(done), list(pending)


async def as_completed(
    *futures: RestateDurableFuture[Any],
) -> AsyncIterator[RestateDurableFuture[Any]]:
    """Yield the futures as they complete, in completion order."""
    pump, remaining = _durable(futures)
    while remaining:
        await pump.wait_for([f.handle for f in remaining], Await.ANY)
        for future in _completion_order(pump, remaining):
            remaining.remove(future)
            yield future
