"""One Invoker in front of several: an attempt goes to the invoker of its service's deployment."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.invoker.api import Invoker
from wakeful.journal.ids import InvocationId
from wakeful.registry import IN_PROCESS, Registry

__all__ = ["InvokerRouter"]


class InvokerRouter:
    """Picks the invoker per service from the registry (unknown services go in-process, which
    fails their attempt with 404); entries and aborts go to every invoker, and only the one
    running the attempt acts on them."""

    def __init__(self, registry: Registry, invokers: Mapping[str, Invoker]) -> None:
        if IN_PROCESS not in invokers:
            raise ValueError("an in-process invoker is required")
        self._registry = registry
        self._invokers = dict(invokers)

    def add(self, deployment: str, invoker: Invoker) -> None:
        """Route the attempts of `deployment`'s services to `invoker` (one invoker may serve
        several deployments)."""
        self._invokers[deployment] = invoker

    def _distinct(self) -> list[Invoker]:
        return list({id(invoker): invoker for invoker in self._invokers.values()}.values())

    def invoker(self, deployment: str) -> Invoker:
        """The invoker serving `deployment`."""
        return self._invokers[deployment]

    @property
    def running(self) -> int:
        """How many attempts are live in all invokers."""
        return sum(invoker.running for invoker in self._distinct())

    def start(self, effect: StartAttempt) -> None:
        """Start the attempt on the invoker of its service's deployment."""
        service = self._registry.service(effect.target.service)
        deployment = IN_PROCESS if service is None else service.deployment
        self._invokers.get(deployment, self._invokers[IN_PROCESS]).start(effect)

    def deliver(self, effect: EntriesAppended) -> None:
        """Hand entries to whichever invoker runs the attempt."""
        for invoker in self._distinct():
            invoker.deliver(effect)

    def abort(self, invocation_id: InvocationId) -> None:
        """Abort the attempt wherever it runs."""
        for invoker in self._distinct():
            invoker.abort(invocation_id)

    def abort_all(self) -> None:
        """Abort every live attempt of every invoker."""
        for invoker in self._distinct():
            invoker.abort_all()

    async def close(self) -> None:
        """Close every invoker."""
        await asyncio.gather(*(invoker.close() for invoker in self._distinct()))
