"""Service protocol unit tests: framing, version negotiation, manifests, messages, journal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wakeful.engine.model import HandlerKind
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
    PeekPromiseCommand,
    Result,
    RunCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalNotification,
    SleepCommand,
)
from wakeful.journal.ids import InvocationId
from wakeful.protocol.discovery import DiscoveryError, is_bidi, parse_manifest
from wakeful.protocol.framing import REQUESTED_ACK, Frame, FrameDecoder, FramingError, encode_frame
from wakeful.protocol.journal import (
    CommandContext,
    ProtocolViolation,
    Unsupported,
    encode_journal,
    entries_of_command,
    result_of,
)
from wakeful.protocol.messages import MessageType, decode, encode, message_class, pb
from wakeful.protocol.version import (
    UnsupportedVersionError,
    choose_version,
    content_type,
    manifest_version,
    parse_content_type,
)


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=64)), max_size=8), st.data())
def test_frames_survive_any_chunking(
    messages: list[tuple[int, bytes]], data: st.DataObject
) -> None:
    """Frames come out whole and in order however the byte stream is cut."""
    stream = b"".join(encode_frame(t, p) for t, p in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = FrameDecoder()
    frames: list[Frame] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        frames += decoder.feed(stream[start:cut])
        start = cut
    assert [(f.type, f.payload) for f in frames] == messages
    assert decoder.pending == 0


def test_header_layout_and_ack_flag() -> None:
    """The header is type u16, flags u16, length u32, big endian; bit 15 of flags asks an ack."""
    raw = encode_frame(0x0005, b"abc", REQUESTED_ACK)
    assert raw[:8] == bytes([0x00, 0x05, 0x80, 0x00, 0, 0, 0, 3])
    (frame,) = FrameDecoder().feed(raw)
    assert frame.requested_ack
    assert not FrameDecoder().feed(encode_frame(5, b""))[0].requested_ack


def test_oversized_frame_is_refused() -> None:
    """A length above the limit is an error, not an unbounded buffer."""
    with pytest.raises(FramingError):
        FrameDecoder(max_size=10).feed(encode_frame(1, b"x" * 11))


def test_unknown_type_and_garbage_payload_are_errors() -> None:
    """Decoding names unknown message types and undecodable payloads."""
    with pytest.raises(FramingError, match="unknown message type"):
        decode(Frame(0x7777, 0, b""))
    with pytest.raises(FramingError, match="cannot decode"):
        decode(Frame(MessageType.START, 0, b"\xff\xff\xff"))


def test_version_negotiation() -> None:
    """The highest common version of 5..7 is chosen; no overlap is an error."""
    assert choose_version(5, 7) == 7
    assert choose_version(5, 6) == 6
    assert choose_version(1, 9) == 7
    for low, high in [(1, 4), (8, 9), (6, 5)]:
        with pytest.raises(UnsupportedVersionError):
            choose_version(low, high)
    assert content_type(6) == "application/vnd.restate.invocation.v6"
    assert parse_content_type("application/vnd.restate.invocation.v7; x=y") == 7
    assert parse_content_type("application/json") is None
    assert manifest_version("application/vnd.restate.endpointmanifest.v3+json") == 3
    assert manifest_version("text/plain") is None


def test_manifest_parsing() -> None:
    """A manifest gives services, handler types, mode and options; bad ones are refused."""
    manifest = parse_manifest(
        b'{"protocolMode":"REQUEST_RESPONSE","minProtocolVersion":5,"maxProtocolVersion":6,'
        b'"services":[{"name":"Greeter","ty":"VIRTUAL_OBJECT","inactivityTimeout":1000,'
        b'"handlers":[{"name":"greet","ty":"EXCLUSIVE","retryPolicyMaxAttempts":3}]}]}'
    )
    assert not is_bidi(manifest)
    (service,) = manifest.services
    assert (service.name, service.ty, service.inactivity_timeout) == (
        "Greeter",
        "VIRTUAL_OBJECT",
        1000,
    )
    assert service.handlers[0].retry_policy_max_attempts == 3
    with pytest.raises(DiscoveryError, match="not JSON"):
        parse_manifest(b"{")
    with pytest.raises(DiscoveryError, match="invalid"):
        parse_manifest(b'{"services":[{"name":"A","ty":"NOPE","handlers":[]}]}')
    with pytest.raises(DiscoveryError, match="versions"):
        parse_manifest(b'{"minProtocolVersion":1,"maxProtocolVersion":4,"services":[]}')


_MESSAGES = {
    MessageType.START: pb.StartMessage(id=b"x" * 24, debug_id="inv", known_entries=3, key="k"),
    MessageType.SUSPENSION: pb.SuspensionMessage(
        waiting_completions=[1], awaiting_on=pb.Future(waiting_signals=[1, 17])
    ),
    MessageType.ERROR: pb.ErrorMessage(code=570, message="mismatch", next_retry_delay=10),
    MessageType.END: pb.EndMessage(),
    MessageType.COMMAND_ACK: pb.CommandAckMessage(command_index=4),
    MessageType.PROPOSE_RUN_COMPLETION: pb.ProposeRunCompletionMessage(
        result_completion_id=2, value=b"v"
    ),
    MessageType.AWAITING_ON: pb.AwaitingOnMessage(awaiting_on=pb.Future(waiting_completions=[3])),
    MessageType.PROPOSE_RUN_COMPLETION_ACK: pb.ProposeRunCompletionAckMessage(completion_id=2),
}


@pytest.mark.parametrize("type_", list(MessageType), ids=lambda t: t.name)
def test_every_message_kind_round_trips(type_: MessageType) -> None:
    """Every message type encodes, frames, and decodes to an equal message."""
    message = _MESSAGES.get(type_)
    if message is None:
        cls = message_class(type_)
        message = cls()
        fields = {f.name for f in cls.DESCRIPTOR.fields}
        if "name" in fields:
            message.name = "entry"
        if "result_completion_id" in fields:
            message.result_completion_id = 7
        if "completion_id" in fields:
            message.completion_id = 7
    (frame,) = FrameDecoder().feed(encode(type_, message))
    decoded_type, decoded = decode(frame)
    assert decoded_type == type_
    assert decoded == message


def test_encode_checks_the_class() -> None:
    """A message cannot be sent under another message's type."""
    with pytest.raises(TypeError):
        encode(MessageType.END, pb.StartMessage())


