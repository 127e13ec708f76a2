"""The engine's state: invocation records, suspension sets, timers, retry policy."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec

from wakeful.journal.entries import Failure, Result
from wakeful.journal.ids import InvocationId

__all__ = [
    "HandlerKind",
    "Invocation",
    "ObjectKey",
    "ObjectRecord",
    "PromiseKey",
    "PromiseRecord",
    "RetryPolicy",
    "Status",
    "Target",
    "Timer",
    "TimerKind",
    "Waiting",
]


class Status(enum.IntEnum):
    """Lifecycle of an invocation (names as in Restate's `sys_invocation.status`)."""

    PENDING = 0
    RUNNING = 1
    SUSPENDED = 2
    BACKING_OFF = 3
    PAUSED = 4
    COMPLETED = 5
    INBOXED = 6
    SCHEDULED = 7

    @property
    def label(self) -> str:
        """The status as Restate spells it (`backing-off`, …)."""
        return self.name.lower().replace("_", "-")


class HandlerKind(enum.IntEnum):
    """How an invocation relates to its key: locks, state access, run-once."""

    SERVICE = 0  # no key
    EXCLUSIVE = 1  # virtual object: one at a time per key, reads and writes state
    SHARED = 2  # virtual object: concurrent, reads state
    WORKFLOW = 3  # workflow run: once per key, reads and writes state
    WORKFLOW_SHARED = 4  # workflow shared handler: concurrent, reads state

    @property
    def writes_state(self) -> bool:
        """True for handlers that may write the key's state."""
        return self in (HandlerKind.EXCLUSIVE, HandlerKind.WORKFLOW)

    @property
    def is_workflow(self) -> bool:
        """True for the run and shared handlers of a workflow."""
        return self in (HandlerKind.WORKFLOW, HandlerKind.WORKFLOW_SHARED)


class Target(msgspec.Struct, frozen=True, array_like=True):
    """What an invocation calls: `service/handler`, with a key for keyed services."""

    service: str
    handler: str
    key: str | None = None

    def __str__(self) -> str:
        if self.key is None:
            return f"{self.service}/{self.handler}"
        return f"{self.service}/{self.key}/{self.handler}"


class Waiting(msgspec.Struct, frozen=True, array_like=True):
    """What a suspended invocation waits on: any of these completions or signals wakes it, or,
    with `all_of`, the last of them to arrive does (the CANCEL signal 1 always wakes it)."""

    completion_ids: tuple[int, ...] = ()
    signal_indexes: tuple[int, ...] = ()
    all_of: bool = False

    def progress(self, completion_id: int | None, signal: int | None) -> tuple[bool, Waiting]:
        """Whether this notification wakes the invocation, and what it waits on otherwise."""
        if signal == 1:
            return True, self
        if completion_id is not None and completion_id in self.completion_ids:
            if not self.all_of:
                return True, self
            rest = Waiting(
                tuple(c for c in self.completion_ids if c != completion_id),
                self.signal_indexes,
                True,
            )
        elif signal is not None and signal in self.signal_indexes:
            if not self.all_of:
                return True, self
            rest = Waiting(
                self.completion_ids, tuple(s for s in self.signal_indexes if s != signal), True
            )
        else:
            return False, self
        done = not rest.completion_ids and all(s == 1 for s in rest.signal_indexes)
        return done, rest

    def wakes_on_completion(self, completion_id: int) -> bool:
        """True if a completion with this id can unblock the await."""
        return completion_id in self.completion_ids

    def wakes_on_signal(self, index: int) -> bool:
        """True if a signal with this index can unblock the await."""
        return index in self.signal_indexes


class Invocation(msgspec.Struct, array_like=True):
    """The durable record of one invocation (its journal is stored beside it)."""

    target: Target
    status: Status
    created_at_ms: int
    modified_at_ms: int
    journal_length: int = 1
    attempt: int = 0
    retry_count: int = 0
    idempotency_key: str | None = None
    next_retry_at_ms: int | None = None
    waiting: Waiting | None = None
    last_failure: Failure | None = None
    result: Result | None = None
    completed_at_ms: int | None = None
    expires_at_ms: int | None = None
    retention_ms: int = 0
    kind: HandlerKind = HandlerKind.SERVICE
    # Ids inside records are stored as bytes: MessagePack has no 128-bit integers.
    callers: list[tuple[bytes, int]] = msgspec.field(default_factory=list)
    children: list[bytes] = msgspec.field(default_factory=list)
    inbox_seq: int | None = None
    invoke_at_ms: int | None = None
    # How many awakeables the handler created (signal indexes 17 up to 16 + this); None: not
    # tracked (a record from before awakeables were journaled), any index is accepted.
    awakeables: int | None = None
    # Completed awakeable signals: index -> (completed at, digest of the result), so a second
    # delivery is told apart as a duplicate or a conflict without reading the journal.
    signals_done: dict[int, tuple[int, bytes]] = msgspec.field(default_factory=dict)
    # Durable timers of ctx.sleep not yet fired: completion id -> due time (the deadline of
    # an awakeable awaited in a race with the timer).
    sleeps: dict[int, int] = msgspec.field(default_factory=dict)


class TimerKind(enum.IntEnum):
    """What a due timer does."""

    RETRY = 1  # start the next attempt (fenced by `attempt`)
    SLEEP = 2  # complete `completion_id` (a ctx.sleep)
    INVOKE = 3  # start a scheduled (delayed) invocation


class Timer(msgspec.Struct, frozen=True, array_like=True):
    """A durable timer: at `due_ms`, fire `kind` for `invocation_id`."""

    due_ms: int
    invocation_id: InvocationId
    kind: TimerKind
    attempt: int
    completion_id: int = 0


ObjectKey = tuple[str, str]  # (service, key)
PromiseKey = tuple[str, str, str]  # (service, key, promise name)


class ObjectRecord(msgspec.Struct, array_like=True):
    """A virtual object key: who holds its lock, the next inbox sequence number."""

    locked_by: bytes | None = None  # an InvocationId's bytes
    next_seq: int = 0
    draining: bool = False  # the lock was released; the inbox head takes it next


class PromiseRecord(msgspec.Struct, array_like=True):
    """A workflow's durable promise: its result once completed, else who awaits it."""

    result: Result | None = None
    listeners: list[tuple[bytes, int]] = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff; `max_attempts` counts every attempt, the first included."""

    initial_interval_ms: int = 500
    factor: float = 2.0
    max_interval_ms: int = 60_000
    max_attempts: int | None = 70
    on_max_attempts: str = "pause"  # or "kill"

    def delay_ms(self, retry_count: int) -> int:
        """Delay before retry number `retry_count` (1 = the first retry)."""
        delay = float(self.initial_interval_ms)
        for _ in range(max(retry_count - 1, 0)):  # grow until the cap: no float overflow
            if delay >= self.max_interval_ms:
                break
            delay *= self.factor
        return int(min(delay, self.max_interval_ms))

    def exhausted(self, attempts_made: int) -> bool:
        """True once `attempts_made` attempts have failed and no more are allowed."""
        return self.max_attempts is not None and attempts_made >= self.max_attempts
