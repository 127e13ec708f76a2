"""Completing awakeables from outside, checked at the edge before anything is stored.

```
id ──parse──► index < 17? 400 ──► wait row (schema) ──validate──► 400, stays pending
   ──► DeliverSignal ──► applied | duplicate | conflict | unknown | closed | never created (404)
```

Every answer names what happened in `x-wakeful-completion`; the status stays Restate's 202
unless the request asks `?strict=true` (200 applied/duplicate, 409 conflict with the stored
outcome, 404 unknown, 410 closed). An index the invocation never created is refused with 404
in both modes: completing it could only be a forgery (index 1 would cancel the invocation).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wakeful.engine.events import Attach, CompletePromise, DeliverSignal
from wakeful.engine.waits import Delivery, SignalOutcome, WaitKind, WaitRow
from wakeful.errors import InvalidIdError
from wakeful.journal.entries import Result
from wakeful.journal.ids import (
    FIRST_AWAKEABLE_SIGNAL,
    AwakeableId,
    AwakeableRef,
    parse_awakeable_id,
)
from wakeful.server.http import HttpError, Send, send_bytes, send_json
from wakeful.server.runtime import Runtime

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "COMPLETION_HEADER",
    "Completed",
    "complete_awakeable",
    "complete_promise",
    "complete_wait",
    "find_wait",
    "is_promise_id",
    "parse_awakeable",
    "rfc3339",
    "send_completion",
    "validate_payload",
]

COMPLETION_HEADER = b"x-wakeful-completion"


@dataclass(frozen=True, slots=True)
class Completed:
    """What a completion did, with the stored completion when one was there before."""

    awakeable_id: str
    delivery: Delivery
    completed_at_ms: int | None = None
    stored: Result | None = None


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 (UTC, millisecond precision)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def parse_awakeable(awakeable_id: str) -> AwakeableRef:
    """Parse an awakeable id; 400 for a malformed one or a built-in signal index."""
    try:
        ref = parse_awakeable_id(awakeable_id)
    except InvalidIdError as e:
        raise HttpError(400, f"bad awakeable id '{awakeable_id}': {e}") from e
    if ref.index < FIRST_AWAKEABLE_SIGNAL:
        raise HttpError(
            400,
            f"bad awakeable id '{awakeable_id}': signal index {ref.index} is not an awakeable "
            f"(indexes below {FIRST_AWAKEABLE_SIGNAL} are built-in signals; 1 cancels)",
        )
    return ref


@functools.lru_cache(maxsize=512)
def _validator(schema: bytes) -> Validator:
    # Imported on the first validation: jsonschema takes 0.3 s to import, too long for
    # every server start.
    import jsonschema

    document = json.loads(schema)
    cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft202012Validator)
    return cls(document)


def validate_payload(schema: bytes, body: bytes) -> None:
    """400 naming the problem when `body` is not JSON of the schema (an empty body is null)."""
    try:
        value: Any = json.loads(body) if body.strip() else None
    except ValueError as e:
        raise HttpError(400, f"the payload is not JSON: {e}") from e
    from jsonschema.exceptions import best_match

    error = best_match(_validator(schema).iter_errors(value))
    if error is not None:
        where = "".join(f"[{p!r}]" for p in error.absolute_path) or "the payload"
        raise HttpError(
            400, f"the payload does not match the awaited type: {where}: {error.message}"
        )


async def load_wait(runtime: Runtime, ref: AwakeableRef, awakeable_id: str) -> WaitRow | None:
    """The awakeable's wait row. A handler journals an awakeable before its id can leave it,
    but the batch may still be committing: when the row is missing, wait for the events
    queued before this request to commit, then look again."""
    row = await runtime.store.load_wait(awakeable_id)
    if row is None:
        await runtime.router.submit(Attach(ref.invocation_id))
        row = await runtime.store.load_wait(awakeable_id)
    return row


async def complete_awakeable(
    runtime: Runtime, awakeable_id: str, result: Result, now_ms: int
) -> Completed:
    """Validate and deliver one completion; 400 for a bad id or a payload of the wrong type."""
    ref = parse_awakeable(awakeable_id)
    canonical = str(AwakeableId(ref.invocation_id, ref.index))
    row = await load_wait(runtime, ref, canonical)
    if row is not None and row.schema is not None and result.failure is None:
        validate_payload(row.schema, result.value or b"")
    outcome = await runtime.router.submit(
        DeliverSignal(ref.invocation_id, ref.index, result, now_ms)
    )
    assert isinstance(outcome, SignalOutcome)
    stored = None
    if outcome.delivery in (Delivery.CONFLICT, Delivery.DUPLICATE):
        done = await runtime.store.load_wait(canonical)
        stored = None if done is None else done.result
    return Completed(canonical, outcome.delivery, outcome.completed_at_ms, stored)


def is_promise_id(wait_id: str) -> bool:
    """True for a promise's wait id (`Workflow/key/name`), False for an awakeable id."""
    return "/" in wait_id


