"""Scopes and limit keys over a real server: a scope is part of a target's identity (objects,
workflows, idempotency keys), a limit key only labels the invocation; both reach
`ctx.request()`, and bad values are refused at the edge.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.e2e.apps_scopes import APP, add, info
from tests.support.server import ServerFactory, WakefulProcess

import wakeful


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> WakefulProcess:
    """One server for the module; every wait suspends (`--inactivity-timeout 0`)."""
    return serve_module(APP)


def _post(proc: WakefulProcess, path: str, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{proc.url}/{path}", json=body, headers=headers, timeout=20)


def test_calls_in_a_scope_reach_that_scope_s_objects(server: WakefulProcess) -> None:
    """ctx.scope(s).object_call: each scope has its own object per key, apart from the
    unscoped one; the callee sees its scope and limit key in ctx.request(); generic_call
    takes scope= and limit_key= too."""
    response = _post(server, "Router/in_scopes", "k1")
    assert response.status_code == 200, response.text
    first, second, other, unscoped, seen, raw = response.json()
    assert (first, second, other, unscoped) == (1, 2, 5, 10)
    assert seen["key"] == "k1"
    assert (seen["scope"], seen["limit_key"]) == ("t1", "lk")
    echoed = json.loads(raw)
    assert (echoed["scope"], echoed["limit_key"]) == ("t3", "a/b")


def test_sends_in_a_scope_and_the_scoped_ingress_path(server: WakefulProcess) -> None:
    """ctx.scope(s).object_send/workflow_send land in scope s: the ingress path
    /restate/scope/s/call/… sees the state they wrote, the unscoped path does not."""
    response = _post(server, "Router/send_in_scope", "k2")
    assert response.status_code == 200, response.text
    workflow_id = response.json()
    attached = httpx.get(f"{server.url}/restate/invocation/{workflow_id}/attach", timeout=20)
    assert attached.json()["scope"] == "t1"
    assert attached.json()["name"] == "from-router"
    scoped = _post(server, "restate/scope/t1/call/Tally/k2/add", 0)
    assert scoped.json() == 3
    assert _post(server, "Tally/k2/add", 0).json() == 0
    info_answer = _post(server, "restate/scope/t1/call/Tally/k2/info", None, **{
        "x-restate-limit-key": "team.a/user-1"
    }).json()  # fmt: skip
    assert (info_answer["scope"], info_answer["limit_key"]) == ("t1", "team.a/user-1")
    assert info_answer["key"] == "k2"


def test_idempotent_requests_are_per_scope(server: WakefulProcess) -> None:
    """The same idempotency key is one invocation within a scope, and a different one in
    another scope or unscoped."""
    key = {"idempotency-key": "order-1"}
    a1 = _post(server, "restate/scope/a/call/Echo/whoami", None, **key)
    a2 = _post(server, "restate/scope/a/call/Echo/whoami", None, **key)
    b1 = _post(server, "restate/scope/b/call/Echo/whoami", None, **key)
    plain = _post(server, "Echo/whoami", None, **key)
    ids = [r.headers["x-restate-id"] for r in (a1, a2, b1, plain)]
    assert ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3]}) == 3
    assert a1.json() == a2.json()
    assert (a1.json()["scope"], b1.json()["scope"], plain.json()["scope"]) == ("a", "b", None)
    assert a1.json()["idempotency_key"] == "order-1"


def test_workflows_are_per_scope(server: WakefulProcess) -> None:
    """A workflow key runs once per scope: the same key in two scopes is two runs, and a
    second send within a scope finds the first."""
    a = _post(server, "restate/scope/a/send/Signup/alice/run", "A")
    b = _post(server, "restate/scope/b/send/Signup/alice/run", "B")
    again = _post(server, "restate/scope/a/send/Signup/alice/run", "A2")
    assert (a.status_code, b.status_code, again.status_code) == (202, 202, 202)
    assert a.json()["invocationId"] != b.json()["invocationId"]
    assert again.json() == {
        "invocationId": a.json()["invocationId"],
        "status": "PreviouslyAccepted",
    }
    for sent, scope, name in ((a, "a", "A"), (b, "b", "B")):
        iid = sent.json()["invocationId"]
        result = httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=20).json()
        assert (result["scope"], result["key"], result["name"]) == (scope, "alice", name)


@pytest.mark.parametrize(
    ("path", "headers", "message"),
    [
        ("Echo/whoami", {"x-restate-limit-key": "a"}, "limit-key requires a scope"),
        ("restate/scope/bad scope!/call/Echo/whoami", {}, "bad scope value"),
        ("restate/scope/s/call/Echo/whoami", {"x-restate-limit-key": "a/b/c"}, "invalid limit-key"),
    ],
)
def test_bad_scopes_and_limit_keys_are_refused(
    server: WakefulProcess, path: str, headers: dict[str, str], message: str
) -> None:
    """A limit key without a scope, a malformed scope or limit key: 400 naming the problem."""
    response = _post(server, path, None, **headers)
    assert response.status_code == 400
    assert message in response.json()["message"]


async def test_scoped_client(server: WakefulProcess) -> None:
    """`client.scope(s)` (restate-sdk's ScopedClient) calls and sends within the scope."""
    async with wakeful.create_client(server.url) as client:
        scoped = client.scope("c1")
        assert await scoped.object_call(add, "k3", 4) == 4
        sent = await scoped.object_send(add, "k3", 1, limit_key="x")
        assert sent.invocation_id.startswith("inv_")
        assert await client.object_call(add, "k3", 0) == 0
        seen = await scoped.object_call(info, "k3", None, limit_key="x/y")
        assert (seen["scope"], seen["limit_key"]) == ("c1", "x/y")
