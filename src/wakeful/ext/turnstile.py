"""Ordered turns between concurrent tasks (restate-sdk's `restate.ext.turnstile`)."""

from __future__ import annotations

import itertools
from asyncio import Event

from wakeful.errors import SdkInternalException

__all__ = ["Turnstile"]


class Turnstile:
    """Lets tasks identified by ids pass one after the other, in the order of `ids`.

    >>> turns = Turnstile(["a", "b"])
    >>> await turns.wait_for("a"); ...; turns.allow_next_after("a")
    """

    def __init__(self, ids: list[str]) -> None:
        self.turns = dict(itertools.pairwise(ids))  # id -> the id after it
        self.events = {id_: Event() for id_ in ids}
        self.canceled = False
        if ids:
            self.events[ids[0]].set()

    async def wait_for(self, id: str) -> None:
        """Wait until it is `id`'s turn; raises if the turnstile was cancelled meanwhile."""
        await self.events[id].wait()
        if self.canceled:
            raise SdkInternalException() from None

    def cancel_all_after(self, id: str) -> None:
        """Cancel: wake every id after `id` (their `wait_for` raises)."""
        self.canceled = True
        following = self.turns.get(id)
        while following is not None:
            self.events[following].set()
            following = self.turns.get(following)

    def allow_next_after(self, id: str) -> None:
        """Give the turn to the id after `id`."""
        following = self.turns.get(id)
        if following is not None:
            self.events[following].set()

    def cancel_all(self) -> None:
        """Cancel: wake every waiting id (their `wait_for` raises)."""
        self.canceled = True
        for event in self.events.values():
            event.set()
