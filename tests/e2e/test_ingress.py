"""End-to-end: Restate's HTTP ingress API over real HTTP against a real `wakeful serve` process.

One server serves `apps.py` for the whole module, with `--inactivity-timeout 0` (every await
on something not yet there suspends, so completions go through suspension and replay) and a
small body limit (so the 413 path is cheap to reach).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.server import ServerFactory, WakefulProcess

APP = Path(__file__).with_name("apps.py")
BODY_LIMIT = 64 * 1024
TIMEOUT = 10.0


@dataclass
class Server:
    """The running server and the directory its handlers leave traces in."""

    process: WakefulProcess
    traces: Path
    client: httpx.Client
    admin: httpx.Client

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> Iterator[Server]:
    """One `wakeful serve tests/e2e/apps.py:app` for the whole module."""
    process = serve_module(
        f"{APP}:app",
        traces_env="WAKEFUL_E2E_DIR",
        extra_args=["--max-body-size", str(BODY_LIMIT)],
        name="e2e-ingress",
    )
    with (
        httpx.Client(base_url=process.url, timeout=TIMEOUT) as client,
        httpx.Client(base_url=process.admin_url, timeout=TIMEOUT) as admin,
    ):
        yield Server(process, process.traces_dir, client, admin)


# -- helpers ------------------------------------------------------------------------------


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _wait_for_file(path: Path) -> str:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.01)
    raise AssertionError(f"{path} did not appear within {TIMEOUT}s")


def _start_approval(
    server: Server, doc: str, headers: dict[str, str] | None = None
) -> tuple[str, str]:
    """Send `Approvals/request`; once it is suspended on its awakeable, return both ids."""
    response = server.client.post("/Approvals/request/send", json=doc, headers=headers)
    assert response.status_code == 202, response.text
    invocation_id = response.json()["invocationId"]
    awakeable_id = _wait_for_file(server.traces / "awakeables" / invocation_id)
    _wait_for_status(server, invocation_id, "suspended")
    return invocation_id, awakeable_id


def _describe(server: Server, invocation_id: str) -> dict[str, Any]:
    response = server.admin.get(f"/invocations/{invocation_id}")
    assert response.status_code == 200, response.text
    described: dict[str, Any] = response.json()
    return described


def _wait_for_status(server: Server, invocation_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        described = _describe(server, invocation_id)
        if described["status"] == status:
            return described
        time.sleep(0.01)
    raise AssertionError(f"{invocation_id} never became {status}: {described}")


def _invocation_ids(server: Server) -> set[str]:
    response = server.admin.get("/invocations", params={"limit": "100000"})
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["invocations"]}


@contextmanager
def _no_new_invocations(server: Server) -> Iterator[None]:
    before = _invocation_ids(server)
    yield
    assert _invocation_ids(server) == before


def _assert_ingress_error(response: httpx.Response, status: int, message: str | None) -> None:
    """Restate 1.7.4's ingress error: JSON `{code, message, source}` plus the source header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-restate-error-source"] == "ingress"
    body = response.json()
    assert body["code"] == status
    assert body["source"] == "ingress"
    if message is not None:
        assert body["message"] == message


