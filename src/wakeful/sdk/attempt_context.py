"""The concrete context handed to a handler: context calls turned into journal commands."""

from __future__ import annotations

import asyncio
import inspect
import time as _time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from random import Random
from typing import Any, TypeVar
from uuid import UUID

from wakeful.errors import InvalidIdError, SdkInternalBaseException, TerminalError
from wakeful.journal.entries import (
    AwakeableCommand,
    CompleteAwakeableCommand,
    Failure,
    Result,
    RunCommand,
)
from wakeful.journal.ids import AwakeableId, InvocationId, parse_awakeable_id
from wakeful.sdk.calls import CallsMixin
from wakeful.sdk.context import (
    AttemptFinishedEvent,
    Context,
    Request,
    RestateDurableFuture,
    RunAction,
    RunOptions,
)
from wakeful.sdk.futures import DurableFuture
from wakeful.sdk.schemas import schema_of_serde
from wakeful.sdk.serde import DefaultSerde, Serde
from wakeful.vm.handles import completion_handle, signal_handle
from wakeful.vm.pump import AttemptPump

__all__ = ["AttemptContext"]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the SDK's own name for input types
O = TypeVar("O")  # noqa: E741 - the SDK's own name for output types


class _AttemptFinished(AttemptFinishedEvent):
    def __init__(self) -> None:
        self.event = asyncio.Event()

    def is_set(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


class AttemptContext(CallsMixin, Context):
    """Context of a service handler for one attempt."""

    def __init__(
        self,
        pump: AttemptPump,
        invocation_id: InvocationId,
        idempotency_key: str | None,
        key: str = "",
        load_state: Callable[[], Awaitable[dict[str, bytes]]] | None = None,
        writes_state: bool = False,
    ) -> None:
        self.pump = pump
        self.machine = machine = pump.machine
        self.invocation_id = invocation_id
        self._key = key
        self._load_state = load_state
        self._writes_state = writes_state
        self._children: list[str] = []
        pump.on_cancel = self._cancel_children
        self.attempt_finished = _AttemptFinished()
        self._random: Random | None = None  # seeded on first use: most handlers never ask
        self._steps: set[asyncio.Task[None]] = set()
        headers = dict(machine.input.headers)
        self._request = Request(
            id=str(invocation_id),
            headers=headers,
            attempt_headers=headers,
            body=machine.input.value,
            attempt_finished_event=self.attempt_finished,
            idempotency_key=idempotency_key,
        )

    async def settle(self) -> None:
        """Wait until every command position taken has its value (keyed contexts load state)."""

    def close(self) -> None:
        """The attempt ended: stop steps still running, release attempt-scoped resources."""
        for task in self._steps:
            task.cancel()
        self.attempt_finished.event.set()

    # -- determinism helpers ---------------------------------------------------------

    def request(self) -> Request:
        return self._request

    def random(self) -> Random:
        if self._random is None:
            self._random = Random(self.invocation_id.uuid & 0xFFFF_FFFF_FFFF_FFFF)
        return self._random

    def uuid(self) -> UUID:
        return UUID(int=self.random().getrandbits(128), version=4)

    def time(self) -> RestateDurableFuture[float]:
        clock = self.clock
        return self.run_typed("timestamp", lambda: clock.now_ms() / 1000)

    # -- durable steps -----------------------------------------------------------------

    def run(
        self,
        name: str,
        action: RunAction[T],
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]:
        options: RunOptions[T] = RunOptions(
            serde=serde,
            type_hint=type_hint,
            max_attempts=max_attempts,
            max_duration=max_retry_duration,
        )
        return self._step(name, action, options, args or (), {})

    def run_typed(
        self,
        name: str,
        action: Callable[..., Coroutine[Any, Any, T]] | Callable[..., T],
        options: RunOptions[T] = RunOptions(),  # noqa: B008 - immutable default, as in restate-sdk
        /,
        *args: Any,
        **kwargs: Any,
    ) -> RestateDurableFuture[T]:
        return self._step(name, action, options, args, kwargs)

    def _step(
        self,
        name: str,
        action: RunAction[T],
        options: RunOptions[T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> RestateDurableFuture[T]:
        serde = options.serde
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(options.type_hint)
        machine = self.machine
        cid = machine.allocate_completion_id()
        machine.command(RunCommand(name, cid))
        if cid not in machine.recorded_completions:
            machine.step_started(cid)
            task = asyncio.get_running_loop().create_task(
                self._execute_step(cid, name, action, options, serde, args, kwargs)
            )
            self._steps.add(task)
            task.add_done_callback(self._steps.discard)
        return DurableFuture(self.pump, completion_handle(cid), serde)

    async def _execute_step(
        self,
        cid: int,
        name: str,
        action: RunAction[T],
        options: RunOptions[T],
        serde: Serde[T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        pump = self.pump
        retry = _StepRetry.from_options(options)
        attempt = 0
        try:
            while True:
                attempt += 1
                try:
                    value = action(*args, **kwargs)
                    if inspect.isawaitable(value):
                        value = await value
                    result = Result(value=serde.serialize(value))
                except TerminalError as e:
                    result = Result(failure=Failure(e.status_code, e.message, e.metadata))
                except (SdkInternalBaseException, asyncio.CancelledError):
                    raise
                except Exception as e:
                    if retry is None:
                        pump.fail(e)  # no step retry policy: the whole attempt is retried
                        return
                    delay = retry.next_delay(attempt)
                    if delay is None:
                        message = f"ctx.run {name!r} failed after {attempt} attempts: {e}"
                        result = Result(failure=Failure(500, message))
                    else:
                        await asyncio.sleep(delay)
                        continue
                break
            pump.propose_completion(cid, result)
        finally:
            pump.machine.step_abandoned(cid)  # no-op once its result was proposed

    # -- awakeables --------------------------------------------------------------------

    def awakeable(
        self,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
        *,
        description: str | None = None,
    ) -> tuple[str, RestateDurableFuture[T]]:
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        machine = self.machine
        index = machine.allocate_signal_index()
        legacy = machine.replaying and not isinstance(
            machine.recorded[machine.next_command_index], AwakeableCommand
        )  # a journal recorded before awakeables were journaled: replay it as it is
        if not legacy:
            command = AwakeableCommand(index, description, schema_of_serde(serde, type_hint))
            if machine.command(command) is None:
                # Durable before the id can leave the handler: a completion of an index the
                # server has not seen created is refused.
                self.pump.flush()
        awakeable_id = str(AwakeableId(self.invocation_id, index))
        return awakeable_id, DurableFuture(self.pump, signal_handle(index), serde)

    def resolve_awakeable(
        self,
        name: str,
        value: I,
        serde: Serde[I] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
    ) -> None:
        _check_awakeable_id(name)
        self.machine.command(CompleteAwakeableCommand(name, Result(value=serde.serialize(value))))

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        _check_awakeable_id(name)
        failure = Failure(failure_code, failure_message)
        self.machine.command(CompleteAwakeableCommand(name, Result(failure=failure)))

    # -- calls, timers, cancellation: see _calls.py -----------------------------------


def _check_awakeable_id(awakeable_id: str) -> None:
    try:
        parse_awakeable_id(awakeable_id)
    except InvalidIdError as e:
        raise TerminalError(f"bad awakeable id {awakeable_id!r}: {e}", 400) from e


class _StepRetry:
    """The retry schedule of one `ctx.run` that has its own retry options."""

    def __init__(
        self,
        max_attempts: int | None,
        max_duration: float | None,
        initial: float,
        factor: float,
        max_interval: float,
    ) -> None:
        self.max_attempts = max_attempts
        self.deadline = None if max_duration is None else _time.monotonic() + max_duration
        self.initial = initial
        self.factor = factor
        self.max_interval = max_interval

    @classmethod
    def from_options(cls, options: RunOptions[Any]) -> _StepRetry | None:
        duration = options.max_duration or options.max_retry_duration
        if not any(
            (
                options.max_attempts,
                duration,
                options.initial_retry_interval,
                options.max_retry_interval,
                options.retry_interval_factor,
            )
        ):
            return None
        initial = options.initial_retry_interval or timedelta(milliseconds=50)
        max_interval = options.max_retry_interval or timedelta(seconds=10)
        return cls(
            options.max_attempts,
            None if duration is None else duration.total_seconds(),
            initial.total_seconds(),
            options.retry_interval_factor or 2.0,
            max_interval.total_seconds(),
        )

    def next_delay(self, attempts_made: int) -> float | None:
        """Seconds to wait before the next attempt, or None once the limits are reached."""
        if self.max_attempts is not None and attempts_made >= self.max_attempts:
            return None
        delay = min(self.initial * self.factor ** (attempts_made - 1), self.max_interval)
        if self.deadline is not None and _time.monotonic() + delay > self.deadline:
            return None
        return delay
