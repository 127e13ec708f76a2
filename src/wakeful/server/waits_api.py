"""Admin API for pending waits: `GET /awakeables` and `GET /promises`, newest first.

```
GET /awakeables?status=pending|completed|closed&service=S&limit=N&cursor=C
GET /promises?…   (the same, for awaited workflow promises)
```

Each page reads one index range of the waits table (never the invocations); `next_cursor`
continues after the page's last row.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from wakeful.engine.waits import WaitKind, WaitRow, WaitStatus
from wakeful.journal.ids import InvocationId
from wakeful.server.completions import outcome_json, rfc3339
from wakeful.server.http import HttpError
from wakeful.server.runtime import Runtime
from wakeful.storage.api import WaitQuery

__all__ = ["WaitsApi", "wait_json"]

MAX_LIMIT = 1000
_KINDS = {"awakeables": WaitKind.AWAKEABLE, "promises": WaitKind.PROMISE}
_STATUSES = {s.label: s for s in WaitStatus}


def wait_json(row: WaitRow) -> dict[str, Any]:
    """A wait row as the admin API shows it (times in RFC 3339)."""
    out: dict[str, Any] = {
        "id": row.wait_id,
        "invocation_id": str(InvocationId.from_bytes(row.invocation_id)),
        "target": row.target,
        "status": row.status.label,
        "created_at": rfc3339(row.created_at_ms),
        "deadline": None if row.deadline_ms is None else rfc3339(row.deadline_ms),
        "description": row.description,
        "schema": None if row.schema is None else json.loads(row.schema),
    }
    if row.kind == WaitKind.PROMISE:
        workflow, _, rest = row.wait_id.partition("/")
        key, _, name = rest.rpartition("/")
        out.update(workflow=workflow, key=key, name=name)
    if row.status == WaitStatus.COMPLETED:
        out["completed_at"] = None if row.completed_at_ms is None else rfc3339(row.completed_at_ms)
        out["outcome"] = outcome_json(row.result)
    return out


def _cursor(row: WaitRow) -> str:
    raw = json.dumps([row.created_at_ms, row.wait_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(text: str) -> tuple[int, str]:
    try:
        created, wait_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(created, int) and isinstance(wait_id, str):
            return created, wait_id
    except ValueError:
        pass
    raise HttpError(400, f"bad cursor {text!r}: pass the next_cursor of a previous page")


class WaitsApi:
    """Lists of the waits table for the admin API and the inbox."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def page(self, kind_name: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """One page of `awakeables` or `promises` for the query string."""
        status_label = query.get("status", ["pending"])[0]
        if status_label not in _STATUSES:
            raise HttpError(400, f"unknown status {status_label!r}: use {', '.join(_STATUSES)}")
        limit_text = query.get("limit", ["100"])[0]
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise HttpError(400, f"bad limit {limit_text!r}: a number from 1 to {MAX_LIMIT}")
        cursor = query.get("cursor", [None])[0]
        rows = await self.runtime.store.list_waits(
            WaitQuery(
                kind=int(_KINDS[kind_name]),
                status=int(_STATUSES[status_label]),
                service=query.get("service", [None])[0],
                limit=int(limit_text),
                before=None if cursor is None else _parse_cursor(cursor),
            )
        )
        full = len(rows) == int(limit_text)
        return {
            kind_name: [wait_json(r) for r in rows],
            "next_cursor": _cursor(rows[-1]) if full else None,
        }

    async def of_invocation(self, iid: InvocationId) -> list[dict[str, Any]]:
        """Every awakeable an invocation created, whatever its status (for describe)."""
        rows = await self.runtime.store.list_waits(
            WaitQuery(kind=int(WaitKind.AWAKEABLE), status=None, invocation_id=iid, limit=1000)
        )
        return [wait_json(r) for r in sorted(rows, key=lambda r: r.handle)]