CALLER = InvocationId.random()
CALLEE = InvocationId.random()
OK = Result(value=b'"ok"')
BAD = Result(failure=Failure(409, "no", {"k": "v"}))

_JOURNAL: list[Entry] = [
    InputCommand([("h", "v")], b'"in"'),
    GetStateCommand("a", b"1"),
    GetStateCommand("missing", None),
    GetStateKeysCommand(["a", "b"]),
    SetStateCommand("a", b"2"),
    ClearStateCommand("a"),
    ClearAllStateCommand(),
    RunCommand("step", 1),
    CompletionNotification(1, OK),
    SleepCommand(123, 2, "nap"),
    CompletionNotification(2, Result(value=None)),
    GetPromiseCommand("p", 3),
    PeekPromiseCommand("p", 4),
    CompletePromiseCommand("p", BAD, 5),
    CompletionNotification(5, Result(value=None)),
    AttachInvocationCommand(CALLEE.to_bytes(), 6),
    SendSignalCommand(CALLEE.to_bytes(), 1, Result(value=None)),
    CompleteAwakeableCommand("sign_1abc", OK),
    SignalNotification(17, BAD),
]


def _messages(frames: list[bytes]) -> list[tuple[MessageType, object]]:
    decoder = FrameDecoder()
    return [decode(f) for raw in frames for f in decoder.feed(raw)]


