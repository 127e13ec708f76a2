"""Between wakeful's journal entries and the protocol's command and notification messages.

wakeful's journal already follows the protocol, with three adjustments made here:

- a call's or send's invocation-id notification is journaled as a `CompletionNotification`
  whose value is the callee's id (`inv_1…`); its completion id is the only one no command
  allocated, which is how it is told apart on the way back;
- a `ctx.run` result proposed by the endpoint is journaled as a `CompletionNotification`;
- state is always sent whole in the StartMessage, so the endpoint only records eager reads
  (`GetEagerState`, `GetEagerStateKeys`), journaled as `GetStateCommand`/`GetStateKeysCommand`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wakeful.engine.commands import callee_id
from wakeful.engine.model import HandlerKind, Target
from wakeful.errors import InvalidIdError, WakefulError
from wakeful.journal.entries import (
    AttachInvocationCommand,
    CallCommand,
    ClearAllStateCommand,
    ClearStateCommand,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    CompletionNotification,
    Entry,
    Failure,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    InputCommand,
    OneWayCallCommand,
    OutputCommand,
    PeekPromiseCommand,
    Result,
    RunCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalNotification,
    SleepCommand,
)
from wakeful.journal.ids import InvocationId
from wakeful.protocol.messages import MessageType, encode, pb

__all__ = [
    "CommandContext",
    "ProtocolViolation",
    "Unsupported",
    "encode_journal",
    "entries_of_command",
    "failure_of",
    "notification_frame",
    "result_of",
]

M = MessageType


class ProtocolViolation(WakefulError):
    """The endpoint sent something the protocol does not allow here (code 571)."""

    code = 571


class Unsupported(WakefulError):
    """The endpoint used a feature wakeful does not implement (code 501)."""

    code = 501


# -- results ------------------------------------------------------------------------------


def failure_of(message: Any) -> Failure:
    """A journal failure from a protobuf `Failure`."""
    metadata = {m.key: m.value for m in message.metadata} or None
    return Failure(message.code, message.message, metadata)


def failure_pb(failure: Failure) -> Any:
    """A protobuf `Failure` from a journal failure."""
    metadata = [pb.FailureMetadata(key=k, value=v) for k, v in (failure.metadata or {}).items()]
    return pb.Failure(code=failure.code, message=failure.message, metadata=metadata)


def result_of(message: Any, oneof: str = "result") -> Result:
    """The journal result held in a message's `result` oneof (void, value or failure)."""
    which = message.WhichOneof(oneof)
    if which is None or which == "void":
        return Result(value=None)
    if which in ("value", "completion_value"):
        value = getattr(message, which)
        # ProposeRunCompletion carries raw bytes, the other messages a `Value`.
        return Result(value=bytes(value if isinstance(value, bytes) else value.content))
    if which in ("failure", "completion_failure"):
        return Result(failure=failure_of(getattr(message, which)))
    raise ProtocolViolation(f"unexpected result variant {which!r}")


# -- endpoint -> journal ------------------------------------------------------------------


@dataclass(slots=True)
class CommandContext:
    """What turning an endpoint's command into journal entries needs to know."""

    invocation_id: InvocationId
    handler_kind: Callable[[Target], HandlerKind | None]
    command_index: int = 1  # the endpoint's count of commands so far (the input is 0)
    completion_kinds: dict[int, MessageType] = field(default_factory=dict)

    def callee_id(
        self, service: str, handler: str, key: str | None, idempotency_key: str | None
    ) -> InvocationId:
        """The callee's id: the engine's derivation, as for in-process calls."""
        target = Target(service, handler, key)
        workflow_run = key is not None and self.handler_kind(target) == HandlerKind.WORKFLOW
        return callee_id(
            self.invocation_id, self.command_index, target, idempotency_key, workflow_run
        )


def _headers(message: Any) -> list[tuple[str, str]]:
    return [(h.key, h.value) for h in message.headers]


def _opt(message: Any, name: str) -> str | None:
    return getattr(message, name) if message.HasField(name) else None


def _parse_id(text: str) -> InvocationId:
    try:
        return InvocationId.parse(text)
    except InvalidIdError as e:
        raise ProtocolViolation(f"bad invocation id {text!r}: {e}") from e


