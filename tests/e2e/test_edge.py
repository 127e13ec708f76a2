"""End-to-end: bad input is rejected at the edge with a 4xx JSON body, and nothing is stored.

Each case checks the status, the JSON body naming what is wrong, and that the admin API lists
no new invocation; then that the server still serves (a bad request never wedges it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.server import ServerFactory

from wakeful.journal.ids import AwakeableRef, parse_awakeable_id

APP = Path(__file__).with_name("apps.py")
TIMEOUT = 10.0

Clients = tuple[httpx.Client, httpx.Client]
_TRACES: list[Path] = []


@pytest.fixture(scope="module")
def clients(serve_module: ServerFactory) -> Iterator[Clients]:
    """One server for the module: (ingress client, admin client)."""
    process = serve_module(f"{APP}:app", traces_env="WAKEFUL_E2E_DIR", name="e2e-edge")
    _TRACES.append(process.traces_dir)
    with (
        httpx.Client(base_url=process.url, timeout=TIMEOUT) as ingress,
        httpx.Client(base_url=process.admin_url, timeout=TIMEOUT) as admin,
    ):
        yield ingress, admin


def _targets(admin: httpx.Client) -> dict[str, str]:
    response = admin.get("/invocations", params={"limit": "100000"})
    assert response.status_code == 200, response.text
    return {row["id"]: row["target"] for row in response.json()["invocations"]}


def _ids(admin: httpx.Client) -> set[str]:
    return set(_targets(admin))


@contextmanager
def _nothing_stored(clients: Clients) -> Iterator[None]:
    """Nothing new is listed afterwards, and the server still answers a good send."""
    ingress, admin = clients
    before = _ids(admin)
    yield
    assert _ids(admin) == before
    ok = ingress.post("/Echo/say/send", json="still serving")
    assert ok.status_code == 202, ok.text


def _json_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    for fragment in fragments:
        assert fragment in body["message"], body
    return body


@pytest.mark.parametrize(
    "delay",
    ["PT99999999999999999999S", "P10000000D", "PT" + "9" * 400 + "S", "9999999999999 days"],
)
def test_a_delay_past_year_9999_is_a_400(clients: Clients, delay: str) -> None:
    """`?delay=` that overflows or ends after year 9999: 400 naming the delay, nothing stored."""
    with _nothing_stored(clients):
        response = clients[0].post("/Echo/say/send", params={"delay": delay}, json="x")
        body = _json_error(response, 400, "bad delay query parameter")
        assert body["code"] == 400


def test_an_empty_delay_is_a_400(clients: Clients) -> None:
    """`?delay=` with no value is not a duration."""
    with _nothing_stored(clients):
        response = clients[0].post("/Echo/say/send?delay=", json="x")
        _json_error(response, 400, "bad delay query parameter")


def test_a_long_delay_before_year_9999_is_accepted(clients: Clients) -> None:
    """The bound is the year, not some smaller cap: 1000 years ahead is scheduled."""
    response = clients[0].post("/Echo/say/send", params={"delay": "P365000D"}, json="x")
    assert response.status_code == 202, response.text
    assert response.json()["executionTime"].startswith("3")


@pytest.mark.parametrize("limit", ["abc", "-1", "0", "1e3", "99999999999999999999", "9" * 5000])
def test_admin_list_limit_is_range_checked(clients: Clients, limit: str) -> None:
    """`GET /invocations?limit=` outside 1..100000 (or not a number) is a 400 JSON error."""
    response = clients[1].get("/invocations", params={"limit": limit})
    _json_error(response, 400, "bad limit")


def test_a_thousand_headers_is_a_431(clients: Clients) -> None:
    """Past 100 request headers the ingress answers 431, as Restate's does, storing nothing."""
    headers = [(f"x-h{i}", "v") for i in range(1000)]
    with _nothing_stored(clients):
        response = clients[0].post("/Echo/say/send", json="x", headers=headers)
        _json_error(response, 431, "too many request headers: 100")


def test_an_empty_json_body_with_a_json_content_type_is_a_400(clients: Clients) -> None:
    """Restate's input rules: JSON has no empty value."""
    with _nothing_stored(clients):
        response = clients[0].post(
            "/Echo/counted/send", content=b"", headers={"content-type": "application/json"}
        )
        _json_error(response, 400, "input validation error: Empty body not allowed")


