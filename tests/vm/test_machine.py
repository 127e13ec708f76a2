"""The replay machine on its own, without an event loop: journal in, answers and entries out."""

from __future__ import annotations

import pytest

from wakeful.errors import (
    AttemptAbortedException,
    JournalMismatchError,
    ProtocolViolationError,
    SuspendedException,
)
from wakeful.journal.entries import (
    CallCommand,
    CompletionNotification,
    Entry,
    GetStateCommand,
    InputCommand,
    OneWayCallCommand,
    Result,
    RunCommand,
    SetStateCommand,
    SignalNotification,
    SleepCommand,
)
from wakeful.vm.handles import Await, completion_handle, signal_handle
from wakeful.vm.machine import Progress, ReplayMachine, Slot, State

INPUT = InputCommand([], b"")
OK = Result(value=b"1")


def started(*journal: Entry) -> ReplayMachine:
    machine = ReplayMachine("Svc/handler", "inv_test")
    assert machine.state is State.WAITING_START
    machine.start([INPUT, *journal])
    return machine


def call(input: bytes = b'"a"', cid: int = 1, handler: str = "greet") -> CallCommand:
    return CallCommand("Greeter", handler, None, input, [], b"callee", cid)


def test_replays_recorded_commands_then_processes_new_ones() -> None:
    """Replaying while positions are recorded (returning the recorded command), then
    Processing: new commands go to the outbox in position order."""
    machine = started(SleepCommand(1000, 1), CompletionNotification(1, OK))
    assert machine.state is State.REPLAYING
    recorded = machine.command(SleepCommand(5000, 1))
    assert recorded == SleepCommand(1000, 1)  # the recorded wake-up time wins
    assert machine.state is State.PROCESSING
    assert machine.command(RunCommand("a", 2)) is None
    assert machine.command(SetStateCommand("k", b"v")) is None
    assert machine.take_output() == [RunCommand("a", 2), SetStateCommand("k", b"v")]
    assert machine.take_output() == []


def test_fresh_journal_starts_processing() -> None:
    """A journal with only its input has nothing to replay."""
    assert started().state is State.PROCESSING


def test_mismatch_latches_and_every_later_call_raises_it() -> None:
    """After a mismatch the machine is Closed: commands, awaits and the end all raise the same
    error, and nothing more is journaled."""
    machine = started(RunCommand("charge", 1))
    with pytest.raises(JournalMismatchError) as first:
        machine.command(RunCommand("refund", 1))
    assert machine.state is State.CLOSED
    with pytest.raises(JournalMismatchError) as again:
        machine.command(RunCommand("charge", 2))
    assert again.value is first.value
    with pytest.raises(JournalMismatchError):
        machine.do_progress([completion_handle(1)], Await.ANY, may_wait=True)
    with pytest.raises(JournalMismatchError):
        machine.end(OK)
    assert machine.vm_failure is first.value
    assert machine.take_output() == []


def test_mismatch_diff_names_index_and_each_differing_field() -> None:
    """The 570 error shows the index, both commands and one line per differing field."""
    machine = started(call(b'"a"'))
    with pytest.raises(JournalMismatchError) as info:
        machine.command(call(b'"b"', handler="hello"))
    error = info.value
    assert (error.code, error.index) == (570, 1)
    text = str(error)
    assert "Svc/handler (inv_test) at command index 1" in text
    assert "Call(Greeter/greet)" in text
    assert "Call(Greeter/hello)" in text
    assert "handler: recorded 'greet', handler 'hello'" in text
    assert "input: recorded '\"a\"', handler '\"b\"'" in text
    assert error.differences == (
        "handler: recorded 'greet', handler 'hello'",
        "input: recorded '\"a\"', handler '\"b\"'",
    )


