"""The ingress API (port 8080): Restate's paths, headers, status codes and error bodies.

```
GET|POST /{service}/{handler}[/send]              call (waits) / send (202)
GET|POST /restate/call|send/{service}/{handler}   the same, 1.7 paths
POST     /restate/awakeables/{id}/resolve|reject  complete an awakeable (also /restate/a/…)
GET      /restate/invocation/{id}/attach|output   result of an invocation (also by idempotency key)
GET      /restate/attach|output/{id}              the same, 1.7 paths
GET|POST /restate/links/{token}                   a signed completion link's page (wakeful)
GET      /restate/health
```
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote

from wakeful.engine.events import Attach, DeliverSignal, Invoke, InvokeOutcome, LookupOutcome
from wakeful.engine.model import HandlerKind, Status, Target
from wakeful.engine.waits import SignalOutcome
from wakeful.errors import EngineUnavailableError, InvalidIdError
from wakeful.journal.entries import Failure, Result
from wakeful.journal.ids import InvocationId, parse_awakeable_id, partition_key_for
from wakeful.journal.limits import latest_time_error
from wakeful.journal.scopes import (
    SCOPE_SEPARATOR,
    check_limit_key,
    check_scope,
    scoped_key,
    split_key,
)
from wakeful.links import LinkSigner
from wakeful.observe import tracing
from wakeful.partition.leader import Finished
from wakeful.registry import IN_PROCESS, HandlerRecord
from wakeful.server.auth import check_bearer
from wakeful.server.completions import (
    Completed,
    complete_awakeable,
    parse_awakeable,
    send_completion,
)
from wakeful.server.durations import parse_duration_ms
from wakeful.server.http import (
    HttpError,
    Receive,
    Scope,
    Send,
    check_headers,
    lifespan,
    read_body,
    request_headers,
    send_bytes,
    send_error,
    send_json,
)
from wakeful.server.link_pages import LinkPages
from wakeful.server.runtime import Runtime
from wakeful.storage.api import SINGLE_PARTITION

__all__ = ["IngressApp"]

log = logging.getLogger(__name__)

DEFAULT_BODY_LIMIT = 32 * 1024 * 1024
MAX_IDEMPOTENCY_KEY = 1024  # characters; the key is hashed into the id and stored
# A request waiting for a result starts watching for its client going away only after this
# long: short waits pay nothing for it, and long ones (a person's approval) whose clients gave
# up do not pile up until the invocation ends.
DISCONNECT_CHECK_AFTER_S = 5.0

_NOT_FORWARDED = frozenset({"connection", "host", "idempotency-key", "idempotency-expires"})
_BAD_SIGNAL_PATH = "bad path, expected /restate/invocation/:id/signals/:name/resolve or .../reject"
_BAD_SERVICE_PATH = (
    "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"
)
_BAD_AWAKEABLE_PATH = (
    "bad path, expected either /restate/awakeables/:id/resolve or /restate/awakeables/:id/reject"
)
_NO_OUTPUT = "the invocation exists but has not completed yet"


def _method_not_allowed() -> HttpError:
    return HttpError(405, "method not allowed")


class IngressApp:
    """ASGI application of the ingress API."""

    def __init__(
        self,
        runtime: Runtime,
        body_limit: int = DEFAULT_BODY_LIMIT,
        disconnect_check_after_s: float = DISCONNECT_CHECK_AFTER_S,
        completion_token: str | None = None,
        link_signer: LinkSigner | None = None,
    ) -> None:
        self.runtime = runtime
        self.completion_token = completion_token
        self.links = None if link_signer is None else LinkPages(runtime, link_signer)
        self.registry = runtime.registry
        self.router = runtime.router
        self.clock = runtime.clock
        self.body_limit = body_limit
        self.disconnect_check_after_s = disconnect_check_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            check_headers(scope)
            await self._route(scope, receive, send)
        except _ClientGone:
            return  # nobody to answer
        except _InvocationFailure as e:
            await send_error(send, e, [(b"x-restate-id", str(e.iid).encode())])
        except HttpError as e:
            await send_error(send, e)
        except EngineUnavailableError as e:
            await send_error(send, HttpError(503, str(e)))
        except Exception as e:  # a bug: a JSON 500, never plain text
            log.exception("ingress request failed")
            await send_error(send, HttpError(500, f"internal error: {type(e).__name__}: {e}"))

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw.split(b"?", 1)[0].decode("latin-1")
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        method: str = scope["method"]
        if parts and parts[0] == "restate":
            await self._restate_api(parts[1:], method, scope, receive, send)
        elif len(parts) < 2:
            raise HttpError(400, f"bad path: {path}")
        else:
            await self._service(parts, method, scope, receive, send)

    # -- /restate/… ------------------------------------------------------------------------

    async def _restate_api(
        self, parts: list[str], method: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        verb = parts[0] if parts else ""
        if verb in ("awakeables", "a"):
            if len(parts) != 3 or parts[2] not in ("resolve", "reject"):
                raise HttpError(400, _BAD_AWAKEABLE_PATH)
            if method != "POST":
                raise _method_not_allowed()
            await self._complete_awakeable(parts[1], parts[2], scope, receive, send)
        elif verb == "links" and len(parts) == 2 and self.links is not None:
            await self.links.handle(parts[1], method, scope, receive, send)
        elif verb == "invocation" and len(parts) == 5 and parts[2] == "signals":
            if parts[4] not in ("resolve", "reject"):
                raise HttpError(400, _BAD_SIGNAL_PATH)
            if method != "POST":
                raise _method_not_allowed()
            await self._complete_signal(parts[1], parts[3], parts[4], scope, receive, send)
        elif verb == "invocation":
            if method != "GET":
                raise _method_not_allowed()
            await self._invocation_result(parts[1:], receive, send)
        elif verb in ("attach", "output") and len(parts) == 2:
            if method != "GET":
                raise _method_not_allowed()
            await self._answer_result(_parse_invocation_id(parts[1]), verb, receive, send)
        elif verb in ("call", "send") and len(parts) >= 3:
            service_parts = parts[1:] + (["send"] if verb == "send" else [])
            await self._service(service_parts, method, scope, receive, send)
        elif verb == "scope" and len(parts) >= 5 and parts[2] in ("call", "send"):
            try:
                flow_scope = check_scope(parts[1])
            except ValueError as e:
                raise HttpError(400, f"bad scope value: {e}") from e
            service_parts = parts[3:] + (["send"] if parts[2] == "send" else [])
            await self._service(service_parts, method, scope, receive, send, flow_scope)
        elif verb == "workflow":
            if len(parts) != 4 or parts[3] not in ("attach", "output"):
                raise HttpError(
                    400, "bad path, expected /restate/workflow/:name/:key/attach or .../output"
                )
            if method != "GET":
                raise _method_not_allowed()
            iid = InvocationId.for_workflow(parts[1], parts[2])
            await self._answer_result(iid, parts[3], receive, send)
        elif verb == "health" and len(parts) == 1:
            await _send_health(send, self.runtime.health())
        else:
            raise HttpError(404, "not found")

    async def _complete_awakeable(
        self, awakeable_id: str, action: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if self.completion_token is not None:
            check_bearer(scope, self.completion_token, "completing awakeables by id")
        parse_awakeable(awakeable_id)  # a bad id is refused before the body is read
        body = await read_body(receive, self.body_limit)
        if action == "resolve":
            result = Result(value=body)
        else:
            result = Result(failure=Failure(500, body.decode("utf-8", errors="replace")))
        if parse_awakeable_id(awakeable_id).kind != "signal":
            # A legacy `prom_1…` id names a journal entry of a protocol <= 3 journal. Restate
            # 1.7 routes it as a completion of that index, which in a journal of today's
            # protocol is no awakeable at all: the invocation keeps waiting. Signal N is not
            # what the id means, so nothing is delivered.
            log.warning("ignored a completion of legacy awakeable id %s", awakeable_id)
            await send_bytes(send, 202, b"")
            return
        iid = parse_awakeable_id(awakeable_id).invocation_id
        observer = self.runtime.observer
        observer.signal_received(iid)
        span = None
        if tracing.enabled():
            span = await observer.awakeable_completion(
                iid,
                awakeable_id,
                action,
                request_headers(scope),
                functools.partial(self.runtime.store.load_journal, SINGLE_PARTITION),
            )
        try:
            done = await complete_awakeable(self.runtime, awakeable_id, result, self.clock.now_ms())
        finally:
            observer.end_span(span)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        await send_completion(send, done, query.get("strict", [""])[0] == "true")

    async def _complete_signal(
        self, invocation_id: str, name: str, action: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Resolve (body = the value) or reject (text body = the message, `?code=`, default 500)
        the named signal `name` of an invocation: wakeful's path, Restate has none. The rules
        and answers are the awakeables' (completion token, `x-wakeful-completion`,
        `?strict=true`); the first completion of a name wins."""
        if self.completion_token is not None:
            check_bearer(scope, self.completion_token, "completing signals by invocation id")
        iid = _parse_invocation_id(invocation_id)
        if not name:
            raise HttpError(400, "the signal name must not be empty")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        code = 500
        if action == "reject" and "code" in query:
            try:
                code = int(query["code"][0])
            except ValueError as e:
                raise HttpError(400, "bad code query parameter, must be an integer") from e
            if not 100 <= code <= 999:
                raise HttpError(400, "bad code query parameter, must be within 100..999")
        body = await read_body(receive, self.body_limit)
        if action == "resolve":
            result = Result(value=body)
        else:
            result = Result(failure=Failure(code, body.decode("utf-8", errors="replace")))
        outcome = await self.router.submit(DeliverSignal(iid, 0, result, self.clock.now_ms(), name))
        assert isinstance(outcome, SignalOutcome)
        done = Completed(f"{iid}/signals/{name}", outcome.delivery, outcome.completed_at_ms)
        await send_completion(send, done, query.get("strict", [""])[0] == "true")

    async def _invocation_result(self, parts: list[str], receive: Receive, send: Send) -> None:
        if len(parts) == 2 and parts[1] in ("attach", "output"):
            await self._answer_result(_parse_invocation_id(parts[0]), parts[1], receive, send)
            return
        if len(parts) in (4, 5) and parts[-1] in ("attach", "output"):
            service, *key, handler, idempotency_key = parts[:-1]
            iid = InvocationId.for_idempotency_key(
                service, handler, key[0] if key else None, idempotency_key
            )
            await self._answer_result(iid, parts[-1], receive, send)
            return
        raise HttpError(
            400,
            "bad path, expected /restate/invocation/:id/attach or /restate/invocation/:id/output",
        )

    async def _answer_result(
        self, iid: InvocationId, verb: str, receive: Receive, send: Send
    ) -> None:
        if verb == "output":
            outcome = await self.router.submit(Attach(iid))
            assert isinstance(outcome, LookupOutcome)
            if outcome.status is None:
                raise HttpError(404, "invocation not found")
            if outcome.result is None:
                raise HttpError(470, _NO_OUTPUT)
            await _send_result(send, iid, (outcome.result, outcome.expires_at_ms), None)
            return
        finished: Finished | None = None
        waiter = self.router.waiter_if_in_memory(iid)  # running: no round through the leader
        if waiter is None:
            answer, waiter = await self.router.submit_and_attach(Attach(iid))
            assert isinstance(answer, LookupOutcome)
            if answer.status is None:
                raise HttpError(404, "invocation not found")
            if waiter is None:
                assert answer.result is not None
                finished = (answer.result, answer.expires_at_ms)
        if waiter is not None:
            finished = await self._wait(iid, waiter, receive)
        assert finished is not None
        await _send_result(send, iid, finished, None)

    async def _wait(
        self, iid: InvocationId, waiter: asyncio.Future[Finished], receive: Receive
    ) -> Finished:
        """The result `waiter` brings; `_ClientGone` if the client disconnects meanwhile."""
        loop = asyncio.get_running_loop()
        watchers: list[asyncio.Task[None]] = []

        def watch() -> None:
            watchers.append(loop.create_task(_cancel_when_gone(waiter, receive)))

        check = loop.call_later(self.disconnect_check_after_s, watch)
        try:
            return await waiter
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if waiter.cancelled() and task is not None and not task.cancelling():
                raise _ClientGone from None  # the watcher cancelled the waiter, not us
            raise
        finally:
            check.cancel()
            for watcher in watchers:
                watcher.cancel()
            if not waiter.done() or waiter.cancelled():
                self.router.forget_waiter(iid, waiter)

    # -- service calls ------------------------------------------------------------------

    async def _service(
        self,
        parts: list[str],
        method: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        flow_scope: str | None = None,
    ) -> None:
        service = self.registry.service(parts[0])
        if service is None:
            raise HttpError(
                404,
                f"service '{parts[0]}' not found, make sure to register the service "
                "before calling it.",
            )
        keyed = service.keyed
        rest = parts[1:]
        is_send = len(rest) == (3 if keyed else 2) and rest[-1] == "send"
        if is_send:
            rest = rest[:-1]
        if len(rest) != (2 if keyed else 1):
            raise HttpError(400, _BAD_SERVICE_PATH)
        key, handler_name = (rest[0], rest[1]) if keyed else (None, rest[0])
        handler = service.handlers.get(handler_name)
        if handler is None:
            raise HttpError(
                404,
                f"the service '{service.name}' exists, but the handler '{handler_name}' was not "
                "found, check that the handler exists in the latest registered service version.",
            )
        if method not in ("GET", "POST"):
            raise _method_not_allowed()
        if not handler.public:
            raise HttpError(400, "the invoked service is not public")
        kind = handler.kind
        now = self.clock.now_ms()
        invoke_at = _delay(scope, is_send, now)
        headers = request_headers(scope)
        body = await read_body(receive, self.body_limit)
        self._validate_input(handler, headers, body)
        idempotency_key = headers.get("idempotency-key")
        limit_key = _limit_key(scope, headers, flow_scope)
        if key is not None and key.startswith(SCOPE_SEPARATOR):
            raise HttpError(400, "bad key: it must not start with the unit separator (0x1f)")
        engine_key = None if key is None else scoped_key(flow_scope, key)
        target = Target(service.name, handler.name, engine_key, flow_scope, limit_key)
        iid = _invocation_id(target, kind, idempotency_key)
        forwarded = [(k, v) for k, v in headers.items() if k not in _NOT_FORWARDED]
        forwarded.append(("x-restate-ingress-path", raw_path_of(scope)))
        observer = self.runtime.observer
        span = observer.ingress_invoke(target, forwarded)  # None unless tracing is on
        event = Invoke(
            iid,
            target,
            body,
            forwarded,
            now,
            idempotency_key,
            kind,
            invoke_at_ms=invoke_at,
            fresh=idempotency_key is None and kind != HandlerKind.WORKFLOW,
        )
        if is_send:
            outcome = await self.router.submit(event)
            assert isinstance(outcome, InvokeOutcome)
            observer.ingress_done(span, iid, outcome.created)
            if outcome.created:
                observer.accepted(iid, target)
            status = "Accepted" if outcome.created else "PreviouslyAccepted"
            payload: dict[str, object] = {"invocationId": str(iid), "status": status}
            if invoke_at is not None and outcome.created:
                payload["executionTime"] = _rfc3339(invoke_at)
            await send_json(send, 202, payload, [(b"x-restate-id", str(iid).encode())])
            return
        answer, waiter = await self.router.submit_and_attach(event)
        assert isinstance(answer, InvokeOutcome)
        observer.ingress_done(span, iid, answer.created)
        if answer.created:
            observer.accepted(iid, target)
        if kind == HandlerKind.WORKFLOW and not answer.created:
            raise _workflow_already_invoked(iid)
        if waiter is None:
            assert answer.status == Status.COMPLETED and answer.result is not None
            finished = (answer.result, answer.expires_at_ms)
        else:
            finished = await self._wait(iid, waiter, receive)
        await _send_result(send, iid, finished, handler)

    def _validate_input(self, handler: HandlerRecord, headers: dict[str, str], body: bytes) -> None:
        """Reject what the handler could never accept, before anything is written."""
        reason = handler.input.check(headers.get("content-type"), body)
        if reason is None and handler.deployment == IN_PROCESS and body:
            # In-process handlers also decode the body here: a body their input type cannot
            # hold is a 400 now rather than a failed invocation later.
            reason = self.runtime.in_process.check_input(handler.service, handler.name, body)
        if reason is not None:
            raise HttpError(400, f"input validation error: {reason}")