def test_journal_round_trips_through_messages() -> None:
    """Stored entries become messages and the endpoint's commands become the same entries."""
    frames, kinds = encode_journal(_JOURNAL)
    messages = _messages(frames)
    assert len(messages) == len(_JOURNAL)
    ctx = CommandContext(CALLER, lambda target: HandlerKind.SERVICE)
    back: list[Entry] = []
    for (type_, msg), entry in zip(messages, _JOURNAL, strict=True):
        if type_ == MessageType.INPUT:
            assert entry == InputCommand([(h.key, h.value) for h in msg.headers], msg.value.content)
        elif type_.is_notification:
            assert kinds.get(getattr(msg, "completion_id", -1)) in (type_, None)
        else:
            back += entries_of_command(type_, msg, ctx)
    commands = [
        e for e in _JOURNAL[1:] if not isinstance(e, CompletionNotification | SignalNotification)
    ]
    assert back == commands
    assert kinds[2] == MessageType.SLEEP_COMPLETION
    sleep_done = messages[10][1]
    assert sleep_done.WhichOneof("result") == "void"
    assert result_of(messages[-1][1]) == BAD


def test_calls_journal_their_invocation_id_notification() -> None:
    """A call journals the callee's id as a notification; replay sends it back with its type."""
    ctx = CommandContext(CALLER, lambda target: HandlerKind.SERVICE)
    call = pb.CallCommandMessage(
        service_name="S",
        handler_name="h",
        parameter=b"1",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    entries = entries_of_command(MessageType.CALL, call, ctx)
    command, id_note = entries
    assert isinstance(command, CallCommand)
    assert isinstance(id_note, CompletionNotification)
    assert id_note.result.value == str(InvocationId.from_bytes(command.invocation_id)).encode()
    again = CommandContext(CALLER, lambda target: HandlerKind.SERVICE)
    assert entries_of_command(MessageType.CALL, call, again) == entries  # deterministic id
    send = pb.OneWayCallCommandMessage(
        service_name="S",
        handler_name="h",
        key="k",
        invoke_time=99,
        idempotency_key="i",
        invocation_id_notification_idx=3,
    )
    send_entries = entries_of_command(MessageType.ONE_WAY_CALL, send, ctx)
    assert isinstance(send_entries[0], OneWayCallCommand)
    assert send_entries[0].invoke_at_ms == 99
    assert (
        send_entries[0].invocation_id
        == InvocationId.for_idempotency_key("S", "h", "k", "i").to_bytes()
    )
    journal = [InputCommand([], b""), *entries, CompletionNotification(2, OK), *send_entries]
    frames, _ = encode_journal(journal)
    types = [t for t, _ in _messages(frames)]
    assert types == [
        MessageType.INPUT,
        MessageType.CALL,
        MessageType.CALL_INVOCATION_ID_COMPLETION,
        MessageType.CALL_COMPLETION,
        MessageType.ONE_WAY_CALL,
        MessageType.CALL_INVOCATION_ID_COMPLETION,
    ]
    replayed_call = _messages(frames)[1][1]
    assert replayed_call.invocation_id_notification_idx == 1


def test_workflow_run_callee_is_the_workflow_id() -> None:
    """Calling a workflow's run targets the run-once id of its key."""
    ctx = CommandContext(CALLER, lambda target: HandlerKind.WORKFLOW)
    call = pb.CallCommandMessage(
        service_name="W",
        handler_name="run",
        key="k",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )
    command = entries_of_command(MessageType.CALL, call, ctx)[0]
    assert isinstance(command, CallCommand)
    assert command.invocation_id == InvocationId.for_workflow("W", "k").to_bytes()


def test_unsupported_and_invalid_commands_are_named() -> None:
    """Named signals and lazy state reads are refused with a reason."""
    ctx = CommandContext(CALLER, lambda target: None)
    with pytest.raises(Unsupported, match="named signals"):
        entries_of_command(
            MessageType.SEND_SIGNAL,
            pb.SendSignalCommandMessage(target_invocation_id=str(CALLEE), name="x"),
            ctx,
        )
    with pytest.raises(ProtocolViolation, match="lazy state"):
        entries_of_command(MessageType.GET_LAZY_STATE, pb.GetLazyStateCommandMessage(), ctx)
    with pytest.raises(ProtocolViolation, match="bad invocation id"):
        entries_of_command(
            MessageType.ATTACH_INVOCATION, pb.AttachInvocationCommandMessage(invocation_id="x"), ctx
        )