def _assert_invocation_error(response: httpx.Response, status: int, message: str) -> None:
    """An invocation that ended with a failure: its code as status, the failure as JSON."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-restate-error-source"] == "invocation"
    assert response.headers["x-restate-id"].startswith("inv_1")
    assert response.json() == {"code": status, "message": message, "source": "invocation"}


# -- calls and sends ------------------------------------------------------------------------


def test_call_returns_output_with_invocation_id(server: Server) -> None:
    """POST /Svc/handler answers 200 with the output bytes, x-restate-id and JSON content type."""
    response = server.client.post("/Echo/say", json={"a": [1, 2]})
    assert response.status_code == 200
    assert response.content == b'{"a": [1, 2]}'
    assert response.headers["content-type"] == "application/json"
    invocation_id = response.headers["x-restate-id"]
    assert invocation_id.startswith("inv_1")
    assert len(invocation_id) == 38
    assert _describe(server, invocation_id)["status"] == "completed"


def test_call_with_get(server: Server) -> None:
    """GET /Svc/handler calls a handler that takes no input."""
    response = server.client.get("/Echo/hello")
    assert response.status_code == 200
    assert response.json() == "hello"
    assert response.headers["x-restate-id"].startswith("inv_1")


def test_each_call_is_a_new_invocation(server: Server) -> None:
    """Two calls without an idempotency key get two different invocation ids."""
    first = server.client.post("/Echo/say", json=1)
    second = server.client.post("/Echo/say", json=1)
    assert first.headers["x-restate-id"] != second.headers["x-restate-id"]


def test_send_answers_202_accepted(server: Server) -> None:
    """POST /Svc/handler/send answers 202 {"invocationId","status":"Accepted"} and runs it."""
    response = server.client.post("/Echo/say/send", json="sent")
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"invocationId", "status"}
    assert body["status"] == "Accepted"
    assert body["invocationId"].startswith("inv_1")
    assert response.headers["x-restate-id"] == body["invocationId"]
    attached = server.client.get(f"/restate/invocation/{body['invocationId']}/attach")
    assert attached.status_code == 200
    assert attached.json() == "sent"


def test_restate_call_path(server: Server) -> None:
    """POST and GET /restate/call/Svc/handler work like the legacy call path."""
    posted = server.client.post("/restate/call/Echo/say", json=[1, "x"])
    assert posted.status_code == 200
    assert posted.json() == [1, "x"]
    assert posted.headers["x-restate-id"].startswith("inv_1")
    got = server.client.get("/restate/call/Echo/hello")
    assert got.status_code == 200
    assert got.json() == "hello"


def test_restate_send_path(server: Server) -> None:
    """POST /restate/send/Svc/handler answers 202 Accepted like the legacy send path."""
    response = server.client.post("/restate/send/Echo/say", json=7)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "Accepted"
    attached = server.client.get(f"/restate/attach/{body['invocationId']}")
    assert attached.status_code == 200
    assert attached.json() == 7


def test_terminal_error_code_is_the_status(server: Server) -> None:
    """TerminalError("bad", 422) from a handler answers 422 with the message as invocation error."""
    response = server.client.post("/Echo/fail")
    _assert_invocation_error(response, 422, "bad")


def test_dataclass_input(server: Server) -> None:
    """A dataclass-typed input reaches the handler as an instance of the dataclass."""
    response = server.client.post("/Echo/order", json={"item": "pen", "qty": 3})
    assert response.status_code == 200
    assert response.json() == {"type": "Order", "item": "pen", "total": 6}


def test_pydantic_input_and_output(server: Server) -> None:
    """A pydantic-typed input is validated into the model; a model output is its JSON."""
    response = server.client.post("/Echo/greet", json={"name": "Ada", "age": 36})
    assert response.status_code == 200
    assert response.json() == {"text": "Hello Ada!", "adult": True}


def test_bytes_handler(server: Server) -> None:
    """A bytes handler gets the raw body and answers with its declared content type."""
    payload = bytes(range(256))
    response = server.client.post(
        "/Echo/reverse", content=payload, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200
    assert response.content == payload[::-1]
    assert response.headers["content-type"] == "application/octet-stream"


def test_request_headers_reach_the_handler(server: Server) -> None:
    """Request headers are forwarded to ctx.request(), except `host`; the id is the invocation's."""
    response = server.client.post("/Echo/request_info", headers={"x-custom": "yes"})
    assert response.status_code == 200
    info = response.json()
    assert info["id"] == response.headers["x-restate-id"]
    assert info["headers"]["x-custom"] == "yes"
    assert "host" not in info["headers"]


def test_ingress_path_header_reaches_the_handler(server: Server) -> None:
    """The handler sees `x-restate-ingress-path` with the request's path and query."""
    response = server.client.post("/Echo/request_info")
    assert response.status_code == 200
    assert response.json()["headers"].get("x-restate-ingress-path") == "/Echo/request_info"


