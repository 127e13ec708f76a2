"""The admin API's lists of pending waits, over a real server: context, deadline, schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from tests.e2e.apps_durability import attach, send, wait_status, wait_until
from tests.e2e.apps_humans import APP
from tests.support.server import WakefulProcess

from wakeful.journal.ids import AwakeableId, InvocationId


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WakefulProcess]:
    """One server with `--inactivity-timeout 0` for the module."""
    process = WakefulProcess(
        app=APP, data_dir=tmp_path_factory.mktemp("listing") / "data", inactivity_timeout="0"
    )
    process.start()
    yield process
    process.stop()


def listed(proc: WakefulProcess, kind: str = "awakeables", **params: Any) -> dict[str, Any]:
    """GET the admin list of `kind` with query `params`."""
    response = httpx.get(f"{proc.admin_url}/{kind}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def item(proc: WakefulProcess, wait_id: str, kind: str = "awakeables") -> dict[str, Any]:
    """The listed pending item with this id."""
    items = listed(proc, kind, limit=1000)[kind]
    return next(i for i in items if i["id"] == wait_id)


def parse(text: str) -> float:
    """An RFC 3339 time as epoch seconds."""
    return datetime.fromisoformat(text).timestamp()


def test_pending_awakeable_is_listed_with_target_description_and_timer_deadline(
    server: WakefulProcess,
) -> None:
    """A handler racing its awakeable against a one-hour sleep is listed with its target,
    description, RFC 3339 creation time and the sleep's due time as deadline."""
    before = time.time()
    iid = send(server.url, "Humans/approve", "expense 42 (€1,200)")
    wait_status(server.admin_url, iid, "suspended")
    aid = str(AwakeableId(InvocationId.parse(iid), 17))
    found = item(server, aid)
    assert found["invocation_id"] == iid
    assert found["target"] == "Humans/approve"
    assert found["description"] == "Approve expense 42 (€1,200)"
    assert found["status"] == "pending"
    assert before - 1 <= parse(found["created_at"]) <= time.time() + 1
    assert abs(parse(found["deadline"]) - (parse(found["created_at"]) + 3600)) < 5
    assert found["schema"]["properties"]["approved"]["type"] == "boolean"


def test_schema_comes_from_pydantic_msgspec_dataclass_and_primitive_hints(
    server: WakefulProcess,
) -> None:
    """Each awakeable lists the JSON Schema of its type hint; the untyped one null."""
    iid = send(server.url, "Humans/kinds", "x")
    wait_status(server.admin_url, iid, "suspended")
    schemas = [
        item(server, str(AwakeableId(InvocationId.parse(iid), 17 + n)))["schema"] for n in range(5)
    ]
    decision, review, shipment, number, untyped = schemas
    assert decision["required"] == ["approved"]
    assert "Review" in review["$defs"]
    assert review["$defs"]["Review"]["properties"]["score"]["type"] == "integer"
    assert shipment["$defs"]["Shipment"]["required"] == ["carrier", "days"]
    assert number == {"type": "integer"}
    assert untyped is None
    for n in range(5):  # no deadline: nothing races these
        assert item(server, str(AwakeableId(InvocationId.parse(iid), 17 + n)))["deadline"] is None


def test_completed_awakeables_leave_the_pending_list_and_describe_shows_them(
    server: WakefulProcess,
) -> None:
    """Once resolved, an awakeable is listed under status=completed with its outcome, not
    as pending; describe lists the invocation's awakeables with their status."""
    iid = send(server.url, "Humans/plain", "x")
    wait_status(server.admin_url, iid, "suspended")
    aid = str(AwakeableId(InvocationId.parse(iid), 17))
    assert item(server, aid)["description"] == "Anything"
    httpx.post(f"{server.url}/restate/awakeables/{aid}/resolve", json={"any": "thing"})
    assert attach(server.url, iid).json() == {"any": "thing"}
    assert aid not in {i["id"] for i in listed(server, limit=1000)["awakeables"]}
    done = {i["id"]: i for i in listed(server, status="completed", limit=1000)["awakeables"]}
    assert done[aid]["outcome"] == {"value": {"any": "thing"}}
    described = httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=10).json()
    assert [(a["id"], a["status"]) for a in described["awakeables"]] == [(aid, "completed")]


def test_listing_pages_newest_first_filters_by_service_and_refuses_bad_queries(
    server: WakefulProcess,
) -> None:
    """`limit` and `next_cursor` page through the pending list newest first without overlap;
    `service` filters; a bad status, limit or cursor answers 400."""
    iids = [send(server.url, "Humans/plain", f"p{n}") for n in range(5)]
    for iid in iids:
        wait_status(server.admin_url, iid, "suspended")
    ids: list[str] = []
    cursor = None
    while True:
        page = listed(server, limit=2, **({"cursor": cursor} if cursor else {}))
        ids.extend(i["id"] for i in page["awakeables"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == len(set(ids))
    mine = [str(AwakeableId(InvocationId.parse(iid), 17)) for iid in iids]
    positions = [ids.index(m) for m in mine]
    assert positions == sorted(positions, reverse=True)  # newest first
    assert listed(server, service="Nobody")["awakeables"] == []
    assert {i["target"] for i in listed(server, service="Humans", limit=1000)["awakeables"]} >= {
        "Humans/plain"
    }
    for bad in ({"status": "sleeping"}, {"limit": "0"}, {"limit": "x"}, {"cursor": "zz"}):
        response = httpx.get(f"{server.admin_url}/awakeables", params=bad, timeout=10)
        assert response.status_code == 400, (bad, response.text)


def test_awaited_workflow_promise_is_listed_until_resolved(server: WakefulProcess) -> None:
    """A workflow awaiting its promise lists it (workflow, key, name, description, schema);
    resolving it through the shared handler takes it off the pending list."""
    response = httpx.post(f"{server.url}/Signoff/doc-9/run/send", json="doc-9.pdf", timeout=10)
    assert response.status_code == 202, response.text
    found = wait_until(
        lambda: next(
            (
                p
                for p in listed(server, "promises")["promises"]
                if p["id"] == "Signoff/doc-9/verdict"
            ),
            None,
        ),
        10,
        "the promise to be listed",
    )
    assert (found["workflow"], found["key"], found["name"]) == ("Signoff", "doc-9", "verdict")
    assert found["description"] == "Sign off doc-9.pdf"
    assert found["schema"] == {"type": "boolean"}
    assert found["target"] == "Signoff/doc-9/run"
    httpx.post(f"{server.url}/Signoff/doc-9/decide", json=True, timeout=10)
    result = httpx.get(f"{server.url}/restate/workflow/Signoff/doc-9/attach", timeout=10)
    assert result.json() is True
    pending = {p["id"] for p in listed(server, "promises")["promises"]}
    assert "Signoff/doc-9/verdict" not in pending


def test_cli_lists_pending_awakeables_with_their_context(server: WakefulProcess) -> None:
    """`wakeful awakeables list` prints each pending awakeable's id, target and description."""
    import subprocess
    import sys

    iid = send(server.url, "Humans/approve", "expense cli")
    wait_status(server.admin_url, iid, "suspended")
    aid = str(AwakeableId(InvocationId.parse(iid), 17))
    out = subprocess.run(
        [sys.executable, "-m", "wakeful.cli", "awakeables", "list", "--admin", server.admin_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    line = next(row for row in out.splitlines() if row.startswith(aid))
    assert "Humans/approve" in line
    assert "until " in line
    assert line.endswith("Approve expense cli")