def entries_of_command(type_: MessageType, msg: Any, ctx: CommandContext) -> list[Entry]:
    """The journal entries that record one command sent by the endpoint."""
    entries = _entries(type_, msg, ctx)
    ctx.command_index += 1
    return entries


def _entries(type_: MessageType, msg: Any, ctx: CommandContext) -> list[Entry]:
    kinds = ctx.completion_kinds
    match type_:
        case M.GET_EAGER_STATE:
            value = None if msg.WhichOneof("result") != "value" else bytes(msg.value.content)
            return [GetStateCommand(msg.key.decode(), value)]
        case M.GET_EAGER_STATE_KEYS:
            return [GetStateKeysCommand([k.decode() for k in msg.value.keys])]
        case M.SET_STATE:
            return [SetStateCommand(msg.key.decode(), bytes(msg.value.content))]
        case M.CLEAR_STATE:
            return [ClearStateCommand(msg.key.decode())]
        case M.CLEAR_ALL_STATE:
            return [ClearAllStateCommand()]
        case M.GET_PROMISE:
            kinds[msg.result_completion_id] = M.GET_PROMISE_COMPLETION
            return [GetPromiseCommand(msg.key, msg.result_completion_id)]
        case M.PEEK_PROMISE:
            kinds[msg.result_completion_id] = M.PEEK_PROMISE_COMPLETION
            return [PeekPromiseCommand(msg.key, msg.result_completion_id)]
        case M.COMPLETE_PROMISE:
            kinds[msg.result_completion_id] = M.COMPLETE_PROMISE_COMPLETION
            result = result_of(msg, "completion")
            return [CompletePromiseCommand(msg.key, result, msg.result_completion_id)]
        case M.SLEEP:
            kinds[msg.result_completion_id] = M.SLEEP_COMPLETION
            name = msg.name or None
            return [SleepCommand(msg.wake_up_time, msg.result_completion_id, name)]
        case M.RUN:
            kinds[msg.result_completion_id] = M.RUN_COMPLETION
            return [RunCommand(msg.name, msg.result_completion_id)]
        case M.CALL | M.ONE_WAY_CALL:
            return _call(type_, msg, ctx)
        case M.SEND_SIGNAL:
            if msg.WhichOneof("signal_id") != "idx":
                raise Unsupported("named signals are not supported by wakeful yet")
            target = _parse_id(msg.target_invocation_id)
            return [SendSignalCommand(target.to_bytes(), msg.idx, result_of(msg))]
        case M.ATTACH_INVOCATION:
            kinds[msg.result_completion_id] = M.ATTACH_INVOCATION_COMPLETION
            target = _attach_target(msg)
            return [AttachInvocationCommand(target.to_bytes(), msg.result_completion_id)]
        case M.COMPLETE_AWAKEABLE:
            return [CompleteAwakeableCommand(msg.awakeable_id, result_of(msg))]
        case M.GET_LAZY_STATE | M.GET_LAZY_STATE_KEYS:
            raise ProtocolViolation(
                "lazy state read although the StartMessage carried the whole state"
            )
        case M.GET_INVOCATION_OUTPUT:
            raise Unsupported("GetInvocationOutput is not supported by wakeful yet")
    raise ProtocolViolation(f"unexpected message {type_.name} from the endpoint")


def _call(type_: MessageType, msg: Any, ctx: CommandContext) -> list[Entry]:
    if _opt(msg, "scope") or _opt(msg, "limit_key"):
        raise Unsupported("scoped calls (scope, limit key) are not supported by wakeful yet")
    key = msg.key or None
    idem = _opt(msg, "idempotency_key")
    callee = ctx.callee_id(msg.service_name, msg.handler_name, key, idem)
    id_notification = CompletionNotification(
        msg.invocation_id_notification_idx, Result(value=str(callee).encode())
    )
    ctx.completion_kinds[msg.invocation_id_notification_idx] = M.CALL_INVOCATION_ID_COMPLETION
    if type_ == M.CALL:
        ctx.completion_kinds[msg.result_completion_id] = M.CALL_COMPLETION
        command: Entry = CallCommand(
            msg.service_name,
            msg.handler_name,
            key,
            bytes(msg.parameter),
            _headers(msg),
            callee.to_bytes(),
            msg.result_completion_id,
            idem,
        )
    else:
        command = OneWayCallCommand(
            msg.service_name,
            msg.handler_name,
            key,
            bytes(msg.parameter),
            _headers(msg),
            callee.to_bytes(),
            msg.invoke_time or None,
            idem,
        )
    return [command, id_notification]