def test_idempotency_key_reaches_the_handler(server: Server) -> None:
    """ctx.request().idempotency_key is the `idempotency-key` header of the call."""
    key = _unique("info")
    response = server.client.post("/Echo/request_info", headers={"idempotency-key": key})
    assert response.status_code == 200
    info = response.json()
    assert "idempotency-key" not in info["headers"]
    assert info["idempotency_key"] == key


# -- awakeables: resolve ----------------------------------------------------------------------


async def test_resolve_awakeable_completes_the_waiting_invocation(server: Server) -> None:
    """Resolving over HTTP answers 202 with an empty body; a blocked attach then gets the value."""
    invocation_id, awakeable_id = _start_approval(server, "contract.pdf")
    assert awakeable_id.startswith("sign_1")
    assert len(awakeable_id) == 44
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
        attach = asyncio.create_task(client.get(f"/restate/invocation/{invocation_id}/attach"))
        await asyncio.sleep(0.2)
        assert not attach.done()
        resolved = await client.post(
            f"/restate/awakeables/{awakeable_id}/resolve", json="Looks good!"
        )
        assert resolved.status_code == 202
        assert resolved.content == b""
        attached = await attach
    assert attached.status_code == 200
    assert attached.headers["x-restate-id"] == invocation_id
    assert attached.json() == {"doc": "contract.pdf", "verdict": "Looks good!"}


def test_output_is_470_until_completion_then_the_value(server: Server) -> None:
    """/output answers 470 with Restate's message while the invocation waits, the value after."""
    invocation_id, awakeable_id = _start_approval(server, "output.pdf")
    early = server.client.get(f"/restate/invocation/{invocation_id}/output")
    _assert_ingress_error(early, 470, "the invocation exists but has not completed yet")
    early_new_path = server.client.get(f"/restate/output/{invocation_id}")
    _assert_ingress_error(early_new_path, 470, "the invocation exists but has not completed yet")

    resolved = server.client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="ok")
    assert resolved.status_code == 202
    server.client.get(f"/restate/invocation/{invocation_id}/attach")
    late = server.client.get(f"/restate/invocation/{invocation_id}/output")
    assert late.status_code == 200
    assert late.headers["x-restate-id"] == invocation_id
    assert late.json() == {"doc": "output.pdf", "verdict": "ok"}


def test_resolve_with_empty_body_gives_none(server: Server) -> None:
    """Resolving with an empty body hands None to the handler (JSON null in its output)."""
    invocation_id, awakeable_id = _start_approval(server, "empty.pdf")
    resolved = server.client.post(f"/restate/awakeables/{awakeable_id}/resolve")
    assert resolved.status_code == 202
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert attached.status_code == 200
    assert attached.json() == {"doc": "empty.pdf", "verdict": None}


def test_short_alias_resolves(server: Server) -> None:
    """/restate/a/{id}/resolve is an alias of /restate/awakeables/{id}/resolve."""
    invocation_id, awakeable_id = _start_approval(server, "alias.pdf")
    resolved = server.client.post(f"/restate/a/{awakeable_id}/resolve", json={"ok": True})
    assert resolved.status_code == 202
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert attached.json() == {"doc": "alias.pdf", "verdict": {"ok": True}}


def test_resolve_from_another_handler(server: Server) -> None:
    """ctx.resolve_awakeable in one handler completes another invocation's awakeable."""
    invocation_id, awakeable_id = _start_approval(server, "peer.pdf")
    response = server.client.post(
        "/Approvals/approve", json={"id": awakeable_id, "value": "fine by me"}
    )
    assert response.status_code == 200
    assert response.json() == "approved"
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert attached.status_code == 200
    assert attached.json() == {"doc": "peer.pdf", "verdict": "fine by me"}


# -- awakeables: reject -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/restate/awakeables", "/restate/a"])
def test_reject_over_http_fails_the_waiter_with_500(server: Server, prefix: str) -> None:
    """/reject with a text body fails the waiter: 500, the body as message, source invocation."""
    invocation_id, awakeable_id = _start_approval(server, "reject.pdf")
    rejected = server.client.post(
        f"{prefix}/{awakeable_id}/reject",
        content="not today",
        headers={"content-type": "text/plain"},
    )
    assert rejected.status_code == 202
    assert rejected.content == b""
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    _assert_invocation_error(attached, 500, "not today")


