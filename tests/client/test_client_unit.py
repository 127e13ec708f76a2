"""The ingress client against a canned Restate-shaped HTTP server on a real port.

The server records every request and answers what the test queued, so these tests pin down
the requests the client builds (paths, query, headers, bodies) and how it reads the answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import msgspec
import pytest
import uvicorn

from wakeful.client import (
    HttpError,
    InvocationNotReadyError,
    RestateClient,
    RestateClientSendHandle,
    create_client,
)
from wakeful.errors import TerminalError
from wakeful.sdk.keyed import VirtualObject, Workflow
from wakeful.sdk.service import Service
from wakeful.sdk.unsupported import JournalValueCodec

# -- handlers the client is pointed at (never run: the fake ingress answers for them) ----


@dataclasses.dataclass
class Receipt:
    order: str
    total: float


class Point(msgspec.Struct):
    x: int
    y: int


greeter = Service("Greeter")


@greeter.handler()
async def greet(ctx: Any, name: str) -> str:
    return f"Hello {name}"


@greeter.handler()
async def ping(ctx: Any) -> str | None:
    return None


@greeter.handler(name="checkout")
async def checkout_handler(ctx: Any, order: str) -> Receipt:
    return Receipt(order, 1.0)


@greeter.handler(content_type="application/octet-stream")
async def upload(ctx: Any, data: bytes) -> bytes:
    return data


counter = VirtualObject("Counter")


@counter.handler()
async def add(ctx: Any, delta: int) -> int:
    return delta


signup = Workflow("Signup")


@signup.main()
async def run(ctx: Any, email: str) -> Point:
    return Point(1, 2)


# -- the fake ingress ---------------------------------------------------------------------


@dataclasses.dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass
class Answer:
    """A canned response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class FakeIngress:
    """An ASGI app that records requests and replies with queued answers (default: 200)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: list[Answer] = []
        self.url = ""

    def reply(self, status: int = 200, body: Any = b"", content_type: str | None = None) -> None:
        """Queue one answer; a non-bytes body is sent as JSON."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        headers = {"content-type": content_type} if content_type else {}
        self.answers.append(Answer(status, body, headers))

    @property
    def last(self) -> Recorded:
        """The most recent request."""
        assert self.requests, "the client sent no request"
        return self.requests[-1]

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Any],
        send: Callable[[dict[str, Any]], Any],
    ) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(
            Recorded(
                method=scope["method"],
                raw_path=scope["raw_path"].decode(),
                query=scope["query_string"].decode(),
                headers={k.decode(): v.decode() for k, v in scope["headers"]},
                body=body,
            )
        )
        answer = self.answers.pop(0) if self.answers else Answer()
        headers = [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


@pytest.fixture
async def ingress() -> AsyncIterator[FakeIngress]:
    """A FakeIngress served by uvicorn on a free port of 127.0.0.1."""
    app = FakeIngress()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn exited before it started"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    app.url = f"http://127.0.0.1:{port}"
    yield app
    server.should_exit = True
    await task


@pytest.fixture
async def client(ingress: FakeIngress) -> AsyncIterator[RestateClient]:
    """A client of the fake ingress."""
    async with create_client(ingress.url) as c:
        yield c


def invocation_failure(code: int, message: str) -> dict[str, Any]:
    """The 1.7.4+ body of an invocation that ended with a terminal error."""
    return {"code": code, "message": message, "source": "invocation"}


# -- calls --------------------------------------------------------------------------------


async def test_service_call_posts_json_input_and_decodes_output(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """service_call POSTs /{service}/{handler} with the JSON input and returns the output."""
    ingress.reply(200, "Hello Ada")
    assert await client.service_call(greet, "Ada") == "Hello Ada"
    req = ingress.last
    assert (req.method, req.raw_path, req.query) == ("POST", "/Greeter/greet", "")
    assert req.headers["content-type"] == "application/json"
    assert req.body == b'"Ada"'


async def test_call_without_input_sends_no_body_nor_content_type(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A handler without input is called with an empty body and no content-type."""
    ingress.reply(200, b"")
    assert await client.service_call(ping, None) is None
    assert ingress.last.body == b""
    assert "content-type" not in ingress.last.headers


async def test_call_decodes_output_with_handler_return_type(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """The output is decoded with the handler's output serde (here into a dataclass)."""
    ingress.reply(200, {"order": "o-1", "total": 9.5})
    assert await client.service_call(checkout_handler, "o-1") == Receipt("o-1", 9.5)
    assert ingress.last.raw_path == "/Greeter/checkout"


async def test_call_uses_handler_content_type_and_raw_bytes(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A bytes handler sends raw bytes with its declared content type, and gets bytes back."""
    ingress.reply(200, b"\x00\xffout", content_type="application/octet-stream")
    assert await client.service_call(upload, b"\x01\x02") == b"\x00\xffout"
    assert ingress.last.headers["content-type"] == "application/octet-stream"
    assert ingress.last.body == b"\x01\x02"


async def test_caller_content_type_wins_over_handler_one(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A Content-Type given by the caller (any case) replaces the handler's."""
    await client.service_call(greet, "Ada", headers={"Content-Type": "text/x-name"})
    assert ingress.last.headers["content-type"] == "text/x-name"


async def test_default_and_call_headers_and_idempotency_key_are_sent(
    ingress: FakeIngress,
) -> None:
    """create_client headers, per-call headers and idempotency-key all reach the ingress."""
    async with create_client(ingress.url, headers={"authorization": "Bearer t"}) as client:
        await client.service_call(greet, "Ada", idempotency_key="ik-1", headers={"x-trace": "7"})
    headers = ingress.last.headers
    assert headers["authorization"] == "Bearer t"
    assert headers["x-trace"] == "7"
    assert headers["idempotency-key"] == "ik-1"


async def test_object_call_puts_url_encoded_key_in_path(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """object_call POSTs /{object}/{key}/{handler}, the key percent-encoded as one segment."""
    ingress.reply(200, 5)
    assert await client.object_call(add, "a b/c?", 5) == 5
    assert ingress.last.raw_path == "/Counter/a%20b%2Fc%3F/add"
    assert ingress.last.body == b"5"


async def test_dot_keys_are_not_collapsed(ingress: FakeIngress, client: RestateClient) -> None:
    """Keys `.` and `..` stay path segments instead of being normalized away."""
    await client.object_call(add, "..", 1)
    assert ingress.last.raw_path == "/Counter/%2E%2E/add"


async def test_workflow_call_decodes_struct_output(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """workflow_call POSTs /{workflow}/{key}/{handler} and decodes a msgspec Struct."""
    ingress.reply(200, {"x": 3, "y": 4})
    assert await client.workflow_call(run, "user-1", "a@b.c") == Point(3, 4)
    assert ingress.last.raw_path == "/Signup/user-1/run"


async def test_generic_call_sends_raw_bytes_without_content_type(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """generic_call posts the bytes as given and returns the raw response body."""
    ingress.reply(200, b"raw-out")
    out = await client.generic_call("Counter", "add", b"7", key="k1", idempotency_key="ik")
    assert out == b"raw-out"
    req = ingress.last
    assert (req.raw_path, req.body) == ("/Counter/k1/add", b"7")
    assert "content-type" not in req.headers
    assert req.headers["idempotency-key"] == "ik"


# -- sends --------------------------------------------------------------------------------


async def test_service_send_posts_to_send_with_delay_and_reads_handle(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """service_send POSTs …/send?delay=1500ms and returns the invocation id and status."""
    ingress.reply(202, {"invocationId": "inv_1abc", "status": "Accepted"})
    handle = await client.service_send(greet, "Ada", send_delay=timedelta(seconds=1.5))
    assert isinstance(handle, RestateClientSendHandle)
    assert (handle.invocation_id, handle.status_code, handle.status) == (
        "inv_1abc",
        202,
        "Accepted",
    )
    req = ingress.last
    assert (req.raw_path, req.query) == ("/Greeter/greet/send", "delay=1500ms")
    assert req.body == b'"Ada"'


async def test_send_without_delay_has_no_query(ingress: FakeIngress, client: RestateClient) -> None:
    """A send without send_delay carries no delay parameter."""
    ingress.reply(202, {"invocationId": "inv_1", "status": "Accepted"})
    await client.service_send(greet, "Ada")
    assert ingress.last.query == ""


async def test_object_and_workflow_send_use_keyed_send_path(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """Keyed sends POST /{name}/{key}/{handler}/send; PreviouslyAccepted is reported."""
    ingress.reply(202, {"invocationId": "inv_2", "status": "Accepted"})
    ingress.reply(202, {"invocationId": "inv_3", "status": "PreviouslyAccepted"})
    await client.object_send(add, "k", 1, idempotency_key="ik-2")
    assert ingress.last.raw_path == "/Counter/k/add/send"
    assert ingress.last.headers["idempotency-key"] == "ik-2"
    handle = await client.workflow_send(run, "user-1", "a@b.c")
    assert ingress.last.raw_path == "/Signup/user-1/run/send"
    assert (handle.invocation_id, handle.status) == ("inv_3", "PreviouslyAccepted")


async def test_generic_send_with_sub_millisecond_delay_truncates(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """generic_send sends the delay in whole milliseconds."""
    ingress.reply(202, {"invocationId": "inv_4", "status": "Accepted"})
    handle = await client.generic_send(
        "Greeter", "greet", b'"x"', send_delay=timedelta(minutes=1, microseconds=1500)
    )
    assert handle.invocation_id == "inv_4"
    assert (ingress.last.raw_path, ingress.last.query) == ("/Greeter/greet/send", "delay=60001ms")


async def test_negative_delay_is_refused_before_sending(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A negative send_delay raises ValueError and sends nothing."""
    with pytest.raises(ValueError, match="negative"):
        await client.service_send(greet, "Ada", send_delay=timedelta(seconds=-1))
    assert ingress.requests == []


async def test_send_answer_without_invocation_id_is_an_error(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A 2xx send answer that is not `{"invocationId": …}` raises HttpError."""
    ingress.reply(202, b"")
    with pytest.raises(HttpError, match="not JSON"):
        await client.service_send(greet, "Ada")
    ingress.reply(202, {"status": "Accepted"})
    with pytest.raises(HttpError, match="no invocationId"):
        await client.service_send(greet, "Ada")


# -- scopes -------------------------------------------------------------------------------


async def test_scoped_calls_use_scope_path_and_limit_key(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """Scoped calls go to /restate/scope/{scope}/call|send/… with x-restate-limit-key."""
    scoped = client.scope("tenant-1")
    ingress.reply(200, 3)
    assert await scoped.object_call(add, "k", 3, limit_key="tenant-1/u9") == 3
    assert ingress.last.raw_path == "/restate/scope/tenant-1/call/Counter/k/add"
    assert ingress.last.headers["x-restate-limit-key"] == "tenant-1/u9"
    ingress.reply(202, {"invocationId": "inv_5", "status": "Accepted"})
    await scoped.service_send(greet, "Ada", send_delay=timedelta(seconds=2))
    req = ingress.last
    assert (req.raw_path, req.query) == (
        "/restate/scope/tenant-1/send/Greeter/greet",
        "delay=2000ms",
    )
    assert "x-restate-limit-key" not in req.headers


async def test_limit_key_without_scope_is_refused(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """generic_call with a limit_key but no scope raises ValueError and sends nothing."""
    with pytest.raises(ValueError, match="scope"):
        await client.generic_call("Greeter", "greet", b"", limit_key="t")
    assert ingress.requests == []


# -- awakeables and invocations -----------------------------------------------------------


async def test_resolve_awakeable_posts_json_value(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """resolve_awakeable POSTs the JSON value to /restate/awakeables/{id}/resolve."""
    ingress.reply(202)
    await client.resolve_awakeable("sign_1abc", {"approved": True})
    req = ingress.last
    assert (req.method, req.raw_path) == ("POST", "/restate/awakeables/sign_1abc/resolve")
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.body) == {"approved": True}


async def test_reject_awakeable_posts_text_reason(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """reject_awakeable POSTs the reason as UTF-8 text to …/reject."""
    ingress.reply(202)
    await client.reject_awakeable("sign_1abc", "refusé")
    req = ingress.last
    assert req.raw_path == "/restate/awakeables/sign_1abc/reject"
    assert req.headers["content-type"].startswith("text/plain")
    assert req.body == "refusé".encode()


async def test_malformed_awakeable_id_raises_ingress_error(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A 400 from the ingress surfaces as HttpError with the server's message and source."""
    body = {"code": 400, "message": "bad awakeable id 'foo': bad format", "source": "ingress"}
    ingress.reply(400, body)
    with pytest.raises(HttpError) as caught:
        await client.resolve_awakeable("foo", 1)
    err = caught.value
    assert (err.status_code, err.message, err.source) == (400, body["message"], "ingress")
    assert err.body is not None
    assert json.loads(err.body) == body
    assert str(err) == f"HTTP 400: {body['message']}"


async def test_attach_invocation_gets_attach_and_decodes_type_hint(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """attach_invocation GETs /restate/invocation/{id}/attach and decodes as type_hint."""
    ingress.reply(200, {"order": "o-2", "total": 1.25})
    out = await client.attach_invocation("inv_1abc", type_hint=Receipt)
    assert out == Receipt("o-2", 1.25)
    assert (ingress.last.method, ingress.last.raw_path) == (
        "GET",
        "/restate/invocation/inv_1abc/attach",
    )


async def test_invocation_output_decodes_json_or_bytes(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """get_invocation_output GETs …/output; plain JSON without a hint, raw with bytes."""
    ingress.reply(200, [1, 2])
    ingress.reply(200, b"\x00raw")
    assert await client.get_invocation_output("inv_1abc") == [1, 2]
    assert ingress.last.raw_path == "/restate/invocation/inv_1abc/output"
    assert await client.get_invocation_output("inv_1abc", type_hint=bytes) == b"\x00raw"


async def test_output_not_ready_raises_invocation_not_ready(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A 470 answer raises InvocationNotReadyError, an HttpError carrying status 470."""
    message = "the invocation exists but has not completed yet"
    ingress.reply(470, {"code": 470, "message": message, "source": "ingress"})
    with pytest.raises(InvocationNotReadyError) as caught:
        await client.get_invocation_output("inv_1abc")
    assert isinstance(caught.value, HttpError)
    assert (caught.value.status_code, caught.value.message) == (470, message)


async def test_unknown_invocation_raises_404(ingress: FakeIngress, client: RestateClient) -> None:
    """A 404 on attach raises HttpError, not InvocationNotReadyError."""
    ingress.reply(404, {"message": "invocation not found"})
    with pytest.raises(HttpError) as caught:
        await client.attach_invocation("inv_1zzz")
    assert type(caught.value) is HttpError
    assert caught.value.message == "invocation not found"


# -- error shapes -------------------------------------------------------------------------


async def test_terminal_failure_raises_http_error_like_restate_sdk(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """An invocation's terminal error is an HttpError with its code, message and source."""
    ingress.reply(409, invocation_failure(409, "the workflow method was already invoked"))
    with pytest.raises(HttpError) as caught:
        await client.workflow_call(run, "user-1", "a@b.c")
    err = caught.value
    assert not isinstance(err, TerminalError)
    assert (err.status_code, err.source) == (409, "invocation")
    assert err.message == "the workflow method was already invoked"


async def test_pre_174_error_body_is_understood(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """A `{"message"}`-only body (Restate before 1.7.4) gives the message, no source."""
    ingress.reply(404, {"message": "service 'Nope' not found"})
    with pytest.raises(HttpError) as caught:
        await client.generic_call("Nope", "h", b"")
    assert caught.value.message == "service 'Nope' not found"
    assert caught.value.source is None


async def test_non_json_error_body_falls_back_to_reason_phrase(
    ingress: FakeIngress, client: RestateClient
) -> None:
    """An error with a non-JSON body uses the reason phrase and keeps the body text."""
    ingress.reply(502, b"upstream down", content_type="text/plain")
    with pytest.raises(HttpError) as caught:
        await client.service_call(greet, "Ada")
    err = caught.value
    assert (err.status_code, err.message, err.body) == (502, "Bad Gateway", "upstream down")


# -- construction -------------------------------------------------------------------------


async def test_ingress_behind_path_prefix(ingress: FakeIngress) -> None:
    """Paths are relative to the ingress URL, so a prefix in it is kept."""
    ingress.reply(200, "hi")
    async with create_client(ingress.url + "/restate-proxy") as client:
        assert await client.service_call(greet, "Ada") == "hi"
    assert ingress.last.raw_path == "/restate-proxy/Greeter/greet"


async def test_journal_value_codec_is_refused() -> None:
    """Passing a journal value codec raises NotImplementedError (wakeful does not apply it)."""

    class Rot(JournalValueCodec):
        def encode(self, buf: bytes) -> bytes:
            return buf

        async def decode(self, buf: bytes) -> bytes:
            return buf

    with pytest.raises(NotImplementedError, match="journal value codec"):
        async with create_client("http://127.0.0.1:9", journal_value_codec=Rot()):
            pass
