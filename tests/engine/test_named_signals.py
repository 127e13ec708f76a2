"""Named signals in the engine: buffered in the journal before anyone awaits them, the first
completion of a name wins, a suspension waiting on a name wakes on it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from tests.engine.test_machine import IID, T0, TARGET, Harness, ok

from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.engine.events import AppendEntries, AttemptSuspended, DeliverSignal, Invoke
from wakeful.engine.model import Status, Waiting
from wakeful.engine.waits import Delivery, SignalOutcome
from wakeful.journal.entries import Failure, Result, SendSignalCommand, SignalNotification

OTHER = IID._replace(uuid=IID.uuid + 1)


def _suspend_on(h: Harness, *names: str, all_of: bool = False) -> None:
    inv = h.inv()
    waiting = Waiting(signal_indexes=(1,), all_of=all_of, signal_names=names)
    h.apply(AttemptSuspended(IID, inv.attempt, [], waiting, inv.journal_length, T0))


def test_a_named_signal_before_the_await_is_buffered_in_the_journal() -> None:
    """A running invocation gets the named signal journaled and forwarded at once."""
    h = Harness()
    h.invoke()
    applied = h.apply(DeliverSignal(IID, 0, ok(b"yes"), T0 + 1, "approved"))
    notification = SignalNotification(0, ok(b"yes"), "approved")
    assert applied.outcome == SignalOutcome(Delivery.APPLIED, T0 + 1)
    assert applied.effects == [EntriesAppended(IID, 1, 1, [notification])]
    assert h.journal()[-1] == notification


def test_a_suspension_waiting_on_a_name_wakes_on_that_name_only() -> None:
    """Another name is journaled without waking; the awaited name starts a new attempt."""
    h = Harness()
    h.invoke()
    _suspend_on(h, "approved")
    assert h.apply(DeliverSignal(IID, 0, ok(b"x"), T0 + 1, "other")).effects == []
    assert h.inv().status == Status.SUSPENDED
    woken = h.apply(DeliverSignal(IID, 0, ok(b"yes"), T0 + 2, "approved"))
    assert woken.effects == [StartAttempt(IID, 2, h.inv().target)]


def test_all_of_waits_for_every_name() -> None:
    """A gather over two named signals wakes when the second one arrives."""
    h = Harness()
    h.invoke()
    _suspend_on(h, "a", "b", all_of=True)
    assert h.apply(DeliverSignal(IID, 0, ok(), T0 + 1, "a")).effects == []
    assert h.inv().waiting == Waiting((), (1,), True, ("b",))
    assert h.apply(DeliverSignal(IID, 0, ok(), T0 + 2, "b")).effects != []


def test_the_first_completion_of_a_name_wins() -> None:
    """A second completion of the same name is not journaled: a duplicate with the same
    result, a conflict with another, both naming when the first one was made."""
    h = Harness()
    h.invoke()
    first = h.apply(DeliverSignal(IID, 0, ok(b"first"), T0 + 1, "n"))
    assert first.outcome == SignalOutcome(Delivery.APPLIED, T0 + 1)
    again = h.apply(DeliverSignal(IID, 0, ok(b"first"), T0 + 2, "n"))
    assert again.outcome == SignalOutcome(Delivery.DUPLICATE, T0 + 1)
    rejected = Result(failure=Failure(409, "late"))
    second = h.apply(DeliverSignal(IID, 0, rejected, T0 + 3, "n"))
    assert second.outcome == SignalOutcome(Delivery.CONFLICT, T0 + 1)
    assert second.effects == []
    assert [e for e in h.journal() if isinstance(e, SignalNotification)] == [
        SignalNotification(0, ok(b"first"), "n")
    ]


def test_send_signal_command_by_name_delivers_to_the_target() -> None:
    """ctx.resolve_signal journals a SendSignalCommand by name; the engine delivers it."""
    h = Harness()
    h.invoke()
    h.invoke(iid=OTHER)
    command = SendSignalCommand(IID.to_bytes(), 0, ok(b"v"), "go")
    applied = h.apply(AppendEntries(OTHER, 1, [command], T0 + 1))
    assert applied.follow_ups == [DeliverSignal(IID, 0, ok(b"v"), T0 + 1, "go")]
    h.apply(applied.follow_ups[0])
    assert SignalNotification(0, ok(b"v"), "go") in h.journal()


def test_a_named_signal_reaches_an_invocation_that_has_not_started() -> None:
    """A delayed (scheduled) invocation gets its named signal journaled, to find it when it
    starts; an awakeable-style signal by index is still dropped there."""
    h = Harness()
    h.apply(Invoke(IID, TARGET, b"in", [], T0, invoke_at_ms=T0 + 60_000))
    assert h.inv().status == Status.SCHEDULED
    early = h.apply(DeliverSignal(IID, 0, ok(b"early"), T0 + 1, "go"))
    assert early.outcome == SignalOutcome(Delivery.APPLIED, T0 + 1)
    assert h.apply(DeliverSignal(IID, 17, ok(b"x"), T0 + 2)).effects == []
    assert h.journal()[1:] == [SignalNotification(0, ok(b"early"), "go")]
    assert h.inv().status == Status.SCHEDULED


@given(
    names=st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True),
    arrivals=st.lists(st.sampled_from("abcdef"), max_size=12),
    all_of=st.booleans(),
)
def test_waiting_on_names_wakes_exactly_when_the_await_is_satisfied(
    names: list[str], arrivals: list[str], all_of: bool
) -> None:
    """Whatever names arrive, in any order and repeated: an any-of wait wakes on the first
    awaited name, an all-of wait on the arrival that completes the set, never before."""
    waiting = Waiting(signal_indexes=(1,), all_of=all_of, signal_names=tuple(names))
    seen: set[str] = set()
    for name in arrivals:
        wake, rest = waiting.progress(None, 0, name)
        seen.add(name)
        expected = bool(seen & set(names)) if not all_of else set(names) <= seen
        assert wake == expected
        if wake:
            return
        waiting = rest