def _attach_target(msg: Any) -> InvocationId:
    match msg.WhichOneof("target"):
        case "invocation_id":
            return _parse_id(msg.invocation_id)
        case "workflow_target":
            wf = msg.workflow_target
            return InvocationId.for_workflow(wf.workflow_name, wf.workflow_key)
        case "idempotent_request_target":
            t = msg.idempotent_request_target
            key = t.service_key if t.HasField("service_key") else None
            return InvocationId.for_idempotency_key(
                t.service_name, t.handler_name, key, t.idempotency_key
            )
    raise ProtocolViolation("attach without a target")


# -- journal -> endpoint ------------------------------------------------------------------


def _value(data: bytes | None) -> Any:
    return pb.Value(content=data or b"")


def _result_fields(result: Result, void_allowed: bool) -> dict[str, Any]:
    if result.failure is not None:
        return {"failure": failure_pb(result.failure)}
    if result.value is None and void_allowed:
        return {"void": pb.Void()}
    return {"value": _value(result.value)}


_VOID_ALLOWED = {
    M.SLEEP_COMPLETION,
    M.PEEK_PROMISE_COMPLETION,
    M.COMPLETE_PROMISE_COMPLETION,
    M.GET_LAZY_STATE_COMPLETION,
    M.GET_INVOCATION_OUTPUT_COMPLETION,
}


def notification_frame(
    entry: CompletionNotification | SignalNotification, kinds: dict[int, MessageType]
) -> bytes:
    """The framed notification message for a journaled notification."""
    if isinstance(entry, SignalNotification):
        fields = _result_fields(entry.result, True)
        return encode(M.SIGNAL, pb.Notification(signal_id=entry.index, **fields))
    kind = kinds.get(entry.completion_id, M.CALL_INVOCATION_ID_COMPLETION)
    if kind == M.CALL_INVOCATION_ID_COMPLETION:
        text = (entry.result.value or b"").decode()
        return encode(kind, pb.Notification(completion_id=entry.completion_id, invocation_id=text))
    fields = _result_fields(entry.result, kind in _VOID_ALLOWED)
    if kind == M.SLEEP_COMPLETION and "failure" not in fields:
        fields = {"void": pb.Void()}
    return encode(kind, pb.Notification(completion_id=entry.completion_id, **fields))


