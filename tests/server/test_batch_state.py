"""The leader's BatchState: the engine's view of one batch over cached and freshly loaded rows."""

from __future__ import annotations

import pytest

from wakeful.engine.model import (
    Invocation,
    ObjectKey,
    ObjectRecord,
    PromiseKey,
    PromiseRecord,
    Status,
    Target,
)
from wakeful.engine.state import INBOX_UNKNOWN
from wakeful.journal.entries import Result
from wakeful.journal.ids import InvocationId
from wakeful.partition.leader import BatchState, Loaded

T0 = 1_700_000_000_000
CART: ObjectKey = ("Cart", "user-7")
OTHER: ObjectKey = ("Cart", "user-8")
A = InvocationId(1, 1)
B = InvocationId(2, 2)
C = InvocationId(3, 3)
D = InvocationId(4, 4)


def promise_key(key: ObjectKey, name: str) -> PromiseKey:
    return key[0], key[1], name


def state_with(
    inbox_heads: dict[ObjectKey, tuple[int, InvocationId] | None] | None = None,
    objects: dict[ObjectKey, ObjectRecord | None] | None = None,
    promises: dict[PromiseKey, PromiseRecord | None] | None = None,
) -> BatchState:
    loaded = Loaded()
    loaded.inbox_heads.update(inbox_heads or {})
    loaded.objects.update(objects or {})
    loaded.promises.update(promises or {})
    return BatchState({}, loaded)


# --- inbox heads ---------------------------------------------------------------------------------


def test_inbox_head_is_the_loaded_head_while_it_stays() -> None:
    """The stored head is the head, even after this batch queues more behind it."""
    state = state_with({CART: (3, A)})
    assert state.inbox_head(CART) == (3, A)
    state.inbox_push(CART, 7, B)
    state.inbox_remove(CART, 7)
    state.inbox_push(CART, 8, C)
    assert state.inbox_head(CART) == (3, A)


def test_inbox_head_is_unknown_once_the_loaded_head_was_removed() -> None:
    """After removing the stored head, the next stored entry was never loaded: INBOX_UNKNOWN."""
    state = state_with({CART: (3, A)})
    state.inbox_push(CART, 9, B)  # a push does not reveal stored entries between 3 and 9
    state.inbox_remove(CART, 3)
    assert state.inbox_head(CART) is INBOX_UNKNOWN


def test_inbox_head_of_a_key_that_was_not_loaded_is_unknown() -> None:
    """A key whose head was not loaded this batch is INBOX_UNKNOWN, never 'empty'."""
    state = state_with({CART: None})
    state.inbox_push(OTHER, 0, A)
    assert state.inbox_head(OTHER) is INBOX_UNKNOWN


def test_inbox_head_of_an_empty_stored_inbox_is_the_smallest_pushed_one_left() -> None:
    """With nothing stored, the head is the lowest seq pushed in this batch and not removed."""
    state = state_with({CART: None, OTHER: None})
    assert state.inbox_head(CART) is None
    state.inbox_push(CART, 5, C)
    state.inbox_push(CART, 4, B)
    state.inbox_push(OTHER, 1, D)  # another key's entries never count
    assert state.inbox_head(CART) == (4, B)
    state.inbox_remove(CART, 4)
    assert state.inbox_head(CART) == (5, C)
    state.inbox_remove(CART, 5)
    assert state.inbox_head(CART) is None
    assert state.inbox_head(OTHER) == (1, D)


# --- state ---------------------------------------------------------------------------------------


def test_clear_state_drops_pending_sets_of_that_key_only() -> None:
    """clear_state forgets this batch's earlier sets of the key; later sets and other keys stay."""
    state = state_with()
    state.set_state(CART, "a", b"1")
    state.set_state(CART, "b", None)
    state.set_state(OTHER, "a", b"x")
    state.clear_state(CART)
    state.set_state(CART, "c", b"3")
    assert state.batch.state_cleared == {CART}
    assert state.batch.state_set == {(OTHER, "a"): b"x", (CART, "c"): b"3"}


# --- promises ------------------------------------------------------------------------------------


def test_promise_after_clear_promises_is_none() -> None:
    """Once a key's promises are cleared, its loaded and pending promises read as None."""
    loaded = PromiseRecord(result=Result(value=b"v"))
    state = state_with(promises={promise_key(CART, "p"): loaded, promise_key(OTHER, "p"): loaded})
    state.put_promise(promise_key(CART, "q"), PromiseRecord(listeners=[(A.to_bytes(), 1)]))
    assert state.promise(promise_key(CART, "p")) == loaded
    state.clear_promises(CART)
    assert state.promise(promise_key(CART, "p")) is None
    assert state.promise(promise_key(CART, "q")) is None
    assert state.promise(promise_key(CART, "never-loaded")) is None
    assert state.promise(promise_key(OTHER, "p")) == loaded
    assert state.batch.promises == {}
    fresh = PromiseRecord(result=Result(value=b"new"))
    state.put_promise(promise_key(CART, "p"), fresh)  # a put after the clear counts
    assert state.promise(promise_key(CART, "p")) == fresh


# --- loading bugs surface ------------------------------------------------------------------------


def test_object_that_was_not_loaded_raises() -> None:
    """Reading a lock record nobody loaded is a loading bug: AssertionError, not None."""
    state = state_with(objects={CART: None})
    assert state.object(CART) is None  # loaded, and absent from storage
    with pytest.raises(AssertionError, match="was not loaded"):
        state.object(OTHER)
    record = ObjectRecord(locked_by=A.to_bytes())
    state.put_object(OTHER, record)
    assert state.object(OTHER) is record  # written in this batch: no load needed


def test_promise_that_was_not_loaded_raises() -> None:
    """Reading a promise nobody loaded is a loading bug: AssertionError, not None."""
    state = state_with(promises={promise_key(CART, "p"): None})
    assert state.promise(promise_key(CART, "p")) is None
    with pytest.raises(AssertionError, match="was not loaded"):
        state.promise(promise_key(CART, "q"))


# --- invocations ---------------------------------------------------------------------------------


def test_invocation_prefers_the_batch_then_the_cache_then_loaded_rows() -> None:
    """Batch writes shadow cached and loaded records; a deletion hides the cached one."""
    cached = Invocation(Target("Cart", "add", "user-7"), Status.RUNNING, T0, T0)
    loaded = Invocation(Target("Cart", "add", "user-7"), Status.SUSPENDED, T0, T0)
    state = BatchState({A: cached}, Loaded())
    state.loaded.invocations[B] = loaded
    assert state.invocation(A) == cached
    assert state.invocation(B) is loaded
    assert state.invocation(C) is None
    newer = Invocation(Target("Cart", "add", "user-7"), Status.COMPLETED, T0, T0 + 1)
    state.put_invocation(B, newer)
    assert state.invocation(B) is newer
    state.delete_invocation(A)
    assert state.invocation(A) is None


def test_cached_invocation_is_copied_on_first_touch() -> None:
    """The engine changes the record it reads; the cached one stays as committed."""
    cached = Invocation(Target("Cart", "add", "user-7"), Status.RUNNING, T0, T0)
    state = BatchState({A: cached}, Loaded())
    touched = state.invocation(A)
    assert touched is not None
    assert touched is not cached
    assert state.invocation(A) is touched  # one copy per batch: changes are seen by later reads
    touched.status = Status.SUSPENDED
    touched.callers.append((B.to_bytes(), 3))
    touched.children.append(C.to_bytes())
    assert cached.status == Status.RUNNING
    assert cached.callers == []
    assert cached.children == []