def test_reject_from_another_handler_keeps_code_and_message(server: Server) -> None:
    """ctx.reject_awakeable(id, "nope", 403) elsewhere makes the waiter end with 403 "nope"."""
    invocation_id, awakeable_id = _start_approval(server, "deny.pdf")
    response = server.client.post("/Approvals/deny", json=awakeable_id)
    assert response.status_code == 200
    assert response.json() == "denied"
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    _assert_invocation_error(attached, 403, "nope")
    output = server.client.get(f"/restate/invocation/{invocation_id}/output")
    _assert_invocation_error(output, 403, "nope")


def test_reject_of_malformed_id_from_a_handler_is_terminal_400(server: Server) -> None:
    """ctx.reject_awakeable with a malformed id fails that handler with 400 and the id's error."""
    response = server.client.post("/Approvals/deny", json="foo")
    _assert_invocation_error(response, 400, "bad awakeable id 'foo': bad format")


# -- awakeables: first completion wins ---------------------------------------------------------


def test_second_resolve_is_accepted_and_ignored(server: Server) -> None:
    """Resolving twice answers 202 both times; the invocation keeps the first value."""
    invocation_id, awakeable_id = _start_approval(server, "twice.pdf")
    url = f"/restate/awakeables/{awakeable_id}/resolve"
    assert server.client.post(url, json="first").status_code == 202
    assert server.client.post(url, json="second").status_code == 202
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert attached.json() == {"doc": "twice.pdf", "verdict": "first"}


def test_first_of_several_completions_wins_and_later_ones_are_not_journaled(
    server: Server,
) -> None:
    """The first completion of an awakeable is journaled and wins; later ones answer 202 with
    `x-wakeful-completion: conflict` and leave the journal alone."""
    response = server.client.post("/Approvals/gated/send")
    invocation_id = response.json()["invocationId"]
    ids = json.loads(_wait_for_file(server.traces / "awakeables" / invocation_id))
    _wait_for_status(server, invocation_id, "suspended")
    verdict = f"/restate/awakeables/{ids['verdict']}"
    first = server.client.post(f"{verdict}/resolve", json="first")
    assert (first.status_code, first.headers["x-wakeful-completion"]) == (202, "applied")
    for late in (
        server.client.post(f"{verdict}/resolve", json="second"),
        server.client.post(f"{verdict}/reject", content="third"),
    ):
        assert (late.status_code, late.headers["x-wakeful-completion"]) == (202, "conflict")
    waiting = _describe(server, invocation_id)
    assert waiting["status"] == "suspended"  # it waits on the gate, not on the verdict
    signals = [e["entry"] for e in waiting["journal"] if e["entry"].startswith("Signal")]
    assert signals == ["Signal(index=17)"]

    server.client.post(f"/restate/awakeables/{ids['gate']}/resolve")
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert attached.status_code == 200
    assert attached.json() == "first"


def test_resolve_after_completion_changes_nothing(server: Server) -> None:
    """Resolving or rejecting the awakeable of a completed invocation answers 202, no change."""
    invocation_id, awakeable_id = _start_approval(server, "done.pdf")
    server.client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="yes")
    first = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert first.status_code == 200
    before = _describe(server, invocation_id)

    late_resolve = server.client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="no")
    late_reject = server.client.post(f"/restate/awakeables/{awakeable_id}/reject", content="x")
    assert (late_resolve.status_code, late_resolve.content) == (202, b"")
    assert (late_reject.status_code, late_reject.content) == (202, b"")

    assert _describe(server, invocation_id) == before
    again = server.client.get(f"/restate/invocation/{invocation_id}/output")
    assert again.content == first.content


