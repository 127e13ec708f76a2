"""The invoker router: an attempt runs on the invoker of its service's deployment."""

from __future__ import annotations

import pytest

from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.engine.model import Target
from wakeful.invoker.api import Invoker
from wakeful.invoker.router import InvokerRouter
from wakeful.journal.ids import InvocationId
from wakeful.registry import IN_PROCESS, Registry, decode_manifest


class RecordingInvoker:
    """An Invoker that records what it was asked to do (it runs nothing)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @property
    def running(self) -> int:
        return sum(1 for name, _ in self.calls if name == "start")

    def start(self, effect: StartAttempt) -> None:
        self.calls.append(("start", effect.invocation_id))

    def deliver(self, effect: EntriesAppended) -> None:
        self.calls.append(("deliver", effect.invocation_id))

    def abort(self, invocation_id: InvocationId) -> None:
        self.calls.append(("abort", invocation_id))

    def abort_all(self) -> None:
        self.calls.append(("abort_all", None))

    async def close(self) -> None:
        self.calls.append(("close", None))


def _registry() -> Registry:
    registry = Registry()
    for name, deployment in (("Local", IN_PROCESS), ("Remote", "dp_1")):
        manifest = {
            "minProtocolVersion": 5,
            "maxProtocolVersion": 6,
            "services": [{"name": name, "ty": "SERVICE", "handlers": [{"name": "h"}]}],
        }
        registry.register(decode_manifest(manifest), deployment)
    return registry


async def test_attempts_go_to_the_invoker_of_their_deployment() -> None:
    """Starts follow the registry; unknown services go in-process (which answers 404);
    deliveries, aborts and close reach every invoker."""
    local, remote = RecordingInvoker(), RecordingInvoker()
    invokers: dict[str, Invoker] = {IN_PROCESS: local, "dp_1": remote}
    router = InvokerRouter(_registry(), invokers)
    a, b, c = InvocationId(1, 1), InvocationId(1, 2), InvocationId(1, 3)
    router.start(StartAttempt(a, 1, Target("Local", "h")))
    router.start(StartAttempt(b, 1, Target("Remote", "h")))
    router.start(StartAttempt(c, 1, Target("Nobody", "h")))
    router.deliver(EntriesAppended(b, 1, 3, []))
    router.abort(b)
    await router.close()
    assert local.calls == [
        ("start", a),
        ("start", c),
        ("deliver", b),
        ("abort", b),
        ("close", None),
    ]
    assert remote.calls == [("start", b), ("deliver", b), ("abort", b), ("close", None)]
    assert router.running == 3


def test_a_router_needs_an_in_process_invoker() -> None:
    """Unknown services fall back to the in-process invoker, so there must be one."""
    with pytest.raises(ValueError, match="in-process"):
        InvokerRouter(Registry(), {"dp_1": RecordingInvoker()})