def test_a_body_for_a_handler_without_input_is_a_400(clients: Clients) -> None:
    """A handler without an input parameter accepts no body and no content type."""
    with _nothing_stored(clients):
        response = clients[0].post("/Echo/hello/send", json={"unexpected": True})
        _json_error(response, 400, "Expected body and content-type to be empty")


def test_an_overlong_idempotency_key_is_a_400(clients: Clients) -> None:
    """An idempotency key is hashed and stored: past 1024 characters it is refused."""
    with _nothing_stored(clients):
        response = clients[0].post(
            "/Echo/say/send", json="x", headers={"idempotency-key": "k" * 2000}
        )
        _json_error(response, 400, "idempotency-key", "1024")


@pytest.mark.parametrize(
    "path",
    [
        "/restate/invocation/inv_1garbage/attach",
        "/restate/invocation/%ff%fe/output",
        "/restate/attach/" + "inv_1" + "z" * 5000,
        "/restate/awakeables/sign_1AAAA/resolve",
        "/restate/awakeables/prom_1" + "A" * 300 + "/resolve",
        "/restate/awakeables/%00/reject",
    ],
)
def test_bad_ids_are_a_400(clients: Clients, path: str) -> None:
    """Malformed invocation and awakeable ids: 400 JSON naming the id, nothing stored."""
    with _nothing_stored(clients):
        method = "POST" if "awakeables" in path else "GET"
        response = clients[0].request(method, path, content=b"1")
        _json_error(response, 400, "bad")


def test_admin_bad_invocation_id_is_a_400(clients: Clients) -> None:
    """The admin API parses ids the same way."""
    response = clients[1].get("/invocations/inv_nope")
    _json_error(response, 400, "bad invocation id")


@pytest.mark.parametrize("handler", ["far_send", "far_sleep"])
def test_a_handler_delay_past_year_9999_fails_that_invocation_only(
    clients: Clients, handler: str
) -> None:
    """`send_delay` / `sleep` of ten million days: the invocation fails with a TerminalError
    (400) naming the delay; nothing else is stored and the server keeps serving."""
    ingress, admin = clients
    before = _targets(admin)
    response = ingress.post(f"/Echo/{handler}", json=10**7)
    body = _json_error(response, 400, "too long", "9999-12-31")
    assert body["source"] == "invocation"
    new = {i: t for i, t in _targets(admin).items() if i not in before}
    assert new == {response.headers["x-restate-id"]: f"Echo/{handler}"}  # no callee, no timer
    fine = ingress.post("/Echo/say", json=uuid.uuid4().hex)
    assert fine.status_code == 200, fine.text


def test_a_handler_send_a_million_days_ahead_is_scheduled(clients: Clients) -> None:
    """A delay that ends before year 9999 (about 2,700 years) is stored as a scheduled send."""
    response = clients[0].post("/Echo/far_send", json=10**6)
    assert response.status_code == 200, response.text
    assert response.json() == "sent"


def test_a_legacy_prom_1_id_leaves_the_invocation_waiting(clients: Clients) -> None:
    """`prom_1…` with the index of a waiting awakeable is accepted (202) but, as in Restate
    1.7, does not complete signal N: the journal is unchanged and the invocation still waits;
    the `sign_1…` id then completes it."""
    ingress, admin = clients
    sent = ingress.post("/Approvals/request/send", json="contract")
    assert sent.status_code == 202, sent.text
    invocation_id = sent.json()["invocationId"]
    published = _TRACES[-1] / "awakeables" / invocation_id
    deadline = time.monotonic() + TIMEOUT
    while not published.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    sign_id = published.read_text()
    ref = parse_awakeable_id(sign_id)
    legacy = str(AwakeableRef(ref.invocation_id, "entry", ref.index))
    assert legacy.startswith("prom_1")
    described = admin.get(f"/invocations/{invocation_id}").json()
    while described["status"] != "suspended" and time.monotonic() < deadline:
        time.sleep(0.01)  # the step that published the id is still being journaled
        described = admin.get(f"/invocations/{invocation_id}").json()
    before = described["journal"]

    response = ingress.post(f"/restate/awakeables/{legacy}/resolve", json="approved")
    assert response.status_code == 202, response.text
    assert admin.get(f"/invocations/{invocation_id}").json()["journal"] == before
    assert ingress.get(f"/restate/invocation/{invocation_id}/output").status_code == 470

    assert ingress.post(f"/restate/awakeables/{sign_id}/resolve", json="no").status_code == 202
    answer = ingress.get(f"/restate/invocation/{invocation_id}/attach")
    assert answer.json() == {"doc": "contract", "verdict": "no"}