def test_resolving_an_unknown_invocations_awakeable_is_accepted(server: Server) -> None:
    """A well-formed awakeable id of a never-created invocation answers 202, creates nothing."""
    invocation_id, awakeable_id = _start_approval(server, "ghost.pdf")
    server.client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="ok")
    server.client.get(f"/restate/invocation/{invocation_id}/attach")
    # Same shape, another invocation: flip a character of the invocation part of the id.
    flipped = "A" if awakeable_id[10] != "A" else "B"
    ghost = awakeable_id[:10] + flipped + awakeable_id[11:]
    with _no_new_invocations(server):
        response = server.client.post(f"/restate/awakeables/{ghost}/resolve", json="boo")
    assert (response.status_code, response.content) == (202, b"")


# -- idempotency --------------------------------------------------------------------------------


def test_idempotent_call_runs_once(server: Server) -> None:
    """Two calls with one idempotency key share the invocation id; the body ran once."""
    key, name = _unique("key"), _unique("counted")
    headers = {"idempotency-key": key}
    first = server.client.post("/Echo/counted", json=name, headers=headers)
    second = server.client.post("/Echo/counted", json=name, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-restate-id"] == second.headers["x-restate-id"]
    assert first.json() == second.json() == {"name": name, "runs": 1}
    assert (server.traces / "runs" / name).read_text().splitlines() == ["ran"]


def test_idempotency_key_scopes_by_handler(server: Server) -> None:
    """The same idempotency key on another handler is another invocation."""
    key = _unique("key")
    counted = server.client.post("/Echo/counted", json="x", headers={"idempotency-key": key})
    said = server.client.post("/Echo/say", json="x", headers={"idempotency-key": key})
    assert counted.headers["x-restate-id"] != said.headers["x-restate-id"]
    assert said.json() == "x"


def test_idempotent_call_reports_expiry(server: Server) -> None:
    """A call with an idempotency key answers with an `idempotency-expires` header."""
    response = server.client.post("/Echo/say", json=1, headers={"idempotency-key": _unique("key")})
    assert response.status_code == 200
    assert "idempotency-expires" in response.headers


def test_idempotent_send_twice_is_previously_accepted(server: Server) -> None:
    """A second send with the same idempotency key answers 202 PreviouslyAccepted, same id."""
    key, name = _unique("key"), _unique("sent")
    headers = {"idempotency-key": key}
    first = server.client.post("/Echo/counted/send", json=name, headers=headers)
    second = server.client.post("/Echo/counted/send", json=name, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["status"] == "Accepted"
    assert second.json() == {
        "invocationId": first.json()["invocationId"],
        "status": "PreviouslyAccepted",
    }
    attached = server.client.get(f"/restate/invocation/Echo/counted/{key}/attach")
    assert attached.json() == {"name": name, "runs": 1}
    assert (server.traces / "runs" / name).read_text().splitlines() == ["ran"]


def test_attach_and_output_by_idempotency_key(server: Server) -> None:
    """/restate/invocation/{svc}/{handler}/{key}/attach|output find the idempotent invocation."""
    key = _unique("key")
    called = server.client.post("/Echo/say", json="kept", headers={"idempotency-key": key})
    for verb in ("attach", "output"):
        response = server.client.get(f"/restate/invocation/Echo/say/{key}/{verb}")
        assert response.status_code == 200
        assert response.headers["x-restate-id"] == called.headers["x-restate-id"]
        assert response.json() == "kept"


def test_attach_by_unknown_idempotency_key_is_404(server: Server) -> None:
    """Attaching by an idempotency key nobody used answers 404 invocation not found."""
    response = server.client.get(f"/restate/invocation/Echo/say/{_unique('never')}/attach")
    _assert_ingress_error(response, 404, "invocation not found")


async def test_duplicate_call_attaches_to_the_running_invocation(server: Server) -> None:
    """A call with the key of a waiting invocation blocks and gets that invocation's result."""
    key = _unique("key")
    invocation_id, awakeable_id = _start_approval(
        server, "dup.pdf", headers={"idempotency-key": key}
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
        call = asyncio.create_task(
            client.post("/Approvals/request", json="ignored", headers={"idempotency-key": key})
        )
        await asyncio.sleep(0.2)
        assert not call.done()
        await client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="both")
        response = await call
    assert response.status_code == 200
    assert response.headers["x-restate-id"] == invocation_id
    assert response.json() == {"doc": "dup.pdf", "verdict": "both"}


# -- bad requests: 4xx, a JSON body, and nothing created -----------------------------------------


def test_unknown_service_is_404(server: Server) -> None:
    """Calling an unknown service answers 404 with Restate's message."""
    with _no_new_invocations(server):
        response = server.client.post("/Nope/handler", json=1)
    _assert_ingress_error(
        response,
        404,
        "service 'Nope' not found, make sure to register the service before calling it.",
    )


def test_unknown_handler_is_404(server: Server) -> None:
    """Calling an unknown handler of a known service answers 404 with Restate's message."""
    with _no_new_invocations(server):
        response = server.client.post("/restate/call/Echo/nope", json=1)
    _assert_ingress_error(
        response,
        404,
        "the service 'Echo' exists, but the handler 'nope' was not found, check that the "
        "handler exists in the latest registered service version.",
    )


@pytest.mark.parametrize("verb", ["resolve", "reject"])
def test_malformed_awakeable_id_is_400(server: Server, verb: str) -> None:
    """Completing awakeable `foo` answers 400 `bad awakeable id 'foo': bad format`."""
    with _no_new_invocations(server):
        response = server.client.post(f"/restate/awakeables/foo/{verb}", json=1)
    _assert_ingress_error(response, 400, "bad awakeable id 'foo': bad format")


def test_bad_awakeables_path_is_400(server: Server) -> None:
    """An awakeables path without resolve/reject answers 400 with Restate's message."""
    response = server.client.post("/restate/awakeables/foo/complete", json=1)
    _assert_ingress_error(
        response,
        400,
        "bad path, expected either /restate/awakeables/:id/resolve or "
        "/restate/awakeables/:id/reject",
    )


@pytest.mark.parametrize(
    "path",
    ["/restate/invocation/foo/attach", "/restate/invocation/foo/output", "/restate/attach/foo"],
)
def test_malformed_invocation_id_is_400(server: Server, path: str) -> None:
    """Attach/output of a malformed invocation id answers 400 `bad invocation id 'foo': …`."""
    response = server.client.get(path)
    _assert_ingress_error(response, 400, "bad invocation id 'foo': bad format")


@pytest.mark.parametrize("verb", ["attach", "output"])
def test_unknown_invocation_is_404(server: Server, verb: str) -> None:
    """Attach/output of a well-formed id that does not exist answers 404 invocation not found."""
    known = server.client.post("/Echo/say", json=1).headers["x-restate-id"]
    # Same partition key, another uuid: well-formed, never created.
    flipped = "A" if known[-1] != "A" else "B"
    unknown = known[:-1] + flipped
    response = server.client.get(f"/restate/invocation/{unknown}/{verb}")
    _assert_ingress_error(response, 404, "invocation not found")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/Echo/order", b'{"item": "pen"'),
        ("/Echo/order", b'{"item": "pen"}'),
        ("/Echo/order", b'["pen", 3]'),
        ("/Echo/greet", b'{"name": "Ada", "age": "old"}'),
    ],
)
def test_invalid_typed_input_is_400(server: Server, path: str, body: bytes) -> None:
    """A body that does not decode into the handler's input type answers 400, runs nothing."""
    with _no_new_invocations(server):
        response = server.client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
    _assert_ingress_error(response, 400, None)
    assert response.json()["message"].startswith("input validation error: ")