async def _send_health(send: Send, problem: str | None) -> None:
    """200 while the engine can make progress, else 503 naming why."""
    if problem is None:
        await send_json(send, 200, {})
    else:
        await send_json(send, 503, {"code": 503, "message": problem})


def _delay(scope: Scope, is_send: bool, now_ms: int) -> int | None:
    """When a delayed send should start (`?delay=`), or None."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    values = [v for k, vs in query.items() if k.lower() == "delay" for v in vs]
    if not values:
        return None
    if not is_send:
        raise HttpError(
            400,
            "cannot use the delay query parameter with calls. The delay is supported "
            "only with sends",
        )
    bad = "bad delay query parameter, must be a ISO8601 duration"
    try:
        delay_ms = parse_duration_ms(values[0])
    except ValueError as e:
        raise HttpError(400, f"{bad}: {e}") from e
    reason = latest_time_error(now_ms, delay_ms)
    if reason is not None:
        raise HttpError(400, f"{bad}: {reason}")
    return now_ms + delay_ms if delay_ms > 0 else None


def _limit_key(scope: Scope, headers: dict[str, str], flow_scope: str | None) -> str | None:
    """The limit key of a request (`x-restate-limit-key` or `?limit-key=`), checked."""
    found = headers.get("x-restate-limit-key")
    if found is None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        found = next((v[0] for k, v in query.items() if k.lower() == "limit-key"), None)
    if found is None:
        return None
    if flow_scope is None:
        raise HttpError(400, "limit-key requires a scope to be set")
    try:
        return check_limit_key(found, flow_scope)
    except ValueError as e:
        raise HttpError(400, f"invalid limit-key: {e}") from e


def _invocation_id(target: Target, kind: HandlerKind, idempotency_key: str | None) -> InvocationId:
    user_key = None if target.key is None else split_key(target.key)[1]
    if kind == HandlerKind.WORKFLOW:
        if idempotency_key is not None:
            raise HttpError(
                400,
                "cannot use the idempotency key with workflow handlers. The handler invocation "
                "will already be idempotent by the workflow key itself.",
            )
        assert user_key is not None
        return InvocationId.for_workflow(target.service, user_key, target.scope)
    if idempotency_key is not None:
        if not idempotency_key:
            raise HttpError(400, "the idempotency-key header must not be empty")
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise HttpError(
                400,
                f"the idempotency-key header is {len(idempotency_key)} characters long, "
                f"the limit is {MAX_IDEMPOTENCY_KEY}",
            )
        return InvocationId.for_idempotency_key(
            target.service, target.handler, user_key, idempotency_key, target.scope
        )
    if target.key is not None:
        return InvocationId.random(partition_key_for(target.key))
    return InvocationId.random()


async def _cancel_when_gone(waiter: asyncio.Future[Finished], receive: Receive) -> None:
    """Cancel `waiter` once the request's client disconnects.

    The body was read already, so `receive` now answers only when the connection closes
    (`http.disconnect`).
    """
    while not waiter.done():
        if (await receive())["type"] == "http.disconnect":
            waiter.cancel()
            return


class _ClientGone(Exception):
    """The client of a waiting request went away: there is nobody to answer."""


class _InvocationFailure(HttpError):
    def __init__(self, iid: InvocationId, failure: Failure) -> None:
        super().__init__(failure.code, failure.message, "invocation")
        self.iid = iid


def _workflow_already_invoked(iid: InvocationId) -> HttpError:
    return _InvocationFailure(iid, Failure(409, "the workflow method was already invoked"))


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def raw_path_of(scope: Scope) -> str:
    """The request's path and query, as the client sent them."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


