"""A remote attempt without I/O: the endpoint's messages in, the engine's events out."""

from __future__ import annotations

from wakeful.engine.events import AttemptCompleted, AttemptFailed, AttemptSuspended
from wakeful.engine.model import HandlerKind, Target
from wakeful.invoker.remote_attempt import RemoteAttempt, waiting_of
from wakeful.journal.entries import CompletionNotification, InputCommand, Result, RunCommand
from wakeful.journal.ids import InvocationId
from wakeful.protocol.framing import FrameDecoder
from wakeful.protocol.messages import MessageType, decode, pb

M = MessageType


def _attempt(version: int = 7) -> RemoteAttempt:
    journal = [InputCommand([], b'"x"')]
    return RemoteAttempt(
        InvocationId.random(), 1, Target("S", "h"), journal, version, lambda t: HandlerKind.SERVICE
    )


def test_start_message_carries_state_and_the_journal() -> None:
    """The StartMessage counts the replayed entries and carries the whole state, not partial."""
    attempt = _attempt()
    frames = FrameDecoder().feed(attempt.start_message({"a": b"1"}, "idem"))
    (start_type, start), (input_type, _) = (decode(f) for f in frames)
    assert (start_type, input_type) == (M.START, M.INPUT)
    assert start.known_entries == 1
    assert [(e.key, e.value) for e in start.state_map] == [(b"a", b"1")]
    assert not start.partial_state
    assert start.idempotency_key == "idem"
    assert start.random_seed != 0


def test_output_then_end_completes_with_the_commands() -> None:
    """Commands are collected; Output and End complete the attempt with them."""
    attempt = _attempt()
    assert attempt.on_message(M.RUN, pb.RunCommandMessage(name="s", result_completion_id=1)) is None
    assert (
        attempt.on_message(
            M.PROPOSE_RUN_COMPLETION,
            pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"7"),
        )
        is None
    )
    assert (
        attempt.on_message(M.OUTPUT, pb.OutputCommandMessage(value=pb.Value(content=b"8"))) is None
    )
    closed = attempt.on_message(M.END, pb.EndMessage())
    assert isinstance(closed, AttemptCompleted)
    assert closed.result == Result(value=b"8")
    assert closed.entries == [RunCommand("s", 1), CompletionNotification(1, Result(value=b"7"))]


def test_end_without_output_is_a_protocol_violation() -> None:
    """An End with no Output fails the attempt with 571 and keeps nothing."""
    closed = _attempt().on_message(M.END, pb.EndMessage())
    assert isinstance(closed, AttemptFailed)
    assert closed.failure.code == 571


def test_waiting_trees() -> None:
    """v5/v6 flat sets and v7 trees become the engine's Waiting, CANCEL always included."""
    flat = waiting_of(pb.SuspensionMessage(waiting_completions=[2], waiting_signals=[17]), 6)
    assert (flat.completion_ids, flat.signal_indexes, flat.all_of) == ((2,), (1, 17), False)
    all_of = pb.SuspensionMessage(
        awaiting_on=pb.Future(waiting_completions=[1, 2], combinator_type=pb.ALL_COMPLETED)
    )
    assert waiting_of(all_of, 7).all_of
    nested = pb.SuspensionMessage(
        awaiting_on=pb.Future(
            waiting_completions=[1],
            combinator_type=pb.ALL_SUCCEEDED_OR_FIRST_FAILED,
            nested_futures=[pb.Future(waiting_signals=[18])],
        )
    )
    tree = waiting_of(nested, 7)
    assert (tree.completion_ids, tree.signal_indexes, tree.all_of) == ((1,), (1, 18), False)


def test_suspending_on_its_own_run_result_goes_straight_on() -> None:
    """A suspension that waits on a run result proposed in the same attempt asks the engine
    for a new attempt at once (known length -1); otherwise it reports the journal it knew."""
    attempt = _attempt()
    attempt.on_message(M.RUN, pb.RunCommandMessage(name="s", result_completion_id=1))
    attempt.on_message(
        M.PROPOSE_RUN_COMPLETION, pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"")
    )
    closed = attempt.on_message(
        M.SUSPENSION, pb.SuspensionMessage(awaiting_on=pb.Future(waiting_completions=[1]))
    )
    assert isinstance(closed, AttemptSuspended)
    assert closed.known_length == -1
    other = _attempt().on_message(
        M.SUSPENSION, pb.SuspensionMessage(awaiting_on=pb.Future(waiting_signals=[17]))
    )
    assert isinstance(other, AttemptSuspended)
    assert other.known_length == 1


def test_error_messages() -> None:
    """ErrorMessage: retried with its delay; 570 keeps no new entries; v7 FAIL ends the
    invocation; a named-signal await suspends on the name."""
    attempt = _attempt()
    attempt.on_message(M.RUN, pb.RunCommandMessage(name="s", result_completion_id=1))
    retried = attempt.on_message(
        M.ERROR, pb.ErrorMessage(code=503, message="busy", next_retry_delay=250)
    )
    assert isinstance(retried, AttemptFailed)
    assert (retried.failure.code, retried.retry_after_ms, len(retried.entries)) == (503, 250, 1)
    mismatch = _attempt()
    mismatch.on_message(M.RUN, pb.RunCommandMessage(name="s", result_completion_id=1))
    failed = mismatch.on_message(M.ERROR, pb.ErrorMessage(code=570, message="mismatch"))
    assert isinstance(failed, AttemptFailed)
    assert failed.entries == []
    final = _attempt().on_message(M.ERROR, pb.ErrorMessage(code=400, behavior=pb.FAIL))
    assert isinstance(final, AttemptCompleted)
    assert final.result.failure is not None
    named = _attempt().on_message(
        M.SUSPENSION, pb.SuspensionMessage(awaiting_on=pb.Future(waiting_named_signals=["x"]))
    )
    assert isinstance(named, AttemptSuspended)  # named signals are supported (protocol v7)
    assert named.waiting.signal_names == ("x",)
