"""Signed completion links over a real server: a page that completes nothing on GET, a form
that completes once, and pages a person understands for every other case."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.apps_durability import attach, send, wait_status, wait_until
from tests.e2e.apps_humans import APP, LINKS_ENV
from tests.support.server import WakefulProcess

from wakeful.journal.ids import AwakeableId, InvocationId

Server = tuple[WakefulProcess, Path]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose raw-id completions need a token: links must work without it."""
    root = tmp_path_factory.mktemp("links")
    process = WakefulProcess(
        app=APP,
        data_dir=root / "data",
        inactivity_timeout="0",
        env={LINKS_ENV: str(root / "links"), "WAKEFUL_COMPLETION_TOKEN": "only-for-raw-ids"},
    ).start()
    yield process, root / "links"
    process.stop()


def link_of(server: Server, iid: str) -> str:
    """The link the `linked` handler wrote for its invocation."""
    folder = server[1]
    return wait_until(
        lambda: (folder / iid).exists() and (folder / iid).read_text(), 10, "the link"
    )


def nonce(page: str) -> str:
    """The form nonce in a completion page."""
    found = re.search(r'name=nonce value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def submit(url: str, page: str, choice: int, **fields: str) -> httpx.Response:
    """POST the page's form with button `choice` (and input fields), as a browser would."""
    data = {"nonce": nonce(page), "choice": str(choice), **fields}
    return httpx.post(url, data=data, headers={"origin": _origin(url)}, timeout=10)


def _origin(url: str) -> str:
    return "/".join(url.split("/")[:3])


def admin_link(proc: WakefulProcess, awakeable_id: str, **options: Any) -> str:
    """A link issued through the admin API."""
    response = httpx.post(
        f"{proc.admin_url}/awakeables/{awakeable_id}/links", json=options, timeout=10
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def test_link_page_completes_nothing_on_get_then_once_on_post(server: Server) -> None:
    """GET shows the description and Approve/Reject (twice, still pending); approving
    resumes the handler with true; the same form again and the page again say "already
    decided: approved at …" with 410."""
    proc, _ = server
    iid = send(proc.url, "Humans/linked", "expense 7 (€300)")
    url = link_of(server, iid)
    assert url.startswith(f"{proc.url}/restate/links/")
    for _ in range(2):
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200, page.text
        assert "Approve expense 7 (€300)" in page.text
        assert ">Approve</button>" in page.text
        assert ">Reject</button>" in page.text
        assert "Humans/linked" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    wait_status(proc.admin_url, iid, "suspended")
    done = submit(url, page.text, 0)
    assert done.status_code == 200, done.text
    assert "Done: approved" in done.text
    assert attach(proc.url, iid).json() is True
    again = submit(url, page.text, 1)
    assert again.status_code == 410, again.text
    assert re.search(r"Already decided: approved at \d{4}-\d\d-\d\dT", again.text)
    reopened = httpx.get(url, timeout=10)
    assert reopened.status_code == 410
    assert "Already decided: approved" in reopened.text


def test_forms_without_the_page_nonce_or_from_another_site_are_refused(server: Server) -> None:
    """A POST without the page's nonce, or with a foreign Origin, is 403 and completes
    nothing; raw-id completion without the token is 401 meanwhile."""
    proc, _ = server
    iid = send(proc.url, "Humans/linked", "expense 8")
    url = link_of(server, iid)
    page = httpx.get(url, timeout=10).text
    no_nonce = httpx.post(url, data={"choice": "0"}, headers={"origin": _origin(url)})
    assert no_nonce.status_code == 403
    foreign = httpx.post(
        url, data={"nonce": nonce(page), "choice": "0"}, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    raw = httpx.post(
        f"{proc.url}/restate/awakeables/{AwakeableId(InvocationId.parse(iid), 17)}/resolve",
        json=True,
    )
    assert raw.status_code == 401
    assert httpx.get(url, timeout=10).status_code == 200  # still pending
    assert submit(url, page, 1).status_code == 200
    assert attach(proc.url, iid).json() is False


def test_expired_and_tampered_links_show_pages_and_complete_nothing(server: Server) -> None:
    """An expired link answers 410 and a tampered one 404, each with a page saying so."""
    proc, _ = server
    iid = send(proc.url, "Humans/plain", "x")
    wait_status(proc.admin_url, iid, "suspended")
    aid = str(AwakeableId(InvocationId.parse(iid), 17))
    expired = httpx.get(admin_link(proc, aid, expires_in="0s"), timeout=10)
    assert expired.status_code == 410
    assert "expired" in expired.text
    url = admin_link(proc, aid)
    tampered = httpx.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"), timeout=10)
    assert tampered.status_code == 404
    assert "not valid" in tampered.text
    assert httpx.get(url, timeout=10).status_code == 200
    assert wait_status(proc.admin_url, iid, "suspended")


def test_schema_object_with_one_boolean_gets_approve_reject_and_optional_inputs(
    server: Server,
) -> None:
    """For Decision (approved: bool, comment: optional) the page shows Approve/Reject and a
    comment input; the handler gets both."""
    proc, _ = server
    iid = send(proc.url, "Humans/approve", "expense 9")
    wait_status(proc.admin_url, iid, "suspended")
    url = admin_link(proc, str(AwakeableId(InvocationId.parse(iid), 17)))
    page = httpx.get(url, timeout=10).text
    assert "field.comment" in page
    assert "Deadline" in page  # it races a one-hour timer
    done = submit(url, page, 1, **{"field.comment": "too expensive"})
    assert done.status_code == 200, done.text
    assert "Done: rejected" in done.text
    assert attach(proc.url, iid).json() == {"approved": False, "comment": "too expensive"}


def test_outcomes_map_button_labels_to_payloads_and_rejections(server: Server) -> None:
    """Links made with outcomes show those buttons; each completes with its payload, and a
    rejection button rejects."""
    proc, _ = server
    iid = send(proc.url, "Humans/plain", "x")
    wait_status(proc.admin_url, iid, "suspended")
    aid = str(AwakeableId(InvocationId.parse(iid), 17))
    url = admin_link(
        proc, aid, outcomes={"Ship by air": {"mode": "air"}}, reject={"Cancel": "cancelled"}
    )
    page = httpx.get(url, timeout=10).text
    assert ">Ship by air</button>" in page
    assert ">Cancel</button>" in page
    assert submit(url, page, 0).status_code == 200
    assert attach(proc.url, iid).json() == {"mode": "air"}
    assert "Already decided: Ship by air" in httpx.get(url, timeout=10).text


def test_awaited_workflow_promise_gets_a_link_and_the_inbox_completes_another(
    server: Server,
) -> None:
    """A link to a workflow's awaited promise (bool) shows Approve/Reject and resolves it
    once; the inbox's JSON completes another workflow's promise."""
    proc, _ = server
    for key in ("doc-20", "doc-21"):
        sent = httpx.post(f"{proc.url}/Signoff/{key}/run/send", json=f"{key}.pdf", timeout=10)
        assert sent.status_code == 202, sent.text
    admin = proc.admin_url

    def listed(wait_id: str) -> bool:
        items = httpx.get(f"{admin}/promises", params={"limit": 1000}, timeout=10).json()
        return any(p["id"] == wait_id for p in items["promises"])

    wait_until(lambda: listed("Signoff/doc-20/verdict"), 10, "the first promise")
    response = httpx.post(f"{admin}/promises/Signoff/doc-20/verdict/links", json={}, timeout=10)
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    page = httpx.get(url, timeout=10)
    assert "Sign off doc-20.pdf" in page.text
    assert submit(url, page.text, 0).status_code == 200
    done = httpx.get(f"{proc.url}/restate/workflow/Signoff/doc-20/attach", timeout=10)
    assert done.json() is True
    assert submit(url, page.text, 1).status_code == 410

    wait_until(lambda: listed("Signoff/doc-21/verdict"), 10, "the second promise")
    body = {"id": "Signoff/doc-21/verdict", "choice": 1, "fields": {}}
    rejected = httpx.post(f"{admin}/inbox/complete", json=body, timeout=10)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json() == {"completion": "applied", "label": "rejected"}
    done = httpx.get(f"{proc.url}/restate/workflow/Signoff/doc-21/attach", timeout=10)
    assert done.json() is False
    twice = httpx.post(f"{admin}/inbox/complete", json=body, timeout=10)
    assert twice.status_code == 410
    assert twice.json()["message"].startswith("already decided: rejected")