def _parse_invocation_id(text: str) -> InvocationId:
    try:
        return InvocationId.parse(text)
    except InvalidIdError as e:
        raise HttpError(400, f"bad invocation id '{text}': {e}") from e


async def _send_result(
    send: Send, iid: InvocationId, finished: Finished, handler: HandlerRecord | None
) -> None:
    result, expires_at_ms = finished
    headers = [(b"x-restate-id", str(iid).encode())]
    if expires_at_ms is not None:
        expires = datetime.fromtimestamp(expires_at_ms / 1000, UTC)
        headers.append((b"idempotency-expires", expires.isoformat().encode()))
    if result.failure is None:
        body = result.value or b""
        content_type = None
        wanted = handler.output.content_type if handler else "application/json"
        if wanted is not None and (body or (handler and handler.output.set_content_type_if_empty)):
            content_type = wanted.encode()
        await send_bytes(send, 200, body, headers, content_type)
        return
    failure = result.failure
    status = failure.code if 400 <= failure.code <= 599 else 500
    payload: dict[str, object] = {
        "code": failure.code,
        "message": failure.message,
        "source": "invocation",
    }
    if failure.metadata:
        payload["metadata"] = failure.metadata
    headers.append((b"x-restate-error-source", b"invocation"))
    await send_json(send, status, payload, headers)