@pytest.mark.parametrize(
    ("recorded", "replayed"),
    [
        (SleepCommand(1000, 1), SleepCommand(9999, 1)),  # wake-up time: from the clock
        (GetStateCommand("k", b"stored"), GetStateCommand("k", None)),  # value: from storage
        (
            OneWayCallCommand("S", "h", None, b"", [], b"id1", 1000),
            OneWayCallCommand("S", "h", None, b"", [], b"id2", 2000),
        ),  # start time and derived callee id
    ],
)
def test_fields_the_code_does_not_decide_are_not_compared(recorded: Entry, replayed: Entry) -> None:
    """Clock times, storage answers and derived ids may differ on replay."""
    assert started(recorded).command(replayed) == recorded


@pytest.mark.parametrize(
    ("recorded", "replayed"),
    [
        (RunCommand("a", 1), RunCommand("a", 2)),  # completion ids tie results to futures
        (SetStateCommand("k", b"1"), SetStateCommand("k", b"2")),
        (SleepCommand(1000, 1, "nap"), SleepCommand(1000, 1, "rest")),
        (call(b'"a"'), call(b'"a"', cid=2)),
        (RunCommand("a", 1), SleepCommand(0, 1)),
    ],
)
def test_fields_the_code_decides_are_compared(recorded: Entry, replayed: Entry) -> None:
    """Names, values written, arguments and completion ids must be reproduced."""
    with pytest.raises(JournalMismatchError):
        started(recorded).command(replayed)


def test_returning_while_commands_remain_is_a_mismatch() -> None:
    """A handler that ends before reproducing every recorded command diverged."""
    machine = started(RunCommand("a", 1), CompletionNotification(1, OK))
    with pytest.raises(JournalMismatchError) as info:
        machine.end(OK)
    assert "but the handler did Output" in str(info.value)


def test_journal_without_input_is_a_protocol_violation() -> None:
    """A journal must start with its input command (571)."""
    machine = ReplayMachine("Svc/handler")
    with pytest.raises(ProtocolViolationError) as info:
        machine.start([RunCommand("a", 1)])
    assert info.value.code == 571
    assert machine.state is State.CLOSED


def test_slot_keeps_its_position_and_holds_back_later_entries() -> None:
    """A command whose value comes later blocks the outbox at its position until filled."""
    machine = started()
    slot = machine.command_deferred(GetStateCommand("x", None))
    assert isinstance(slot, Slot)
    machine.command(SetStateCommand("x", b"2"))
    assert machine.take_output() == []
    assert machine.do_progress([completion_handle(5)], Await.ANY, may_wait=False) is (
        Progress.WAIT_OWN
    )
    machine.fill(slot, GetStateCommand("x", b"1"))
    assert machine.take_output() == [GetStateCommand("x", b"1"), SetStateCommand("x", b"2")]


def test_slot_filled_with_another_command_is_a_protocol_violation() -> None:
    """Filling a slot with a command of another name breaks the position: 571, latched."""
    machine = started()
    slot = machine.command_deferred(GetStateCommand("x", None))
    assert isinstance(slot, Slot)
    with pytest.raises(ProtocolViolationError):
        machine.fill(slot, GetStateCommand("y", b"1"))
    with pytest.raises(ProtocolViolationError):
        machine.command(RunCommand("a", 1))


def test_deferred_command_replays_from_the_journal() -> None:
    """Replaying, a deferred command returns the recorded one: no value to wait for."""
    machine = started(GetStateCommand("x", b"1"))
    assert machine.command_deferred(GetStateCommand("x", None)) == GetStateCommand("x", b"1")


def test_progress_consumes_notifications_in_journal_order_first_wins() -> None:
    """Recorded notifications are consumed one by one until the await is satisfied; the first
    completion of a handle is its result."""
    machine = started(
        SignalNotification(18, Result(value=b"b")),
        SignalNotification(17, Result(value=b"a")),
        SignalNotification(17, Result(value=b"late")),
    )
    answer = machine.do_progress([signal_handle(17)], Await.ANY, may_wait=False)
    assert answer is Progress.READY
    assert list(machine.results) == [signal_handle(18), signal_handle(17)]
    assert machine.results[signal_handle(17)] == Result(value=b"a")


