"""Combinators over durable futures: `select`, `gather`, `wait_completed`, `as_completed`.

Which future "came first" is decided by the order in which the attempt consumed their
notifications, which is journal order; a replay therefore picks the same winner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from wakeful.sdk.context import RestateDurableFuture
from wakeful.sdk.futures import DurableFuture
from wakeful.vm.machine import AttemptMachine, Await

__all__ = ["as_completed", "gather", "select", "wait_completed"]


def _durable(
    futures: Sequence[RestateDurableFuture[Any]],
) -> tuple[AttemptMachine, list[DurableFuture[Any]]]:
    if not futures:
        raise ValueError("combinators need at least one future")
    found: list[DurableFuture[Any]] = []
    for future in futures:
        if not isinstance(future, DurableFuture):
            raise TypeError(f"not a durable future of this context: {future!r}")
        found.append(future)
    machine = found[0].machine
    if any(f.machine is not machine for f in found):
        raise ValueError("all futures of a combinator must come from the same context")
    return machine, found


def _completion_order(
    machine: AttemptMachine, futures: list[DurableFuture[Any]]
) -> list[DurableFuture[Any]]:
    rank = {handle: i for i, handle in enumerate(machine.results)}
    done = [f for f in futures if f.handle in rank]
    return sorted(done, key=lambda f: rank[f.handle])


async def gather(*futures: RestateDurableFuture[Any]) -> list[RestateDurableFuture[Any]]:
    """Wait until all futures are completed; return them (await each for its value)."""
    machine, found = _durable(futures)
    await machine.wait_for([f.handle for f in found], Await.ALL)
    return list(futures)


async def select(**kws: RestateDurableFuture[Any]) -> list[Any]:
    """Wait for the first future to complete; return `[name, value]`.

    >>> match await select(approved=approval, timeout=ctx.sleep(timedelta(days=1))):
    ...     case ["approved", verdict]: ...
    ...     case ["timeout", _]: ...
    """
    machine, found = _durable(list(kws.values()))
    await machine.wait_for([f.handle for f in found], Await.ANY)
    first = _completion_order(machine, found)[0]
    name = next(n for n, f in kws.items() if f is first)
    return [name, await first]


async def wait_completed(
    *args: RestateDurableFuture[Any],
) -> tuple[list[RestateDurableFuture[Any]], list[RestateDurableFuture[Any]]]:
    """Wait until at least one future completes; return `(done, pending)`."""
    machine, found = _durable(args)
    await machine.wait_for([f.handle for f in found], Await.ANY)
    done = _completion_order(machine, found)
    pending = [f for f in found if f not in done]
    return list(done), list(pending)


async def as_completed(
    *futures: RestateDurableFuture[Any],
) -> AsyncIterator[RestateDurableFuture[Any]]:
    """Yield the futures as they complete, in completion order."""
    machine, remaining = _durable(futures)
    while remaining:
        await machine.wait_for([f.handle for f in remaining], Await.ANY)
        for future in _completion_order(machine, remaining):
            remaining.remove(future)
            yield future