def test_wrong_content_type_is_400(server: Server) -> None:
    """A content type the handler does not accept answers 400 with Restate's message."""
    with _no_new_invocations(server):
        response = server.client.post(
            "/Echo/say", content=b"1", headers={"content-type": "text/plain"}
        )
    _assert_ingress_error(
        response,
        400,
        "input validation error: Content-type 'text/plain' does not match 'application/json'",
    )


def test_content_type_parameters_are_ignored(server: Server) -> None:
    """`application/json; charset=utf-8` matches a handler that accepts application/json."""
    response = server.client.post(
        "/Echo/say", content=b'"x"', headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200
    assert response.json() == "x"


def test_body_at_the_limit_is_accepted(server: Server) -> None:
    """A body of exactly --max-body-size bytes is accepted."""
    payload = b"x" * BODY_LIMIT
    response = server.client.post(
        "/Echo/reverse", content=payload, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200
    assert len(response.content) == BODY_LIMIT


@pytest.mark.parametrize(
    "path", ["/Echo/reverse", "/Echo/reverse/send", "/restate/awakeables/{aid}/resolve"]
)
def test_oversized_body_is_413(server: Server, path: str) -> None:
    """A body over --max-body-size answers 413 and creates or completes nothing."""
    invocation_id, awakeable_id = _start_approval(server, "big.pdf")
    with _no_new_invocations(server):
        response = server.client.post(
            path.format(aid=awakeable_id),
            content=b"x" * (BODY_LIMIT + 1),
            headers={"content-type": "application/octet-stream"},
        )
    _assert_ingress_error(response, 413, None)
    assert _describe(server, invocation_id)["status"] == "suspended"
    server.client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="small")
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert attached.json() == {"doc": "big.pdf", "verdict": "small"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/Echo/say"),
        ("DELETE", "/restate/call/Echo/say"),
        ("GET", "/restate/awakeables/{aid}/resolve"),
        ("GET", "/restate/a/{aid}/reject"),
        ("POST", "/restate/invocation/{iid}/attach"),
        ("POST", "/restate/output/{iid}"),
    ],
)
def test_wrong_method_is_405(server: Server, method: str, path: str) -> None:
    """A method the path does not allow answers 405 `method not allowed`, changes nothing."""
    invocation_id, awakeable_id = _start_approval(server, "method.pdf")
    with _no_new_invocations(server):
        response = server.client.request(
            method, path.format(aid=awakeable_id, iid=invocation_id), json="x"
        )
    _assert_ingress_error(response, 405, "method not allowed")
    assert _describe(server, invocation_id)["status"] == "suspended"
    server.client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="ok")
    attached = server.client.get(f"/restate/invocation/{invocation_id}/attach")
    assert attached.json() == {"doc": "method.pdf", "verdict": "ok"}


