"""The state of an invocation's key as one attempt sees it: loaded once, its own writes applied.

Reads take their journal position at the call site. Until the key's state is loaded, a read
made while processing holds its position with a slot of the replay machine; the one shared load
then fills every waiting slot in position order, each with the value as of its own position
(the loaded state plus the writes this attempt made before it). Writes made while the load is
in flight are kept and applied on top of it, so a load never hides a `ctx.set` made meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from wakeful.journal.entries import Entry, GetStateCommand, GetStateKeysCommand
from wakeful.vm.machine import Slot
from wakeful.vm.pump import AttemptPump

__all__ = ["KeyState"]

Loader = Callable[[], Awaitable[dict[str, bytes]]]
Write = tuple[str | None, bytes | None]  # (None, None) clears all; (name, None) clears one


class KeyState:
    """One attempt's view of its key's state."""

    def __init__(self, pump: AttemptPump, load: Loader | None) -> None:
        self._pump = pump
        self._load = load
        self.values: dict[str, bytes] | None = None if load is not None else {}
        self._writes: list[Write] = []  # made before the load finished
        self._reads: list[tuple[Slot, int]] = []  # slots to fill, with how many writes precede
        self._loading: asyncio.Task[None] | None = None

    def write(self, name: str | None, value: bytes | None) -> None:
        """Record one of this attempt's writes (`name` None clears every value)."""
        if self.values is None:
            self._writes.append((name, value))
        else:
            _apply(self.values, name, value)

    def read_later(self, slot: Slot) -> Awaitable[None]:
        """Fill `slot` once the state is loaded; the returned awaitable waits for that."""
        self._reads.append((slot, len(self._writes)))
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._load_once())
        return asyncio.shield(self._loading)  # one reader giving up does not stop the load

    async def settle(self) -> None:
        """Wait for the load in flight, if any (its slots must be filled before the end)."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def _load_once(self) -> None:
        assert self._load is not None
        try:
            loaded = dict(await self._load())
        except Exception as e:  # latched in the machine: the attempt fails with it
            self._pump.fail(e)
            return
        machine = self._pump.machine
        for slot, writes_before in self._reads:
            machine.fill(slot, _read(slot.template, loaded, self._writes[:writes_before]))
        for name, value in self._writes:
            _apply(loaded, name, value)
        self.values, self._writes, self._reads = loaded, [], []
        self._pump.work_done()


def _apply(values: dict[str, bytes], name: str | None, value: bytes | None) -> None:
    if name is None:
        values.clear()
    elif value is None:
        values.pop(name, None)
    else:
        values[name] = value


def _read(template: Entry, loaded: dict[str, bytes], writes: list[Write]) -> Entry:
    if isinstance(template, GetStateCommand):
        value = loaded.get(template.name)
        for name, written in writes:
            if name is None:
                value = None
            elif name == template.name:
                value = written
        return GetStateCommand(template.name, value)
    keys = dict.fromkeys(loaded, b"")
    for name, written in writes:
        _apply(keys, name, written)
    return GetStateKeysCommand(sorted(keys))
