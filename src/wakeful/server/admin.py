"""The admin API (port 9070): health, deployments and services, invocations (list, describe,
operate), state, metrics, pending awakeables and promises, completion links, the inbox page."""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import parse_qs, unquote

from wakeful.engine.events import Cancel, Kill, Purge, ResumeInvocation
from wakeful.engine.model import Invocation, Status
from wakeful.engine.waits import promise_wait_id
from wakeful.errors import EngineUnavailableError, InvalidIdError
from wakeful.journal.entries import Entry, Result, describe
from wakeful.journal.ids import InvocationId
from wakeful.observe.exposition import CONTENT_TYPE, render_metrics
from wakeful.server.auth import check_bearer
from wakeful.server.deployments_api import DeploymentsApi
from wakeful.server.http import (
    HttpError,
    Receive,
    Scope,
    Send,
    check_headers,
    lifespan,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from wakeful.server.inbox import Inbox
from wakeful.server.links_api import LinkIssuer
from wakeful.server.runtime import Runtime
from wakeful.server.waits_api import WaitsApi
from wakeful.storage.api import SINGLE_PARTITION

__all__ = ["AdminApp"]

MAX_LIST_LIMIT = 100_000
DEFAULT_LIST_LIMIT = 100


class AdminApp:
    """ASGI application of the admin API."""

    def __init__(
        self,
        runtime: Runtime,
        admin_token: str | None = None,
        links: LinkIssuer | None = None,
    ) -> None:
        self.runtime = runtime
        self.admin_token = admin_token
        self.waits = WaitsApi(runtime)
        self.links = links
        self.inbox = Inbox(runtime)
        self.deployments = DeploymentsApi(runtime.deployments)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            check_headers(scope)
            token = self.admin_token
            if (
                token is not None
                and scope["path"] != "/health"
                and not _inbox_page_with_token(scope, token)
            ):
                check_bearer(scope, token, "the admin API")
            await self._route(scope, receive, send)
        except HttpError as e:
            await send_json(send, e.status, {"message": e.message})
        except EngineUnavailableError as e:
            await send_json(send, 503, {"message": str(e)})
        except Exception as e:  # pragma: no cover - last resort, keeps the JSON contract
            await send_error(send, HttpError(500, f"internal error: {e}", "admin"))

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = [unquote(p) for p in scope["path"].strip("/").split("/") if p]
        method = scope["method"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if await self.deployments.route(parts, method, query, receive, send):
            return
        match parts:
            case ["health"]:
                problem = self.runtime.health()
                if problem is None:
                    await send_json(send, 200, {})
                else:
                    await send_json(send, 503, {"message": problem})
            case ["metrics"] if method == "GET":
                runtime = self.runtime
                body = await render_metrics(
                    runtime.observer, runtime.store, runtime.invoker.running
                )
                await send_bytes(send, 200, body, content_type=CONTENT_TYPE)
            case ["invocations"] if method == "GET":
                await send_json(send, 200, await self._list(query))
            case ["invocations", iid] if method == "GET":
                await send_json(send, 200, await self._describe(_parse(iid)))
            case ["invocations", iid, "resume"] if method == "PATCH":
                await self._resume(_parse(iid), send)
            case ["invocations", iid, "cancel" | "kill" | "purge" as op] if method == "PATCH":
                await self._terminate(_parse(iid), op, send)
            case ["invocations", iid] if method == "DELETE":
                mode = query.get("mode", ["cancel"])[0]
                if mode not in ("cancel", "kill", "purge"):
                    raise HttpError(400, f"unknown mode {mode!r}: use cancel, kill or purge")
                await self._terminate(_parse(iid), mode, send, deprecated=True)
            case ["state", service, key] if method == "GET":
                await send_json(send, 200, await self._state(service, key))
            case ["inbox", *rest]:
                await self.inbox.handle(rest, method, scope, receive, send)
            case ["awakeables", awakeable_id, "links"] if method == "POST":
                if self.links is None:
                    raise HttpError(404, "completion links are not enabled")
                body = await read_body(receive, 1 << 16)
                await send_json(send, 200, await self.links.issue(awakeable_id, body))
            case ["promises", workflow, key, name, "links"] if method == "POST":
                if self.links is None:
                    raise HttpError(404, "completion links are not enabled")
                body = await read_body(receive, 1 << 16)
                wait_id = promise_wait_id(workflow, key, name)
                await send_json(send, 200, await self.links.issue(wait_id, body))
            case ["awakeables" | "promises" as kind] if method == "GET":
                await send_json(send, 200, await self.waits.page(kind, query))
            case [
                "services"
                | "invocations"
                | "health"
                | "deployments"
                | "awakeables"
                | "promises"
                | "state"
                | "metrics",
                *_,
            ]:
                raise HttpError(405, "method not allowed")
            case _:
                raise HttpError(404, "not found")

    async def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        status = None
        if "status" in query:
            label = query["status"][0]
            matching = [s for s in Status if s.label == label]
            if not matching:
                labels = ", ".join(s.label for s in Status)
                raise HttpError(400, f"unknown status {label!r}: use one of {labels}")
            status = int(matching[0])
        limit = _limit(query)
        since = _int_param(query, "since", 0, 0, 2**63 - 1)
        service = query.get("service", [None])[0]
        filtered = service is not None or since > 0
        # The store has no index by service or creation time: with a filter, scan a bounded
        # number of rows and filter them here.
        rows = await self.runtime.store.list_invocations(
            status, MAX_LIST_LIMIT if filtered else limit
        )
        picked = [
            r
            for r in rows
            if (service is None or r.invocation.target.service == service)
            and r.invocation.created_at_ms >= since
        ]
        picked.sort(key=lambda r: r.invocation.created_at_ms, reverse=True)
        return {"invocations": [_summary(r.invocation_id, r.invocation) for r in picked[:limit]]}

    async def _state(self, service: str, key: str) -> dict[str, Any]:
        found = self.runtime.registry.service(service)
        if found is None:
            raise HttpError(404, f"no service named {service!r}")
        if not found.keyed:
            raise HttpError(400, f"{service} is a service: only objects and workflows have state")
        values = await self.runtime.store.load_state(SINGLE_PARTITION, (service, key))
        entries: list[dict[str, Any]] = []
        for name in sorted(values):
            raw = values[name]
            entry: dict[str, Any] = {"name": name, "size": len(raw)}
            try:
                entry["value"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                entry["value"] = None
                entry["value_base64"] = base64.b64encode(raw).decode("ascii")
            entries.append(entry)
        return {"service": service, "key": key, "state": entries}

    async def _describe(self, iid: InvocationId) -> dict[str, Any]:
        found = await self.runtime.store.load_invocations(SINGLE_PARTITION, [iid])
        if iid not in found:
            raise HttpError(404, "invocation not found")
        journal = await self.runtime.store.load_journal(SINGLE_PARTITION, iid)
        out = _summary(iid, found[iid])
        out["journal"] = [_entry(i, e) for i, e in enumerate(journal)]
        out["awakeables"] = await self.waits.of_invocation(iid)
        return out

    async def _terminate(
        self, iid: InvocationId, op: str, send: Send, deprecated: bool = False
    ) -> None:
        now = self.runtime.clock.now_ms()
        event: Cancel | Kill | Purge
        if op == "cancel":
            event = Cancel(iid, now)
        elif op == "kill":
            event = Kill(iid, now)
        else:
            event = Purge(iid, now)
        outcome = await self.runtime.router.submit(event)
        status = getattr(outcome, "status", None)
        if status is None:
            raise HttpError(404, "invocation not found")
        if op == "purge":
            if status != Status.COMPLETED:
                raise HttpError(409, "the invocation is not completed yet, it cannot be purged")
        elif status == Status.COMPLETED:
            raise HttpError(409, _ALREADY_COMPLETED)
        # Restate: 200 when done at once (queued, scheduled, killed), 202 when a running
        # handler still has to see the cancellation.
        running = status in (Status.RUNNING, Status.SUSPENDED, Status.BACKING_OFF, Status.PAUSED)
        code = 202 if deprecated or (op == "cancel" and running) else 200
        await send_json(send, code, {"invocationId": str(iid)})

    async def _resume(self, iid: InvocationId, send: Send) -> None:
        outcome = await self.runtime.router.submit(
            ResumeInvocation(iid, self.runtime.clock.now_ms())
        )
        status = getattr(outcome, "status", None)
        if status is None:
            raise HttpError(404, "invocation not found")
        if status != Status.PAUSED:
            raise HttpError(409, f"the invocation is {status.label}, only paused ones resume")
        await send_json(send, 200, {"invocationId": str(iid), "status": "running"})


_ALREADY_COMPLETED = (
    "The invocation was already completed, so it cannot be cancelled nor killed. "
    "You can instead purge the invocation, in order for restate to forget it."
)


def _limit(query: dict[str, list[str]]) -> int:
    """The `limit` query parameter: a whole number from 1 to MAX_LIST_LIMIT."""
    if "limit" not in query:
        return DEFAULT_LIST_LIMIT
    text = query["limit"][0].strip()
    if (
        not (text.isascii() and text.isdigit())
        or len(text) > 9
        or not 1 <= int(text) <= MAX_LIST_LIMIT
    ):
        raise HttpError(
            400, f"bad limit {text[:40]!r}: must be a whole number from 1 to {MAX_LIST_LIMIT}"
        )
    return int(text)


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    if name not in query:
        return default
    text = query[name][0]
    try:
        value = int(text)
    except ValueError:
        raise HttpError(400, f"{name} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise HttpError(400, f"{name} must be between {low} and {high}, not {value}")
    return value


def _inbox_page_with_token(scope: Scope, token: str) -> bool:
    """The inbox page itself may carry the admin token as `?token=` (a browser cannot add a
    header to a link it opens); its requests then send it as a bearer token."""
    if scope["path"] not in ("/inbox", "/inbox/") or scope["method"] != "GET":
        return False
    given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
    return hmac.compare_digest(given.encode(), token.encode())


def _parse(text: str) -> InvocationId:
    try:
        return InvocationId.parse(text)
    except InvalidIdError as e:
        raise HttpError(400, f"bad invocation id '{text}': {e}") from e


def _result(result: Result | None) -> dict[str, Any] | None:
    if result is None:
        return None
    if result.failure is not None:
        return {"failure": {"code": result.failure.code, "message": result.failure.message}}
    return {"value": (result.value or b"").decode("utf-8", errors="replace")}


def _summary(iid: InvocationId, inv: Invocation) -> dict[str, Any]:
    return {
        "id": str(iid),
        "target": str(inv.target),
        "scope": inv.target.scope,
        "limit_key": inv.target.limit_key,
        "status": inv.status.label,
        "created_at_ms": inv.created_at_ms,
        "modified_at_ms": inv.modified_at_ms,
        "attempt": inv.attempt,
        "retry_count": inv.retry_count,
        "idempotency_key": inv.idempotency_key,
        "journal_length": inv.journal_length,
        "last_failure": None
        if inv.last_failure is None
        else {"code": inv.last_failure.code, "message": inv.last_failure.message},
        "result": _result(inv.result),
        "expires_at_ms": inv.expires_at_ms,
    }


def _entry(index: int, entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index, "entry": describe(entry)}
    result = getattr(entry, "result", None)
    if isinstance(result, Result):
        out["result"] = _result(result)
    return out