def test_progress_answers_flush_wait_and_suspend() -> None:
    """Nothing available: flush the outbox first, then wait (or suspend when it may not)."""
    machine = started()
    machine.command(SleepCommand(1000, 1))
    handles = [completion_handle(1)]
    assert machine.do_progress(handles, Await.ANY, may_wait=True) is Progress.FLUSH
    assert machine.take_output() == [SleepCommand(1000, 1)]
    assert machine.do_progress(handles, Await.ANY, may_wait=True) is Progress.WAIT_OWN
    machine.notify(1, [SleepCommand(1000, 1)])  # the flushed command comes back as durable
    assert machine.do_progress(handles, Await.ANY, may_wait=True) is Progress.WAIT_EXTERNAL
    assert machine.do_progress(handles, Await.ANY, may_wait=False) is Progress.SUSPEND
    assert machine.waiting is not None
    assert machine.waiting.completion_ids == (1,)
    assert machine.waiting.signal_indexes == (1,)  # cancellation can always wake it


def test_running_step_prevents_suspension() -> None:
    """While a step executes, the attempt waits for its result instead of suspending."""
    machine = started()
    machine.command(RunCommand("a", 1))
    machine.step_started(1)
    handles = [completion_handle(1)]
    assert machine.do_progress(handles, Await.ANY, may_wait=False) is Progress.WAIT_OWN
    machine.propose_completion(1, OK)
    entries = machine.take_output()
    assert entries == [RunCommand("a", 1), CompletionNotification(1, OK)]
    machine.notify(1, entries)
    assert machine.do_progress(handles, Await.ANY, may_wait=False) is Progress.READY


def test_all_of_suspension_waits_only_on_the_missing_handles() -> None:
    """gather() suspends on what is still missing, with all_of set."""
    machine = started(CompletionNotification(1, OK))
    handles = [completion_handle(1), completion_handle(2), signal_handle(17)]
    assert machine.do_progress(handles, Await.ALL, may_wait=False) is Progress.SUSPEND
    assert machine.waiting is not None
    assert (machine.waiting.completion_ids, machine.waiting.all_of) == ((2,), True)
    assert machine.waiting.signal_indexes == (1, 17)


def test_suspension_latches() -> None:
    """A handler that swallows its suspension cannot go on: calls and the end raise it again."""
    machine = started()
    assert machine.do_progress([signal_handle(17)], Await.ANY, may_wait=False) is (Progress.SUSPEND)
    with pytest.raises(SuspendedException):
        machine.command(RunCommand("a", 1))
    with pytest.raises(SuspendedException):
        machine.end(OK)


def test_cancellation_is_answered_once() -> None:
    """The CANCEL signal answers CANCELLED once; later awaits proceed normally."""
    machine = started(SignalNotification(1, Result(value=b"")), CompletionNotification(1, OK))
    handles = [completion_handle(1)]
    assert machine.do_progress(handles, Await.ANY, may_wait=False) is Progress.CANCELLED
    assert machine.do_progress(handles, Await.ANY, may_wait=False) is Progress.READY


def test_step_failure_latches() -> None:
    """A step failure (no step retry policy) is raised by every later await."""
    machine = started()
    machine.fail(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        machine.do_progress([completion_handle(1)], Await.ANY, may_wait=True)
    assert machine.vm_failure is None  # not the machine's own failure: retried as a 500


def test_context_used_after_the_end_is_aborted() -> None:
    """A leftover task calling the context after the attempt ended is stopped."""
    machine = started()
    machine.end(OK)
    assert machine.state is State.CLOSED
    with pytest.raises(AttemptAbortedException):
        machine.command(RunCommand("late", 1))


def test_live_entries_already_known_are_skipped() -> None:
    """Entries delivered for positions the loaded journal already had are ignored."""
    machine = started(CompletionNotification(1, Result(value=b"first")))
    machine.notify(0, [INPUT, CompletionNotification(1, Result(value=b"dup"))])
    machine.notify(2, [CompletionNotification(2, OK)])
    handles = [completion_handle(1), completion_handle(2)]
    assert machine.do_progress(handles, Await.ALL, may_wait=False) is Progress.READY
    assert machine.results[completion_handle(1)] == Result(value=b"first")
