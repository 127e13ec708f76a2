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
    HandlerKind,
    Invocation,
    PromiseKey,
    PromiseRecord,
    Target,
    Timer,
    TimerKind,
)
from wakeful.engine.state import PartitionState
from wakeful.engine.waits import awakeable_row, promise_row, promise_wait_id
from wakeful.errors import InvalidIdError
from wakeful.journal.entries import (
    AttachInvocationCommand,
    AwakeableCommand,
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
from wakeful.journal.ids import (
    CANCEL_SIGNAL,
    FIRST_AWAKEABLE_SIGNAL,
    InvocationId,
    parse_awakeable_id,
    partition_key_for,
)

__all__ = ["callee_id", "complete_promise", "on_command", "promise_key"]

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
        case AwakeableCommand(signal_index=index):
            if inv.awakeables is not None:
                inv.awakeables = max(inv.awakeables, index - FIRST_AWAKEABLE_SIGNAL + 1)
            state.put_wait(awakeable_row(iid, inv, entry, now_ms))
        case SetStateCommand(name=name, value=value) if inv.kind.writes_state:
            state.set_state(_key(inv), name, value)
        case ClearStateCommand(name=name) if inv.kind.writes_state:
            state.set_state(_key(inv), name, None)
        case ClearAllStateCommand() if inv.kind.writes_state:
            state.clear_state(_key(inv))
        case SleepCommand(wake_up_at_ms=due, completion_id=cid):
            # Fenced by the invocation's creation time: see machine._generation.
            state.add_timer(Timer(due, iid, TimerKind.SLEEP, inv.created_at_ms, cid))
            inv.sleeps[cid] = due
            out.effects.append(TimerScheduled(due))
        case CallCommand():
            _call(config, iid, inv, entry, now_ms, out)
        case OneWayCallCommand():
            _send(config, entry, now_ms, out)
        case SendSignalCommand(invocation_id=target, index=index, result=result):
            target_id = InvocationId.from_bytes(target)
            if index == CANCEL_SIGNAL:
                out.follow_ups.append(Cancel(target_id, now_ms))
            else:
                out.follow_ups.append(DeliverSignal(target_id, index, result, now_ms))
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
                state.put_wait(promise_row(iid, inv, entry, now_ms))
        case PeekPromiseCommand(name=name, completion_id=cid):
            peeked = state.promise(promise_key(inv, name))
            found = peeked.result if peeked is not None and peeked.result is not None else VOID
            out.follow_ups.append(DeliverCompletion(iid, cid, found, now_ms))
        case CompletePromiseCommand(name=name, result=result, completion_id=cid):
            first = complete_promise(state, promise_key(inv, name), result, now_ms, out)
            answer = VOID if first else Result(failure=ALREADY_COMPLETED)
            out.follow_ups.append(DeliverCompletion(iid, cid, answer, now_ms))
        case _:
            pass


def callee_id(
    caller: InvocationId,
    command_index: int,
    target: Target,
    idempotency_key: str | None,
    workflow_run: bool,
) -> InvocationId:
    """The id of the invocation a call or send at `command_index` of `caller` creates.

    A workflow's run is once per key and an idempotency key names its invocation, as at the
    ingress; any other callee's id comes from the caller's id and the command's position, so
    every replay and every invoker (in-process, or remote over Restate's protocol) agrees on
    it without storing anything first.
    """
    if workflow_run and target.key is not None:
        return InvocationId.for_workflow(target.service, target.key)
    if idempotency_key is not None:
        return InvocationId.for_idempotency_key(
            target.service, target.handler, target.key, idempotency_key
        )
    key = target.key
    partition = partition_key_for(key) if key is not None else caller.partition_key
    parts: list[str | bytes] = [caller.to_bytes(), str(command_index)]
    return InvocationId.deterministic("call", parts, partition)


def complete_promise(
    state: PartitionState, key: PromiseKey, result: Result, now_ms: int, out: Applied
) -> bool:
    """Complete a workflow promise and wake its listeners; False if it was completed before."""
    record = state.promise(key) or PromiseRecord()
    if record.result is not None:
        return False
    for listener, listener_cid in record.listeners:
        listener_id = InvocationId.from_bytes(listener)
        out.follow_ups.append(DeliverCompletion(listener_id, listener_cid, result, now_ms))
    state.put_promise(key, PromiseRecord(result=result))
    state.complete_wait(promise_wait_id(*key), now_ms, result)
    return True


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
    callee = _invoke_callee(config, command, now_ms, out, caller=(iid, command.completion_id))
    if callee is None:
        target = Target(command.service, command.handler, command.key)
        failure = Result(failure=Failure(404, f"no handler {target} to call"))
        out.follow_ups.append(DeliverCompletion(iid, command.completion_id, failure, now_ms))
        return
    inv.children.append(callee.to_bytes())


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
) -> InvocationId | None:
    """Invoke the target of a call or send as a follow-up; its id, or None if no such handler
    (or, from a broken invoker, no usable id)."""
    target = Target(command.service, command.handler, command.key)
    kind = config.handler_kind(target)
    if kind is None:
        return None
    if kind == HandlerKind.WORKFLOW and target.key is not None:
        # Whatever id the caller recorded (a generic call does not know it targets a run),
        # a workflow's run is once per key.
        callee = InvocationId.for_workflow(target.service, target.key)
    elif command.idempotency_key is not None:
        callee = InvocationId.for_idempotency_key(
            target.service, target.handler, target.key, command.idempotency_key
        )
    else:
        try:
            callee = InvocationId.from_bytes(command.invocation_id)
        except InvalidIdError:
            return None
    out.follow_ups.append(
        Invoke(
            callee,
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
    return callee
