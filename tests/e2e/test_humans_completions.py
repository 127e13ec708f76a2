"""Completions that cannot be forged or poisoned, over a real server: refused indexes,
payloads checked against the awaited type's schema, and what every answer tells."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.apps_durability import attach, describe, send, wait_status, wait_until
from tests.e2e.apps_humans import APP
from tests.support.server import WakefulProcess

from wakeful.journal.ids import AwakeableId, InvocationId

TOKEN = "s3cret-completion-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WakefulProcess]:
    """One server with `--inactivity-timeout 0` for the module."""
    process = WakefulProcess(app=APP, data_dir=tmp_path_factory.mktemp("humans") / "data")
    process.inactivity_timeout = "0"
    process.start()
    yield process
    process.stop()


def awakeable(invocation_id: str, n: int = 1) -> str:
    """The id of an invocation's n-th awakeable, computed from its id alone."""
    return str(AwakeableId(InvocationId.parse(invocation_id), 16 + n))


def complete(
    url: str, awakeable_id: str, body: Any, action: str = "resolve", strict: bool = False
) -> httpx.Response:
    """POST a completion (JSON for resolve, text for reject)."""
    target = f"{url}/restate/awakeables/{awakeable_id}/{action}"
    params = {"strict": "true"} if strict else {}
    if action == "resolve":
        return httpx.post(target, json=body, params=params, timeout=10)
    return httpx.post(target, content=str(body).encode(), params=params, timeout=10)


def started(proc: WakefulProcess, handler: str, arg: Any = "x") -> str:
    """Send `Humans/handler` and wait until it is suspended on its awakeables."""
    iid = send(proc.url, f"Humans/{handler}", arg)
    wait_status(proc.admin_url, iid, "suspended")
    return iid


def signals_in(admin_url: str, iid: str) -> list[str]:
    """The signal notifications in an invocation's journal."""
    return [e["entry"] for e in describe(admin_url, iid)["journal"] if "Signal" in e["entry"]]


def test_cancel_index_and_uncreated_indexes_are_refused_and_nothing_is_stored(
    server: WakefulProcess,
) -> None:
    """Index 1 (cancel) answers 400, an index the invocation never created 404; the journal
    gains nothing and the invocation keeps waiting."""
    iid = started(server, "approve", "expense 1")
    cancel_id = str(AwakeableId(InvocationId.parse(iid), 1))
    refused = complete(server.url, cancel_id, {"approved": True})
    assert refused.status_code == 400, refused.text
    assert "signal index 1" in refused.json()["message"]
    for n in (2, 50):
        forged = complete(server.url, awakeable(iid, n), {"approved": True}, strict=True)
        assert forged.status_code == 404, forged.text
        assert forged.headers["x-wakeful-completion"] == "unknown"
        assert "never created" in forged.json()["message"]
    assert signals_in(server.admin_url, iid) == []
    assert describe(server.admin_url, iid)["status"] == "suspended"


def test_payload_of_the_wrong_type_is_refused_and_the_awakeable_stays_pending(
    server: WakefulProcess,
) -> None:
    """A resolve that does not validate against the Decision schema answers 400 naming the
    field; a valid one afterwards completes the handler."""
    iid = started(server, "approve", "expense 2")
    bad = complete(server.url, awakeable(iid), {"approved": "yes please"})
    assert bad.status_code == 400, bad.text
    assert "approved" in bad.json()["message"]
    missing = complete(server.url, awakeable(iid), {"comment": "no field approved"})
    assert missing.status_code == 400, missing.text
    assert signals_in(server.admin_url, iid) == []
    good = complete(server.url, awakeable(iid), {"approved": True, "comment": "ok"}, strict=True)
    assert good.status_code == 200, good.text
    assert good.json()["completion"] == "applied"
    assert attach(server.url, iid).json() == {"approved": True, "comment": "ok"}


def test_strict_answers_tell_duplicate_conflict_unknown_and_closed(
    server: WakefulProcess,
) -> None:
    """After a completion: the same payload is 200 duplicate, another 409 conflict with the
    stored outcome; an unknown invocation 404; a closed awakeable 410. Without `strict` all
    are 202 and the header tells."""
    iid = started(server, "kinds")
    first = awakeable(iid, 2)
    assert complete(server.url, first, {"score": 5}, strict=True).status_code == 200
    duplicate = complete(server.url, first, {"score": 5}, strict=True)
    assert duplicate.status_code == 200, duplicate.text
    assert duplicate.json()["completion"] == "duplicate"
    conflict = complete(server.url, first, {"score": 1}, strict=True)
    assert conflict.status_code == 409, conflict.text
    body = conflict.json()
    assert body["outcome"] == {"value": {"score": 5}}
    assert body["completed_at"].endswith("+00:00")
    lax = complete(server.url, first, {"score": 1})
    assert (lax.status_code, lax.headers["x-wakeful-completion"]) == (202, "conflict")

    nobody = str(AwakeableId(InvocationId.random(), 17))
    assert complete(server.url, nobody, 1, strict=True).status_code == 404
    lax_unknown = complete(server.url, nobody, 1)
    assert (lax_unknown.status_code, lax_unknown.headers["x-wakeful-completion"]) == (
        202,
        "unknown",
    )

    killed = httpx.patch(f"{server.admin_url}/invocations/{iid}/kill", timeout=10)
    assert killed.status_code == 200, killed.text
    closed = complete(server.url, awakeable(iid, 3), {"carrier": "ups", "days": 2}, strict=True)
    assert closed.status_code == 410, closed.text
    assert closed.headers["x-wakeful-completion"] == "closed"