@pytest.mark.parametrize("path", ["/Echo/say?delay=10s", "/restate/call/Echo/say?delay=PT1S"])
def test_delay_on_a_call_is_400(server: Server, path: str) -> None:
    """`?delay=` on a call answers 400 with Restate's message."""
    with _no_new_invocations(server):
        response = server.client.post(path, json=1)
    _assert_ingress_error(
        response,
        400,
        "cannot use the delay query parameter with calls. The delay is supported only with sends",
    )


@pytest.mark.parametrize("path", ["/restate/foo", "/restate/awakeable/x/resolve", "/restate"])
def test_unknown_restate_path_is_404(server: Server, path: str) -> None:
    """An unknown /restate/<verb> answers 404 `not found`."""
    response = server.client.post(path, json=1)
    _assert_ingress_error(response, 404, "not found")


def test_single_segment_path_is_400(server: Server) -> None:
    """A path with only a service name answers 400 `bad path: …`."""
    with _no_new_invocations(server):
        response = server.client.post("/OnlyService", json=1)
    _assert_ingress_error(response, 400, None)
    assert response.json()["message"].startswith("bad path")


def test_extra_segment_on_a_service_path_is_400(server: Server) -> None:
    """/Svc/handler/<not send> answers 400 with Restate's bad-path message."""
    with _no_new_invocations(server):
        response = server.client.post("/Echo/say/extra", json=1)
    _assert_ingress_error(
        response,
        400,
        "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler",
    )


