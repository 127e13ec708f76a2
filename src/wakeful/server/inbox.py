"""The inbox page of the admin API: pending waits with their context, completed in place.

```
GET  /inbox                     the page (plain HTML, a little JavaScript, no build step)
GET  /inbox/items[?service=S]   pending awakeables and promises with the choices to offer
POST /inbox/complete            {"id": …, "choice": i, "fields": {…}}: complete a wait
```

The page polls `/inbox/items` every second, so a new wait appears and a completed one goes
away without a reload. Completions take the same checks as any other (schema validation,
refusal of what is already decided); the POST must be JSON, which a cross-site form cannot
send without the browser asking first.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from wakeful.engine.waits import Delivery, WaitKind, WaitRow, WaitStatus
from wakeful.server.choices import form_for, payload_for
from wakeful.server.completions import complete_wait, find_wait, rfc3339
from wakeful.server.http import HttpError, Receive, Scope, Send, read_body, send_bytes, send_json
from wakeful.server.link_pages import decided_label
from wakeful.server.runtime import Runtime
from wakeful.server.waits_api import wait_json
from wakeful.storage.api import WaitQuery

__all__ = ["Inbox"]

PAGE_SIZE = 200


def _item(row: WaitRow) -> dict[str, Any]:
    out = wait_json(row)
    out["kind"] = "awakeable" if row.kind == WaitKind.AWAKEABLE else "promise"
    form = form_for(row.schema, None)
    out["choices"] = [c.label for c in form.choices]
    out["inputs"] = [
        {"name": f.name, "kind": f.kind, "required": f.required, "title": f.title}
        for f in form.inputs
    ]
    out["json_box"] = form.json_box
    return out


class Inbox:
    """Serves the inbox page and its JSON."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.page = resources.files("wakeful.server").joinpath("inbox.html").read_bytes()

    async def handle(
        self, parts: list[str], method: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Route `/inbox…`."""
        query = dict(
            pair.split("=", 1) if "=" in pair else (pair, "")
            for pair in scope.get("query_string", b"").decode("latin-1").split("&")
            if pair
        )
        match parts:
            case [] if method == "GET":
                await send_bytes(
                    send,
                    200,
                    self.page,
                    [(b"cache-control", b"no-store"), (b"x-frame-options", b"DENY")],
                    b"text/html; charset=utf-8",
                )
            case ["items"] if method == "GET":
                await send_json(send, 200, await self.items(query.get("service") or None))
            case ["complete"] if method == "POST":
                await self._complete(scope, receive, send)
            case _:
                raise HttpError(404 if method in ("GET", "POST") else 405, "not found")

    async def items(self, service: str | None) -> dict[str, Any]:
        """Pending awakeables and promises, newest first (the page's data)."""
        store = self.runtime.store
        rows: list[WaitRow] = []
        for kind in (WaitKind.AWAKEABLE, WaitKind.PROMISE):
            query = WaitQuery(int(kind), int(WaitStatus.PENDING), service, limit=PAGE_SIZE)
            rows.extend(await store.list_waits(query))
        rows.sort(key=lambda r: (r.created_at_ms, r.wait_id), reverse=True)
        services = sorted({r.service for r in rows})
        return {"items": [_item(r) for r in rows[:PAGE_SIZE]], "services": services}

    async def _complete(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.lower(): v for k, v in scope["headers"]}
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            raise HttpError(415, "send the choice as application/json")
        try:
            request = json.loads(await read_body(receive, 1 << 20))
            wait_id = str(request["id"])
            index = int(request["choice"])
            fields = {f"field.{k}": str(v) for k, v in dict(request.get("fields", {})).items()}
            if "json" in request:
                fields["json"] = str(request["json"])
        except (ValueError, KeyError, TypeError) as e:
            raise HttpError(400, f'expected {{"id", "choice", "fields"}}: {e}') from e
        row = await find_wait(self.runtime, wait_id)
        if row is None:
            raise HttpError(404, f"nothing awaits '{wait_id}'")
        form = form_for(row.schema, None)
        try:
            result = payload_for(form, index, fields)
        except ValueError as e:
            raise HttpError(400, str(e)) from e
        done = await complete_wait(self.runtime, wait_id, result, self.runtime.clock.now_ms())
        if done.delivery is Delivery.APPLIED:
            await send_json(
                send, 200, {"completion": "applied", "label": decided_label(form, result)}
            )
            return
        at = None if done.completed_at_ms is None else rfc3339(done.completed_at_ms)
        label = decided_label(form, done.stored)
        status = 404 if done.delivery in (Delivery.UNKNOWN, Delivery.NOT_CREATED) else 410
        message = f"already decided: {label}" + (f" at {at}" if at else "")
        if done.delivery is Delivery.CLOSED:
            message = "closed: whatever waited for it has ended"
        await send_json(send, status, {"code": status, "message": message})