def _command_frame(entry: Entry, kinds: dict[int, MessageType], id_notification: int = 0) -> bytes:
    match entry:
        case InputCommand(headers=headers, value=value):
            hs = [pb.Header(key=k, value=v) for k, v in headers]
            return encode(M.INPUT, pb.InputCommandMessage(headers=hs, value=_value(value)))
        case OutputCommand(result=result):
            return encode(M.OUTPUT, pb.OutputCommandMessage(**_result_fields(result, False)))
        case GetStateCommand(name=name, value=value):
            state = {"void": pb.Void()} if value is None else {"value": _value(value)}
            return encode(
                M.GET_EAGER_STATE, pb.GetEagerStateCommandMessage(key=name.encode(), **state)
            )
        case GetStateKeysCommand(keys=keys):
            value = pb.StateKeys(keys=[k.encode() for k in keys])
            return encode(M.GET_EAGER_STATE_KEYS, pb.GetEagerStateKeysCommandMessage(value=value))
        case SetStateCommand(name=name, value=value):
            msg = pb.SetStateCommandMessage(key=name.encode(), value=_value(value))
            return encode(M.SET_STATE, msg)
        case ClearStateCommand(name=name):
            return encode(M.CLEAR_STATE, pb.ClearStateCommandMessage(key=name.encode()))
        case ClearAllStateCommand():
            return encode(M.CLEAR_ALL_STATE, pb.ClearAllStateCommandMessage())
        case GetPromiseCommand(name=name, completion_id=cid):
            kinds[cid] = M.GET_PROMISE_COMPLETION
            msg = pb.GetPromiseCommandMessage(key=name, result_completion_id=cid)
            return encode(M.GET_PROMISE, msg)
        case PeekPromiseCommand(name=name, completion_id=cid):
            kinds[cid] = M.PEEK_PROMISE_COMPLETION
            msg = pb.PeekPromiseCommandMessage(key=name, result_completion_id=cid)
            return encode(M.PEEK_PROMISE, msg)
        case CompletePromiseCommand(name=name, result=result, completion_id=cid):
            kinds[cid] = M.COMPLETE_PROMISE_COMPLETION
            completion = (
                {"completion_failure": failure_pb(result.failure)}
                if result.failure is not None
                else {"completion_value": _value(result.value)}
            )
            msg = pb.CompletePromiseCommandMessage(key=name, result_completion_id=cid, **completion)
            return encode(M.COMPLETE_PROMISE, msg)
        case SleepCommand(wake_up_at_ms=due, completion_id=cid, name=name):
            kinds[cid] = M.SLEEP_COMPLETION
            msg = pb.SleepCommandMessage(
                wake_up_time=due, result_completion_id=cid, name=name or ""
            )
            return encode(M.SLEEP, msg)
        case RunCommand(name=name, completion_id=cid):
            kinds[cid] = M.RUN_COMPLETION
            return encode(M.RUN, pb.RunCommandMessage(result_completion_id=cid, name=name))
        case CallCommand():
            kinds[entry.completion_id] = M.CALL_COMPLETION
            msg = pb.CallCommandMessage(
                service_name=entry.service,
                handler_name=entry.handler,
                parameter=entry.input,
                headers=[pb.Header(key=k, value=v) for k, v in entry.headers],
                key=entry.key or "",
                result_completion_id=entry.completion_id,
                invocation_id_notification_idx=id_notification,
            )
            if entry.idempotency_key is not None:
                msg.idempotency_key = entry.idempotency_key
            return encode(M.CALL, msg)
        case OneWayCallCommand():
            msg = pb.OneWayCallCommandMessage(
                service_name=entry.service,
                handler_name=entry.handler,
                parameter=entry.input,
                headers=[pb.Header(key=k, value=v) for k, v in entry.headers],
                key=entry.key or "",
                invoke_time=entry.invoke_at_ms or 0,
                invocation_id_notification_idx=id_notification,
            )
            if entry.idempotency_key is not None:
                msg.idempotency_key = entry.idempotency_key
            return encode(M.ONE_WAY_CALL, msg)
        case SendSignalCommand(invocation_id=target, index=index, result=result):
            msg = pb.SendSignalCommandMessage(
                target_invocation_id=str(InvocationId.from_bytes(target)),
                idx=index,
                **_result_fields(result, True),
            )
            return encode(M.SEND_SIGNAL, msg)
        case AttachInvocationCommand(invocation_id=target, completion_id=cid):
            kinds[cid] = M.ATTACH_INVOCATION_COMPLETION
            msg = pb.AttachInvocationCommandMessage(
                invocation_id=str(InvocationId.from_bytes(target)), result_completion_id=cid
            )
            return encode(M.ATTACH_INVOCATION, msg)
        case CompleteAwakeableCommand(awakeable_id=awakeable_id, result=result):
            msg = pb.CompleteAwakeableCommandMessage(
                awakeable_id=awakeable_id, **_result_fields(result, False)
            )
            return encode(M.COMPLETE_AWAKEABLE, msg)
    raise ProtocolViolation(f"cannot send journal entry {entry!r} to an endpoint")


def encode_journal(journal: list[Entry]) -> tuple[list[bytes], dict[int, MessageType]]:
    """Frames replaying a stored journal, and the notification kind of each completion id."""
    kinds: dict[int, MessageType] = {}
    frames: list[bytes] = []
    for position, entry in enumerate(journal):
        if isinstance(entry, CompletionNotification | SignalNotification):
            frames.append(notification_frame(entry, kinds))
            continue
        id_notification = 0
        if isinstance(entry, CallCommand | OneWayCallCommand):
            id_notification = _following_id(journal, position)
            kinds[id_notification] = M.CALL_INVOCATION_ID_COMPLETION
        frames.append(_command_frame(entry, kinds, id_notification))
    return frames, kinds


def _following_id(journal: list[Entry], position: int) -> int:
    """The invocation-id notification journaled together with the call at `position`."""
    following = journal[position + 1] if position + 1 < len(journal) else None
    if isinstance(following, CompletionNotification):
        return following.completion_id
    return 0