async def complete_promise(
    runtime: Runtime, wait_id: str, result: Result, now_ms: int
) -> Completed:
    """Validate and deliver the completion of an awaited workflow promise `Workflow/key/name`
    (a name or key with a `/` in it cannot be told apart; such promises have no links)."""
    row = await runtime.store.load_wait(wait_id)
    if row is None or row.kind != WaitKind.PROMISE:
        return Completed(wait_id, Delivery.NOT_CREATED)
    if row.schema is not None and result.failure is None:
        validate_payload(row.schema, result.value or b"")
    workflow, _, rest = wait_id.partition("/")
    key, _, name = rest.rpartition("/")
    outcome = await runtime.router.submit(CompletePromise(workflow, key, name, result, now_ms))
    assert isinstance(outcome, SignalOutcome)
    if outcome.delivery in (Delivery.CONFLICT, Delivery.DUPLICATE):
        done = await runtime.store.load_wait(wait_id)
        at = None if done is None else done.completed_at_ms
        return Completed(wait_id, outcome.delivery, at, None if done is None else done.result)
    return Completed(wait_id, outcome.delivery, outcome.completed_at_ms)


async def find_wait(runtime: Runtime, wait_id: str) -> WaitRow | None:
    """The wait row of an awakeable id (400 if malformed) or of a promise `Workflow/key/name`."""
    if is_promise_id(wait_id):
        return await runtime.store.load_wait(wait_id)
    ref = parse_awakeable(wait_id)
    return await load_wait(runtime, ref, str(AwakeableId(ref.invocation_id, ref.index)))


async def complete_wait(runtime: Runtime, wait_id: str, result: Result, now_ms: int) -> Completed:
    """Complete an awakeable or an awaited promise, whichever `wait_id` names."""
    if is_promise_id(wait_id):
        return await complete_promise(runtime, wait_id, result, now_ms)
    return await complete_awakeable(runtime, wait_id, result, now_ms)


def outcome_json(result: Result | None) -> dict[str, Any] | None:
    """A stored completion as JSON: `{"value": …}` (JSON when it parses) or `{"failure": …}`."""
    if result is None:
        return None
    if result.failure is not None:
        return {"failure": {"code": result.failure.code, "message": result.failure.message}}
    raw = result.value or b""
    try:
        return {"value": json.loads(raw) if raw else None}
    except ValueError:
        return {"value": raw.decode("utf-8", errors="replace")}


async def send_completion(send: Send, done: Completed, strict: bool) -> None:
    """Answer a completion request (see the module docstring for the statuses)."""
    label = "unknown" if done.delivery is Delivery.NOT_CREATED else done.delivery.value
    headers = [(COMPLETION_HEADER, label.encode())]
    if done.delivery is Delivery.NOT_CREATED:
        message = f"awakeable '{done.awakeable_id}' was never created by its invocation"
        body = {"code": 404, "message": message, "completion": label}
        await send_json(send, 404, body, headers)
        return
    if not strict:
        await send_bytes(send, 202, b"", headers)
        return
    at = None if done.completed_at_ms is None else rfc3339(done.completed_at_ms)
    status, message = {
        Delivery.APPLIED: (200, "completed"),
        Delivery.DUPLICATE: (200, f"already completed at {at} with the same outcome"),
        Delivery.CONFLICT: (409, f"already completed at {at} with another outcome"),
        Delivery.UNKNOWN: (404, "no such invocation: it never existed or was purged"),
        Delivery.CLOSED: (410, "the invocation has ended: nobody waits for this awakeable"),
    }[done.delivery]
    payload: dict[str, Any] = {"code": status, "message": message, "completion": label}
    if at is not None:
        payload["completed_at"] = at
    if done.delivery is Delivery.CONFLICT:
        payload["outcome"] = outcome_json(done.stored)
    await send_json(send, status, payload, headers)
