"""The restate-sdk modules wakeful offers beyond the contexts do what restate-sdk's do."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Optional

import click
import pytest

import wakeful
from wakeful import Service
from wakeful.aws_lambda import (
    LambdaHandler,
    ResponseCollector,
    create_scope,
    request_to_receive,
    wrap_asgi_as_lambda_handler,
)
from wakeful.cli import load_app
from wakeful.client import resolve_ingress
from wakeful.endpoint import Endpoint
from wakeful.ext.turnstile import Turnstile
from wakeful.extensions import contextvar, current_context
from wakeful.handler import (
    HandlerIO,
    ServiceTag,
    handler_from_callable,
    invoke_handler,
    make_handler,
)
from wakeful.logging import restate_context_is_replaying
from wakeful.sdk.serde import DefaultSerde
from wakeful.serde import DaciteFromDict, DaciteToDict, Msgspec
from wakeful.types import extract_core_type


async def test_turnstile_lets_ids_pass_in_order() -> None:
    """wait_for returns in the order of the ids, each after allow_next_after of the previous."""
    turns = Turnstile(["a", "b", "c"])
    order: list[str] = []

    async def take(name: str) -> None:
        await turns.wait_for(name)
        order.append(name)
        turns.allow_next_after(name)

    await asyncio.gather(take("c"), take("b"), take("a"))
    assert order == ["a", "b", "c"]


async def test_turnstile_cancel_wakes_the_rest_with_an_error() -> None:
    """After cancel_all_after, the later ids' wait_for raises instead of blocking."""
    turns = Turnstile(["a", "b"])
    turns.cancel_all_after("a")
    with pytest.raises(wakeful.SdkInternalBaseException):
        await turns.wait_for("b")


def test_aws_lambda_adapter_round_trips_an_asgi_app() -> None:
    """A Lambda event reaches the ASGI app as scope + body; its answer comes back base64."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["path"], seen["method"] = scope["path"], scope["method"]
        seen["body"] = (await receive())["body"]
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"done"})

    event = {
        "path": "/Greeter/greet",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": base64.b64encode(b'"Ada"').decode(),
        "isBase64Encoded": True,
    }
    handler = wrap_asgi_as_lambda_handler(app)
    try:
        answer = handler(event, None)  # type: ignore[arg-type]  # a plain dict event
    finally:
        assert isinstance(handler, LambdaHandler)
        handler.close()
    assert seen == {"path": "/Greeter/greet", "method": "POST", "body": b'"Ada"'}
    assert answer["statusCode"] == 201
    assert answer["headers"] == {"x-a": "1"}
    assert base64.b64decode(answer["body"]) == b"done"
    scope = create_scope(event)  # type: ignore[arg-type]  # a dict
    assert (b"content-type", b"application/json") in scope["headers"]
    assert isinstance(ResponseCollector(), ResponseCollector)
    assert callable(request_to_receive(event))  # type: ignore[arg-type]  # a dict


def test_endpoint_builds_the_app_wakeful_serve_runs() -> None:
    """restate-sdk's Endpoint: bind services, protocol and identity keys, then .app()."""
    svc = Service("E")
    endpoint = Endpoint().bind(svc)
    endpoint.streaming_protocol()
    endpoint.identity_key("publickeyv1_x")
    built = endpoint.app()
    assert isinstance(built, wakeful.App)
    assert built.service("E") is svc
    assert (built.protocol, built.identity_keys) == ("bidi", ["publickeyv1_x"])


def test_wakeful_serve_refuses_a_journal_value_codec(tmp_path: Any) -> None:
    """An app with a journal value codec is refused with a message, not served half-right."""
    module = tmp_path / "codec_app.py"
    module.write_text(
        "import wakeful\n"
        "class C(wakeful.JournalValueCodec):\n"
        "    def encode(self, buf): return buf\n"
        "    async def decode(self, buf): return buf\n"
        "app = wakeful.app(services=[], journal_value_codec=C())\n"
    )
    with pytest.raises(click.BadParameter, match="journal_value_codec"):
        load_app(f"{module}:app")


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_serde_helpers_convert_dataclasses_and_msgspec() -> None:
    """DaciteToDict/DaciteFromDict round-trip a dataclass; Msgspec encodes and decodes."""
    assert DaciteToDict(Point(1, 2)) == {"x": 1, "y": 2}
    assert DaciteFromDict(Point, {"x": 1, "y": 2}) == Point(1, 2)
    assert Msgspec.decode(Msgspec.encode({"a": 1}), dict) == {"a": 1}


def test_extract_core_type_unwraps_optionals() -> None:
    """Optional[T] and T | None give ("optional", T); anything else is "simple"."""
    assert extract_core_type(Optional[int]) == ("optional", int)  # noqa: UP045 - the old spelling
    assert extract_core_type(int | None) == ("optional", int)
    assert extract_core_type(list[int]) == ("simple", list[int])


async def test_make_handler_and_invoke_handler() -> None:
    """make_handler registers a function as restate-sdk's does; invoke_handler decodes the
    input, calls it and encodes the output."""

    async def double(ctx: Any, n: int) -> int:
        return n * 2

    io = HandlerIO("application/json", "application/json", DefaultSerde(), DefaultSerde())
    handler = make_handler(
        ServiceTag("service", "Math"), io, None, None, double, inspect.signature(double)
    )
    assert handler_from_callable(double) is handler
    assert (handler.name, handler.service_name, handler.arity) == ("double", "Math", 2)
    assert await invoke_handler(handler, None, b"21") == b"42"


async def test_contextvar_exposes_the_managers_value_and_no_context_outside() -> None:
    """`contextvar` makes a context manager's value readable inside it; outside a handler
    there is no current context and nothing replays."""

    @contextvar
    @asynccontextmanager
    async def resource() -> AsyncIterator[str]:
        yield "r1"

    async with resource():
        assert resource.value == "r1"
    with pytest.raises(LookupError):
        _ = resource.value
    assert current_context() is None
    assert restate_context_is_replaying.get() is False


def test_resolve_ingress_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_client() without a URL takes WAKEFUL_INGRESS_URL, and says so when unset."""
    monkeypatch.setenv("WAKEFUL_INGRESS_URL", "http://h:1")
    assert resolve_ingress(None, {"a": "b"}) == ("http://h:1", {"a": "b"})
    monkeypatch.delenv("WAKEFUL_INGRESS_URL")
    with pytest.raises(ValueError, match="WAKEFUL_INGRESS_URL"):
        resolve_ingress(None, None)


def test_state_preload_and_its_deprecated_spelling_cannot_both_be_set() -> None:
    """As in restate-sdk: state_preload with enable_lazy_state is a ValueError."""
    with pytest.raises(ValueError, match="state_preload"):
        wakeful.VirtualObject("V", enable_lazy_state=True, state_preload=True)
    obj = wakeful.VirtualObject("V2", state_preload=["a"])

    @obj.handler()
    async def h(ctx: wakeful.ObjectContext) -> None:
        return None

    assert handler_from_callable(h).state_preload == ["a"]
