"""What a journaled command does beyond being recorded: state writes, timers, calls, promises.

Each command is applied in the same batch as its journal entry, so the journal and its
consequences become durable together: a crash never shows half a handler.
"""

from __future__ import annotations

from wakeful.engine.applied import Applied, EngineConfig
from wakeful.engine.effects import TimerScheduled
from wakeful.engine.events import (
    AddCaller,
    Cancel,
    DeliverCompletion,
    DeliverSignal,
    Invoke,
)
from wakeful.engine.model import (
    Invocation,
    PromiseKey,
    PromiseRecord,
    Target,
    Timer,
    TimerKind,
)
from wakeful.engine.state import PartitionState
from wakeful.errors import InvalidIdError
from wakeful.journal.entries import (
    AttachInvocationCommand,
    CallCommand,
    ClearAllStateCommand,
    ClearStateCommand,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    Entry,
    Failure,
    GetPromiseCommand,
    OneWayCallCommand,
    PeekPromiseCommand,
    Result,
    SendSignalCommand,
    SetStateCommand,
    SleepCommand,
)
from wakeful.journal.ids import CANCEL_SIGNAL, InvocationId, parse_awakeable_id

__all__ = ["on_command", "promise_key"]

VOID = Result(value=None)
ALREADY_COMPLETED = Failure(409, "promise was already completed")


def promise_key(inv: Invocation, name: str) -> PromiseKey:
    """The key of a durable promise of the invocation's workflow."""
    return inv.target.service, inv.target.key or "", name


def on_command(
    config: EngineConfig,
    state: PartitionState,
    iid: InvocationId,
    inv: Invocation,
    entry: Entry,
    now_ms: int,
    out: Applied,
) -> None:
    """Apply the consequences of one journaled command."""
    match entry:
        case CompleteAwakeableCommand(awakeable_id=awakeable_id, result=result):
            try:
                ref = parse_awakeable_id(awakeable_id)
            except InvalidIdError:
                return  # the SDK validates ids when the command is made; never fail a batch
            if ref.kind != "signal":
                return  # a legacy `prom_1…` id names a journal entry, not signal N: see ingress
            out.follow_ups.append(DeliverSignal(ref.invocation_id, ref.index, result, now_ms))
        case SetStateCommand(name=name, value=value) if inv.kind.writes_state:
            state.set_state(_key(inv), name, value)
        case ClearStateCommand(name=name) if inv.kind.writes_state:
            state.set_state(_key(inv), name, None)
        case ClearAllStateCommand() if inv.kind.writes_state:
            state.clear_state(_key(inv))
        case SleepCommand(wake_up_at_ms=due, completion_id=cid):
            # Fenced by the invocation's creation time: see machine._generation.
            state.add_timer(Timer(due, iid, TimerKind.SLEEP, inv.created_at_ms, cid))
            out.effects.append(TimerScheduled(due))
        case CallCommand():
            _call(config, iid, inv, entry, now_ms, out)
        case OneWayCallCommand():
            _send(config, entry, now_ms, out)
        case SendSignalCommand(invocation_id=target, index=index, result=result, name=name):
            target_id = InvocationId.from_bytes(target)
            if name is None and index == CANCEL_SIGNAL:
                out.follow_ups.append(Cancel(target_id, now_ms))
            else:
                out.follow_ups.append(DeliverSignal(target_id, index, result, now_ms, name))
        case AttachInvocationCommand(invocation_id=target, completion_id=cid):
            out.follow_ups.append(AddCaller(InvocationId.from_bytes(target), (iid, cid), now_ms))
        case GetPromiseCommand(name=name, completion_id=cid):
            key = promise_key(inv, name)
            record = state.promise(key) or PromiseRecord()
            if record.result is not None:
                out.follow_ups.append(DeliverCompletion(iid, cid, record.result, now_ms))
            else:
                record.listeners.append((iid.to_bytes(), cid))
                state.put_promise(key, record)
        case PeekPromiseCommand(name=name, completion_id=cid):
            peeked = state.promise(promise_key(inv, name))
            found = peeked.result if peeked is not None and peeked.result is not None else VOID
            out.follow_ups.append(DeliverCompletion(iid, cid, found, now_ms))
        case CompletePromiseCommand(name=name, result=result, completion_id=cid):
            key = promise_key(inv, name)
            record = state.promise(key) or PromiseRecord()
            if record.result is not None:
                answer = Result(failure=ALREADY_COMPLETED)
            else:
                for listener, listener_cid in record.listeners:
                    listener_id = InvocationId.from_bytes(listener)
                    out.follow_ups.append(
                        DeliverCompletion(listener_id, listener_cid, result, now_ms)
                    )
                state.put_promise(key, PromiseRecord(result=result))
                answer = VOID
            out.follow_ups.append(DeliverCompletion(iid, cid, answer, now_ms))
        case _:
            pass


def _key(inv: Invocation) -> tuple[str, str]:
    return inv.target.service, inv.target.key or ""


def _call(
    config: EngineConfig,
    iid: InvocationId,
    inv: Invocation,
    command: CallCommand,
    now_ms: int,
    out: Applied,
) -> None:
    if not _invoke_callee(config, command, now_ms, out, caller=(iid, command.completion_id)):
        target = Target(command.service, command.handler, command.key)
        failure = Result(failure=Failure(404, f"no handler {target} to call"))
        out.follow_ups.append(DeliverCompletion(iid, command.completion_id, failure, now_ms))
        return
    inv.children.append(command.invocation_id)


def _send(config: EngineConfig, command: OneWayCallCommand, now_ms: int, out: Applied) -> None:
    # Nobody to deliver to is dropped: the SDK checks targets it knows when the send is made.
    _invoke_callee(config, command, now_ms, out, invoke_at_ms=command.invoke_at_ms)


def _invoke_callee(
    config: EngineConfig,
    command: CallCommand | OneWayCallCommand,
    now_ms: int,
    out: Applied,
    caller: tuple[InvocationId, int] | None = None,
    invoke_at_ms: int | None = None,
) -> bool:
    """Invoke the target of a call or send as a follow-up; False if no such handler."""
    target = Target(command.service, command.handler, command.key, command.scope, command.limit_key)
    kind = config.handler_kind(target)
    if kind is None:
        return False
    out.follow_ups.append(
        Invoke(
            InvocationId.from_bytes(command.invocation_id),
            target,
            command.input,
            command.headers,
            now_ms,
            command.idempotency_key,
            kind,
            caller=caller,
            invoke_at_ms=invoke_at_ms,
        )
    )
    return True