def test_every_kind_of_type_hint_validates_and_the_handler_gets_its_values(
    server: WakefulProcess,
) -> None:
    """pydantic, msgspec, dataclass and int hints each refuse a wrong payload and accept a
    right one; the untyped awakeable takes anything (a rejection here)."""
    iid = started(server, "kinds")
    cases = [
        (1, {"approved": 1}, {"approved": False}),
        (2, {"score": "high"}, {"score": 3}),
        (3, {"carrier": "dhl"}, {"carrier": "dhl", "days": 4}),
        (4, "seven", 7),
    ]
    for n, wrong, right in cases:
        refused = complete(server.url, awakeable(iid, n), wrong)
        assert refused.status_code == 400, (n, refused.text)
        accepted = complete(server.url, awakeable(iid, n), right)
        assert accepted.status_code == 202, (n, accepted.text)
        assert accepted.headers["x-wakeful-completion"] == "applied"
    assert complete(server.url, awakeable(iid, 5), "changed my mind", "reject").status_code == 202
    response = attach(server.url, iid)
    assert response.status_code == 500, response.text
    assert "changed my mind" in response.text


def test_python_client_returns_what_the_completion_did(server: WakefulProcess) -> None:
    """`resolve_awakeable` returns "applied", then "duplicate"; a payload of the wrong type
    raises the client's HttpError with the server's 400."""
    import asyncio

    import wakeful

    iid = started(server, "approve", "expense 3")

    async def drive() -> list[Any]:
        async with wakeful.create_client(server.url) as client:
            with pytest.raises(wakeful.client.HttpError) as info:
                await client.resolve_awakeable(awakeable(iid), {"approved": "maybe"})
            first = await client.resolve_awakeable(awakeable(iid), {"approved": False})
            second = await client.resolve_awakeable(awakeable(iid), {"approved": False})
            return [info.value.status_code, first, second]

    assert asyncio.run(drive()) == [400, "applied", "duplicate"]


def test_completion_token_guards_raw_ids_and_admin_token_guards_the_admin_api(
    tmp_path: Path,
) -> None:
    """With `--completion-token` a raw-id completion needs the bearer token (401 without,
    nothing stored); with `--admin-token` so does the admin API (the inbox page may carry it
    as `?token=`)."""
    proc = WakefulProcess(
        app=APP,
        data_dir=tmp_path / "data",
        inactivity_timeout="0",
        extra_args=["--admin-token", "adm1n"],
        env={"WAKEFUL_COMPLETION_TOKEN": TOKEN},
    ).start()
    try:
        admin = {"authorization": "Bearer adm1n"}
        assert httpx.get(f"{proc.admin_url}/invocations", timeout=10).status_code == 401
        assert httpx.get(f"{proc.admin_url}/invocations", headers=admin).status_code == 200
        assert httpx.get(f"{proc.admin_url}/inbox", timeout=10).status_code == 401
        inbox = httpx.get(f"{proc.admin_url}/inbox", params={"token": "adm1n"}, timeout=10)
        assert inbox.status_code == 200  # a browser opens the page with the token in the URL
        assert httpx.get(f"{proc.admin_url}/inbox/items", timeout=10).status_code == 401
        assert httpx.get(f"{proc.admin_url}/inbox/items", headers=admin).status_code == 200
        iid = send(proc.url, "Humans/plain", "x")
        wait_until(
            lambda: (
                httpx.get(f"{proc.admin_url}/invocations/{iid}", headers=admin).json()["status"]
                == "suspended"
            ),
            10,
            "suspension",
        )
        url = f"{proc.url}/restate/awakeables/{awakeable(iid)}/resolve"
        denied = httpx.post(url, json="hi", timeout=10)
        assert denied.status_code == 401, denied.text
        wrong = httpx.post(url, json="hi", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = httpx.post(url, json="hi", headers={"authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 202, allowed.text
        assert attach(proc.url, iid).json() == "hi"
    finally:
        proc.stop()