def test_restate_health(server: Server) -> None:
    """GET /restate/health on the ingress answers 200 JSON."""
    response = server.client.get("/restate/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


# -- keyed services and delays at the ingress ---------------------------------------------------


def test_idempotency_key_on_workflow_run_is_400(server: Server) -> None:
    """A workflow's run is idempotent by its key: an idempotency-key header is refused."""
    with _no_new_invocations(server):
        response = server.client.post("/Signup/k/run", json=1, headers={"idempotency-key": "abc"})
    _assert_ingress_error(
        response,
        400,
        "cannot use the idempotency key with workflow handlers. The handler invocation will "
        "already be idempotent by the workflow key itself.",
    )


def test_unknown_workflow_attach_is_404(server: Server) -> None:
    """/restate/workflow/{name}/{key}/attach of a workflow that never ran answers 404."""
    response = server.client.get("/restate/workflow/Signup/never-ran/attach")
    _assert_ingress_error(response, 404, "invocation not found")


def test_bad_delay_is_400(server: Server) -> None:
    """An unparsable `?delay=` on a send answers 400 and creates nothing."""
    with _no_new_invocations(server):
        response = server.client.post("/Echo/say/send?delay=soon", json=1)
    _assert_ingress_error(response, 400, None)
    # Restate appends the parser's reason after a colon, as wakeful does.
    assert response.json()["message"].startswith(
        "bad delay query parameter, must be a ISO8601 duration: "
    )


def test_delayed_send_reports_its_execution_time(server: Server) -> None:
    """`?delay=` on a send answers 202 with the time the invocation will start."""
    response = server.client.post("/Echo/say/send?delay=PT0.2S", json=1)
    assert response.status_code == 202
    assert response.json()["status"] == "Accepted"
    assert response.json()["executionTime"].endswith("Z")


def test_sleep_in_a_handler_completes(server: Server) -> None:
    """ctx.sleep is a durable timer: the handler resumes after it."""
    response = server.client.post("/Echo/nap")
    assert response.status_code == 200
    assert response.json() == "rested"


# -- admin API ------------------------------------------------------------------------------------


def test_admin_health(server: Server) -> None:
    """GET /health on the admin port answers 200 JSON."""
    response = server.admin.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_admin_describes_a_suspended_then_completed_invocation(server: Server) -> None:
    """GET /invocations/{id} shows status and journal before and after the awakeable resolves."""
    invocation_id, awakeable_id = _start_approval(server, "admin.pdf")
    waiting = _describe(server, invocation_id)
    assert waiting["id"] == invocation_id
    assert waiting["target"] == "Approvals/request"
    assert waiting["result"] is None
    assert [e["entry"] for e in waiting["journal"]] == [
        "Input",
        "Awakeable(index=17)",
        "Run(name='publish')",
        "Completion(id=1)",
    ]
    assert [e["index"] for e in waiting["journal"]] == [0, 1, 2, 3]

    server.client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="ok")
    server.client.get(f"/restate/invocation/{invocation_id}/attach")
    done = _describe(server, invocation_id)
    assert done["status"] == "completed"
    assert done["result"] == {"value": json.dumps({"doc": "admin.pdf", "verdict": "ok"})}
    assert [e["entry"] for e in done["journal"]] == [
        "Input",
        "Awakeable(index=17)",
        "Run(name='publish')",
        "Completion(id=1)",
        "Signal(index=17)",
        "Output",
    ]
    assert done["journal_length"] == 6


def test_admin_describes_a_failed_invocation(server: Server) -> None:
    """A terminal failure shows as a completed invocation whose result is the failure."""
    invocation_id = server.client.post("/Echo/fail").headers["x-restate-id"]
    described = _describe(server, invocation_id)
    assert described["status"] == "completed"
    assert described["result"] == {"failure": {"code": 422, "message": "bad"}}


def test_admin_unknown_and_malformed_invocation(server: Server) -> None:
    """GET /invocations/{id} answers 404 for an unknown id and 400 for a malformed one."""
    known = server.client.post("/Echo/say", json=1).headers["x-restate-id"]
    unknown = known[:-1] + ("A" if known[-1] != "A" else "B")
    assert server.admin.get(f"/invocations/{unknown}").status_code == 404
    malformed = server.admin.get("/invocations/foo")
    assert malformed.status_code == 400
    assert malformed.json()["message"] == "bad invocation id 'foo': bad format"
