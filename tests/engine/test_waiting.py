"""Suspension sets: an invocation wakes only when its await can make progress."""

from __future__ import annotations

from wakeful.engine.model import Waiting


def test_any_of_wakes_on_the_first_awaited_arrival() -> None:
    """A select-like await wakes on any awaited completion or signal, not on others."""
    waiting = Waiting(completion_ids=(3,), signal_indexes=(1, 17))
    assert waiting.progress(None, 18) == (False, waiting)
    assert waiting.progress(None, 17) == (True, waiting)
    assert waiting.progress(3, None) == (True, waiting)


def test_all_of_wakes_only_when_the_last_one_arrives() -> None:
    """A gather-like await stays suspended, one fewer to wait for, until the last arrives."""
    waiting = Waiting(completion_ids=(3,), signal_indexes=(1, 17, 18), all_of=True)
    wake, rest = waiting.progress(None, 17)
    assert not wake
    assert rest == Waiting(completion_ids=(3,), signal_indexes=(1, 18), all_of=True)
    wake, rest = rest.progress(3, None)
    assert not wake
    wake, rest = rest.progress(None, 18)
    assert wake
    assert rest.completion_ids == ()


def test_cancel_always_wakes() -> None:
    """The CANCEL signal wakes any await, all-of included."""
    waiting = Waiting(completion_ids=(3, 4), signal_indexes=(1,), all_of=True)
    assert waiting.progress(None, 1)[0]
